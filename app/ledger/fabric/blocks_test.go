package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cached returns the cached block holding txID, if both are known.
func (c *blockCache[B]) cached(txID string) (B, bool) {
	n, ok := c.blockNumberOf(txID)
	if !ok {
		var none B
		return none, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks.get(n)
	return b, ok
}

func TestBlockCache(t *testing.T) {
	c := newBlockCache[[]byte]()
	if _, ok := c.cached("tx-1"); ok {
		t.Fatal("an empty cache answered")
	}
	c.noteTx("tx-1", 7)
	if _, ok := c.cached("tx-1"); ok {
		t.Fatal("a block that was never fetched was answered")
	}
	c.put(7, []byte("block seven"))
	c.noteTx("tx-2", 7)
	for _, tx := range []string{"tx-1", "tx-2"} {
		if b, ok := c.cached(tx); !ok || string(b) != "block seven" {
			t.Fatalf("%s: %q %v", tx, b, ok)
		}
	}
	// Bounded: the oldest block and the oldest transactions go first.
	for n := uint64(8); n < 8+cachedBlocks; n++ {
		c.put(n, []byte(fmt.Sprint(n)))
	}
	if _, ok := c.cached("tx-1"); ok {
		t.Fatal("block 7 outlived the bound")
	}
	for i := 0; i < cachedTxs; i++ {
		c.noteTx(fmt.Sprintf("later-%d", i), 9)
	}
	if _, ok := c.txBlock.get("tx-2"); ok || len(c.txBlock.m) != cachedTxs || len(c.blocks.m) != cachedBlocks || len(c.txBlock.order) != cachedTxs || len(c.blocks.order) != cachedBlocks {
		t.Fatalf("bounds: %d txs, %d blocks", len(c.txBlock.m), len(c.blocks.m))
	}
	if b, ok := c.cached("later-0"); !ok || string(b) != "9" {
		t.Fatalf("later-0: %q %v", b, ok)
	}
}

// TestBlockCacheSharesFetches: the receipts of one block's writes ask for
// it at the same moment; the peer is asked once.
func TestBlockCacheSharesFetches(t *testing.T) {
	c := newBlockCache[[]byte]()
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("block 3"), nil
	}
	const askers = 12
	var wg sync.WaitGroup
	got := make([]string, askers)
	for i := range askers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.get(context.Background(), 3, fetch)
			if err != nil {
				t.Error(err)
			}
			got[i] = string(b)
		}()
	}
	// Let every asker reach the cache before the fetch ends.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		f := c.fetching[3]
		c.mu.Unlock()
		if f != nil && calls.Load() == 1 {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d fetches for one block, want 1", n)
	}
	for i, b := range got {
		if b != "block 3" {
			t.Fatalf("asker %d got %q", i, b)
		}
	}
	// Cached now: no further fetch.
	if b, err := c.get(context.Background(), 3, fetch); err != nil || string(b) != "block 3" || calls.Load() != 1 {
		t.Fatalf("cached block: %q %v, %d fetches", b, err, calls.Load())
	}

	// A failed fetch is not kept: the next ask fetches again.
	boom := errors.New("peer unavailable")
	if _, err := c.get(context.Background(), 4, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed fetch: %v", err)
	}
	if b, err := c.get(context.Background(), 4, func(context.Context) ([]byte, error) { return []byte("block 4"), nil }); err != nil || string(b) != "block 4" {
		t.Fatalf("fetch after a failure: %q %v", b, err)
	}

	// An asker that gives up while another's fetch runs returns at once.
	slow := make(chan struct{})
	go c.get(context.Background(), 5, func(context.Context) ([]byte, error) { <-slow; return []byte("5"), nil }) //nolint:errcheck
	for {
		c.mu.Lock()
		f := c.fetching[5]
		c.mu.Unlock()
		if f != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.get(ctx, 5, fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled asker: %v", err)
	}
	close(slow)
}
