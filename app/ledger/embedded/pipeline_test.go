package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// holdCommit makes the commit of block number wait, inside commitPending,
// until release is called with the commit's outcome: nil lets it commit, an
// error fails it as a commit that wrote nothing. The returned channel is
// closed once the commit is waiting. A test that ends early lets it commit.
func holdCommit(t *testing.T, l *Ledger, number uint64) (waiting <-chan struct{}, release func(error)) {
	w, r := make(chan struct{}), make(chan error, 1)
	t.Cleanup(func() {
		select {
		case r <- nil:
		default:
		}
	})
	l.testHookCommit = func(n uint64) error {
		if n != number {
			return nil
		}
		close(w)
		return <-r
	}
	return w, func(err error) { r <- err }
}

// submitAsync submits in a goroutine and returns where its outcome arrives.
func submitAsync(l *Ledger, org, fn string, args []byte, transient map[string][]byte) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		res, err := l.Submit(context.Background(), org, fn, args, transient)
		out <- outcome{res: res, err: err}
	}()
	return out
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30 s", what)
	}
}

// TestNextBlockReadsUncommittedBlock holds block N's commit and expects the
// writer to execute N+1 meanwhile over N's writes: a trade on the batch N
// collects is accepted, and a second collection of it refused, while the
// ledger's height is still N-1. Neither is answered before N is committed.
func TestNextBlockReadsUncommittedBlock(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 1})
	setupConsortium(t, l)
	n := l.Height() + 1
	waiting, release := holdCommit(t, l, n)
	executed := make(chan uint64, 4) // the height when each transaction was executed
	l.testHookApply = func(*txState) error {
		executed <- l.Height()
		return nil
	}

	collect := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("pipe-a", 1)), nil)
	waitFor(t, "held commit", waiting)
	<-executed
	trade := submitAsync(l, orgExchange, contract.FnTradeBulk,
		mustJSON(t, contract.BulkTradeRequest{Trades: []contract.TradeRequest{tradeReq("pipe-t", "pipe-a"), tradeReq("pipe-u", "pipe-a")}}),
		termsJSON(t, 10, 11))
	select {
	case h := <-executed:
		if h != n-1 {
			t.Fatalf("the trade was executed at height %d, want %d (block %d not yet committed)", h, n-1, n)
		}
	case o := <-trade:
		t.Fatalf("the trade was answered while the block it rests on is held: %+v", o)
	case <-time.After(30 * time.Second):
		release(nil)
		t.Fatalf("the trade was not executed while block %d was held; then: %v", n, (<-trade).err)
	}
	again := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("pipe-a", 1)), nil)
	time.Sleep(50 * time.Millisecond) // time enough to answer, were anything answered early
	for name, ch := range map[string]<-chan outcome{"collect": collect, "trade": trade, "second collect": again} {
		select {
		case o := <-ch:
			t.Fatalf("%s answered before block %d committed: %+v", name, n, o)
		default:
		}
	}
	if h := l.Height(); h != n-1 {
		t.Fatalf("height %d while block %d is held", h, n)
	}

	release(nil)
	if o := <-collect; o.err != nil || o.res.Block != n {
		t.Fatalf("collect: block %d, %v; want block %d", o.res.Block, o.err, n)
	}
	if o := <-trade; o.err != nil || o.res.Block != n+1 {
		t.Fatalf("trade: block %d, %v; want block %d", o.res.Block, o.err, n+1)
	}
	var ce *contract.Error
	if o := <-again; !errors.As(o.err, &ce) || ce.Kind != contract.KindConflict {
		t.Fatalf("second collect of the same batch: %v, want a conflict", o.err)
	}
	if !hasTrade(t, l, "pipe-a", "pipe-t") {
		t.Fatal("the trade is not on the ledger")
	}
}

