package consortiumtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsClient is an HTTP client whose connections are made inside the network
// namespace ns, as a program on that host would make them: the hub cannot
// reach a host it has cut off, the host itself still reaches its own node.
func nsClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread is never unlocked: it ends with this goroutine,
			// so no other goroutine runs in the namespace it switched to.
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("enter namespace %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// localNode is org's node as reached from inside its own host: its API port
// on loopback.
func localNode(t *testing.T, n *node, h Host) *node {
	t.Helper()
	u, err := url.Parse(n.url)
	if err != nil || u.Port() == "" {
		t.Fatalf("%s's node URL %q has no port", h.MSPID, n.url)
	}
	return &node{org: n.org, name: n.name, url: "http://127.0.0.1:" + u.Port(), key: n.key, client: nsClient(h.Namespace)}
}

// The faults that need hosts of their own: a partition (the hub side of a
// host's link set down) and Toxiproxy's toxics on every proxied link.

// partitionFault cuts org's host off for 20 s while the load runs, probing
// its node directly, then heals it and measures how long its node takes to
// answer as the others do.
func partitionFault(ctx context.Context, t *testing.T, e *env, ld *load, org string) string {
	t.Helper()
	h, ok := e.c.Host(org)
	if !ok {
		t.Fatalf("no host of %s", org)
	}
	healed := false
	t.Cleanup(func() {
		if !healed {
			e.ctl(context.Background(), "heal", h.Org)
		}
	})
	cut := localNode(t, e.nodes[org], h)
	other := e.nodes["RegulatorMSP"]
	// The probes work from inside the host before it is cut off.
	if r := cut.do(ctx, "GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("partition: %s's node from inside its host: %s", org, r)
	}
	e.must(t, "partition", h.Org)
	began := time.Now()
	// Probes through the cut-off node: a history read, the ledger info, a
	// write (a batch of its own), /readyz.
	// Probes through the cut-off node from inside its host until the heal:
	// history reads of the seed batches (checked with the load's reads:
	// never a wrong answer; stale when they lack an acknowledged write),
	// the ledger info and /readyz; and collections, one after another,
	// never retried (checked with the load's writes).
	label := org + " inside its host"
	var mu sync.Mutex
	probes := map[string]map[int]int{}
	// A node learns it is cut off when its peers stop answering (2 s at
	// most, app/ledger/fabric/fresh.go); from then on it must not answer a
	// read from its own peer alone.
	settled := began.Add(4 * time.Second)
	var answeredCutOff []string
	var healing time.Time                      // set before the heal; probes answered after it do not count
	var firstRefusal, lastServed time.Duration // of history reads, since the cut
	probe := func(kind string, r reply) {
		mu.Lock()
		defer mu.Unlock()
		if probes[kind] == nil {
			probes[kind] = map[int]int{}
		}
		probes[kind][r.status]++
		if kind == "history" && r.status == 503 && firstRefusal == 0 {
			firstRefusal = r.start.Sub(began)
		}
		if kind == "history" && r.status == 200 && (healing.IsZero() || r.end.Before(healing)) {
			lastServed = r.end.Sub(began)
		}
		if kind != "collect" && r.status == 200 && r.start.After(settled) && (healing.IsZero() || r.end.Before(healing)) && len(answeredCutOff) < 5 {
			answeredCutOff = append(answeredCutOff, fmt.Sprintf("%s at +%.1fs: %s", kind, r.start.Sub(began).Seconds(), r))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		seeds := append(append([]string{}, ld.assessSeeds...), ld.tradeSeeds...)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			batch := seeds[i%len(seeds)]
			r := cut.do(ctx, "GET", eventsPath(batch), nil)
			probe("history", r)
			ld.record(label, batch, r)
			probe("ledger", cut.do(ctx, "GET", "/api/v1/ledger", nil))
			probe("readyz", cut.do(ctx, "GET", "/readyz", nil))
			time.Sleep(500 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wr := &write{kind: kindCollect, node: org, key: fmt.Sprintf("%s-cut-%03d", ld.run, i), start: time.Now()}
			wr.batch, wr.body = wr.key, collectBody(wr.key, 800000+i)
			r := cut.do(ctx, "POST", "/api/v1/batches", wr.body)
			probe("collect", r)
			wr.end = time.Now()
			wr.statuses = []int{r.status}
			switch {
			case r.status == 201:
				wr.outcome = acked
				var ans struct {
					Event struct{ TxID, EventID string }
				}
				json.Unmarshal(r.body, &ans)
				wr.txID, wr.eventID = ans.Event.TxID, ans.Event.EventID
			case r.status == 503 || r.status == 504 || r.status == 0:
				wr.outcome = unknown
			default:
				wr.outcome, wr.lastErr = refused, r.String()
				ld.note("collect %s through the cut-off node: %s", wr.key, r)
			}
			if p := r.refusalProblem(); p != "" {
				ld.note("collect %s through the cut-off node: %s", wr.key, p)
			}
			ld.mu.Lock()
			ld.writes = append(ld.writes, wr)
			ld.mu.Unlock()
			time.Sleep(500 * time.Millisecond)
		}
	}()
	time.Sleep(20 * time.Second)
	mu.Lock()
	healing = time.Now()
	mu.Unlock()
	e.must(t, "heal", h.Org)
	healed = true
	healedAt := time.Now()
	close(stop)
	wg.Wait()
	for _, a := range answeredCutOff {
		t.Errorf("partition: the cut-off node answered 200 after it could know it was cut off: %s", a)
	}

	// Writes through the cut-off node: none may be acknowledged while it
	// was cut off (its peer can reach no orderer and no other endorser).
	ld.mu.Lock()
	during := map[string]int{}
	for _, w := range ld.writes {
		if w.node != org || w.start.Before(began.Add(time.Second)) || w.end.After(healedAt) {
			continue
		}
		during[fmt.Sprint(w.outcome, w.statuses)]++
		if w.outcome == acked {
			t.Errorf("partition: %s %s through the cut-off node was acknowledged (%s to %s) while it was cut off",
				w.kind, w.key, w.start.Format("15:04:05.000"), w.end.Format("15:04:05.000"))
		}
	}
	ld.mu.Unlock()

	// Catch-up: the cut-off node reads the seed batches as the others do.
	var paths []string
	for _, b := range append(append([]string{}, ld.assessSeeds...), ld.tradeSeeds...) {
		paths = append(paths, eventsPath(b))
	}
	var caught time.Duration
	for time.Since(healedAt) < 90*time.Second {
		snaps, err := takeAll(ctx, map[string]*node{org: cut, other.org: other}, paths)
		if err == nil && len(differences(snaps, paths)) == 0 {
			caught = time.Since(healedAt)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if caught == 0 {
		t.Errorf("partition: %s's node did not read as the regulator's within 90 s of the heal", org)
	}
	return fmt.Sprintf("probes through the cut-off node %v (last history read served %.1f s after the cut, first refused %.1f s after); its writes while cut off %v; it read as the others %s after the heal",
		probes, lastServed.Seconds(), firstRefusal.Seconds(), during, caught.Round(100*time.Millisecond))
}

// toxic is a Toxiproxy toxic as its HTTP API takes it.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// linkToxics are put on every proxy for the toxics phase: 200 ± 50 ms each
// way, 64 KB/s each way, and one connection in twenty reset 5 s after it
// is made (a toxic's toxicity is drawn per connection).
var linkToxics = []toxic{
	{Name: "tt-latency-down", Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]any{"latency": 200, "jitter": 50}},
	{Name: "tt-latency-up", Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: map[string]any{"latency": 200, "jitter": 50}},
	{Name: "tt-bandwidth-down", Type: "bandwidth", Stream: "downstream", Toxicity: 1, Attributes: map[string]any{"rate": 64}},
	{Name: "tt-bandwidth-up", Type: "bandwidth", Stream: "upstream", Toxicity: 1, Attributes: map[string]any{"rate": 64}},
	{Name: "tt-reset", Type: "reset_peer", Stream: "upstream", Toxicity: 0.05, Attributes: map[string]any{"timeout": 5000}},
}

// toxiproxy calls the Toxiproxy HTTP API.
func toxiproxy(ctx context.Context, base, method, path string, body any) ([]byte, int, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, r)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// toxicsFault puts linkToxics on every proxy for 60 s and removes them (in
// t.Cleanup too, should the test stop in between).
func toxicsFault(ctx context.Context, t *testing.T, e *env) string {
	t.Helper()
	api := e.c.Hub.ToxiproxyAPI
	if len(e.c.Proxies) == 0 {
		t.Fatal("the consortium lists no Toxiproxy proxies")
	}
	// remove deletes the toxics (a DELETE that fails is sent again, up to
	// five times), then lists each proxy's toxics and returns what is left.
	remove := func() []string {
		var left []string
		for _, p := range e.c.Proxies {
			base := "/proxies/" + url.PathEscape(p.Name) + "/toxics"
			for _, tx := range linkToxics {
				for try := 0; try < 5; try++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					b, code, err := toxiproxy(ctx, api, "DELETE", base+"/"+tx.Name, nil)
					cancel()
					if err == nil && (code == 204 || code == 404) {
						break
					}
					t.Logf("toxics: DELETE %s on %s: %d %v %s", tx.Name, p.Name, code, err, b)
					time.Sleep(500 * time.Millisecond)
				}
			}
			b, code, err := toxiproxy(context.Background(), api, "GET", base, nil)
			var list []toxic
			if err != nil || code != 200 || json.Unmarshal(b, &list) != nil {
				left = append(left, fmt.Sprintf("%s: toxics not listed (%d %v)", p.Name, code, err))
				continue
			}
			for _, tx := range list {
				left = append(left, p.Name+": "+tx.Name)
			}
		}
		return left
	}
	t.Cleanup(func() {
		if left := remove(); len(left) > 0 {
			t.Errorf("toxics still on the proxies: %v", left)
		}
	})
	for _, p := range e.c.Proxies {
		for _, tx := range linkToxics {
			b, code, err := toxiproxy(ctx, api, "POST", "/proxies/"+url.PathEscape(p.Name)+"/toxics", tx)
			if err != nil || code != 200 {
				t.Fatalf("toxic %s on %s: %d %v %s", tx.Name, p.Name, code, err, b)
			}
		}
	}
	on := time.Now()
	time.Sleep(60 * time.Second)
	if left := remove(); len(left) > 0 {
		t.Errorf("toxics still on the proxies: %v", left)
	}
	return fmt.Sprintf("%d toxics on each of %d proxies for %.0f s", len(linkToxics), len(e.c.Proxies), time.Since(on).Seconds())
}
