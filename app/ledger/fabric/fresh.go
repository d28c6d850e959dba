package fabric

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/ledger"
)

// A query is answered by one peer, the organisation's own first. That peer
// can be behind the channel without knowing it: on a host cut off from the
// others (no orderer reaches it, no block arrives) or just restarted and
// still catching up. Meanwhile other organisations' writes are answered as
// committed once every peer their node reaches holds them — a peer that
// node cannot reach is not waited for (heights.go) — so the lagging peer
// would answer reads without writes that were acknowledged elsewhere.
//
// So before a query the ledger asks every peer of its connection profile
// for its height (one sample serves the queries of the next second), and
// evaluates only on a peer as high as the highest that answered, and only
// when more than half of the profile's peers answered: a node that reaches
// half of them or fewer cannot tell whether what it reads is current, and
// says it is unavailable (503 with Retry-After) instead of answering
// something stale. The organisation's own peer, when it is only a block or
// two short at the sample, is given a moment to commit them before another
// peer is used. docs/design/0028-fresh-reads.md weighs the alternatives.

const (
	// freshAge is how long one sample of the peers' heights serves queries.
	freshAge = time.Second
	// freshAsk bounds one peer's answer to a sample: a peer that has not
	// answered by then counts as unreachable for this sample.
	freshAsk = 2 * time.Second
	// freshCatchUp is how long a query waits for the organisation's own
	// peer to reach the sampled height before it goes to another peer.
	freshCatchUp = 500 * time.Millisecond
)

// freshness samples the heights of the profile's peers.
type freshness struct {
	l *Ledger
	// ask returns a peer's height (chainHeight; tests replace it).
	ask func(ctx context.Context, g *orgGateway) (uint64, error)

	mu       sync.Mutex
	at       time.Time
	heights  map[string]uint64 // the peers that answered the last sample
	sampling chan struct{}     // closed when the running sample ends
}

func newFreshness(l *Ledger) *freshness {
	return &freshness{l: l, ask: func(ctx context.Context, g *orgGateway) (uint64, error) {
		return askHeight(ctx, g, l.cfg.Channel)
	}}
}

// sample returns the heights of the peers that answered a sample at most
// freshAge old, taking a new one when needed (one at a time: concurrent
// queries share it).
func (f *freshness) sample(ctx context.Context) (map[string]uint64, error) {
	for {
		f.mu.Lock()
		if f.heights != nil && time.Since(f.at) < freshAge {
			h := f.heights
			f.mu.Unlock()
			return h, nil
		}
		if ch := f.sampling; ch != nil {
			f.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %v", ledger.ErrUnavailable, ctx.Err())
			}
		}
		ch := make(chan struct{})
		f.sampling = ch
		f.mu.Unlock()

		heights := f.take()
		f.mu.Lock()
		f.heights, f.at, f.sampling = heights, time.Now(), nil
		f.mu.Unlock()
		close(ch)
		return heights, nil
	}
}

// take asks every peer at once for its height.
func (f *freshness) take() map[string]uint64 {
	type answer struct {
		peer   string
		height uint64
		err    error
	}
	ch := make(chan answer, len(f.l.byPeer))
	for _, g := range f.l.byPeer {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), freshAsk)
			defer cancel()
			h, err := f.ask(ctx, g)
			ch <- answer{g.peer, h, err}
		}()
	}
	out := map[string]uint64{}
	for range f.l.byPeer {
		if a := <-ch; a.err == nil {
			out[a.peer] = a.height
		}
	}
	return out
}

// currentRoute keeps the gateways of route whose peer was as high as the
// highest peer of the sample, in route's order. It refuses when no more
// than half of the profile's peers answered the sample, or when no peer of
// route is as high as the highest.
func currentRoute(route []*orgGateway, heights map[string]uint64, peers int) ([]*orgGateway, uint64, error) {
	top, err := quorumTop(heights, peers)
	if err != nil {
		return nil, 0, err
	}
	var out []*orgGateway
	for _, g := range route {
		if h, ok := heights[g.peer]; ok && h >= top {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, top, fmt.Errorf("%w: no peer this query may use is at the channel's height %d", ledger.ErrUnavailable, top)
	}
	return out, top, nil
}

// quorumTop returns the highest height of the sample, or an error when no
// more than half of the profile's peers answered it.
func quorumTop(heights map[string]uint64, peers int) (uint64, error) {
	if len(heights)*2 <= peers {
		return 0, fmt.Errorf("%w: this node reaches %d of the %d peers, too few to know whether its reads are current",
			ledger.ErrUnavailable, len(heights), peers)
	}
	var top uint64
	for _, h := range heights {
		top = max(top, h)
	}
	return top, nil
}

// current returns the gateways of route a query may use now (see the top
// of this file). A profile without peers to sample (tests) leaves route as
// it is.
func (l *Ledger) current(ctx context.Context, route []*orgGateway) ([]*orgGateway, error) {
	if l.fresh == nil || len(l.byPeer) == 0 {
		return route, nil
	}
	heights, err := l.fresh.sample(ctx)
	if err != nil {
		return nil, err
	}
	out, top, err := currentRoute(route, heights, len(l.byPeer))
	if err != nil {
		return nil, err
	}
	// The organisation's own peer a little short of the top: it is most
	// likely committing the block the others just committed.
	own := route[0]
	if out[0] != own {
		if h, ok := heights[own.peer]; ok && h+2 >= top && l.reaches(ctx, own, top) {
			out = append([]*orgGateway{own}, out...)
		}
	}
	return out, nil
}

// reaches waits up to freshCatchUp for g's peer to hold height blocks.
func (l *Ledger) reaches(ctx context.Context, g *orgGateway, height uint64) bool {
	deadline := time.Now().Add(freshCatchUp)
	for {
		actx, cancel := context.WithTimeout(ctx, freshCatchUp)
		h, err := l.fresh.ask(actx, g)
		cancel()
		if err == nil && h >= height {
			return true
		}
		if err != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// askHeight asks g's peer (or, with options that say so, another peer
// through it) for the channel's height.
func askHeight(ctx context.Context, g *orgGateway, channel string, opts ...client.ProposalOption) (uint64, error) {
	raw, err := g.qscc.EvaluateWithContext(ctx, "GetChainInfo", append([]client.ProposalOption{client.WithArguments(channel)}, opts...)...)
	if err != nil {
		return 0, err
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		return 0, err
	}
	return info.GetHeight(), nil
}
