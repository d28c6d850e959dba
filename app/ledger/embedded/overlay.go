package embedded

import (
	"bytes"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// blockWrites is what the accepted transactions of one block write, merged
// in block order: a later write of a key replaces an earlier one. The writer
// executes the next transactions over it until the block is committed.
type blockWrites struct {
	pub   map[string][]byte            // nil value: deleted
	priv  map[string]map[string][]byte // collection → key → value; nil value: purged
	txIDs map[string]bool
}

func newBlockWrites() *blockWrites {
	return &blockWrites{pub: map[string][]byte{}, priv: map[string]map[string][]byte{}, txIDs: map[string]bool{}}
}

// add merges one accepted transaction's staged writes. The values are the
// transaction's own copies, never changed after it was accepted.
func (w *blockWrites) add(st *txState) {
	for k, v := range st.puts {
		w.pub[k] = v
	}
	for c, m := range st.privPuts {
		dst := w.priv[c]
		if dst == nil {
			dst = map[string][]byte{}
			w.priv[c] = dst
		}
		for k, v := range m {
			dst[k] = v
		}
	}
	w.txIDs[st.txID] = true
}

func (w *blockWrites) layer(collection string) map[string][]byte {
	if collection == "" {
		return w.pub
	}
	return w.priv[collection]
}

// overlay is the uncommitted writes a transaction is executed over, oldest
// block first; the bbolt transaction below it holds the committed state. A
// nil overlay hides nothing.
type overlay []*blockWrites

// get returns the newest uncommitted value of key in collection ("" for the
// public state) and true, or false when no uncommitted block wrote the key.
// A nil value with true means the key was deleted.
func (o overlay) get(collection, key string) ([]byte, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if v, ok := o[i].layer(collection)[key]; ok {
			return v, true
		}
	}
	return nil, false
}

// hasTx reports whether an uncommitted block holds transaction id.
func (o overlay) hasTx(id string) bool {
	for _, w := range o {
		if w.txIDs[id] {
			return true
		}
	}
	return false
}

// keys returns, in byte order and once each, the keys of collection in
// [start, end) that an uncommitted block wrote or deleted. It walks every
// key the overlay holds for the collection: writes range rarely (a purge, a
// migration), so no ordered index is kept.
func (o overlay) keys(collection, start, end string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range o {
		for k := range w.layer(collection) {
			if k >= start && (end == "" || k < end) && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// rangeOverlay calls fn for the keys in [start, end) of b (nil: no committed
// keys) as seen through o, in byte order: a key o wrote is given with o's
// newest value, and one o deleted is skipped.
func rangeOverlay(b *bolt.Bucket, o overlay, collection, start, end string, fn func(string, []byte) (bool, error)) error {
	keys := o.keys(collection, start, end)
	if len(keys) == 0 {
		return rangeBucket(b, start, end, fn)
	}
	next, stopped := 0, false
	// emit gives fn the overlay's value of key; a deleted key is skipped.
	emit := func(key string) (bool, error) {
		v, _ := o.get(collection, key)
		if v == nil {
			return true, nil
		}
		return fn(key, bytes.Clone(v))
	}
	err := rangeBucket(b, start, end, func(k string, v []byte) (bool, error) {
		for next < len(keys) && keys[next] < k {
			more, err := emit(keys[next])
			next++
			if err != nil || !more {
				stopped = true
				return false, err
			}
		}
		if next < len(keys) && keys[next] == k {
			next++
			more, err := emit(k)
			stopped = err != nil || !more
			return more, err
		}
		more, err := fn(k, v)
		stopped = err != nil || !more
		return more, err
	})
	if err != nil || stopped {
		return err
	}
	for ; next < len(keys); next++ {
		if more, err := emit(keys[next]); err != nil || !more {
			return err
		}
	}
	return nil
}
