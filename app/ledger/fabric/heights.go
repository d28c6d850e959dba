package fabric

import (
	"context"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// A write's commit status comes from one peer; the other peers commit the
// same block moments later. Until they do, an organisation whose requests go
// through another peer does not see the write, and a write that depends on
// it (a trade right after an assessment, say) is refused by a peer that has
// not caught up. So a write is answered only once every reachable peer holds
// its block: heights watches the peers' heights for the writes waiting.

const (
	// heightPoll is how often the peers' heights are read while a write waits.
	heightPoll = 15 * time.Millisecond
	// heightWait bounds the wait. A write still waiting then is committed all
	// the same and is answered; a peer that is that far behind is reported.
	heightWait = 5 * time.Second
)

type heights struct {
	l       *Ledger
	mu      sync.Mutex
	known   map[string]uint64 // peer → height it last reported
	down    map[string]bool   // peers that did not answer the last poll
	changed chan struct{}     // closed and replaced after each poll
	waiters int
}

func newHeights(l *Ledger) *heights {
	return &heights{l: l, known: map[string]uint64{}, down: map[string]bool{}, changed: make(chan struct{})}
}

// wait returns once every peer that answers holds block, or when the wait
// is over (heightWait, or ctx).
func (h *heights) wait(ctx context.Context, block uint64) {
	ctx, cancel := context.WithTimeout(ctx, heightWait)
	defer cancel()
	h.mu.Lock()
	h.waiters++
	if h.waiters == 1 {
		go h.poll()
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.waiters--
		h.mu.Unlock()
	}()
	for {
		h.mu.Lock()
		behind := h.behind(block)
		ch := h.changed
		h.mu.Unlock()
		if len(behind) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			h.l.log.Warn("answering a committed write before every peer holds its block", "block", block, "behind", behind)
			return
		case <-ch:
		}
	}
}

// behind lists the reachable peers that do not hold block yet; h.mu is held.
func (h *heights) behind(block uint64) []string {
	var out []string
	for _, g := range h.l.byPeer {
		if !h.down[g.peer] && h.known[g.peer] <= block {
			out = append(out, g.peer)
		}
	}
	return out
}

// poll reads every peer's height while writes are waiting.
func (h *heights) poll() {
	for {
		for _, g := range h.l.byPeer {
			height, err := chainHeight(g, h.l.cfg.Channel)
			h.mu.Lock()
			if err != nil {
				h.down[g.peer] = true
			} else {
				h.down[g.peer] = false
				if height > h.known[g.peer] {
					h.known[g.peer] = height
				}
			}
			h.mu.Unlock()
		}
		h.mu.Lock()
		close(h.changed)
		h.changed = make(chan struct{})
		done := h.waiters == 0
		h.mu.Unlock()
		if done {
			return
		}
		time.Sleep(heightPoll)
	}
}

// chainHeight asks the gateway's peer for the channel's height.
func chainHeight(g *orgGateway, channel string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, err := g.qscc.EvaluateWithContext(ctx, "GetChainInfo", client.WithArguments(channel))
	if err != nil {
		return 0, err
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		return 0, err
	}
	return info.GetHeight(), nil
}