// TestFailedCommitDropsNextBlock fails block N's commit while N+1, executed
// over N's writes, waits: neither may commit, both are answered with
// ErrUnavailable, nothing of either is in the state, and the ledger goes on
// from N-1.
func TestFailedCommitDropsNextBlock(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 1})
	setupConsortium(t, l)
	h, d := l.Height(), stateDigest(t, l)
	waiting, release := holdCommit(t, l, h+1)
	executed := make(chan struct{}, 4)
	l.testHookApply = func(*txState) error {
		executed <- struct{}{}
		return nil
	}
	collect := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("fail-a", 1)), nil)
	waitFor(t, "held commit", waiting)
	<-executed
	trade := submitAsync(l, orgExchange, contract.FnTradeBulk,
		mustJSON(t, contract.BulkTradeRequest{Trades: []contract.TradeRequest{tradeReq("fail-t", "fail-a"), tradeReq("fail-u", "fail-a")}}),
		termsJSON(t, 10, 11))
	waitFor(t, "execution of the next block", executed)

	release(errors.New("injected commit failure"))
	for name, ch := range map[string]<-chan outcome{"collect": collect, "trade": trade} {
		if o := <-ch; !errors.Is(o.err, ledger.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, o.err)
		}
	}
	if l.Height() != h || stateDigest(t, l) != d {
		t.Fatalf("height %d (want %d) or state changed after a failed commit", l.Height(), h)
	}
	if err := l.Ready(context.Background()); err != nil {
		t.Fatalf("a commit that wrote nothing left the ledger not ready: %v", err)
	}
	l.testHookApply, l.testHookCommit = nil, nil
	if r := submit(t, l, orgProvider, contract.FnCollect, collectReq("fail-a", 1), nil); r.Block != h+1 {
		t.Fatalf("collect after the failure in block %d, want %d", r.Block, h+1)
	}
	if hasTrade(t, l, "fail-a", "fail-t") {
		t.Fatal("the trade executed over the failed block is on the ledger")
	}
	checkChain(t, l)
}

// hasTrade reports whether batch has the trade tradeID.
func hasTrade(t *testing.T, l *Ledger, batch, tradeID string) bool {
	t.Helper()
	out, err := l.Evaluate(context.Background(), orgExchange, contract.FnListTrades, mustJSON(t, map[string]string{"batchId": batch}))
	if err != nil {
		t.Fatalf("list the trades of %s: %v", batch, err)
	}
	return bytes.Contains(out, []byte(`"`+tradeID+`"`))
}

// checkChain closes l and reopens its directory with full verification.
func checkChain(t *testing.T, l *Ledger) {
	t.Helper()
	dir := l.cfg.Dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(Config{Dir: dir, FullVerify: true})
	if err != nil {
		t.Fatalf("reopen with full verification: %v", err)
	}
	l2.Close()
}

