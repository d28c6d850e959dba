package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// adapter lets the conformance scenarios drive the embedded ledger.
type adapter struct{ l *Ledger }

func (a adapter) Submit(org, fn string, args []byte, transient map[string][]byte) ([]byte, error) {
	res, err := a.l.Submit(context.Background(), org, fn, args, transient)
	return res.Payload, err
}

func (a adapter) Evaluate(org, fn string, args []byte) ([]byte, error) {
	return a.l.Evaluate(context.Background(), org, fn, args)
}

func TestConformance(t *testing.T) {
	contracttest.Run(t, func(t *testing.T, clock *contracttest.Clock) contracttest.Ledger {
		return adapter{openTest(t, Config{Clock: clock.Now})}
	})
}

// memTxIDs reproduces contracttest.MemLedger's transaction IDs, so that the
// two ledgers' states can be compared byte for byte.
func memTxIDs() func() string { return counterTxIDs("mem-tx") }

// TestDeterminism replays the same transactions on fresh ledgers and on the
// in-memory reference ledger. The state must be identical everywhere. The
// blocks must be byte-identical between two nodes with the same node key
// (the commitment salts are derived from it, nothing random enters a block);
// a node with another key commits to the same content with other salts, so
// its transaction roots, and hence its block hashes, differ.
func TestDeterminism(t *testing.T) {
	var digests, chains, roots []string
	var heights []uint64
	keyDir := t.TempDir()
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		if i == 1 { // the same node key as the first ledger's
			key, err := os.ReadFile(filepath.Join(keyDir, KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if i == 0 {
			dir = keyDir
		}
		clock := contracttest.NewClock()
		l := openTest(t, Config{Dir: dir, Clock: clock.Now, TxIDs: memTxIDs()})
		contracttest.Replay(t, adapter{l}, clock)
		hashes, headers := blockHashes(t, l)
		if len(hashes) < 10 {
			t.Fatalf("replay made only %d blocks", len(hashes))
		}
		digests = append(digests, stateDigest(t, l))
		chains = append(chains, strings.Join(headers, "\n")+"\n"+strings.Join(hashes, "\n"))
		var r []string
		for _, h := range headers {
			var hd receipt.Header
			if err := json.Unmarshal([]byte(h), &hd); err != nil {
				t.Fatal(err)
			}
			r = append(r, hd.TxRoot)
		}
		roots = append(roots, strings.Join(r, ","))
		heights = append(heights, l.Height())
	}
	for i := 1; i < 3; i++ {
		if digests[i] != digests[0] {
			t.Errorf("state of replay %d differs: %s vs %s", i, digests[i], digests[0])
		}
		if heights[i] != heights[0] {
			t.Errorf("replay %d made %d blocks, the first %d", i, heights[i], heights[0])
		}
	}
	if chains[0] != chains[1] {
		t.Errorf("blocks differ between two replays on the same node key:\n%s\n---\n%s", chains[0], chains[1])
	}
	if roots[2] == roots[0] || chains[2] == chains[0] {
		t.Errorf("a node with another key made the same transaction roots: its commitments are not salted with its own secret")
	}

	clock := contracttest.NewClock()
	mem := contracttest.NewMemLedger(clock.Now)
	contracttest.Replay(t, mem, clock)
	if want := mem.StateDigest(); digests[0] != want {
		t.Errorf("state differs from the reference ledger's: %s vs %s", digests[0], want)
	}
}

func TestReceiptsVerify(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	ctx := context.Background()
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != ledger.KindEmbedded || info.Height == 0 || !strings.Contains(info.TrustAnchor, "PUBLIC KEY") {
		t.Fatalf("info = %+v", info)
	}

	col := submit(t, l, orgProvider, contract.FnCollect, collectReq("b1", 1), nil)
	var trades []contract.TradeRequest
	var prices []float64
	for i := 0; i < 7; i++ {
		trades = append(trades, tradeReq(fmt.Sprintf("t-%d", i), "b1"))
		prices = append(prices, float64(10+i))
	}
	bulk, err := l.Submit(ctx, orgExchange, contract.FnTradeBulk, mustJSON(t, contract.BulkTradeRequest{Trades: trades}), termsJSON(t, prices...))
	if err != nil {
		t.Fatal(err)
	}
	reg := committedTxs(t, l)[0] // the bootstrap: no lifecycle events

	for _, c := range []struct {
		name   string
		txID   string
		events int
		fn     string
	}{
		{"no events", reg.TxID, 0, contract.FnBootstrap},
		{"one event", col.TxID, 1, contract.FnCollect},
		{"bulk", bulk.TxID, 7, contract.FnTradeBulk},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, err := l.Receipt(ctx, c.txID)
			if err != nil {
				t.Fatal(err)
			}
			p, err := receipt.Verify(doc, []byte(info.TrustAnchor))
			if err != nil {
				t.Fatalf("valid receipt fails: %v\n%s", err, doc)
			}
			if p.TxID != c.txID || p.Function != c.fn || len(p.Events) != c.events || p.Kind != "embedded" {
				t.Errorf("proof = %+v", p)
			}
			for _, e := range p.Events {
				var ev contract.Event
				if err := json.Unmarshal(mustQueryEvent(t, l, e.EventID), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.TxID != c.txID {
					t.Errorf("event %s belongs to %s, not %s", e.EventID, ev.TxID, c.txID)
				}
			}
		})
	}
	if col.Event == nil {
		t.Fatal("collect returned no event")
	}

	if _, err := l.Receipt(ctx, "no-such-tx"); !errors.Is(err, ledger.ErrTxNotFound) {
		t.Errorf("unknown tx: %v, want ErrTxNotFound", err)
	}

	// Another node's key is not this ledger's trust anchor.
	other := openTest(t, Config{})
	doc, _ := l.Receipt(ctx, col.TxID)
	_, err = receipt.Verify(doc, []byte(other.TrustAnchor()))
	var ve *receipt.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckTrustAnchor {
		t.Errorf("verify with another node's key: %v, want a trust-anchor failure", err)
	}
}

func mustQueryEvent(t *testing.T, l *Ledger, id string) []byte {
	t.Helper()
	out, err := l.Evaluate(context.Background(), orgRegulator, contract.FnGetEvent, mustJSON(t, contract.IDRequest{ID: id}))
	if err != nil {
		t.Fatalf("get event %s: %v", id, err)
	}
	var ref contract.EventRef
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, ref.Event)
}

