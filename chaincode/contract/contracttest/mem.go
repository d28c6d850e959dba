// Package contracttest holds what every ledger's tests share: a map-backed
// [contract.State] and the conformance scenarios that every ledger running
// the contract must pass ([Run]).
package contracttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Ledger is the view the scenarios have of a ledger: submit a write or
// evaluate a query as an organisation. Errors the contract meant for the
// caller must come back as *contract.Error (decoded, where the ledger carries
// them as text).
type Ledger interface {
	Submit(org, fn string, args []byte, transient map[string][]byte) ([]byte, error)
	Evaluate(org, fn string, args []byte) ([]byte, error)
}

// Clock is the transaction clock a scenario controls. Ledgers under test must
// stamp each transaction with Now().
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

// Now returns the current instant and advances the clock by a millisecond,
// so every transaction has a distinct, increasing time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// MemLedger runs the contract over maps, one transaction at a time. It is
// the reference ledger for tests and a fake for the layers above.
type MemLedger struct {
	mu      sync.Mutex
	c       *contract.Contract
	clock   func() time.Time
	state   map[string][]byte
	private map[string][]byte
	n       int
	// Events holds each committed transaction's event payload, in order.
	Events [][]byte
	// LastWrites is the write set of the last committed transaction: the
	// public keys it wrote or deleted and the private keys it wrote or
	// purged, each sorted.
	LastWrites WriteSet
}

// WriteSet names the keys one transaction wrote.
type WriteSet struct {
	Public, Private []string
}

// NewMemLedger returns an empty ledger whose transactions are stamped by clock.
func NewMemLedger(clock func() time.Time) *MemLedger {
	return &MemLedger{c: contract.New(), clock: clock, state: map[string][]byte{}, private: map[string][]byte{}}
}

