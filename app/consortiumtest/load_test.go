package consortiumtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The load the fault tests put on a consortium: writers and readers going
// through the organisations' own tokentrail nodes over HTTP, each recording
// every answer, so that after a fault the ledger can be checked against
// what the clients were told.

// node is one organisation's tokentrail node as its clients reach it.
type node struct {
	org    string // MSP ID
	name   string // process name for the network script ("node.provider")
	url    string
	key    string
	client *http.Client
}

// reply is one HTTP answer (status 0: no answer at all).
type reply struct {
	status     int
	retryAfter string
	ctype      string
	body       []byte
	err        error
	start, end time.Time
}

func (n *node) do(ctx context.Context, method, path string, body any) reply {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{err: err}
		}
		r = bytes.NewReader(b)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, n.url+path, r)
	if err != nil {
		return reply{err: err, start: start, end: start}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+n.key)
	resp, err := n.client.Do(req)
	if err != nil {
		return reply{err: err, start: start, end: time.Now()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), ctype: resp.Header.Get("Content-Type"),
		body: b, err: err, start: start, end: time.Now()}
}

// refusalProblem says what is wrong with a 503 or 429 answer: each must be
// a problem document with a positive Retry-After.
func (r reply) refusalProblem() string {
	if r.status != http.StatusServiceUnavailable && r.status != http.StatusTooManyRequests {
		return ""
	}
	if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
		return fmt.Sprintf("%d with Retry-After %q", r.status, r.retryAfter)
	}
	if r.ctype != "application/problem+json" {
		return fmt.Sprintf("%d as %q, not a problem document", r.status, r.ctype)
	}
	return ""
}

// retryWait is how long an answer asks the client to wait (at least 1 s).
func (r reply) retryWait() time.Duration {
	if n, err := strconv.Atoi(r.retryAfter); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

// notSent reports whether a request certainly never reached the node: the
// connection was refused.
func (r reply) notSent() bool { return r.status == 0 && errors.Is(r.err, syscall.ECONNREFUSED) }

func (r reply) String() string {
	if r.status == 0 {
		return fmt.Sprintf("no answer (%v)", r.err)
	}
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

// Kinds of write.
const (
	kindCollect = "collect" // provider: a new batch (retried: a repeated ID is 409)
	kindAssess  = "assess"  // auditor: an assessment (not idempotent: never retried)
	kindTrade   = "trade"   // exchange: a trade (retried: an exact replay answers the first recording)
)

// Outcomes of a write as its client saw it.
const (
	acked   = "acknowledged" // 2xx with the event, or 409 for a batch ID a lost attempt took
	refused = "refused"      // a definite 4xx answer: must not be on the ledger
	unknown = "unknown"      // 503, 504, no answer: on the ledger once or not at all
)

// write is one logical write and every attempt made for it.
type write struct {
	kind, node, batch string
	key               string // assessment method, trade ID or batch ID: what finds it on the ledger
	body              any
	outcome           string
	txID, eventID     string // of an acknowledged write (empty after a 409)
	statuses          []int  // of each attempt (0: no answer)
	lastErr           string
	start, end        time.Time
}

// read is one read of a batch's history through one node.
type read struct {
	node, batch string
	status      int
	events      []string // event IDs of a 200 answer, in order
	start, end  time.Time
	problem     string // a malformed refusal, or an answer no read should get
}

// load runs writers and readers until stopped.
type load struct {
	run   string
	nodes map[string]*node // by MSP ID
	// seeds are the batches assessed (assessSeeds[i] by auditor writer i)
	// and traded (tradeSeeds[i] by exchange writer i).
	assessSeeds, tradeSeeds []string
	pace                    time.Duration // between one writer's writes
	retryFor                time.Duration // how long an idempotent write is retried after the load stops

	mu       sync.Mutex
	writes   []*write
	reads    []read
	counter  int
	stop     chan struct{}
	stopped  time.Time
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	problems []string
}

// writerSpec is one writer: which node, what it writes.
type writerSpec struct {
	org, kind string
	seed      string
}

// writers are the load's writers: four through the provider's node
// (collections), four through the auditor's (assessments, one seed batch
// each), four through the exchange's (trades, one seed batch each).
func (ld *load) writers() []writerSpec {
	var out []writerSpec
	for i := range 4 {
		out = append(out, writerSpec{org: "ProviderMSP", kind: kindCollect})
		out = append(out, writerSpec{org: "AuditorMSP", kind: kindAssess, seed: ld.assessSeeds[i]})
		out = append(out, writerSpec{org: "ExchangeMSP", kind: kindTrade, seed: ld.tradeSeeds[i]})
	}
	return out
}

func (ld *load) note(format string, a ...any) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if len(ld.problems) < 50 {
		ld.problems = append(ld.problems, fmt.Sprintf(format, a...))
	}
}

// start begins the load; phase prefixes every ID it writes.
func startLoad(parent context.Context, run, phase string, nodes map[string]*node, assessSeeds, tradeSeeds []string) *load {
	ld := &load{run: run + "-" + phase, nodes: nodes, assessSeeds: assessSeeds, tradeSeeds: tradeSeeds,
		pace: 300 * time.Millisecond, retryFor: 45 * time.Second, stop: make(chan struct{})}
	ld.ctx, ld.cancel = context.WithCancel(parent)
	for w, spec := range ld.writers() {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			ld.writer(w, spec)
		}()
	}
	orgs := sortedKeys(nodes)
	for r := range 3 {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			ld.reader(r, orgs)
		}()
	}
	return ld
}

