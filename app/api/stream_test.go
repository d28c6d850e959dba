package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// liveEnv is the API over an embedded ledger behind a real HTTP server, as
// event streams need.
type liveEnv struct {
	t    *testing.T
	srv  *Server
	hs   *httptest.Server
	keys map[string]string
}

func newLiveEnv(t *testing.T, cfg Config, serverTimeouts time.Duration) *liveEnv {
	t.Helper()
	l, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return newLiveEnvOn(t, l, cfg, serverTimeouts)
}

// newLiveEnvOn is newLiveEnv on ledger l, whose consortium it registers
// when missing.
func newLiveEnvOn(t *testing.T, l service.Ledger, cfg Config, serverTimeouts time.Duration) *liveEnv {
	t.Helper()
	var err error
	keys, fixed := devConsortium(t, l)
	if cfg.Auth == nil {
		if cfg.Auth, err = auth.NewAuthenticator(nil, fixed); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Ledger = l
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.RegisterOnShutdown(srv.CloseStreams)
	if serverTimeouts > 0 {
		hs.Config.ReadTimeout, hs.Config.WriteTimeout = serverTimeouts, serverTimeouts
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return &liveEnv{t: t, srv: srv, hs: hs, keys: keys}
}

// must sends a request and requires status want.
func (e *liveEnv) must(want int, method, path, org string, body, out any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.hs.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys[org])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, org, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (e *liveEnv) collect(id string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/batches", provider, collectBody(id), nil)
	e.must(201, "POST", "/api/v1/batches/"+id+"/assessments", auditor, map[string]any{"score": 80, "method": "sampled review"}, nil)
}

func (e *liveEnv) circulate(id, to string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/batches/"+id+"/circulations", provider, map[string]any{"to": to, "purpose": "model-training", "accessMode": "copy"}, nil)
}

// sseMsg is one SSE message.
type sseMsg struct {
	id, event, data string
}

// sseConn is an open event stream, read by a goroutine into msgs.
type sseConn struct {
	resp       *http.Response
	cancel     context.CancelFunc
	msgs       chan sseMsg
	heartbeats chan struct{}
	done       chan error // the stream's end: io.EOF when the server ended it
}

// stream opens GET /api/v1/events/stream?query as org, with Last-Event-ID
// when lastID is not empty, and requires 200.
func (e *liveEnv) stream(org, query, lastID string) *sseConn {
	e.t.Helper()
	c, status, body := e.tryStream(org, query, lastID)
	if status != http.StatusOK {
		e.t.Fatalf("stream ?%s as %s: %d: %s", query, org, status, body)
	}
	return c
}

func (e *liveEnv) tryStream(org, query, lastID string) (*sseConn, int, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events/stream?"+query, nil)
	if org != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[org])
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, string(b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Fatalf("stream content type %q", ct)
	}
	c := &sseConn{resp: resp, cancel: cancel, msgs: make(chan sseMsg, 1000), heartbeats: make(chan struct{}, 1000), done: make(chan error, 1)}
	e.t.Cleanup(c.close)
	go c.read()
	return c, http.StatusOK, ""
}

func (c *sseConn) read() {
	r := bufio.NewReader(c.resp.Body)
	var m sseMsg
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.done <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m.data != "" || m.id != "" {
				c.msgs <- m
			}
			m = sseMsg{}
		case line == ": heartbeat":
			c.heartbeats <- struct{}{}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "id: "):
			m.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			m.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if m.data != "" {
				c.done <- fmt.Errorf("data on two lines: %q", line)
				return
			}
			m.data = strings.TrimPrefix(line, "data: ")
		default:
			c.done <- fmt.Errorf("unexpected line %q", line)
			return
		}
	}
}

// close disconnects.
func (c *sseConn) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next message, failing the test after a while.
func (c *sseConn) next(t *testing.T) sseMsg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case err := <-c.done:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseMsg{}
}

// take reads n messages.
func (c *sseConn) take(t *testing.T, n int) []sseMsg {
	t.Helper()
	out := make([]sseMsg, n)
	for i := range out {
		out[i] = c.next(t)
	}
	return out
}

// quiet requires that no message arrives for a moment.
func (c *sseConn) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected event %s %s %s", m.id, m.event, m.data)
	case <-time.After(300 * time.Millisecond):
	}
}

// histories returns every event copy of the given batches as their
// histories hold them, keyed by eventId/batchId, with the JSON of each.
func (e *liveEnv) histories(org string, ids ...string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		e.must(200, "GET", "/api/v1/batches/"+id+"/events?pageSize=500", org, nil, &page)
		for _, raw := range page.Items {
			var ev contract.Event
			json.Unmarshal(raw, &ev)
			out[ev.EventID+"/"+ev.BatchID] = string(raw)
		}
	}
	return out
}

func copyKey(t *testing.T, m sseMsg) (string, contract.Event) {
	t.Helper()
	var ev contract.Event
	if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
		t.Fatalf("event data: %v: %s", err, m.data)
	}
	if ev.Type != m.event {
		t.Fatalf("event: %s but data says %s", m.event, ev.Type)
	}
	return ev.EventID + "/" + ev.BatchID, ev
}

