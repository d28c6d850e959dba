package fabric

import "sync"

// blockCache keeps the blocks of recent writes, so that the receipts of the
// transactions that share a block (a dozen under load) fetch it from a peer
// once, not once each. Blocks are immutable; the cache is bounded.
type blockCache struct {
	mu      sync.Mutex
	blocks  map[uint64][]byte
	order   []uint64 // oldest first
	txBlock map[string]uint64
	txOrder []string
}

const (
	cachedBlocks = 16
	cachedTxs    = 4096
)

func newBlockCache() *blockCache {
	return &blockCache{blocks: map[uint64][]byte{}, txBlock: map[string]uint64{}}
}

// noteTx records which block a committed transaction is in.
func (c *blockCache) noteTx(txID string, block uint64) {
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

// blockOf returns the cached block holding txID, if both are known.
func (c *blockCache) blockOf(txID string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.txBlock[txID]
	if !ok {
		return nil, false
	}
	b, ok := c.blocks[n]
	return b, ok
}

// put keeps a fetched block.
func (c *blockCache) put(number uint64, block []byte) {
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