// TestGroupCommit submits from many goroutines at once: transactions share
// blocks, every acknowledged one is in the block it was acknowledged with,
// and rejected ones are in no block.
func TestGroupCommit(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 16})
	setupConsortium(t, l)
	before := l.Height()
	const writers, each = 16, 8
	var wg sync.WaitGroup
	results := make(chan ledger.Result, writers*each)
	rejected := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("g-%d-%d", w, i)
				res, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq(id, w*100+i)), nil)
				if err != nil {
					t.Error(err)
					return
				}
				results <- res
				// The same ID again is a conflict: refused, and in no block.
				_, err = l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq(id, w*100+i)), nil)
				rejected <- err
			}
		}(w)
	}
	wg.Wait()
	close(results)
	close(rejected)
	for err := range rejected {
		var ce *contract.Error
		if !errors.As(err, &ce) || ce.Kind != contract.KindConflict {
			t.Errorf("duplicate collect: %v, want a conflict", err)
		}
	}
	inBlock := map[string]uint64{}
	for _, r := range committedTxsWithBlocks(t, l) {
		inBlock[r.txID] = r.block
	}
	n := 0
	for r := range results {
		n++
		if b, ok := inBlock[r.TxID]; !ok || b != r.Block {
			t.Errorf("tx %s acknowledged in block %d, found in block %d (%v)", r.TxID, r.Block, b, ok)
		}
	}
	blocks := l.Height() - before
	if n != writers*each || len(inBlock) != writers*each+6 { // 6: the consortium's setup
		t.Errorf("%d acknowledged, %d transactions in blocks", n, len(inBlock))
	}
	if blocks >= uint64(n) {
		t.Errorf("%d transactions took %d blocks: no group commit", n, blocks)
	}
	t.Logf("%d transactions in %d blocks", n, blocks)
}