// activity records a lifecycle on batch ids: collection, assessment,
// circulation to the processor, processing into <id>-out, a trade.
func (e *liveEnv) activity(prefix string) []string {
	e.t.Helper()
	a, b := prefix+"a", prefix+"b"
	e.collect(a)
	e.collect(b)
	e.circulate(a, processor)
	e.circulate(b, processor)
	e.must(201, "POST", "/api/v1/processing", processor, map[string]any{
		"inputs": []string{a, b}, "operations": []string{"merge"}, "tool": map[string]string{"name": "m", "version": "1"},
		"outputs": []any{outputBody(prefix+"out", 1_000_000)}}, nil)
	e.must(201, "POST", "/api/v1/trades", exchange, tradeBodyFor(prefix+"t", a, 10), nil)
	return []string{a, b, prefix + "out"}
}

// TestEventStreamResume reads part of the stream, disconnects, lets more
// commit and resumes with Last-Event-ID: the resumed stream holds exactly
// the events not yet read, in order, and together the two are what one
// uninterrupted stream delivers. Each event's data is byte for byte its
// history item.
func TestEventStreamResume(t *testing.T) {
	e := newLiveEnv(t, Config{}, 0)
	batches := e.activity("r1-")

	first := e.stream(regulator, "", "0")
	part1 := first.take(t, 5)
	first.close()

	batches = append(batches, e.activity("r2-")...)
	want := e.histories(regulator, batches...)

	second := e.stream(regulator, "", part1[len(part1)-1].id)
	part2 := second.take(t, len(want)-len(part1))
	second.quiet(t)

	whole := e.stream(regulator, "", "0")
	all := whole.take(t, len(want))
	whole.quiet(t)

	got := append(append([]sseMsg{}, part1...), part2...)
	seen := map[string]bool{}
	seq := map[string]int64{}
	for i, m := range got {
		if m != all[i] {
			t.Fatalf("event %d: resumed streams gave %+v, one stream %+v", i, m, all[i])
		}
		k, ev := copyKey(t, m)
		if seen[k] {
			t.Fatalf("event %s delivered twice", k)
		}
		seen[k] = true
		if want[k] != m.data {
			t.Fatalf("event %s data differs from its history item:\n%s\n%s", k, m.data, want[k])
		}
		if ev.Seq != seq[ev.BatchID]+1 {
			t.Fatalf("batch %s: seq %d after %d", ev.BatchID, ev.Seq, seq[ev.BatchID])
		}
		seq[ev.BatchID] = ev.Seq
	}
	if len(seen) != len(want) {
		t.Fatalf("%d events delivered, the histories hold %d", len(seen), len(want))
	}

	// Resuming from every point gives the rest, through the query
	// parameter too; the header wins over it.
	for _, i := range []int{0, 7, len(all) - 2} {
		c := e.stream(regulator, "lastEventId="+url.QueryEscape(all[i].id), "")
		if m := c.next(t); m != all[i+1] {
			t.Fatalf("resume after %s: %+v, want %+v", all[i].id, m, all[i+1])
		}
		c.close()
	}
	c := e.stream(regulator, "lastEventId=0", all[3].id)
	if m := c.next(t); m != all[4] {
		t.Fatalf("header and query: %+v, want the header's next %+v", m, all[4])
	}
	c.close()

	// Live: a stream without a cursor shows only what commits after it.
	live := e.stream(regulator, "", "")
	live.quiet(t)
	e.collect("r3-live")
	if m := live.next(t); m.event != contract.EventCollected || !strings.Contains(m.data, `"batchId":"r3-live"`) {
		t.Fatalf("live stream: %+v", m)
	}
}

// TestEventStreamFilters checks ?type= and ?batchId=.
func TestEventStreamFilters(t *testing.T) {
	e := newLiveEnv(t, Config{}, 0)
	batches := e.activity("f-")
	want := e.histories(regulator, batches...)
	all := e.stream(regulator, "", "0").take(t, len(want))

	for _, q := range []struct {
		query string
		keep  func(contract.Event) bool
	}{
		{"type=TRADED,CIRCULATED", func(ev contract.Event) bool { return ev.Type == "TRADED" || ev.Type == "CIRCULATED" }},
		{"batchId=f-a", func(ev contract.Event) bool { return ev.BatchID == "f-a" }},
		{"type=PROCESSED&batchId=f-out", func(ev contract.Event) bool { return ev.Type == "PROCESSED" && ev.BatchID == "f-out" }},
	} {
		var expect []sseMsg
		for _, m := range all {
			if _, ev := copyKey(t, m); q.keep(ev) {
				expect = append(expect, m)
			}
		}
		if len(expect) == 0 || len(expect) == len(all) {
			t.Fatalf("%s: the filter keeps %d of %d events; the test shows nothing", q.query, len(expect), len(all))
		}
		c := e.stream(regulator, q.query+"&lastEventId=0", "")
		if got := c.take(t, len(expect)); !slices.Equal(got, expect) {
			t.Fatalf("%s: got %v, want %v", q.query, got, expect)
		}
		c.quiet(t)
		c.close()
	}
}