// TestPipelineMatchesSequential queues the same transactions, one a block,
// on a pipelined ledger and on one with NoPipeline, both with the same node
// key, clock and transaction IDs: the blocks, their hashes and the state
// must be identical. The commits of the pipelined one are slowed so that
// the writer executes blocks over uncommitted ones.
func TestPipelineMatchesSequential(t *testing.T) {
	type write struct {
		org, fn   string
		args      []byte
		transient map[string][]byte
	}
	var writes []write
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("seq-%d", i)
		writes = append(writes, write{org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq(id, i))})
		// Each trade rests on the collection just before it, a duplicate
		// collection is refused because of it.
		writes = append(writes, write{org: orgExchange, fn: contract.FnTradeBulk,
			args:      mustJSON(t, contract.BulkTradeRequest{Trades: []contract.TradeRequest{tradeReq(id+"-t1", id), tradeReq(id+"-t2", id)}}),
			transient: termsJSON(t, 10, 11)})
		if i%3 == 0 {
			writes = append(writes, write{org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq(id, i))})
		}
	}

	keyDir := t.TempDir()
	run := func(noPipeline bool, maxBlockTxs int) (chain []string, state string, overlapped int64, errs []string) {
		dir := t.TempDir()
		if !noPipeline {
			key, err := os.ReadFile(filepath.Join(keyDir, KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			dir = keyDir
		}
		clock := contracttest.NewClock()
		l := openTest(t, Config{Dir: dir, MaxBlockTxs: maxBlockTxs, NoPipeline: noPipeline, Clock: clock.Now, TxIDs: counterTxIDs("seq")})
		setupConsortium(t, l)
		base := l.Height()
		var accepted atomic.Int64
		var over atomic.Int64
		l.testHookApply = func(*txState) error {
			// With one transaction a block, the k-th accepted one is block
			// base+k; the block before it is committed unless pipelined.
			if k := accepted.Add(1); l.Height() < base+uint64(k)-1 {
				over.Add(1)
			}
			return nil
		}
		if !noPipeline {
			l.testHookCommit = func(uint64) error { time.Sleep(3 * time.Millisecond); return nil }
		}
		// Queued from one goroutine in order, without waiting: the writer
		// always finds the next transaction queued.
		subs := make([]*submission, len(writes))
		for i, w := range writes {
			subs[i] = &submission{ctx: context.Background(), org: w.org, fn: w.fn, args: w.args, transient: w.transient,
				done: make(chan outcome, 1)}
			l.queue <- subs[i]
		}
		for i, s := range subs {
			o := <-s.done
			if maxBlockTxs == 1 {
				errs = append(errs, fmt.Sprintf("%d: block %d %v", i, o.res.Block, o.err))
			} else {
				errs = append(errs, fmt.Sprintf("%d: %v", i, o.err))
			}
		}
		hashes, headers := blockHashes(t, l)
		return append(headers, hashes...), stateDigest(t, l), over.Load(), errs
	}
	seqChain, seqState, seqOver, seqErrs := run(true, 1)
	pipeChain, pipeState, pipeOver, pipeErrs := run(false, 1)
	if seqOver != 0 {
		t.Errorf("%d transactions executed over an uncommitted block with NoPipeline", seqOver)
	}
	if pipeOver == 0 {
		t.Error("no transaction was executed over an uncommitted block: the pipeline was not exercised")
	}
	t.Logf("pipelined: %d of %d transactions executed over an uncommitted block", pipeOver, len(writes))
	if fmt.Sprint(seqErrs) != fmt.Sprint(pipeErrs) {
		t.Errorf("outcomes differ:\nsequential %v\npipelined  %v", seqErrs, pipeErrs)
	}
	if seqState != pipeState {
		t.Errorf("state differs: %s sequential, %s pipelined", seqState, pipeState)
	}
	if fmt.Sprint(seqChain) != fmt.Sprint(pipeChain) {
		t.Errorf("blocks differ:\nsequential %v\npipelined  %v", seqChain, pipeChain)
	}

	// With blocks of several transactions the writer also takes what is
	// queued while the block before commits into the block it executes, so
	// the blocks are cut elsewhere than by the sequential writer; the
	// outcomes and the state must not change.
	_, manyState, _, manyErrs := run(false, 8)
	if fmt.Sprint(manyErrs) != fmt.Sprint(seqErrs2(seqErrs)) {
		t.Errorf("outcomes differ with blocks of up to 8:\nsequential %v\npipelined  %v", seqErrs2(seqErrs), manyErrs)
	}
	if manyState != seqState {
		t.Errorf("state differs with blocks of up to 8: %s, sequential %s", manyState, seqState)
	}
}

// seqErrs2 drops the block numbers from outcomes listed as "i: block n err".
func seqErrs2(outcomes []string) []string {
	out := make([]string, len(outcomes))
	for i, o := range outcomes {
		var n int
		var block uint64
		if k, _ := fmt.Sscanf(o, "%d: block %d", &n, &block); k == 2 {
			o = fmt.Sprintf("%d:%s", n, strings.TrimPrefix(o, fmt.Sprintf("%d: block %d", n, block)))
		}
		out[i] = o
	}
	return out
}

// TestRangeOverlay compares rangeOverlay, over a bbolt bucket and two
// layers of uncommitted writes, with a plain map of the merged state, on
// random keys, writes, deletions, bounds and early stops.
func TestRangeOverlay(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(40)) }
	model := map[string]string{}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("c"))
		if err != nil {
			return err
		}
		for i := 0; i < 25; i++ {
			k, v := key(), fmt.Sprintf("base-%d", i)
			model[k] = v
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var over overlay
	for layer := 0; layer < 2; layer++ {
		w := newBlockWrites()
		for i := 0; i < 15; i++ {
			k := key()
			var v []byte
			if rng.IntN(3) > 0 {
				v = fmt.Appendf(nil, "l%d-%d", layer, i)
				model[k] = string(v)
			} else {
				delete(model, k)
			}
			w.add(&txState{puts: map[string][]byte{}, privPuts: map[string]map[string][]byte{"c": {k: v}}})
		}
		over = append(over, w)
	}
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	err = db.View(func(tx *bolt.Tx) error {
		for trial := 0; trial < 300; trial++ {
			start, end := key(), key()
			if trial%5 == 0 {
				start = ""
			}
			if trial%7 == 0 {
				end = ""
			}
			limit := 1 + rng.IntN(50)
			var want []string
			for _, k := range keys {
				if k >= start && (end == "" || k < end) && len(want) < limit {
					want = append(want, k+"="+model[k])
				}
			}
			var got []string
			err := rangeOverlay(tx.Bucket([]byte("c")), over, "c", start, end, func(k string, v []byte) (bool, error) {
				got = append(got, k+"="+string(v))
				return len(got) < limit, nil
			})
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("range [%q, %q) limit %d:\ngot  %v\nwant %v", start, end, limit, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueuedDuringCommitJoinsBlock holds block N's commit while the writer
// executes N+1, and queues two more submissions while it does: the writer
// takes them into N+1 rather than wait for N. The second collects N's batch
// again and is refused, as it rests on N's writes.
func TestQueuedDuringCommitJoinsBlock(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 8})
	setupConsortium(t, l)
	n := l.Height() + 1
	waiting, release := holdCommit(t, l, n)
	first := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("join-a", 1)), nil)
	waitFor(t, "held commit", waiting)

	late := []*submission{
		{ctx: context.Background(), org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq("join-c", 3)), done: make(chan outcome, 1)},
		{ctx: context.Background(), org: orgProvider, fn: contract.FnCollect, args: mustJSON(t, collectReq("join-a", 1)), done: make(chan outcome, 1)},
	}
	var queued atomic.Bool
	l.testHookApply = func(*txState) error {
		if !queued.Swap(true) {
			for _, s := range late {
				l.queue <- s
			}
		}
		return nil
	}
	second := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("join-b", 2)), nil)
	time.Sleep(50 * time.Millisecond)
	release(nil)

	if o := <-first; o.err != nil || o.res.Block != n {
		t.Fatalf("first collect: block %d, %v; want block %d", o.res.Block, o.err, n)
	}
	if o := <-second; o.err != nil || o.res.Block != n+1 {
		t.Fatalf("second collect: block %d, %v; want block %d", o.res.Block, o.err, n+1)
	}
	if o := <-late[0].done; o.err != nil || o.res.Block != n+1 {
		t.Fatalf("collect queued while block %d committed: block %d, %v; want block %d", n, o.res.Block, o.err, n+1)
	}
	var ce *contract.Error
	if o := <-late[1].done; !errors.As(o.err, &ce) || ce.Kind != contract.KindConflict {
		t.Fatalf("collect of block %d's batch again: %v, want a conflict", n, o.err)
	}
	if l.Height() != n+1 {
		t.Fatalf("height %d, want %d", l.Height(), n+1)
	}
}