// halt stops the load and waits for the writers: an idempotent write that
// is being retried goes on until it is answered or retryFor has passed.
func (ld *load) halt() {
	ld.mu.Lock()
	ld.stopped = time.Now()
	ld.mu.Unlock()
	close(ld.stop)
	done := make(chan struct{})
	go func() { ld.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(ld.retryFor + 70*time.Second):
		ld.cancel() // cuts the requests still waiting
		<-done
	}
	ld.cancel()
}

func (ld *load) stopping() bool {
	select {
	case <-ld.stop:
		return true
	default:
		return false
	}
}

// pause waits d, or less when the load stops.
func (ld *load) pause(d time.Duration) {
	select {
	case <-time.After(d):
	case <-ld.stop:
	}
}

func (ld *load) writer(w int, spec writerSpec) {
	n := ld.nodes[spec.org]
	for i := 0; !ld.stopping(); i++ {
		wr := &write{kind: spec.kind, node: spec.org, start: time.Now()}
		var path string
		switch spec.kind {
		case kindCollect:
			wr.key = fmt.Sprintf("%s-c%02d-%04d", ld.run, w, i)
			wr.batch = wr.key
			wr.body = collectBody(wr.key, w*10000+i)
			path = "/api/v1/batches"
		case kindAssess:
			wr.key = fmt.Sprintf("%s-a%02d-%04d", ld.run, w, i)
			wr.batch = spec.seed
			wr.body = map[string]any{"score": i % 101, "method": wr.key}
			path = "/api/v1/batches/" + spec.seed + "/assessments"
		case kindTrade:
			wr.key = fmt.Sprintf("%s-t%02d-%04d", ld.run, w, i)
			wr.batch = spec.seed
			wr.body = tradeBody(wr.key, spec.seed, 10+float64(i%50))
			path = "/api/v1/trades"
		}
		ld.attempt(n, path, wr)
		wr.end = time.Now()
		ld.mu.Lock()
		ld.writes = append(ld.writes, wr)
		ld.mu.Unlock()
		ld.pause(ld.pace)
	}
}