// TestEventStreamVisibility checks that a consumer sees only the events of
// batches it holds — all of them, the earlier ones included, once it holds
// the batch — and that a batch it comes to hold while streaming shows up.
func TestEventStreamVisibility(t *testing.T) {
	e := newLiveEnv(t, Config{}, 0)
	batches := e.activity("v-") // the trade of v-a makes the consumer a custodian of it
	own := e.histories(consumer, "v-a")
	for _, id := range batches[1:] {
		e.must(404, "GET", "/api/v1/batches/"+id, consumer, nil, nil)
	}
	c := e.stream(consumer, "", "0")
	for range own {
		k, _ := copyKey(t, c.next(t))
		if _, ok := own[k]; !ok {
			t.Fatalf("consumer saw %s, which is not on a batch it holds", k)
		}
	}
	c.quiet(t)

	// A new batch: its collection is not the consumer's to see; its
	// circulation to the consumer and what follows are.
	e.collect("v-new")
	e.circulate("v-new", consumer)
	e.must(201, "POST", "/api/v1/batches/v-new/assessments", auditor, map[string]any{"score": 70, "method": "again"}, nil)
	var got []string
	for range 2 {
		m := c.next(t)
		got = append(got, m.event)
		if !strings.Contains(m.data, `"batchId":"v-new"`) {
			t.Fatalf("consumer saw %s", m.data)
		}
	}
	if !slices.Equal(got, []string{"CIRCULATED", "ASSESSED"}) {
		t.Fatalf("consumer saw %v after the circulation", got)
	}
	c.quiet(t)

	// Resumed from the start, it now sees v-new's whole history.
	all := e.histories(consumer, "v-a", "v-new")
	r := e.stream(consumer, "", "0")
	for range all {
		k, _ := copyKey(t, r.next(t))
		if _, ok := all[k]; !ok {
			t.Fatalf("consumer saw %s", k)
		}
	}
	r.quiet(t)
}

// TestEventStreamRefusals checks the problems a stream request can get.
func TestEventStreamRefusals(t *testing.T) {
	e := newLiveEnv(t, Config{}, 0)
	e.activity("x-")
	for _, tc := range []struct {
		org, query, header string
		status             int
		field              string
	}{
		{"", "", "", 401, ""},
		{regulator, "", "abc", 400, "Last-Event-ID"},
		{regulator, "", "1.2", 400, "Last-Event-ID"},
		{regulator, "", "0.0.0", 400, "Last-Event-ID"},
		{regulator, "", "01.0.1", 400, "Last-Event-ID"},
		{regulator, "lastEventId=-1.0.1", "", 400, "lastEventId"},
		{regulator, "lastEventId=99999.0.1", "", 400, "lastEventId"},
		{regulator, "type=TRADED,SOLD", "", 400, "type"},
		{regulator, "batchId=a%20b", "", 400, "batchId"},
		{regulator, "since=0", "", 400, "since"},
	} {
		_, status, body := e.tryStream(tc.org, tc.query, tc.header)
		if status != tc.status {
			t.Fatalf("?%s Last-Event-ID %q as %q: %d, want %d: %s", tc.query, tc.header, tc.org, status, tc.status, body)
		}
		var p Problem
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Field != tc.field || p.Detail == "" {
			t.Fatalf("?%s Last-Event-ID %q: problem %s, want field %q", tc.query, tc.header, body, tc.field)
		}
	}
}

// TestEventStreamOutlivesTimeouts runs a stream on a server whose read,
// write and request timeouts are far shorter than the stream: it keeps
// going, with heartbeats, and still delivers.
func TestEventStreamOutlivesTimeouts(t *testing.T) {
	e := newLiveEnv(t, Config{RequestTimeout: 200 * time.Millisecond, StreamHeartbeat: 50 * time.Millisecond}, 200*time.Millisecond)
	c := e.stream(auditor, "", "")
	time.Sleep(700 * time.Millisecond)
	e.collect("late")
	if m := c.next(t); m.event != contract.EventCollected {
		t.Fatalf("after the timeouts: %+v", m)
	}
	if n := len(c.heartbeats); n < 5 {
		t.Fatalf("%d heartbeats in 700 ms at one per 50 ms", n)
	}
}

// TestEventStreamShutdown checks that shutting the server down ends open
// streams at once rather than waiting for them, and refuses new ones.
func TestEventStreamShutdown(t *testing.T) {
	e := newLiveEnv(t, Config{}, 0)
	c := e.stream(regulator, "", "0")
	_ = c
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.hs.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	select {
	case err := <-c.done:
		if err != io.EOF {
			t.Fatalf("stream ended with %v, want the server to close it", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the stream is still open after shutdown")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[regulator])
	e.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a stream after shutdown: %d %s", rec.Code, rec.Body.String())
	}
}