// TestArrivalsWhileWaitingJoinBlock: while block N commits, the writer,
// having executed what was queued into N+1, waits for N with no read
// transaction open and takes what arrives meanwhile into N+1 too. Here N's
// commit has completed (its onBlock is held) when the late submissions
// arrive: the writer's new read transaction holds N already, and N's writes
// are still in its overlay, which must read the same. A trade on N's batch
// is accepted, a second collection of it refused, both in N+1.
func TestArrivalsWhileWaitingJoinBlock(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 8})
	setupConsortium(t, l)
	n := l.Height() + 1
	waiting, release := holdCommit(t, l, n)
	committed, letGo := make(chan struct{}), make(chan struct{})
	var letGoOnce atomic.Bool
	t.Cleanup(func() {
		if !letGoOnce.Swap(true) {
			close(letGo)
		}
	})
	l.onBlock = func(number uint64, _ []byte, _ []appliedTx) {
		if number == n {
			close(committed)
			<-letGo
		}
	}
	executed := make(chan struct{}, 8)
	first := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("wait-a", 1)), nil)
	waitFor(t, "held commit", waiting)
	l.testHookApply = func(*txState) error {
		executed <- struct{}{}
		return nil
	}
	second := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("wait-b", 2)), nil)
	waitFor(t, "execution of block n+1", executed)
	release(nil)
	waitFor(t, "commit of block n", committed)
	time.Sleep(20 * time.Millisecond) // the writer waits for block n's end, nothing queued

	trade := submitAsync(l, orgExchange, contract.FnTradeBulk,
		mustJSON(t, contract.BulkTradeRequest{Trades: []contract.TradeRequest{tradeReq("wait-t", "wait-a"), tradeReq("wait-u", "wait-a")}}),
		termsJSON(t, 10, 11))
	waitFor(t, "execution of the trade", executed)
	again := submitAsync(l, orgProvider, contract.FnCollect, mustJSON(t, collectReq("wait-a", 1)), nil)
	time.Sleep(20 * time.Millisecond)
	letGoOnce.Store(true)
	close(letGo)

	if o := <-first; o.err != nil || o.res.Block != n {
		t.Fatalf("first collect: block %d, %v; want block %d", o.res.Block, o.err, n)
	}
	for name, ch := range map[string]<-chan outcome{"second collect": second, "trade": trade} {
		if o := <-ch; o.err != nil || o.res.Block != n+1 {
			t.Errorf("%s: block %d, %v; want block %d", name, o.res.Block, o.err, n+1)
		}
	}
	var ce *contract.Error
	if o := <-again; !errors.As(o.err, &ce) || ce.Kind != contract.KindConflict {
		t.Fatalf("collect of block %d's batch again: %v, want a conflict", n, o.err)
	}
	if !hasTrade(t, l, "wait-a", "wait-t") {
		t.Fatal("the trade is not on the ledger")
	}
}