type txLoc struct {
	txID  string
	block uint64
}

func committedTxsWithBlocks(t testing.TB, l *Ledger) []txLoc {
	t.Helper()
	var out []txLoc
	err := l.Blocks(1, func(b BlockView) bool {
		for _, tx := range b.Txs {
			out = append(out, txLoc{tx.TxID, b.Number})
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRejectedWritesNothing(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	h, d := l.Height(), stateDigest(t, l)
	bad := collectReq("x", 1)
	bad.PersonalInfo, bad.LegalBasis = "personal", "none" // TT-R01
	_, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, bad), nil)
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Rule != contract.RuleLegalBasis {
		t.Fatalf("got %v, want a TT-R01 refusal as *contract.Error", err)
	}
	if l.Height() != h || stateDigest(t, l) != d {
		t.Error("a refused transaction changed the ledger")
	}
	// Queries cannot be submitted, writes cannot be evaluated.
	if _, err := l.Submit(context.Background(), orgProvider, contract.FnGetBatch, []byte(`{"id":"x"}`), nil); !errors.As(err, &ce) {
		t.Errorf("submitting a query: %v", err)
	}
	if _, err := l.Evaluate(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, bad)); !errors.As(err, &ce) {
		t.Errorf("evaluating a write: %v", err)
	}
}

// TestFailedFlushAbortsBlock makes the second of three transactions fail
// while its writes are applied: none of the block's transactions may commit.
func TestFailedFlushAbortsBlock(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	h, d := l.Height(), stateDigest(t, l)
	var n int
	l.testHookApply = func(*txState) error {
		n++
		if n == 2 {
			return errors.New("injected write failure")
		}
		return nil
	}
	var batch []*submission
	for i := 0; i < 3; i++ {
		batch = append(batch, &submission{ctx: context.Background(), org: orgProvider, fn: contract.FnCollect,
			args: mustJSON(t, collectReq(fmt.Sprintf("f-%d", i), i)), done: make(chan outcome, 1)})
	}
	l.commitBlock(batch)
	for i, s := range batch {
		if o := <-s.done; !errors.Is(o.err, ledger.ErrUnavailable) {
			t.Errorf("submission %d: %v, want ErrUnavailable", i, o.err)
		}
	}
	if l.Height() != h || stateDigest(t, l) != d {
		t.Fatal("an aborted block left changes behind")
	}
	l.testHookApply = nil
	submit(t, l, orgProvider, contract.FnCollect, collectReq("f-0", 0), nil)
	if l.Height() != h+1 {
		t.Errorf("height %d after a write, want %d", l.Height(), h+1)
	}
}

func TestTimesNeverGoBack(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), // the clock jumps back
		time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
	}
	var mu sync.Mutex
	i := 0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := times[min(i, len(times)-1)]
		i++
		return t
	}
	dir := t.TempDir()
	l := openTest(t, Config{Dir: dir, Clock: clock})
	submit(t, l, orgRegulator, contract.FnBootstrap, contract.BootstrapRequest{Name: "R", Region: "CN"}, nil)
	submit(t, l, orgRegulator, contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: orgProvider, Name: "P", Roles: []string{"provider"}, Region: "CN"}, nil)
	submit(t, l, orgRegulator, contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: orgExchange, Name: "E", Roles: []string{"exchange"}, Region: "CN"}, nil)
	recs := committedTxs(t, l)
	want := []string{"2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"}
	for k, r := range recs {
		if r.Timestamp != want[k] {
			t.Errorf("tx %d at %s, want %s", k, r.Timestamp, want[k])
		}
	}
	// After a restart the clock may not take the ledger back either.
	l.Close()
	l2 := openTest(t, Config{Dir: dir, Clock: func() time.Time { return times[1] }})
	submit(t, l2, orgRegulator, contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: orgAuditor, Name: "A", Roles: []string{"auditor"}, Region: "CN"}, nil)
	if recs := committedTxs(t, l2); recs[len(recs)-1].Timestamp != "2026-03-01T11:00:00Z" {
		t.Errorf("tx after restart at %s", recs[len(recs)-1].Timestamp)
	}
}

func TestCloseAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Config{Dir: dir})
	setupConsortium(t, l)
	col := submit(t, l, orgProvider, contract.FnCollect, collectReq("keep", 1), nil)
	h, d, anchor := l.Height(), stateDigest(t, l), l.TrustAnchor()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	ctx := context.Background()
	if _, err := l.Submit(ctx, orgProvider, contract.FnCollect, mustJSON(t, collectReq("late", 2)), nil); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("submit after close: %v", err)
	}
	if err := l.Ready(ctx); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("ready after close: %v", err)
	}
	if _, err := l.Evaluate(ctx, orgProvider, contract.FnGetBatch, []byte(`{"id":"keep"}`)); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("evaluate after close: %v", err)
	}

	l2 := openTest(t, Config{Dir: dir, FullVerify: true})
	if l2.Height() != h || stateDigest(t, l2) != d || l2.TrustAnchor() != anchor {
		t.Fatal("reopened ledger differs")
	}
	if err := l2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := l2.Receipt(ctx, col.TxID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receipt.Verify(doc, []byte(anchor)); err != nil {
		t.Fatal(err)
	}
	submit(t, l2, orgProvider, contract.FnCollect, collectReq("after", 3), nil)
	if l2.Height() != h+1 {
		t.Errorf("height %d, want %d", l2.Height(), h+1)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Config{Dir: dir})
	_, err := Open(Config{Dir: dir, LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error does not say which directory is in use: %v", err)
	}
}

func TestContextCancelledBeforeExecution(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	h := l.Height()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Submit(ctx, orgProvider, contract.FnCollect, mustJSON(t, collectReq("c", 1)), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled submit: %v", err)
	}
	// A cancelled submission that did reach the queue is not executed.
	s := &submission{ctx: ctx, org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq("c", 1)), done: make(chan outcome, 1)}
	l.commitBlock([]*submission{s})
	if o := <-s.done; !errors.Is(o.err, context.Canceled) || l.Height() != h {
		t.Errorf("cancelled queued submission: %v, height %d (was %d)", o.err, l.Height(), h)
	}
}

func TestEventID(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`{"eventId":"0190-ab","type":"TRADED"}`, "0190-ab"},
		{`{"type":"TRADED","eventId":"late"}`, "late"},   // not first: decoded
		{`{"eventId":"a\"b","type":"X"}`, `a"b`},         // escaped: decoded
		{`{"eventId":"a\\u0041","type":"X"}`, `a\u0041`}, // escaped backslash: decoded
	} {
		got, err := eventID([]byte(c.raw))
		if err != nil || got != c.want {
			t.Errorf("eventID(%s) = %q, %v; want %q", c.raw, got, err, c.want)
		}
	}
	if _, err := eventID([]byte(`{"type":"X"}`)); err == nil {
		t.Error("an event without an ID was accepted")
	}
}

