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
	blocks   *bounded[uint64, B]
	txBlock  *bounded[string, uint64]
	fetching map[uint64]*fetch[B]
}

// bounded is a map that keeps its newest entries: beyond max, the oldest
// one goes. An entry is never replaced.
type bounded[K comparable, V any] struct {
	max   int
	m     map[K]V
	order []K // oldest first
}

func newBounded[K comparable, V any](max int) *bounded[K, V] {
	return &bounded[K, V]{max: max, m: map[K]V{}}
}

func (b *bounded[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

// add keeps v under k unless k is there already.
func (b *bounded[K, V]) add(k K, v V) {
	if _, ok := b.m[k]; ok {
		return
	}
	b.m[k] = v
	b.order = append(b.order, k)
	if len(b.order) > b.max {
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
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
	return &blockCache[B]{blocks: newBounded[uint64, B](cachedBlocks), txBlock: newBounded[string, uint64](cachedTxs),
		fetching: map[uint64]*fetch[B]{}}
}

// blockNumberOf returns the block a recent write's transaction is in.
func (c *blockCache[B]) blockNumberOf(txID string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txBlock.get(txID)
}

// get returns block n from the cache or from get, which is called once for
// all who ask for n while it runs. A failed fetch is not kept.
func (c *blockCache[B]) get(ctx context.Context, n uint64, get func(context.Context) (B, error)) (B, error) {
	c.mu.Lock()
	if b, ok := c.blocks.get(n); ok {
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
	c.txBlock.add(txID, block)
}

// put keeps a fetched block.
func (c *blockCache[B]) put(number uint64, block B) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocks.add(number, block)
}
