package service

import (
	"context"
	"sync"
	"time"
)

// readableTTL is how long an answer about what a caller may read is reused
// for receipts. Which events a caller may read changes only by a write (a
// circulation, a suspension) or a custody's expiry, so an answer at most
// this old is what a receipt asked for a moment earlier would have got. It
// spares the app and the ledger the same work for every write answer of a
// Fabric block, which all carry that block (docs/design/0018-commitments.md).
const readableTTL = 2 * time.Second

// readableAskTimeout bounds one shared evaluation.
const readableAskTimeout = 30 * time.Second

// maxReadableEntries bounds the cache; past it, expired entries go first and
// then every finished one.
const maxReadableEntries = 4096

// readableCache shares, per caller and key, the answers receipts need about
// what the caller may read, for readableTTL; concurrent asks for the same
// key wait for one computation, and an error is never kept. It also
// remembers which callers were found to read every batch.
type readableCache struct {
	mu      sync.Mutex
	entries map[string]*readableEntry
	now     func() time.Time
}

type readableEntry struct {
	done chan struct{}
	at   time.Time
	val  any
	err  error
}

func newReadableCache() *readableCache {
	return &readableCache{entries: map[string]*readableEntry{}, now: time.Now}
}

// readsAll reports whether caller was found, within readableTTL, to read
// every batch.
func (c *readableCache) readsAll(caller string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries["all\x00"+caller]
	return ok && c.now().Sub(e.at) < readableTTL
}

// markReadsAll records that caller reads every batch, as of now.
func (c *readableCache) markReadsAll(caller string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict()
	c.entries["all\x00"+caller] = &readableEntry{done: closed, at: c.now()}
}

// get returns the value for caller and key, computing it with ask when
// there is no fresh one.
func (c *readableCache) get(ctx context.Context, caller, key string, ask func() (any, error)) (any, error) {
	k := caller + "\x00" + key
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && c.now().Sub(e.at) >= readableTTL {
		select {
		case <-e.done:
			ok = false
		default: // still being computed: share it
		}
	}
	if !ok {
		e = &readableEntry{done: make(chan struct{}), at: c.now()}
		c.evict()
		c.entries[k] = e
		c.mu.Unlock()
		val, err := ask()
		c.mu.Lock()
		e.val, e.err = val, err
		if err != nil && c.entries[k] == e {
			delete(c.entries, k)
		}
		close(e.done)
		c.mu.Unlock()
		return val, err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evict makes room; c.mu is held.
func (c *readableCache) evict() {
	if len(c.entries) < maxReadableEntries {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if now.Sub(e.at) >= readableTTL {
				delete(c.entries, k)
			}
		default:
		}
	}
	if len(c.entries) >= maxReadableEntries {
		for k, e := range c.entries {
			select {
			case <-e.done:
				delete(c.entries, k)
			default:
			}
		}
	}
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
