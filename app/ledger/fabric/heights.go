package fabric

import (
	"context"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
)

// A write's commit status comes from one peer; the other peers commit the
// same block moments later. Until they do, an organisation whose requests go
// through another peer does not see the write, and a write that depends on
// it (a trade right after an assessment, say) is refused by a peer that has
// not caught up. So a write is answered only once every reachable peer holds
// its block: heights follows each peer's height.
//
// Each peer pushes its committed blocks over one filtered block event stream
// (transaction IDs and validation codes only, no payloads). An earlier
// version asked every peer for its height every 15 ms while writes waited:
// each ask was a signed query that the peer checked against the channel's
// policies, and under load that polling cost the peers more CPU than
// endorsing some of the writes.

const (
	// heightWait bounds the wait. A write still waiting then is committed all
	// the same and is answered; a peer that is that far behind is reported,
	// and no write waits for it again until it has caught up.
	heightWait = 5 * time.Second
	// A peer's stream that ends (the peer stopped, the connection broke) is
	// opened again after a pause growing from watchRetryMin to watchRetryMax.
	watchRetryMin = 250 * time.Millisecond
	watchRetryMax = 3 * time.Second
)

type heights struct {
	l     *Ledger
	start sync.Once
	ctx   context.Context
	stop  context.CancelFunc
	mu    sync.Mutex
	known map[string]uint64 // peer → its height (blocks it holds)
	down  map[string]bool   // peers whose stream is not open
	// lagging are peers a wait gave up on: their stream is open but they
	// did not reach a write's block within the patience (a hung or cut-off
	// peer whose connection stays open says nothing). No write waits for
	// them until they hold as many blocks as the highest peer. (Reads go
	// only to peers as high as most of them: fresh.go.)
	lagging  map[string]bool
	patience time.Duration // heightWait
	changed  chan struct{} // closed and replaced after each change
}

func newHeights(l *Ledger) *heights {
	h := &heights{l: l, known: map[string]uint64{}, down: map[string]bool{}, lagging: map[string]bool{},
		patience: heightWait, changed: make(chan struct{})}
	h.ctx, h.stop = context.WithCancel(context.Background())
	for _, g := range l.byPeer {
		h.down[g.peer] = true // until its stream is open
	}
	return h
}

// close stops following the peers.
func (h *heights) close() { h.stop() }

// wait returns once every peer that is reachable holds block, or when the
// wait is over (heightWait, or ctx). The first wait starts following the
// peers; the streams stay open until the ledger is closed.
func (h *heights) wait(ctx context.Context, block uint64) {
	h.start.Do(func() {
		ready := make(chan struct{}, len(h.l.byPeer))
		for _, g := range h.l.byPeer {
			go h.follow(g, ready)
		}
		// Give each peer's first connection a moment, so that the first
		// write does not count a peer still connecting as unreachable.
		deadline := time.After(2 * time.Second)
		for range h.l.byPeer {
			select {
			case <-ready:
			case <-deadline:
			}
		}
	})
	wctx, cancel := context.WithTimeout(ctx, h.patience)
	defer cancel()
	for {
		h.mu.Lock()
		behind := h.behind(block)
		ch := h.changed
		h.mu.Unlock()
		if len(behind) == 0 {
			return
		}
		select {
		case <-wctx.Done():
			if ctx.Err() == nil {
				// The patience ran out, not the caller's time: the next
				// writes do not wait for these peers until they catch up.
				h.mu.Lock()
				for _, p := range h.behind(block) {
					h.lagging[p] = true
				}
				h.mu.Unlock()
			}
			h.l.log.Warn("answering a committed write before every peer holds its block; not waiting for these peers again until they catch up",
				"block", block, "behind", behind)
			return
		case <-ch:
		}
	}
}

// behind lists the reachable peers, not lagging, that do not hold block
// yet; h.mu is held.
func (h *heights) behind(block uint64) []string {
	var out []string
	for _, g := range h.l.byPeer {
		if !h.down[g.peer] && !h.lagging[g.peer] && h.known[g.peer] <= block {
			out = append(out, g.peer)
		}
	}
	return out
}

// set records what is known of peer and wakes the waiters; height 0 leaves
// the height as it was.
func (h *heights) set(peer string, height uint64, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if height > h.known[peer] {
		h.known[peer] = height
	}
	h.down[peer] = down
	if h.lagging[peer] {
		top := uint64(0)
		for _, g := range h.l.byPeer {
			top = max(top, h.known[g.peer])
		}
		if h.known[peer] >= top {
			delete(h.lagging, peer) // caught up
		}
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// follow keeps a filtered block event stream open to g's peer until the
// ledger is closed, recording the peer's height as its blocks arrive. It
// signals ready once, after the first attempt to open the stream.
func (h *heights) follow(g *orgGateway, ready chan<- struct{}) {
	var once sync.Once
	signal := func() { once.Do(func() { ready <- struct{}{} }) }
	pause := watchRetryMin
	for h.ctx.Err() == nil {
		opened := h.stream(g, signal)
		h.set(g.peer, 0, true)
		signal() // when the first attempt failed before opening
		if opened {
			pause = watchRetryMin
		}
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, watchRetryMax)
	}
}

// stream reads g's peer's height, opens its block stream from there and
// follows it until it ends. It reports whether the stream was opened;
// opened is called once it is.
func (h *heights) stream(g *orgGateway, opened func()) bool {
	height, err := chainHeight(g, h.l.cfg.Channel)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	blocks, err := g.network.FilteredBlockEvents(ctx, client.WithStartBlock(height))
	if err != nil {
		return false
	}
	h.set(g.peer, height, false)
	opened()
	for b := range blocks {
		h.set(g.peer, b.GetNumber()+1, false)
	}
	return true
}

// chainHeight asks the gateway's peer for the channel's height, waiting at
// most 2 s (askHeight, fresh.go, is the same ask under the caller's context).
func chainHeight(g *orgGateway, channel string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return askHeight(ctx, g, channel)
}