// TestReceiptsOfASharedBlock builds a block of three transactions and checks
// each one's receipt, then that no single changed byte of a real receipt
// (with a Merkle path and several events) verifies.
func TestReceiptsOfASharedBlock(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("shared", 1), nil)
	var trades []contract.TradeRequest
	for i := 0; i < 3; i++ {
		trades = append(trades, tradeReq(fmt.Sprintf("st-%d", i), "shared"))
	}
	batch := []*submission{
		{ctx: context.Background(), org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq("s1", 2))},
		{ctx: context.Background(), org: orgExchange, fn: contract.FnTradeBulk, args: mustJSON(t, contract.BulkTradeRequest{Trades: trades}),
			transient: termsJSON(t, 10, 11, 12)},
		{ctx: context.Background(), org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq("s2", 3))},
	}
	for _, s := range batch {
		s.done = make(chan outcome, 1)
	}
	l.commitBlock(batch)
	anchor := []byte(l.TrustAnchor())
	var bulkDoc []byte
	for i, s := range batch {
		o := <-s.done
		if o.err != nil {
			t.Fatalf("submission %d: %v", i, o.err)
		}
		doc, err := l.Receipt(context.Background(), o.res.TxID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := receipt.Verify(doc, anchor)
		if err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		if p.BlockNumber != o.res.Block || p.TxID != o.res.TxID {
			t.Errorf("receipt %d proves %s in block %d", i, p.TxID, p.BlockNumber)
		}
		if i == 1 {
			bulkDoc = doc
			if len(p.Events) != 3 {
				t.Errorf("bulk receipt proves %d events, want 3", len(p.Events))
			}
		}
	}
	var r receipt.Receipt
	if err := json.Unmarshal(bulkDoc, &r); err != nil {
		t.Fatal(err)
	}
	if r.Embedded.Proof.TreeSize != 3 || len(r.Embedded.Proof.Hashes) != 2 {
		t.Fatalf("proof %+v: want a tree of 3 and a path of 2", r.Embedded.Proof)
	}
	for i := range bulkDoc {
		bad := bytes.Clone(bulkDoc)
		bad[i] ^= 0x01
		var ve *receipt.Error
		if _, err := receipt.Verify(bad, anchor); !errors.As(err, &ve) {
			t.Fatalf("byte %d changed (%q → %q): %v", i, bulkDoc[i], bad[i], err)
		}
	}
}

// TestWriteReceipts queues writes from many goroutines while the writer is
// held, so that they commit together in one block, and checks that the
// receipt each write returns verifies and is, byte for byte, the receipt
// Receipt returns for its transaction later.
func TestWriteReceipts(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("wr-traded", 1), nil)
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	l.testHookApply = func(*txState) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hold
		return nil
	}

	// Every fourth write is a bulk trade, whose receipt carries three events.
	const writers = 32
	type write struct {
		org, fn   string
		args      []byte
		transient map[string][]byte
	}
	writes := make([]write, writers)
	for i := range writes {
		writes[i] = write{org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq(fmt.Sprintf("wr-%d", i), 10+i))}
		if i%4 == 3 {
			var trades []contract.TradeRequest
			for j := 0; j < 3; j++ {
				trades = append(trades, tradeReq(fmt.Sprintf("wr-%d-%d", i, j), "wr-traded"))
			}
			writes[i] = write{org: orgExchange, fn: contract.FnTradeBulk,
				args: mustJSON(t, contract.BulkTradeRequest{Trades: trades}), transient: termsJSON(t, 10, 11, 12)}
		}
	}
	results := make([]ledger.Result, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	run := func(i int) {
		defer wg.Done()
		w := writes[i]
		results[i], errs[i] = l.Submit(context.Background(), w.org, w.fn, w.args, w.transient)
	}
	wg.Add(1)
	go run(0)
	<-entered // the writer holds write 0 in its block
	for i := 1; i < writers; i++ {
		wg.Add(1)
		go run(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.queue) < writers-1 {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d of %d after 10 s", len(l.queue), writers-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()

	anchor := []byte(l.TrustAnchor())
	perBlock := map[uint64]int{}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		perBlock[res.Block]++
		if res.Receipt == nil {
			t.Fatalf("write %d (tx %s) returned no receipt", i, res.TxID)
		}
		rcpt := res.Receipt().Bytes()
		p, err := receipt.Verify(rcpt, anchor)
		if err != nil {
			t.Fatalf("receipt of write %d: %v", i, err)
		}
		if p.TxID != res.TxID || p.BlockNumber != res.Block {
			t.Errorf("receipt of write %d proves %s in block %d, want %s in block %d", i, p.TxID, p.BlockNumber, res.TxID, res.Block)
		}
		want := 1
		if i%4 == 3 {
			want = 3
		}
		if len(p.Events) != want {
			t.Errorf("receipt of write %d proves %d events, want %d", i, len(p.Events), want)
		}
		later, err := l.Receipt(context.Background(), res.TxID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rcpt, later) {
			t.Errorf("write %d: the receipt returned with the write differs from Receipt's:\n%s\n%s", i, rcpt, later)
		}
	}
	if perBlock[results[1].Block] != writers-1 {
		t.Errorf("transactions per block: %v; want the %d queued writes in one block", perBlock, writers-1)
	}
}
