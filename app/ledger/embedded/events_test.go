package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

var errEnough = errors.New("enough")

var digestSeq atomic.Int64

// feed collects n events from Events(from) and stops.
func feed(t *testing.T, l *Ledger, from ledger.Position, n int) []ledger.Committed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []ledger.Committed
	err := l.Events(ctx, from, func(c ledger.Committed) error {
		got = append(got, c)
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if n == 0 && errors.Is(err, context.DeadlineExceeded) {
		return got
	}
	if !errors.Is(err, errEnough) {
		t.Fatalf("Events(%+v) after %d of %d events: %v", from, len(got), n, err)
	}
	return got
}

// collectConcurrently submits n collections at once, so that the writer
// groups several into one block.
func collectConcurrently(t *testing.T, l *Ledger, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := collectReq(fmt.Sprintf("%s-%d", prefix, i), int(digestSeq.Add(1)))
			b, _ := json.Marshal(req)
			if _, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, b, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestEventsReplayInCommitOrder checks that a feed from the start shows
// every committed transaction once, in block order, with positions that
// number each block's transactions from 0, and that a feed started at any
// of those positions shows exactly the rest.
func TestEventsReplayInCommitOrder(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	collectConcurrently(t, l, "replay", 40)

	want := committedTxs(t, l)
	got := feed(t, l, ledger.Position{}, len(want))
	multi := false
	for i, c := range got {
		if c.TxID != want[i].TxID {
			t.Fatalf("event %d is tx %s, want %s", i, c.TxID, want[i].TxID)
		}
		var we contract.WriteEvent
		if err := json.Unmarshal(c.Payload, &we); err != nil {
			t.Fatalf("event %d payload: %v", i, err)
		}
		if i > 0 {
			prev := got[i-1].Position
			switch {
			case c.Block == prev.Block && c.Tx != prev.Tx+1:
				t.Fatalf("event %d at %+v follows %+v in the same block", i, c.Position, prev)
			case c.Block != prev.Block && (c.Block != prev.Block+1 || c.Tx != 0):
				t.Fatalf("event %d at %+v follows %+v", i, c.Position, prev)
			}
			multi = multi || c.Tx > 0
		}
	}
	if !multi {
		t.Fatal("no block held two transactions; the test did not exercise ordinals")
	}
	for i := range got {
		rest := feed(t, l, got[i].Position, len(got)-i)
		for j, c := range rest {
			if c.TxID != got[i+j].TxID || c.Position != got[i+j].Position {
				t.Fatalf("from %+v: event %d is %s at %+v, want %s at %+v", got[i].Position, j, c.TxID, c.Position, got[i+j].TxID, got[i+j].Position)
			}
		}
	}
}

// TestEventsLiveAfterReplay checks that a feed keeps going past the blocks
// committed when it started, and that ledger.Live shows only later commits.
func TestEventsLiveAfterReplay(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	before := len(committedTxs(t, l))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all := make(chan ledger.Committed, 100)
	live := make(chan ledger.Committed, 100)
	done := make(chan error, 2)
	go func() {
		done <- l.Events(ctx, ledger.Position{}, func(c ledger.Committed) error { all <- c; return nil })
	}()
	for range before {
		<-all
	}
	head := l.Height()
	go func() {
		done <- l.Events(ctx, ledger.Live, func(c ledger.Committed) error { live <- c; return nil })
	}()
	// The live feed takes the head when it starts, at a moment the test
	// does not know: commit until it shows something.
	var mine []contractResult
	var first ledger.Committed
	for i := 0; first.TxID == ""; i++ {
		if i == 100 {
			t.Fatal("the live feed delivered none of 100 commits")
		}
		mine = append(mine, submit(t, l, orgProvider, contract.FnCollect, collectReq(fmt.Sprintf("live-%d", i), int(digestSeq.Add(1))), nil))
		select {
		case first = <-live:
		case <-time.After(20 * time.Millisecond):
		}
	}
	if first.Block <= head {
		t.Fatalf("the live feed delivered block %d, committed before it started (head %d)", first.Block, head)
	}
	k := -1
	for i, r := range mine {
		if r.TxID == first.TxID {
			k = i
		}
	}
	if k < 0 {
		t.Fatalf("the live feed delivered tx %s, which the test did not submit", first.TxID)
	}
	for _, r := range mine[k+1:] {
		if c := <-live; c.TxID != r.TxID {
			t.Fatalf("live feed: tx %s, want %s", c.TxID, r.TxID)
		}
	}
	for _, r := range mine {
		select {
		case c := <-all:
			if c.TxID != r.TxID || c.Block != r.Block {
				t.Fatalf("replaying feed: tx %s in block %d, want %s in %d", c.TxID, c.Block, r.TxID, r.Block)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("replaying feed: a new commit was not delivered")
		}
	}
	select {
	case c := <-live:
		t.Fatalf("live feed delivered an extra event: %+v", c)
	case c := <-all:
		t.Fatalf("replaying feed delivered an extra event: %+v", c)
	default:
	}
	cancel()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("feed ended with %v, want context.Canceled", err)
		}
	}
}

// TestEventsEndWhenLedgerCloses checks that a waiting feed ends with
// ErrUnavailable when the ledger closes, rather than hanging.
func TestEventsEndWhenLedgerCloses(t *testing.T) {
	l := openTest(t, Config{})
	setupConsortium(t, l)
	done := make(chan error, 1)
	go func() {
		done <- l.Events(context.Background(), ledger.Live, func(ledger.Committed) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ledger.ErrUnavailable) {
			t.Fatalf("feed ended with %v, want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("feed still running after Close")
	}
	if err := l.Events(context.Background(), ledger.Position{}, func(ledger.Committed) error { return nil }); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Events on a closed ledger: %v", err)
	}
}