// Submit runs a write as org and commits it when it succeeds.
func (m *MemLedger) Submit(org, fn string, args []byte, transient map[string][]byte) ([]byte, error) {
	if m.c.IsQuery(fn) {
		return nil, fmt.Errorf("%s is a query", fn)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	st := m.newTx(org, transient, false)
	out, err := m.c.Invoke(st, fn, args)
	if err != nil {
		return nil, err
	}
	st.commit()
	m.LastWrites = WriteSet{Public: sortedKeys(st.puts), Private: sortedKeys(st.privPuts)}
	if st.event != nil {
		m.Events = append(m.Events, st.event)
	}
	return out, nil
}

// Evaluate runs a query as org.
func (m *MemLedger) Evaluate(org, fn string, args []byte) ([]byte, error) {
	if !m.c.IsQuery(fn) {
		return nil, fmt.Errorf("%s is not a query", fn)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.Invoke(m.newTx(org, nil, true), fn, args)
}

// StateDigest hashes every key and value, public and private, in key order.
func (m *MemLedger) StateDigest() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := sha256.New()
	for _, kv := range []map[string][]byte{m.state, m.private} {
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(kv[k]))
			h.Write(kv[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (m *MemLedger) newTx(org string, transient map[string][]byte, readOnly bool) *memTx {
	id := sha256.Sum256([]byte(fmt.Sprintf("mem-tx-%d", m.n)))
	if transient == nil {
		transient = map[string][]byte{}
	}
	return &memTx{m: m, org: org, txID: hex.EncodeToString(id[:]), ts: m.clock(), transient: transient,
		readOnly: readOnly, puts: map[string][]byte{}, privPuts: map[string][]byte{}}
}

// memTx is one transaction's view: reads see committed state only, as on
// Fabric; writes are staged until commit.
type memTx struct {
	m         *MemLedger
	org       string
	txID      string
	ts        time.Time
	transient map[string][]byte
	readOnly  bool
	puts      map[string][]byte // nil: delete
	privPuts  map[string][]byte // nil: purge
	event     []byte
}

var errReadOnly = errors.New("write in a query")

func checkKey(key string) error {
	if key == "" || key[0] == 0 || !validUTF8(key) {
		return fmt.Errorf("invalid key %q", key)
	}
	return nil
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func (x *memTx) Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return x.m.state[key], nil
}

func (x *memTx) GetMultiple(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := x.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// The in-memory ledger stages every write until commit anyway, so a write
// batch changes nothing.
func (x *memTx) StartWriteBatch()        {}
func (x *memTx) FinishWriteBatch() error { return nil }

func (x *memTx) Put(key string, value []byte) error {
	if x.readOnly {
		return errReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("empty value for %q", key)
	}
	x.puts[key] = append([]byte(nil), value...)
	return nil
}

func (x *memTx) Delete(key string) error {
	if x.readOnly {
		return errReadOnly
	}
	x.puts[key] = nil
	return nil
}

func rangeMap(kv map[string][]byte, start, end string, fn func(string, []byte) (bool, error)) error {
	keys := make([]string, 0)
	for k := range kv {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		more, err := fn(k, kv[k])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (x *memTx) Range(start, end string, fn func(string, []byte) (bool, error)) error {
	return rangeMap(x.m.state, start, end, fn)
}

func (x *memTx) GetPrivate(collection, key string) ([]byte, error) {
	return x.m.private[collection+"/"+key], nil
}

func (x *memTx) PutPrivate(collection, key string, value []byte) error {
	if x.readOnly {
		return errReadOnly
	}
	x.privPuts[collection+"/"+key] = append([]byte(nil), value...)
	return nil
}

func (x *memTx) PurgePrivate(collection, key string) error {
	if x.readOnly {
		return errReadOnly
	}
	x.privPuts[collection+"/"+key] = nil
	return nil
}

func (x *memTx) RangePrivate(collection, start, end string, fn func(string, []byte) (bool, error)) error {
	prefix := collection + "/"
	sub := map[string][]byte{}
	for k, v := range x.m.private {
		if strings.HasPrefix(k, prefix) {
			sub[k[len(prefix):]] = v
		}
	}
	return rangeMap(sub, start, end, fn)
}

func (x *memTx) Transient() (map[string][]byte, error) { return x.transient, nil }

func (x *memTx) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name is empty")
	}
	x.event = append([]byte(nil), payload...)
	return nil
}

func (x *memTx) TxID() string               { return x.txID }
func (x *memTx) TxTime() (time.Time, error) { return x.ts, nil }
func (x *memTx) Creator() (string, error)   { return x.org, nil }

func sortedKeys(kv map[string][]byte) []string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (x *memTx) commit() {
	for k, v := range x.puts {
		if v == nil {
			delete(x.m.state, k)
		} else {
			x.m.state[k] = v
		}
	}
	for k, v := range x.privPuts {
		if v == nil {
			delete(x.m.private, k)
		} else {
			x.m.private[k] = v
		}
	}
}

// Private returns the value at key in [contract.TermsCollection], as a node
// that holds the collection stores it.
func (m *MemLedger) Private(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.private[contract.TermsCollection+"/"+key])
}

// Public returns the committed value at key in the world state, for tests
// that look at or rewrite what the ledger stores (records of an earlier
// format, say).
func (m *MemLedger) Public(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.state[key])
}

// SetRaw stores value at key, in [contract.TermsCollection] when private is
// set, bypassing the contract: for tests of data written by older versions.
// A nil value deletes the key.
func (m *MemLedger) SetRaw(private bool, key string, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv := m.state
	if private {
		kv, key = m.private, contract.TermsCollection+"/"+key
	}
	if value == nil {
		delete(kv, key)
		return
	}
	kv[key] = bytes.Clone(value)
}

// PutPrivateRaw writes value under key in a private collection, outside any
// transaction: for tests of data an earlier version wrote.
func (m *MemLedger) PutPrivateRaw(collection, key string, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.private[collection+"/"+key] = append([]byte(nil), value...)
}
