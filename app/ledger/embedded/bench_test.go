package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Write-path benchmarks report, besides ns/op:
//   events/s      durable committed events per second through Submit
//   tx/block      transactions per block (the group commit at work)
//   raw-events/s  the store's own ceiling: the same write sets, blocks and
//                 index entries written straight into a fresh bbolt file in
//                 the same groups, one fsynced bbolt transaction per block,
//                 with no contract, hashing, signing or queueing
//   ratio         events/s ÷ raw-events/s
//   cpu-µs/event  the process's CPU time per committed event (single-event
//                 and bulk benchmarks; bench/immudb reports the same)

// recorder keeps what the ledger wrote, block by block, to replay it.
type recorder struct {
	mu     sync.Mutex
	blocks []recordedBlock
}

type recordedBlock struct {
	number uint64
	block  []byte
	txs    []appliedTx
}

func (r *recorder) add(number uint64, block []byte, txs []appliedTx) {
	r.mu.Lock()
	r.blocks = append(r.blocks, recordedBlock{number, block, txs})
	r.mu.Unlock()
}

// replay writes the recorded blocks into a fresh file with Replay (the
// ledger's options, one fsynced transaction per block) and returns how long
// the writes took.
func (r *recorder) replay(b *testing.B) time.Duration {
	b.Helper()
	rp, err := NewReplay(filepath.Join(b.TempDir(), "raw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer rp.Close()
	var total time.Duration
	for _, rb := range r.blocks {
		p, err := preparedFromCommitted(rb.number, rb.block, rb.txs)
		if err != nil {
			b.Fatal(err)
		}
		d, err := rp.Write(p)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	return total
}

func (r *recorder) txCount() int {
	n := 0
	for _, rb := range r.blocks {
		n += len(rb.txs)
	}
	return n
}

func report(b *testing.B, rec *recorder, elapsed time.Duration, events int) {
	b.Helper()
	b.StopTimer()
	rate := float64(events) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(rec.txCount())/float64(len(rec.blocks)), "tx/block")
	raw := float64(events) / rec.replay(b).Seconds()
	b.ReportMetric(raw, "raw-events/s")
	b.ReportMetric(rate/raw, "ratio")
}

func openBench(b *testing.B, cfg Config) *Ledger {
	b.Helper()
	cfg.Dir = b.TempDir()
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	setupConsortium(b, l)
	return l
}

// BenchmarkSubmitSingleEvent: one CollectBatch (one COLLECTED event) per
// transaction, from 64 concurrent writers (parallelism 32 × GOMAXPROCS).
func BenchmarkSubmitSingleEvent(b *testing.B) {
	l := openBench(b, Config{})
	rec := &recorder{}
	l.onBlock = rec.add
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			args, _ := json.Marshal(collectReq("s-"+strconv.Itoa(i), i))
			if _, err := l.Submit(ctx, orgProvider, contract.FnCollect, args, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/event")
	if rec.txCount() != b.N {
		b.Fatalf("%d transactions committed, %d submitted", rec.txCount(), b.N)
	}
	report(b, rec, elapsed, b.N)
}

// cpuTime returns the CPU time (user and system) the process has used. On a
// machine shared with other work it measures the cost of an op better than
// the time it took.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSubmitSingleEventReceipt: as BenchmarkSubmitSingleEvent, and each
// writer then gets the receipt of its transaction, as the service does for
// every write it answers: from the result, or from Receipt when the result
// holds none. Besides the metrics above it reports cpu-µs/op, the
// process's CPU time per op. The nosync case leaves out the fsync, so that
// the CPU the write and its receipt take is not hidden behind the disk.
func BenchmarkSubmitSingleEventReceipt(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(c.name, func(b *testing.B) {
			l := openBench(b, Config{NoSync: c.noSync})
			rec := &recorder{}
			l.onBlock = rec.add
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					args, _ := json.Marshal(collectReq("r-"+strconv.Itoa(i), i))
					res, err := l.Submit(ctx, orgProvider, contract.FnCollect, args, nil)
					if err != nil {
						b.Error(err)
						return
					}
					if res.Receipt != nil && res.Receipt() != nil {
						continue
					}
					if _, err := l.Receipt(ctx, res.TxID); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			if rec.txCount() != b.N {
				b.Fatalf("%d transactions committed, %d submitted", rec.txCount(), b.N)
			}
			if c.noSync {
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(rec.txCount())/float64(len(rec.blocks)), "tx/block")
				return
			}
			report(b, rec, elapsed, b.N)
		})
	}
}

// bulkSize is the number of trades (TRADED events) in one bulk submission:
// the contract's maximum.
const bulkSize = contract.MaxBulkTrades

// BenchmarkSubmitBulkTrades: RecordTrades of 1,000 trades per transaction,
// from 4 concurrent writers; an op is one bulk transaction.
func BenchmarkSubmitBulkTrades(b *testing.B) {
	// TOKENTRAIL_BENCH_FILL sets how full split pages are left (default
	// writeFillPercent), to compare the pages each fill writes.
	if v := os.Getenv("TOKENTRAIL_BENCH_FILL"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0.1 || f > 1 {
			b.Fatalf("TOKENTRAIL_BENCH_FILL=%q: want a fraction between 0.1 and 1", v)
		}
		defer func(was float64) { writeFillPercent = was }(writeFillPercent)
		writeFillPercent = f
	}
	l := openBench(b, Config{})
	const batches = 16
	for k := 0; k < batches; k++ {
		submit(b, l, orgProvider, contract.FnCollect, collectReq(fmt.Sprintf("bulk-%d", k), 1_000_000+k), nil)
	}
	terms := make([]contract.Terms, bulkSize)
	for j := range terms {
		terms[j] = contract.Terms{UnitPrice: float64(10 + j%7), Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: "s"}
	}
	termsJSON, _ := json.Marshal(terms)
	transient := map[string][]byte{contract.TransientTerms: termsJSON, contract.TransientSalts: randomSalts(bulkSize)}
	rec := &recorder{}
	l.onBlock = rec.add
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(2)
	b.ReportAllocs()
	b.ResetTimer()
	pages := pagesWritten(l)
	start, cpu := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			req := contract.BulkTradeRequest{Trades: make([]contract.TradeRequest, bulkSize)}
			for j := range req.Trades {
				req.Trades[j] = tradeReq(fmt.Sprintf("bt-%d-%d", i, j), fmt.Sprintf("bulk-%d", i%batches))
			}
			args, _ := json.Marshal(req)
			res, err := l.Submit(ctx, orgExchange, contract.FnTradeBulk, args, transient)
			if err != nil {
				b.Error(err)
				return
			}
			var out contract.BulkTradeResult
			if err := json.Unmarshal(res.Payload, &out); err != nil || len(out.Results) != bulkSize || out.Results[bulkSize-1].Status != contract.BulkCommitted {
				b.Errorf("bulk result: %v %s", err, res.Payload[:min(len(res.Payload), 300)])
				return
			}
		}
	})
	elapsed := time.Since(start)
	used := cpuTime(b) - cpu
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(used.Microseconds())/float64(b.N*bulkSize), "cpu-µs/event")
	// Pages bbolt wrote (each one pwrite), per event: what the page layout
	// costs, independent of the machine's load.
	b.ReportMetric(float64(pagesWritten(l)-pages)/float64(b.N*bulkSize), "pages/event")
	report(b, rec, elapsed, b.N*bulkSize)
}

