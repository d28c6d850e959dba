package fabric

import (
	"context"
	"sync"
)

// blockCache keeps the blocks of recent writes (B: a block as the ledger
// uses it, decoded once), so that the receipts of the
// transactions that share a block (a dozen under load) fetch it from a peer
// once, not once each. The writes of one block are answered at the same
// moment, so their receipts ask for it together: a fetch under way is
// shared by everyone who asks for the same block meanwhile. Blocks are
// immutable; the cache is bounded.
type blockCache[B any] struct {
	mu       sync.Mutex
	blocks   map[uint64]B
	order    []uint64 // oldest first
	txBlock  map[string]uint64
	txOrder  []string
	fetching map[uint64]*fetch[B]
}

// fetch is a block fetch under way; done is closed when it ends.
type fetch[B any] struct {
	done  chan struct{}
	block B
	err   error
}

const (
	cachedBlocks = 16
	cachedTxs    = 4096
)

func newBlockCache[B any]() *blockCache[B] {
	return &blockCache[B]{blocks: map[uint64]B{}, txBlock: map[string]uint64{}, fetching: map[uint64]*fetch[B]{}}
}

// blockNumberOf returns the block a recent write's transaction is in.
func (c *blockCache[B]) blockNumberOf(txID string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.txBlock[txID]
	return n, ok
}

// get returns block n from the cache or from get, which is called once for
// all who ask for n while it runs. A failed fetch is not kept.
func (c *blockCache[B]) get(ctx context.Context, n uint64, get func(context.Context) (B, error)) (B, error) {
	c.mu.Lock()
	if b, ok := c.blocks[n]; ok {
		c.mu.Unlock()
		return b, nil
	}
	f, ok := c.fetching[n]
	if !ok {
		f = &fetch[B]{done: make(chan struct{})}
		c.fetching[n] = f
		c.mu.Unlock()
		// The fetch serves others too: it is not cut short when this
		// caller gives up, only bounded by get's own timeouts.
		f.block, f.err = get(context.WithoutCancel(ctx))
		c.mu.Lock()
		delete(c.fetching, n)
		c.mu.Unlock()
		if f.err == nil {
			c.put(n, f.block)
		}
		close(f.done)
		return f.block, f.err
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.block, f.err
	case <-ctx.Done():
		var none B
		return none, ctx.Err()
	}
}

// noteTx records which block a committed transaction is in.
func (c *blockCache[B]) noteTx(txID string, block uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.txBlock[txID]; ok {
		return
	}
	c.txBlock[txID] = block
	c.txOrder = append(c.txOrder, txID)
	if len(c.txOrder) > cachedTxs {
		delete(c.txBlock, c.txOrder[0])
		c.txOrder = c.txOrder[1:]
	}
}

// put keeps a fetched block.
func (c *blockCache[B]) put(number uint64, block B) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.blocks[number]; ok {
		return
	}
	c.blocks[number] = block
	c.order = append(c.order, number)
	if len(c.order) > cachedBlocks {
		delete(c.blocks, c.order[0])
		c.order = c.order[1:]
	}
}
