package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// errReadOnly is returned when a query tries to write.
var errReadOnly = errors.New("write attempted in a query")

// txState is one transaction's [contract.State] over a bbolt transaction.
// The ledger's writer executes over a read transaction (the state as of the
// last committed block) seen through over, the write sets of the executed
// transactions not yet committed: those of the block before, while it is
// committed, and the earlier ones of the same block (see pipeline.go).
// Replay executes in a write transaction, applying each accepted
// transaction's writes into it ([txState.apply]), and has no overlay.
// Either way a transaction does not see its own writes: they are staged here
// and leave it only once the contract has accepted the transaction, so a
// rejected transaction writes nothing.
type txState struct {
	tx        *bolt.Tx
	state     *bolt.Bucket
	private   *bolt.Bucket
	over      overlay // nil: reads go to tx alone
	readOnly  bool
	txID      string
	ts        time.Time
	creator   string
	transient map[string][]byte

	puts      map[string][]byte            // nil value: delete
	privPuts  map[string]map[string][]byte // collection → key → value; nil value: purge
	eventName string
	event     []byte
}

func newTxState(tx *bolt.Tx, readOnly bool, txID string, ts time.Time, creator string, transient map[string][]byte) *txState {
	if transient == nil {
		transient = map[string][]byte{}
	}
	return &txState{
		tx:        tx,
		state:     tx.Bucket(bucketState),
		private:   tx.Bucket(bucketPrivate),
		readOnly:  readOnly,
		txID:      txID,
		ts:        ts,
		creator:   creator,
		transient: transient,
		puts:      map[string][]byte{},
		privPuts:  map[string]map[string][]byte{},
	}
}

func checkKey(key string) error {
	if key == "" || key[0] == 0 || !utf8.ValidString(key) {
		return fmt.Errorf("invalid state key %q", key)
	}
	return nil
}

// Get returns a copy: bbolt's slices are valid only inside its transaction.
func (s *txState) Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if v, ok := s.over.get("", key); ok {
		return bytes.Clone(v), nil
	}
	return bytes.Clone(s.state.Get([]byte(key))), nil
}