// pagesWritten is how many pages bbolt has written to l's file since it was
// opened.
func pagesWritten(l *Ledger) int64 {
	st := l.db.Stats()
	return st.TxStats.GetWrite()
}

// Query benchmarks run against one ledger holding queryEvents events
// (default 1,000,000; TOKENTRAIL_BENCH_EVENTS overrides), built once per
// process. Besides ns/op they report p50-ms and p99-ms.
var queryFixture struct {
	once sync.Once
	dir  string
	err  error
}

const (
	historyBatch = "hist"     // 100 events
	chainLength  = 20         // lineage depth and ancestors
	chainLeaf    = "chain-20" // 20 ancestors: chain-0 … chain-19
)

func queryEvents() int {
	if s := os.Getenv("TOKENTRAIL_BENCH_EVENTS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// buildQueryFixture fills a ledger: a 100-event batch, a 21-batch processing
// chain, and bulk trades on filler batches up to the event count. It is
// built without fsync, which changes how fast it is built, not what it holds.
func buildQueryFixture(b *testing.B) (string, error) {
	dir, err := os.MkdirTemp("", "tokentrail-bench-")
	if err != nil {
		return "", err
	}
	l, err := Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		return "", err
	}
	defer l.Close()
	ctx := context.Background()
	events := 0
	sub := func(org, fn string, req any, transient map[string][]byte) error {
		args, _ := json.Marshal(req)
		res, err := l.Submit(ctx, org, fn, args, transient)
		if err != nil {
			return fmt.Errorf("%s: %w", fn, err)
		}
		var w struct {
			Results []contract.BulkItemResult `json:"results"`
			Event   *contract.Event           `json:"event"`
			Batches []contract.Batch          `json:"batches"`
		}
		if err := json.Unmarshal(res.Payload, &w); err != nil {
			return err
		}
		for _, r := range w.Results {
			if r.Status != contract.BulkCommitted {
				return fmt.Errorf("trade %s: %s %v", r.TradeID, r.Status, r.Error)
			}
			events++
		}
		if w.Event != nil {
			events++
		}
		return nil
	}
	setupConsortium(b, l)
	oneTerm := func(n int) map[string][]byte {
		ts := make([]contract.Terms, n)
		for j := range ts {
			ts[j] = contract.Terms{UnitPrice: float64(10 + j%7), Currency: "CNY", PriceUnit: "1M tokens"}
		}
		tb, _ := json.Marshal(ts)
		return map[string][]byte{contract.TransientTerms: tb, contract.TransientSalts: randomSalts(n)}
	}
	// A batch with 100 events: collected, then 99 trades.
	if err := sub(orgProvider, contract.FnCollect, collectReq(historyBatch, 1), nil); err != nil {
		return "", err
	}
	hist := contract.BulkTradeRequest{}
	for j := 0; j < 99; j++ {
		hist.Trades = append(hist.Trades, tradeReq(fmt.Sprintf("h-%d", j), historyBatch))
	}
	if err := sub(orgExchange, contract.FnTradeBulk, hist, oneTerm(99)); err != nil {
		return "", err
	}
	// A processing chain: chain-0 → chain-1 → … → chain-20.
	if err := sub(orgProvider, contract.FnCollect, collectReq("chain-0", 2), nil); err != nil {
		return "", err
	}
	for k := 1; k <= chainLength; k++ {
		req := contract.ProcessRequest{Inputs: []string{fmt.Sprintf("chain-%d", k-1)}, Operations: []string{"labeling"},
			Tool: contract.Tool{Name: "labeller", Version: "1"},
			Outputs: []contract.OutputRequest{{ID: fmt.Sprintf("chain-%d", k), Name: "step", Tokens: contract.Tokens{Count: 10_000_000, Tokenizer: "o200k_base"},
				ContentDigest: fmt.Sprintf("sha256:%064x", 100+k), SizeBytes: 1, Records: 1}}}
		if err := sub(orgProvider, contract.FnProcess, req, nil); err != nil {
			return "", err
		}
	}
	// Filler: bulk trades over 100 batches until the ledger holds the events.
	const fillers = 100
	for k := 0; k < fillers; k++ {
		if err := sub(orgProvider, contract.FnCollect, collectReq(fmt.Sprintf("fill-%d", k), 1000+k), nil); err != nil {
			return "", err
		}
	}
	target := queryEvents()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fillErr error
	next := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if fillErr != nil || events >= target {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				req := contract.BulkTradeRequest{Trades: make([]contract.TradeRequest, bulkSize)}
				for j := range req.Trades {
					req.Trades[j] = tradeReq(fmt.Sprintf("f-%d-%d", i, j), fmt.Sprintf("fill-%d", i%fillers))
				}
				args, _ := json.Marshal(req)
				_, err := l.Submit(ctx, orgExchange, contract.FnTradeBulk, args, oneTerm(bulkSize))
				mu.Lock()
				if err != nil && fillErr == nil {
					fillErr = err
				}
				events += bulkSize
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fillErr != nil {
		return "", fillErr
	}
	b.Logf("query fixture: %d events in %d blocks", events, l.Height())
	return dir, nil
}

func queryLedger(b *testing.B) *Ledger {
	b.Helper()
	queryFixture.once.Do(func() {
		start := time.Now()
		queryFixture.dir, queryFixture.err = buildQueryFixture(b)
		b.Logf("built the query fixture in %v", time.Since(start).Round(time.Second))
	})
	if queryFixture.err != nil {
		b.Fatal(queryFixture.err)
	}
	l, err := Open(Config{Dir: queryFixture.dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// benchQuery evaluates fn with args b.N times and reports latency
// percentiles; check validates one answer.
func benchQuery(b *testing.B, fn string, req any, check func([]byte) error) {
	l := queryLedger(b)
	args, _ := json.Marshal(req)
	ctx := context.Background()
	out, err := l.Evaluate(ctx, orgRegulator, fn, args)
	if err != nil {
		b.Fatal(err)
	}
	if err := check(out); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := l.Evaluate(ctx, orgRegulator, fn, args); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
}

func BenchmarkQueryHistory100(b *testing.B) {
	benchQuery(b, contract.FnHistory, contract.HistoryRequest{BatchID: historyBatch, PageRequest: contract.PageRequest{PageSize: 100}},
		func(out []byte) error {
			var p contract.Page[contract.Event]
			if err := json.Unmarshal(out, &p); err != nil {
				return err
			}
			if len(p.Items) != 100 || p.NextPageToken != "" {
				return fmt.Errorf("history holds %d events (next %q), want 100", len(p.Items), p.NextPageToken)
			}
			return nil
		})
}

func BenchmarkQueryLineageDepth20(b *testing.B) {
	benchQuery(b, contract.FnLineage, contract.LineageRequest{BatchID: chainLeaf, Direction: "up", Depth: chainLength},
		func(out []byte) error {
			var g contract.Lineage
			if err := json.Unmarshal(out, &g); err != nil {
				return err
			}
			if len(g.Nodes) != chainLength+1 || len(g.Edges) != chainLength {
				return fmt.Errorf("lineage has %d nodes and %d edges, want %d and %d", len(g.Nodes), len(g.Edges), chainLength+1, chainLength)
			}
			return nil
		})
}

func BenchmarkQueryCompliance20Ancestors(b *testing.B) {
	benchQuery(b, contract.FnCompliance, contract.IDRequest{ID: chainLeaf},
		func(out []byte) error {
			var c contract.Compliance
			if err := json.Unmarshal(out, &c); err != nil {
				return err
			}
			if len(c.Ancestors) != chainLength {
				return fmt.Errorf("compliance covers %d ancestors, want %d", len(c.Ancestors), chainLength)
			}
			return nil
		})
}

// TestMain removes the query benchmarks' ledger, which outlives any one
// benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	if queryFixture.dir != "" {
		os.RemoveAll(queryFixture.dir)
	}
	os.Exit(code)
}