// attempt sends wr until it has an outcome. A request that was certainly
// not processed (429, connection refused) is sent again; an ambiguous
// failure (503, 504, no answer) is sent again only when the write is
// idempotent, for as long as the load runs and retryFor after.
func (ld *load) attempt(n *node, path string, wr *write) {
	idempotent := wr.kind != kindAssess
	ambiguous := false // an earlier attempt may have been recorded
	for {
		r := n.do(ld.ctx, "POST", path, wr.body)
		wr.statuses = append(wr.statuses, r.status)
		if r.err != nil {
			wr.lastErr = r.err.Error()
		}
		if p := r.refusalProblem(); p != "" {
			ld.note("%s %s through %s: %s", wr.kind, wr.key, n.org, p)
		}
		giveUp := ld.ctx.Err() != nil || ld.pastRetry()
		switch {
		case r.status >= 200 && r.status < 300:
			var ans struct {
				Event *contract.Event `json:"event"`
			}
			if err := json.Unmarshal(r.body, &ans); err != nil || ans.Event == nil || ans.Event.TxID == "" {
				ld.note("%s %s through %s: %d without an event: %s", wr.kind, wr.key, n.org, r.status, r.body)
			} else {
				wr.txID, wr.eventID = ans.Event.TxID, ans.Event.EventID
			}
			wr.outcome = acked
			return
		case r.status == http.StatusConflict && wr.kind == kindCollect && ambiguous:
			// The batch ID is taken: an earlier attempt was recorded.
			wr.outcome = acked
			return
		case r.status == http.StatusTooManyRequests || r.notSent():
			if giveUp {
				wr.outcome = refused // this attempt was never processed
				if ambiguous {
					wr.outcome = unknown
				}
				return
			}
			// Not cut short by the load's stop: the write goes on being
			// sent for retryFor, at this pace.
			time.Sleep(min(r.retryWait(), 5*time.Second))
		case r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout || r.status == 0:
			ambiguous = true
			if !idempotent || giveUp {
				wr.outcome = unknown
				return
			}
			// Honour Retry-After (the load's stop does not cut it short:
			// the write goes on being retried for retryFor).
			time.Sleep(min(r.retryWait(), 5*time.Second))
		default:
			wr.outcome = refused
			wr.lastErr = r.String()
			ld.note("%s %s through %s refused: %s", wr.kind, wr.key, n.org, r)
			return
		}
	}
}

func (ld *load) pastRetry() bool {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return !ld.stopped.IsZero() && time.Since(ld.stopped) > ld.retryFor
}

// reader reads the seed batches' histories through every node in turn.
func (ld *load) reader(r int, orgs []string) {
	seeds := append(slices.Clone(ld.assessSeeds), ld.tradeSeeds...)
	for i := r; !ld.stopping(); i++ {
		org := orgs[i%len(orgs)]
		batch := seeds[(i/len(orgs))%len(seeds)]
		rep := ld.nodes[org].do(ld.ctx, "GET", eventsPath(batch), nil)
		ld.record(org, batch, rep)
		ld.pause(150 * time.Millisecond)
	}
}

// record notes a read of batch's history through the node labelled org.
func (ld *load) record(org, batch string, rep reply) {
	rd := read{node: org, batch: batch, status: rep.status, start: rep.start, end: rep.end, problem: rep.refusalProblem()}
	switch {
	case rep.status == 200:
		var page contract.Page[contract.Event]
		if err := json.Unmarshal(rep.body, &page); err != nil {
			rd.problem = fmt.Sprintf("200 that does not decode: %v", err)
		}
		for _, e := range page.Items {
			rd.events = append(rd.events, e.EventID)
		}
	case rep.status == 503 || rep.status == 504 || rep.status == 429 || rep.status == 0:
	default:
		rd.problem = "answered " + rep.String()
	}
	ld.mu.Lock()
	ld.reads = append(ld.reads, rd)
	ld.mu.Unlock()
}

func collectBody(id string, n int) map[string]any {
	return map[string]any{
		"id": id, "name": "batch " + id, "sector": "finance", "modality": "tabular",
		"tokens": map[string]any{"count": 2_000_000, "tokenizer": "o200k_base"}, "contentDigest": fmt.Sprintf("sha256:%064x", n),
		"sizeBytes": 9_000_000, "records": 50_000, "classification": "general", "personalInfo": "none", "deidentification": "none",
		"legalBasis": "contract", "purposes": []string{"model-training", "research"}, "region": "CN",
		"source": map[string]any{"type": "enterprise", "region": "CN"},
	}
}

func tradeBody(tradeID, batchID string, price float64) map[string]any {
	return map[string]any{"tradeId": tradeID, "batchId": batchID, "seller": "ProviderMSP", "buyer": "ConsumerMSP",
		"tokens": 1_000, "rights": "licence", "purposes": []string{"research"},
		"terms": map[string]any{"unitPrice": price, "currency": "CNY", "priceUnit": "1M tokens", "settlementRef": tradeID}}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
