package consortiumtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// env is a consortium the fault test can drive: the organisations' nodes
// and a way to stop, start, cut off and reconnect its parts.
type env struct {
	nodes    map[string]*node // by MSP ID
	ctl      func(ctx context.Context, args ...string) (string, error)
	orderers []string
	peers    map[string]string // MSP ID → its peer's process name
	c        *Consortium       // nil on a loopback network: no partition, no Toxiproxy
}

// must runs the network script and fails the test on an error.
func (e *env) must(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.ctl(ctx, args...)
	if err != nil {
		t.Fatalf("network %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// script runs a network script with args.
func script(path string) func(ctx context.Context, args ...string) (string, error) {
	return func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, path, args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// consortiumEnv is the multi-host consortium of TOKENTRAIL_CONSORTIUM_JSON.
func consortiumEnv(t *testing.T, path string) *env {
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{nodes: map[string]*node{}, ctl: script(c.Script), peers: map[string]string{}, c: c}
	for _, h := range c.Hosts {
		// The organisations whose nodes read every batch of the load: the
		// provider owns them; the regulator, the auditor and the exchange
		// read everything. (The processor's and the consumer's nodes would
		// answer the load's reads 404.)
		switch h.MSPID {
		case "ProviderMSP", "AuditorMSP", "ExchangeMSP", "RegulatorMSP":
		default:
			e.orderers = append(e.orderers, h.Orderers...)
			continue
		}
		if h.Node.URL == "" {
			continue
		}
		creds, err := auth.ReadDevCredentials(h.Node.Credentials)
		if err != nil {
			t.Fatalf("%s's node credentials: %v", h.MSPID, err)
		}
		key := ""
		for _, o := range creds.Organizations {
			if o.MSPID == h.MSPID {
				key = o.APIKey
			}
		}
		if key == "" {
			t.Fatalf("%s holds no key of %s", h.Node.Credentials, h.MSPID)
		}
		e.nodes[h.MSPID] = &node{org: h.MSPID, name: h.Node.Name, url: strings.TrimRight(h.Node.URL, "/"), key: key,
			client: &http.Client{Timeout: 60 * time.Second}}
		if h.Peer != "" {
			e.peers[h.MSPID] = h.Peer
		}
		e.orderers = append(e.orderers, h.Orderers...)
	}
	return e
}

// TestConsortiumFaults puts a consortium under load — twelve writers through
// the provider's, the auditor's and the exchange's own nodes, readers
// through every organisation's node — and makes one fault after another,
// each undone (even when the test fails) before the next:
//
//   - one organisation's node and peer killed, then started again;
//   - one BFT orderer killed, then a second (past f = 1: nothing may be
//     acknowledged until one returns), then both started again;
//   - on a multi-host consortium only: the provider's host partitioned from
//     the rest for 20 s; then latency, a narrow bandwidth and connection
//     resets on every link between hosts for a minute (Toxiproxy).
//
// After each fault, once every node answers alike: every acknowledged write
// is on the ledger exactly once, with the transaction ID it was answered
// with, through every organisation's node (each reads through its own
// peer); no refused write is on it; a write whose outcome its client could
// not know is on it once or not at all; every node answers every read the
// same, byte for byte; every read answered during the fault was the start
// of the history as it ended, never a wrong one; every 503 and 429 carried
// Retry-After.
func TestConsortiumFaults(t *testing.T) {
	var e *env
	if p := os.Getenv(EnvFile); p != "" {
		e = consortiumEnv(t, p)
	} else if p := os.Getenv(EnvLoopback); p != "" {
		e = loopbackEnv(t, p)
	} else {
		t.Skipf("no consortium: set %s (scripts/test-consortium.sh does) or %s", EnvFile, EnvLoopback)
	}
	for _, org := range []string{"ProviderMSP", "AuditorMSP", "ExchangeMSP", "RegulatorMSP"} {
		if e.nodes[org] == nil {
			t.Fatalf("the consortium has no node of %s", org)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute) // inside test-consortium.sh's 8 min
	defer cancel()
	run := fmt.Sprintf("flt%d", time.Now().UnixNano()%1e10)
	assessSeeds, tradeSeeds := seed(ctx, t, e, run)

	type figure struct {
		name    string
		verdict verdict
		catchUp time.Duration
		extra   string
	}
	var figures []figure
	// phase runs the load, makes the fault, stops the load and checks.
	only := os.Getenv("TOKENTRAIL_FAULTS")
	phase := func(name string, fault func(ld *load) string) {
		if only != "" && !strings.Contains(name, only) {
			t.Logf("%s: left out (TOKENTRAIL_FAULTS=%s)", name, only)
			return
		}
		t.Logf("%s: begins", name)
		ld := startLoad(ctx, run, fmt.Sprintf("p%d", len(figures)+1), e.nodes, assessSeeds, tradeSeeds)
		time.Sleep(4 * time.Second)
		extra := fault(ld)
		faultEnd := time.Now()
		time.Sleep(4 * time.Second)
		ld.halt()
		halted := time.Since(faultEnd)
		paths := ld.paths()
		snaps, took, diffs := settle(ctx, e.nodes, paths, 120*time.Second)
		for _, d := range diffs {
			t.Errorf("%s: after 120 s the nodes still differ: %s", name, d)
		}
		if diffs != nil {
			// Without one answer that every node gives, the writes cannot
			// be checked against it.
			t.Fatalf("%s: the nodes never answered alike; the writes were not checked", name)
		}
		v, failures := ld.check(snaps)
		for _, f := range failures {
			t.Errorf("%s: %s", name, f)
		}
		catchUp := time.Since(faultEnd) // the load's tail, its retries, then the nodes agreeing
		extra += fmt.Sprintf("; load stopped (last retries answered) %s after the fault ended, nodes alike %s after that",
			halted.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
		figures = append(figures, figure{name, v, catchUp, extra})
		t.Logf("%s: %s; %s; all nodes alike %s after the fault ended", name, v, extra, catchUp.Round(100*time.Millisecond))
		if n := v.writes[kindCollect][acked] + v.writes[kindAssess][acked] + v.writes[kindTrade][acked]; n == 0 {
			t.Errorf("%s: no write was acknowledged: the load did not run", name)
		}
	}

	phase("node and peer of the auditor killed and started", func(ld *load) string {
		n := e.nodes["AuditorMSP"]
		peer := e.peers["AuditorMSP"]
		t.Cleanup(func() { e.ctl(context.Background(), "start", peer); e.ctl(context.Background(), "start", n.name) })
		e.must(t, "kill", n.name)
		e.must(t, "kill", peer)
		time.Sleep(10 * time.Second)
		e.must(t, "start", peer)
		e.must(t, "start", n.name)
		ready := waitReady(ctx, n, 90*time.Second)
		if ready < 0 {
			t.Errorf("the auditor's node did not become ready within 90 s of its start")
		}
		return fmt.Sprintf("node ready %s after its start", ready.Round(100*time.Millisecond))
	})

	if len(e.orderers) == 4 {
		phase("one BFT orderer killed, then a second, then both started", func(ld *load) string {
			return ordererFault(ctx, t, e, ld)
		})
	} else {
		t.Logf("%d orderers: the BFT phase needs four", len(e.orderers))
	}

	if e.c == nil {
		t.Logf("a loopback network: the partition and Toxiproxy phases need the multi-host consortium")
	} else {
		phase("the provider's host partitioned for 20 s", func(ld *load) string {
			return partitionFault(ctx, t, e, ld, "ProviderMSP")
		})
		phase("latency, narrow bandwidth and resets on every link for 60 s", func(ld *load) string {
			return toxicsFault(ctx, t, e)
		})
	}
	for _, f := range figures {
		t.Logf("figures: %s | %s | %s | nodes alike %s after", f.name, f.verdict, f.extra, f.catchUp.Round(100*time.Millisecond))
	}
}

// seed collects the batches the load assesses and trades, assesses each
// once (a trade needs a quality assessment), and waits until every node
// reads them.
func seed(ctx context.Context, t *testing.T, e *env, run string) (assess, trade []string) {
	t.Helper()
	prov, aud := e.nodes["ProviderMSP"], e.nodes["AuditorMSP"]
	for i := range 8 {
		id := fmt.Sprintf("%s-seed%d", run, i)
		if r := retried(ctx, func() reply { return prov.do(ctx, "POST", "/api/v1/batches", collectBody(id, 900000+i)) }); r.status != 201 {
			t.Fatalf("collect %s: %s", id, r)
		}
		if i < 4 {
			assess = append(assess, id)
		} else {
			trade = append(trade, id)
		}
	}
	for _, id := range trade {
		// The provider's write returned once every reachable peer held it;
		// the auditor's node reads through its own peer.
		if r := retried(ctx, func() reply {
			return aud.do(ctx, "POST", "/api/v1/batches/"+id+"/assessments", map[string]any{"score": 90, "method": run + "-seed"})
		}); r.status != 201 {
			t.Fatalf("assess %s: %s", id, r)
		}
	}
	var paths []string
	for _, id := range append(append([]string{}, assess...), trade...) {
		paths = append(paths, "/api/v1/batches/"+id, eventsPath(id))
	}
	if _, _, diffs := settle(ctx, e.nodes, paths, 60*time.Second); diffs != nil {
		t.Fatalf("the seed batches do not read alike through every node: %v", diffs)
	}
	return assess, trade
}

// retried sends a request again after a 503 or 429 (and no answer), for up
// to a minute: for the writes before the load, which only repeat on
// answers that wrote nothing.
func retried(ctx context.Context, f func() reply) reply {
	deadline := time.Now().Add(time.Minute)
	for {
		r := f()
		if (r.status != 503 && r.status != 429) || time.Now().After(deadline) || ctx.Err() != nil {
			return r
		}
		time.Sleep(r.retryWait())
	}
}

// waitReady polls a node's /readyz and returns how long it took to answer
// 200 (-1 after limit).
func waitReady(ctx context.Context, n *node, limit time.Duration) time.Duration {
	began := time.Now()
	for time.Since(began) < limit && ctx.Err() == nil {
		if r := n.do(ctx, "GET", "/readyz", nil); r.status == 200 {
			return time.Since(began)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return -1
}

// height is the channel height a node reports.
func height(ctx context.Context, n *node) (uint64, error) {
	r := n.do(ctx, "GET", "/api/v1/ledger", nil)
	if r.status != 200 {
		return 0, fmt.Errorf("GET /api/v1/ledger through %s: %s", n.org, r)
	}
	var info struct {
		Height uint64 `json:"height"`
	}
	if err := json.Unmarshal(r.body, &info); err != nil {
		return 0, err
	}
	return info.Height, nil
}

// ordererFault kills one orderer that is not the leader, then a second:
// with two of four down nothing is ordered, and no write that began after
// the second kill is acknowledged. One is started again and the time until
// the next block is measured; then the other.
func ordererFault(ctx context.Context, t *testing.T, e *env, ld *load) string {
	t.Helper()
	leader, err := e.ctl(ctx, "leader")
	leader = strings.TrimSpace(leader)
	if err != nil {
		leader = ""
	}
	var down []string
	for i := len(e.orderers) - 1; i >= 0 && len(down) < 2; i-- {
		if o := e.orderers[i]; o != leader {
			down = append(down, o)
		}
	}
	t.Cleanup(func() {
		for _, o := range down {
			e.ctl(context.Background(), "start", o)
		}
	})
	reg := e.nodes["RegulatorMSP"]
	// progress waits until the height passes h by two blocks (one may be
	// a block already ordered before a kill) and returns how long that took.
	progress := func(h uint64, limit time.Duration) (time.Duration, bool) {
		began := time.Now()
		for time.Since(began) < limit && ctx.Err() == nil {
			if now, err := height(ctx, reg); err == nil && now >= h+2 {
				return time.Since(began), true
			}
			time.Sleep(250 * time.Millisecond)
		}
		return time.Since(began), false
	}
	// The ordering service makes progress under the load before the first
	// kill (a view change still settling from an earlier fault would
	// otherwise be counted against the kill).
	h, err := height(ctx, reg)
	if err != nil {
		t.Fatalf("height before the orderer kills: %v", err)
	}
	if _, ok := progress(h, 90*time.Second); !ok {
		t.Fatalf("no block ordered within 90 s before the orderer kills")
	}
	h, _ = height(ctx, reg)
	e.must(t, "kill", down[0])
	oneDown := time.Now()
	withOne, ok := progress(h, 90*time.Second)
	if !ok {
		t.Errorf("no block ordered within 90 s of %s being killed (three of four orderers up)", down[0])
	}
	time.Sleep(max(0, 10*time.Second-time.Since(oneDown)))
	e.must(t, "kill", down[1])
	stalled := time.Now()
	time.Sleep(4 * time.Second) // blocks ordered before the kill reach the peers
	h0, err0 := height(ctx, reg)
	time.Sleep(12 * time.Second)
	h1, err1 := height(ctx, reg)
	stallEnd := time.Now()
	if err0 != nil || err1 != nil {
		t.Errorf("height while two orderers are down: %v %v", err0, err1)
	} else if h1 != h0 {
		t.Errorf("blocks %d..%d were ordered while two of four BFT orderers were down", h0, h1-1)
	}
	e.must(t, "start", down[1])
	restarted := time.Now()
	var resumed time.Duration
	for time.Since(restarted) < 120*time.Second && ctx.Err() == nil {
		if h, err := height(ctx, reg); err == nil && h > h1 {
			resumed = time.Since(restarted)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if resumed == 0 {
		t.Errorf("no block within 120 s of %s coming back (three of four orderers)", down[1])
	}
	time.Sleep(3 * time.Second)
	e.must(t, "start", down[0])

	ld.mu.Lock()
	defer ld.mu.Unlock()
	ackedOneDown, ackedStalled := 0, 0
	for _, w := range ld.writes {
		if w.outcome != acked {
			continue
		}
		if w.start.After(oneDown) && w.end.Before(stalled) {
			ackedOneDown++
		}
		// A write that began after the second kill (and a second for the
		// requests already with the orderers) cannot be ordered before a
		// third orderer is back.
		if w.start.After(stalled.Add(time.Second)) && w.end.Before(restarted) {
			ackedStalled++
			t.Errorf("%s %s began at %s and was acknowledged at %s, while two of four orderers were down",
				w.kind, w.key, w.start.Format("15:04:05.000"), w.end.Format("15:04:05.000"))
		}
	}
	if ackedOneDown == 0 {
		t.Errorf("no write was acknowledged while one of four orderers was down")
	}
	return fmt.Sprintf("killed %s then %s (leader %q); with one down, blocks again after %s and %d writes acknowledged in %.0f s; height held at %d for %.0f s with two down; first block %s after %s came back",
		down[0], down[1], leader, withOne.Round(100*time.Millisecond), ackedOneDown, stalled.Sub(oneDown).Seconds(), h0, stallEnd.Sub(stalled).Seconds(), resumed.Round(100*time.Millisecond), down[1])
}
