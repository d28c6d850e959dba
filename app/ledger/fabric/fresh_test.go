package fabric

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// fakeHeights stands in for the peers' answers to a height sample: a peer
// missing from the map does not answer.
type fakeHeights struct {
	mu sync.Mutex
	h  map[string]uint64
}

func (f *fakeHeights) set(h map[string]uint64) {
	f.mu.Lock()
	f.h = h
	f.mu.Unlock()
}

func (f *fakeHeights) ask(ctx context.Context, g *orgGateway) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.h[g.peer]; ok {
		return h, nil
	}
	return 0, errors.New("unreachable")
}

// freshLedger is fakeLedger with its peers sampled through fakeHeights.
func freshLedger(t *testing.T, n int) (*Ledger, *fakeGateway, *fakeHeights) {
	l, f := fakeLedger(t, n, 0)
	l.byPeer = l.routes["AuditorMSP"]
	fh := &fakeHeights{}
	l.fresh = &freshness{l: l, ask: fh.ask}
	return l, f, fh
}

// query evaluates one query as AuditorMSP on a new sample and returns the
// peer that ran it ("" when none did).
func query(t *testing.T, l *Ledger, f *fakeGateway) (string, error) {
	t.Helper()
	l.fresh.mu.Lock()
	l.fresh.heights = nil
	l.fresh.mu.Unlock()
	before := len(f.saw())
	_, err := l.Evaluate(context.Background(), "AuditorMSP", contract.FnGetBatch, []byte(`{"batchId":"b1"}`))
	calls := f.saw()[before:]
	if len(calls) == 0 {
		return "", err
	}
	return strings.Fields(calls[len(calls)-1])[0], err
}

func TestQueriesOnlyOnCurrentPeers(t *testing.T) {
	l, f, fh := freshLedger(t, 4)

	// Every peer at the same height: the organisation's own peer answers.
	fh.set(map[string]uint64{"peer0": 20, "peer1": 20, "peer2": 20, "peer3": 20})
	if p, err := query(t, l, f); err != nil || p != "peer0" {
		t.Fatalf("all current: evaluated on %q, %v; want peer0", p, err)
	}

	// The own peer restarted and is far behind: the next current peer answers.
	fh.set(map[string]uint64{"peer0": 5, "peer1": 20, "peer2": 19, "peer3": 20})
	if p, err := query(t, l, f); err != nil || p != "peer1" {
		t.Fatalf("own peer behind: evaluated on %q, %v; want peer1", p, err)
	}

	// The own peer one block short and staying so: after a short wait,
	// another peer answers.
	fh.set(map[string]uint64{"peer0": 19, "peer1": 20, "peer2": 20, "peer3": 20})
	if p, err := query(t, l, f); err != nil || p != "peer1" {
		t.Fatalf("own peer stuck a block short: evaluated on %q, %v; want peer1", p, err)
	}

	// One peer down: three of four still answer, which is enough.
	fh.set(map[string]uint64{"peer0": 20, "peer1": 20, "peer2": 20})
	if p, err := query(t, l, f); err != nil || p != "peer0" {
		t.Fatalf("one peer down: evaluated on %q, %v; want peer0", p, err)
	}

	// Cut off: only the own peer answers. Nothing is evaluated; the query
	// is unavailable rather than answered from a peer that may be stale.
	fh.set(map[string]uint64{"peer0": 20})
	p, err := query(t, l, f)
	if p != "" || !errors.Is(err, ledger.ErrUnavailable) || !strings.Contains(err.Error(), "reaches 1 of the 4 peers") {
		t.Fatalf("cut off: evaluated on %q, %v; want nothing evaluated and ErrUnavailable", p, err)
	}
	// Half of them is not enough either (the other half may be ahead).
	fh.set(map[string]uint64{"peer0": 20, "peer1": 20})
	if p, err := query(t, l, f); p != "" || !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("two of four: evaluated on %q, %v; want ErrUnavailable", p, err)
	}

	// Info reports the highest height of a majority, and is unavailable
	// without one.
	fh.set(map[string]uint64{"peer0": 20, "peer1": 23, "peer2": 21})
	l.fresh.heights = nil
	if info, err := l.Info(context.Background()); err != nil || info.Height != 23 {
		t.Fatalf("info: %+v, %v; want height 23", info, err)
	}
	fh.set(map[string]uint64{"peer3": 23})
	l.fresh.heights = nil
	if _, err := l.Info(context.Background()); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("info cut off: %v, want ErrUnavailable", err)
	}
}

// The own peer a block short that commits it while the query waits answers
// the query itself.
func TestQueryWaitsForOwnPeerToCatchUp(t *testing.T) {
	l, f, fh := freshLedger(t, 3)
	fh.set(map[string]uint64{"peer0": 9, "peer1": 10, "peer2": 10})
	calls := 0
	l.fresh.ask = func(ctx context.Context, g *orgGateway) (uint64, error) {
		if g.peer == "peer0" {
			fh.mu.Lock()
			calls++
			if calls > 2 { // the first sample, then one wait: the block is in
				fh.h["peer0"] = 10
			}
			fh.mu.Unlock()
		}
		return fh.ask(ctx, g)
	}
	if p, err := query(t, l, f); err != nil || p != "peer0" {
		t.Fatalf("evaluated on %q, %v; want peer0 once it caught up", p, err)
	}
}

func TestCurrentRouteKeepsOrder(t *testing.T) {
	route := []*orgGateway{{peer: "a"}, {peer: "b"}, {peer: "c"}, {peer: "d"}, {peer: "e"}}
	got, top, err := currentRoute(route, map[string]uint64{"a": 3, "c": 7, "d": 7, "e": 6}, 5)
	if err != nil || top != 7 || len(got) != 2 || got[0].peer != "c" || got[1].peer != "d" {
		t.Fatalf("got %v, top %d, %v", got, top, err)
	}
	// A private route whose peers are all behind the top: unavailable.
	if _, _, err := currentRoute(route[:2], map[string]uint64{"a": 3, "b": 3, "c": 7}, 5); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("no current peer on the route: %v", err)
	}
}