// GetMultiple reads each key from the same bbolt transaction; there is no
// round trip to save here.
func (s *txState) GetMultiple(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Writes are staged until apply anyway, so a write batch changes nothing.
func (s *txState) StartWriteBatch()        {}
func (s *txState) FinishWriteBatch() error { return nil }

func (s *txState) Put(key string, value []byte) error {
	if s.readOnly {
		return errReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("empty value for state key %q", key)
	}
	s.puts[key] = bytes.Clone(value)
	return nil
}

func (s *txState) Delete(key string) error {
	if s.readOnly {
		return errReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.puts[key] = nil
	return nil
}

// rangeBucket calls fn for keys in [start, end) of b in byte order; an empty
// end means no upper bound.
func rangeBucket(b *bolt.Bucket, start, end string, fn func(string, []byte) (bool, error)) error {
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if start == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek([]byte(start))
	}
	endB := []byte(end)
	for ; k != nil; k, v = c.Next() {
		if end != "" && bytes.Compare(k, endB) >= 0 {
			return nil
		}
		more, err := fn(string(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (s *txState) Range(start, end string, fn func(key string, value []byte) (bool, error)) error {
	return rangeOverlay(s.state, s.over, "", start, end, fn)
}

func (s *txState) collection(name string) *bolt.Bucket {
	return s.private.Bucket([]byte(name))
}

func (s *txState) GetPrivate(collection, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if v, ok := s.over.get(collection, key); ok {
		return bytes.Clone(v), nil
	}
	b := s.collection(collection)
	if b == nil {
		return nil, nil
	}
	return bytes.Clone(b.Get([]byte(key))), nil
}

func (s *txState) stagePrivate(collection, key string, value []byte) error {
	if s.readOnly {
		return errReadOnly
	}
	if collection == "" {
		return errors.New("empty private collection name")
	}
	if err := checkKey(key); err != nil {
		return err
	}
	m := s.privPuts[collection]
	if m == nil {
		m = map[string][]byte{}
		s.privPuts[collection] = m
	}
	m[key] = value
	return nil
}

func (s *txState) PutPrivate(collection, key string, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("empty value for private key %q", key)
	}
	return s.stagePrivate(collection, key, bytes.Clone(value))
}

func (s *txState) PurgePrivate(collection, key string) error {
	return s.stagePrivate(collection, key, nil)
}

func (s *txState) RangePrivate(collection, start, end string, fn func(key string, value []byte) (bool, error)) error {
	return rangeOverlay(s.collection(collection), s.over, collection, start, end, fn)
}

func (s *txState) Transient() (map[string][]byte, error) { return s.transient, nil }

func (s *txState) SetEvent(name string, payload []byte) error {
	if s.readOnly {
		return errReadOnly
	}
	if name == "" {
		return errors.New("event name is empty")
	}
	s.eventName = name
	s.event = bytes.Clone(payload)
	return nil
}

func (s *txState) TxID() string               { return s.txID }
func (s *txState) TxTime() (time.Time, error) { return s.ts, nil }
func (s *txState) Creator() (string, error)   { return s.creator, nil }

var _ contract.State = (*txState)(nil)

// apply writes the staged changes into the bbolt transaction
// (storeWriteSet) and returns the write-set hash (hashWriteSet).
func (s *txState) apply() ([32]byte, error) {
	if err := storeWriteSet(s.state, s.private, s.puts, s.privPuts); err != nil {
		return [32]byte{}, err
	}
	return hashWriteSet(s.puts, s.privPuts), nil
}

// hashWriteSet returns the write-set hash of one transaction's staged
// writes: SHA-256 over, for each public write in key order, 'P' key op
// [value], then for each private write in (collection, key) order, 'C'
// collection key op [SHA-256(value)], where strings and values are
// uvarint-length-prefixed and op is 'S' (set) or 'D' (delete). Private values
// enter only as hashes, as on Fabric. The order is the one storeWriteSet
// writes in.
func hashWriteSet(puts map[string][]byte, privPuts map[string]map[string][]byte) [32]byte {
	h := sha256.New()
	var buf []byte
	lp := func(b []byte) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(b)))
		h.Write(buf)
		h.Write(b)
	}
	for _, k := range sortedKeys(puts) {
		v := puts[k]
		h.Write([]byte{'P'})
		lp([]byte(k))
		if v == nil {
			h.Write([]byte{'D'})
			continue
		}
		h.Write([]byte{'S'})
		lp(v)
	}
	for _, c := range sortedKeys(privPuts) {
		for _, k := range sortedKeys(privPuts[c]) {
			v := privPuts[c][k]
			h.Write([]byte{'C'})
			lp([]byte(c))
			lp([]byte(k))
			if v == nil {
				h.Write([]byte{'D'})
				continue
			}
			h.Write([]byte{'S'})
			sum := sha256.Sum256(v)
			h.Write(sum[:])
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// storeWriteSet writes one transaction's public writes (puts) into state and
// its private ones (privPuts, by collection) into nested buckets of private,
// in the order the write-set hash takes them: public keys in order, then
// private ones by collection and key. A nil value deletes. The ledger's
// writer and Replay both write through here.
// writeFillPercent is how full bbolt leaves a state or private page it
// splits. Most keys a transaction writes go after the last key of their
// prefix (a batch's next history entry, the next trade of an exchange, the
// next time-index entry), so a split page is seldom written again: bbolt's
// default of half-full pages doubled the pages each block wrote. Measured
// with BenchmarkSubmitBulkTrades (docs/benchmarks.md): 0.9 wrote 47 % fewer
// pages (32,600 against 61,200 for 40,000 trades). A variable only so that
// the benchmark can set another fill (TOKENTRAIL_BENCH_FILL, bench_test.go).
var writeFillPercent = 0.9

func storeWriteSet(state, private *bolt.Bucket, puts map[string][]byte, privPuts map[string]map[string][]byte) error {
	state.FillPercent = writeFillPercent
	for _, k := range sortedKeys(puts) {
		v := puts[k]
		var err error
		if v == nil {
			err = state.Delete([]byte(k))
		} else {
			err = state.Put([]byte(k), v)
		}
		if err != nil {
			return fmt.Errorf("write %q: %w", k, err)
		}
	}
	for _, c := range sortedKeys(privPuts) {
		coll, err := private.CreateBucketIfNotExists([]byte(c))
		if err != nil {
			return fmt.Errorf("private collection %q: %w", c, err)
		}
		coll.FillPercent = writeFillPercent
		for _, k := range sortedKeys(privPuts[c]) {
			v := privPuts[c][k]
			if v == nil {
				err = coll.Delete([]byte(k))
			} else {
				err = coll.Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("write private %q/%q: %w", c, k, err)
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
