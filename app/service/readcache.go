package service

import (
	"context"
	"sync"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// readableTTL is how long an answer of the contract's ReadableEvents query
// is reused for receipts. Which events a caller may read changes only by a
// write (a circulation, a suspension) or a custody's expiry, so an answer
// at most this old is what a receipt asked for a moment earlier would have
// got. It spares the ledger one evaluation per write answer on Fabric, where
// every write of a block carries the same block and so asks the same
// question (docs/design/0018-commitments.md).
const readableTTL = 2 * time.Second

// readableAskTimeout bounds one shared evaluation.
const readableAskTimeout = 30 * time.Second

// maxReadableEntries bounds the cache; past it, expired entries go first and
// then everything.
const maxReadableEntries = 4096

// readableCache shares ReadableEvents answers between the receipts of one
// caller that ask about the same set of events (a Fabric block), and
// remembers for readableTTL which callers read everything. Concurrent asks
// for the same key wait for one evaluation.
type readableCache struct {
	mu      sync.Mutex
	entries map[string]*readableEntry
	now     func() time.Time
}

type readableEntry struct {
	done chan struct{}
	at   time.Time
	res  *contract.ReadableEvents
	err  error
}

func newReadableCache() *readableCache {
	return &readableCache{entries: map[string]*readableEntry{}, now: time.Now}
}

// readsAll reports whether caller was answered, within readableTTL, as one
// who reads every batch.
func (c *readableCache) readsAll(caller string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries["all\x00"+caller]
	return ok && c.now().Sub(e.at) < readableTTL
}

// get returns the answer for key, evaluating it with ask when there is no
// fresh one; an error is never kept.
func (c *readableCache) get(ctx context.Context, caller, key string, ask func() (*contract.ReadableEvents, error)) (*contract.ReadableEvents, error) {
	k := caller + "\x00" + key
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && c.now().Sub(e.at) >= readableTTL {
		select {
		case <-e.done:
			ok = false
		default: // still being evaluated: share it
		}
	}
	if !ok {
		e = &readableEntry{done: make(chan struct{}), at: c.now()}
		c.evict()
		c.entries[k] = e
		c.mu.Unlock()
		e.res, e.err = ask()
		c.mu.Lock()
		if e.err != nil {
			if c.entries[k] == e {
				delete(c.entries, k)
			}
		} else if e.res.ReadsAll {
			c.entries["all\x00"+caller] = &readableEntry{done: closed, at: e.at, res: e.res}
		}
		close(e.done)
		c.mu.Unlock()
		return e.res, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.res, e.err
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
