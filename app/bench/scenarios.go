package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Organisations of the development consortium.
const (
	orgRegulator = "RegulatorMSP"
	orgProvider  = "ProviderMSP"
	orgProcessor = "ProcessorMSP"
	orgExchange  = "ExchangeMSP"
	orgConsumer  = "ConsumerMSP"
	orgAuditor   = "AuditorMSP"
)

// Names in the preloaded fixture (with --prefix).
const (
	chainLength = 20  // lineage depth: chain-0 → … → chain-20
	fillers     = 100 // batches the filler trades are spread over
	histEvents  = 100 // events of the history batch
)

func histBatch(p string) string         { return p + "-hist" }
func chainBatch(p string, k int) string { return fmt.Sprintf("%s-chain-%d", p, k) }
func fillBatch(p string, k int) string  { return fmt.Sprintf("%s-fill-%d", p, k) }

// runTag makes this run's IDs unique on a ledger that earlier runs wrote to.
func runTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "r" + hex.EncodeToString(b[:])
}

func collectReq(id string, n int) contract.CollectRequest {
	return contract.CollectRequest{
		ID: id, Name: "batch " + id, Sector: "healthcare", Modality: "text", Languages: []string{"zh-CN"},
		Tokens: contract.Tokens{Count: 10_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", n),
		SizeBytes: 40_000_000, Records: 10_000, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training", "evaluation"}, Region: "CN", Licence: "CC-BY-4.0",
		Quality: &contract.QualityInput{Score: 90, Method: "sampled review"},
		Source:  contract.Source{Type: "enterprise", Description: "records", Region: "CN"},
	}
}

func tradeReq(tradeID, batchID string) contract.TradeRequest {
	return contract.TradeRequest{TradeID: tradeID, BatchID: batchID, Seller: orgProvider, Buyer: orgConsumer,
		Tokens: 1000, Rights: "licence", Purposes: []string{"model-training"}}
}

func terms(j int) contract.Terms {
	return contract.Terms{UnitPrice: float64(10 + j%7), Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: fmt.Sprintf("S-%d", j)}
}

// tradeItem is one trade of an API request: the trade and its terms.
type tradeItem struct {
	contract.TradeRequest
	Terms contract.Terms `json:"terms"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the package's own request types are encoded
	}
	return b
}

// bulkOp builds a bulk request and the ledger transactions the server makes
// of it: one per chunk of chunk trades.
func bulkOp(trades []contract.TradeRequest, chunk int) op {
	items := make([]tradeItem, len(trades))
	ts := make([]contract.Terms, len(trades))
	for i, t := range trades {
		ts[i] = terms(i)
		items[i] = tradeItem{t, ts[i]}
	}
	o := op{method: "POST", path: "/api/v1/trades:bulk", org: orgExchange, body: mustJSON(map[string]any{"trades": items})}
	for s := 0; s < len(trades); s += chunk {
		e := min(s+chunk, len(trades))
		o.replay = append(o.replay, &replayTx{fn: contract.FnTradeBulk, org: orgExchange,
			args:      mustJSON(contract.BulkTradeRequest{Trades: trades[s:e]}),
			transient: map[string][]byte{contract.TransientTerms: mustJSON(ts[s:e]), contract.TransientSalts: salts(e - s)}})
	}
	return o
}

// bulkCommitted counts the committed trades of a bulk answer.
func bulkCommitted(body []byte) int {
	var r contract.BulkTradeResult
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	n := 0
	for _, it := range r.Results {
		if it.Status == contract.BulkCommitted {
			n++
		}
	}
	return n
}

// setupBatches collects one batch per worker (and records the
// transactions, for the ceiling's replay).
func setupBatches(ctx context.Context, cl *client, ids []string, log *[]committed) error {
	for i, id := range ids {
		req := collectReq(id, 500_000+i)
		out, err := cl.mustDo(ctx, "POST", "/api/v1/batches", orgProvider, req)
		if err != nil {
			return err
		}
		*log = append(*log, committed{replay: []*replayTx{{fn: contract.FnCollect, org: orgProvider, args: mustJSON(req)}}, body: out})
	}
	return nil
}

func newScenario(c Config) (*scenario, error) {
	tag := runTag()
	one := func(int, op, []byte) int { return 1 }
	none := func(int, op, []byte) int { return 0 }
	sc := &scenario{answered: none}
	perWorker := func(kind string, n int) []string {
		ids := make([]string, n)
		for w := range ids {
			ids[w] = fmt.Sprintf("%s-%s-%d", tag, kind, w)
		}
		return ids
	}
	var batches []string
	get := func(org, path string) func(int, int) op {
		return func(int, int) op { return op{method: "GET", path: path, org: org} }
	}
	p := url.PathEscape
	switch c.Scenario {
	case ScCollect:
		sc.write, sc.answered = true, one
		sc.next = func(w, n int) op {
			req := collectReq(fmt.Sprintf("%s-c%d-%d", tag, w, n), w*10_000_000+n)
			b := mustJSON(req)
			return op{method: "POST", path: "/api/v1/batches", org: orgProvider, body: b,
				replay: []*replayTx{{fn: contract.FnCollect, org: orgProvider, args: b}}}
		}
	case ScCirculate:
		sc.write, sc.answered = true, one
		sc.setup = func(ctx context.Context, cl *client, workers int) error {
			batches = perWorker("circ", workers)
			return setupBatches(ctx, cl, batches, &sc.setupTxs)
		}
		targets := []string{orgProcessor, orgConsumer, orgExchange, orgAuditor}
		sc.next = func(w, n int) op {
			req := contract.CirculateRequest{BatchID: batches[w], To: targets[n%len(targets)], Purpose: "model-training", AccessMode: "copy"}
			body := mustJSON(map[string]string{"to": req.To, "purpose": req.Purpose, "accessMode": req.AccessMode})
			return op{method: "POST", path: "/api/v1/batches/" + p(batches[w]) + "/circulations", org: orgProvider, body: body,
				replay: []*replayTx{{fn: contract.FnCirculate, org: orgProvider, args: mustJSON(req)}}}
		}
	case ScTrade:
		sc.write, sc.answered = true, one
		sc.setup = func(ctx context.Context, cl *client, workers int) error {
			batches = perWorker("trade", workers)
			return setupBatches(ctx, cl, batches, &sc.setupTxs)
		}
		sc.next = func(w, n int) op {
			tr := tradeReq(fmt.Sprintf("%s-t%d-%d", tag, w, n), batches[w])
			t := terms(n)
			return op{method: "POST", path: "/api/v1/trades", org: orgExchange, body: mustJSON(tradeItem{tr, t}),
				replay: []*replayTx{{fn: contract.FnTrade, org: orgExchange, args: mustJSON(tr),
					transient: map[string][]byte{contract.TransientTerms: mustJSON(t), contract.TransientSalts: salts(1)}}}}
		}
	case ScBulk:
		sc.write = true
		sc.answered = func(_ int, _ op, body []byte) int { return bulkCommitted(body) }
		sc.setup = func(ctx context.Context, cl *client, workers int) error {
			batches = perWorker("bulk", workers)
			return setupBatches(ctx, cl, batches, &sc.setupTxs)
		}
		sc.next = func(w, n int) op {
			trades := make([]contract.TradeRequest, c.BulkSize)
			for j := range trades {
				trades[j] = tradeReq(fmt.Sprintf("%s-b%d-%d-%d", tag, w, n, j), batches[w])
			}
			return bulkOp(trades, c.BulkChunk)
		}
	case ScHistory:
		sc.next = get(orgRegulator, "/api/v1/batches/"+p(histBatch(c.Prefix))+"/events?pageSize=100")
		sc.check = expectItems(histEvents)
	case ScLineage:
		sc.next = get(orgRegulator, fmt.Sprintf("/api/v1/batches/%s/lineage?direction=up&depth=%d", p(chainBatch(c.Prefix, chainLength)), chainLength))
		sc.check = func(b []byte) error {
			var g struct{ Nodes, Edges []json.RawMessage }
			if err := json.Unmarshal(b, &g); err != nil {
				return err
			}
			if len(g.Nodes) != chainLength+1 || len(g.Edges) != chainLength {
				return fmt.Errorf("lineage has %d nodes and %d edges, want %d and %d", len(g.Nodes), len(g.Edges), chainLength+1, chainLength)
			}
			return nil
		}
	case ScImpact:
		sc.next = get(orgRegulator, "/api/v1/batches/"+p(chainBatch(c.Prefix, 0))+"/impact")
	case ScCompliance:
		sc.next = get(orgAuditor, "/api/v1/batches/"+p(chainBatch(c.Prefix, chainLength))+"/compliance")
	case ScTradesPage:
		var mu sync.Mutex
		tokens := map[int]string{}
		sc.next = func(w, n int) op {
			mu.Lock()
			tok := tokens[w]
			mu.Unlock()
			q := url.Values{"batchId": {fillBatch(c.Prefix, w%fillers)}, "pageSize": {"100"}}
			if tok != "" {
				q.Set("pageToken", tok)
			}
			return op{method: "GET", path: "/api/v1/trades?" + q.Encode(), org: orgRegulator}
		}
		sc.answered = func(w int, _ op, body []byte) int {
			var pg struct {
				NextPageToken string `json:"nextPageToken"`
			}
			_ = json.Unmarshal(body, &pg)
			mu.Lock()
			tokens[w] = pg.NextPageToken // "" after the last page: start again
			mu.Unlock()
			return 0
		}
		sc.check = expectItems(100)
	default:
		return nil, fmt.Errorf("scenario %s is not an HTTP load", c.Scenario)
	}
	return sc, nil
}

func expectItems(n int) func([]byte) error {
	return func(b []byte) error {
		var pg struct{ Items []json.RawMessage }
		if err := json.Unmarshal(b, &pg); err != nil {
			return err
		}
		if len(pg.Items) != n {
			return fmt.Errorf("the page holds %d items, want %d", len(pg.Items), n)
		}
		return nil
	}
}

// PreloadResult says what preload wrote and how long it took.
type PreloadResult struct {
	Events       int64   `json:"events"`
	Trades       int64   `json:"trades"`
	BulkRequests int64   `json:"bulkRequests"`
	Seconds      float64 `json:"seconds"`
	FillSeconds  float64 `json:"fillSeconds"`
	Height       uint64  `json:"height"`
}

// preload builds the read scenarios' fixture through the API: a batch with
// 100 events (collected, then 99 trades), a processing chain of depth 20,
// and bulk trades over 100 filler batches until the ledger holds c.Events
// lifecycle events. c.Clients bulk requests are in flight at once.
func preload(ctx context.Context, c Config, cl *client) (*Result, error) {
	res := newResult(c)
	load0 := loadAvg()
	rss := startRSS(c)
	start := time.Now()
	pr := &PreloadResult{}
	var events atomic.Int64
	px := c.Prefix
	say := func(format string, a ...any) {
		fmt.Fprintf(c.Progress, "bench: preload %s: "+format+"\n", append([]any{time.Since(start).Round(time.Second)}, a...)...)
	}
	collect := func(id string, n int) error {
		_, err := cl.mustDo(ctx, "POST", "/api/v1/batches", orgProvider, collectReq(id, n))
		if err == nil {
			events.Add(1)
		}
		return err
	}
	bulk := func(trades []contract.TradeRequest) error {
		o := bulkOp(trades, len(trades))
		st, body, err := cl.do(ctx, o.method, o.path, o.org, o.body)
		if err != nil {
			return err
		}
		if st != 200 {
			return fmt.Errorf("bulk: %d %s", st, truncate(body, 400))
		}
		n := bulkCommitted(body)
		if n != len(trades) {
			return fmt.Errorf("bulk: %d of %d trades committed: %s", n, len(trades), truncate(body, 400))
		}
		events.Add(int64(n))
		pr.Trades += int64(n)
		pr.BulkRequests++
		return nil
	}
	// History batch: 1 + 99 events.
	if err := collect(histBatch(px), 1); err != nil {
		return nil, err
	}
	var ht []contract.TradeRequest
	for j := 0; j < histEvents-1; j++ {
		ht = append(ht, tradeReq(fmt.Sprintf("%s-h-%d", px, j), histBatch(px)))
	}
	if err := bulk(ht); err != nil {
		return nil, err
	}
	// Processing chain.
	if err := collect(chainBatch(px, 0), 2); err != nil {
		return nil, err
	}
	for k := 1; k <= chainLength; k++ {
		req := contract.ProcessRequest{Inputs: []string{chainBatch(px, k-1)}, Operations: []string{"labeling"},
			Tool: contract.Tool{Name: "labeller", Version: "1"},
			Outputs: []contract.OutputRequest{{ID: chainBatch(px, k), Name: "step", Tokens: contract.Tokens{Count: 10_000_000, Tokenizer: "o200k_base"},
				ContentDigest: fmt.Sprintf("sha256:%064x", 100+k), SizeBytes: 1, Records: 1}}}
		if _, err := cl.mustDo(ctx, "POST", "/api/v1/processing", orgProvider, req); err != nil {
			return nil, err
		}
		events.Add(1)
	}
	for k := 0; k < fillers; k++ {
		if err := collect(fillBatch(px, k), 1000+k); err != nil {
			return nil, err
		}
	}
	say("history batch, chain of %d, %d filler batches", chainLength, fillers)
	fillStart := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	deadline := time.Now().Add(c.Duration)
	lastSay := time.Now()
	for w := 0; w < c.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				mu.Lock()
				stop := firstErr != nil || events.Load() >= int64(c.Events)
				mu.Unlock()
				if stop {
					return
				}
				i := int(next.Add(1) - 1)
				trades := make([]contract.TradeRequest, c.BulkSize)
				for j := range trades {
					trades[j] = tradeReq(fmt.Sprintf("%s-f-%d-%d", px, i, j), fillBatch(px, i%fillers))
				}
				err := bulk(trades)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if time.Since(lastSay) > 15*time.Second {
					lastSay = time.Now()
					say("%d events", events.Load())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if events.Load() < int64(c.Events) {
		return nil, fmt.Errorf("preload stopped at %d events of %d (time limit %v)", events.Load(), c.Events, c.Duration)
	}
	pr.FillSeconds = time.Since(fillStart).Seconds()
	pr.Seconds = time.Since(start).Seconds()
	pr.Events = events.Load()
	if b, err := cl.mustDo(ctx, "GET", "/api/v1/ledger", orgRegulator, nil); err == nil {
		var info struct {
			Height uint64 `json:"height"`
		}
		_ = json.Unmarshal(b, &info)
		pr.Height = info.Height
	}
	res.Preload = pr
	res.Seconds = pr.Seconds
	res.Events = pr.Events
	res.EventsPerS = float64(pr.Events) / pr.Seconds
	res.RSS = rss.stop()
	res.Machine.LoadBefore, res.Machine.LoadAfter = load0, loadAvg()
	say("done: %d events", pr.Events)
	return res, nil
}

// salts draws n trades' salts for a replayed transaction, as the app does
// for every trade it submits.
func salts(n int) []byte {
	b := make([]byte, n*contract.SaltSize)
	rand.Read(b)
	return b
}
