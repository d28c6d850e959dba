package fabric

import (
	"fmt"
	"testing"
)

func TestBlockCache(t *testing.T) {
	c := newBlockCache()
	if _, ok := c.blockOf("tx-1"); ok {
		t.Fatal("an empty cache answered")
	}
	c.noteTx("tx-1", 7)
	if _, ok := c.blockOf("tx-1"); ok {
		t.Fatal("a block that was never fetched was answered")
	}
	c.put(7, []byte("block seven"))
	c.noteTx("tx-2", 7)
	for _, tx := range []string{"tx-1", "tx-2"} {
		if b, ok := c.blockOf(tx); !ok || string(b) != "block seven" {
			t.Fatalf("%s: %q %v", tx, b, ok)
		}
	}
	// Bounded: the oldest block and the oldest transactions go first.
	for n := uint64(8); n < 8+cachedBlocks; n++ {
		c.put(n, []byte(fmt.Sprint(n)))
	}
	if _, ok := c.blockOf("tx-1"); ok {
		t.Fatal("block 7 outlived the bound")
	}
	for i := 0; i < cachedTxs; i++ {
		c.noteTx(fmt.Sprintf("later-%d", i), 9)
	}
	if _, ok := c.txBlock["tx-2"]; ok || len(c.txBlock) != cachedTxs || len(c.blocks) != cachedBlocks {
		t.Fatalf("bounds: %d txs, %d blocks", len(c.txBlock), len(c.blocks))
	}
	if b, ok := c.blockOf("later-0"); !ok || string(b) != "9" {
		t.Fatalf("later-0: %q %v", b, ok)
	}
}
