// Package contract is tokentrail's ledger logic: the lifecycle of token
// batches, the fourteen compliance rules and the provenance queries. It is
// plain Go over the [State] interface and depends on nothing outside the
// standard library and google/uuid, so the same code runs inside Fabric's
// chaincode and inside the embedded ledger.
//
// Everything it writes is deterministic: time and uniqueness come only from
// the transaction ([State.TxTime], [State.TxID]), values are JSON of structs
// with a fixed field order, and writes are flushed in sorted key order.
package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tokentrail/tokentrail/chaincode/contract/strictjson"
)

// Contract runs transactions. It holds no state of its own; one value may be
// used by many goroutines, each with its own [State].
type Contract struct {
	fns map[string]function
}

type function struct {
	query bool
	run   func(t *txn, args []byte) (any, error)
}

// New returns the contract.
func New() *Contract {
	c := &Contract{fns: map[string]function{}}
	w := func(name string, run func(t *txn, args []byte) (any, error)) {
		c.fns[name] = function{run: run}
	}
	q := func(name string, run func(t *txn, args []byte) (any, error)) {
		c.fns[name] = function{query: true, run: run}
	}
	w(FnBootstrap, bootstrap)
	w(FnRegisterParticipant, registerParticipant)
	w(FnSuspendParticipant, suspendParticipant)
	w(FnCollect, collect)
	w(FnProcess, process)
	w(FnAssess, assess)
	w(FnCirculate, circulate)
	w(FnTrade, recordTrade)
	w(FnTradeBulk, recordTrades)
	w(FnAudit, audit)
	w(FnFreeze, freeze)
	w(FnUnfreeze, unfreeze)
	w(FnRetire, retire)

	q(FnGetParticipant, getParticipant)
	q(FnListParticipants, listParticipants)
	q(FnGetBatch, getBatch)
	q(FnListBatches, listBatches)
	q(FnHistory, history)
	q(FnLineage, lineage)
	q(FnImpact, impact)
	q(FnCompliance, compliance)
	q(FnListTrades, listTrades)
	q(FnPrices, prices)
	q(FnGetEvent, getEvent)
	q(FnReadableEvents, readableEvents)
	return c
}

// Functions returns the names of all transaction functions, sorted.
func (c *Contract) Functions() []string {
	names := make([]string, 0, len(c.fns))
	for n := range c.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsQuery reports whether fn only reads. It is false for unknown names.
func (c *Contract) IsQuery(fn string) bool {
	f, ok := c.fns[fn]
	return ok && f.query
}

// Invoke runs function fn with its JSON argument against st and returns the
// JSON result. A write either passes every check and writes all it wrote, or
// returns an error and writes nothing. Errors meant for the caller are
// *[Error]; any other error is the ledger's.
func (c *Contract) Invoke(st State, fn string, args []byte) ([]byte, error) {
	f, ok := c.fns[fn]
	if !ok {
		return nil, invalid("function", "unknown function %q", fn)
	}
	t, err := newTxn(st)
	if err != nil {
		return nil, err
	}
	out, err := f.run(t, args)
	if err != nil {
		return nil, err
	}
	if !f.query {
		if err := t.flush(); err != nil {
			return nil, err
		}
	}
	if b, ok := out.(encoded); ok {
		return b, nil
	}
	return json.Marshal(out)
}

// encoded is a result that is already its JSON encoding: Invoke returns it
// as it is instead of passing it through json.Marshal, which would validate
// and re-compact every embedded document again.
type encoded []byte

// txn is one transaction: the caller, the clock and a write buffer over the
// committed state.
type txn struct {
	st     State
	txID   string
	now    time.Time
	nowStr string
	caller string

	writes  map[string][]byte // nil value: delete
	private map[string][]byte // TermsCollection writes
	purges  map[string]bool
	events  []Event
	nextID  uint32
	parts   map[string]*Participant
	batches map[string]*Batch
	// unencoded are the batches saved by this transaction whose documents
	// are encoded when first read back or at flush, from batches: a bulk
	// transaction saves its batch once per trade, a thousand times, and
	// only the last state is written.
	unencoded map[string]bool
	// fetched holds committed values read ahead in one batched call
	// (see prefetch); nil values record absent keys.
	fetched map[string][]byte
	format  int // the ledger's data format version, once read; see checkFormat
	// The trades this transaction recorded, for its chunk documents (format
	// 3, see chunks.go): their public records and price points, and the
	// first one's event ID.
	chunkTrades, chunkPoints [][]byte
	chunkFirst               string
}

func newTxn(st State) (*txn, error) {
	ts, err := st.TxTime()
	if err != nil {
		return nil, fmt.Errorf("transaction time: %w", err)
	}
	caller, err := st.Creator()
	if err != nil {
		return nil, fmt.Errorf("transaction creator: %w", err)
	}
	ts = ts.UTC()
	return &txn{
		st:      st,
		txID:    st.TxID(),
		now:     ts,
		nowStr:  ts.Format(time.RFC3339Nano),
		caller:  caller,
		writes:  map[string][]byte{},
		private: map[string][]byte{},
		purges:  map[string]bool{},
		parts:   map[string]*Participant{},
		batches: map[string]*Batch{},

		unencoded: map[string]bool{},
	}, nil
}

// get reads key, seeing this transaction's own writes first.
func (t *txn) get(key string) ([]byte, error) {
	if err := t.encodeBatch(key); err != nil {
		return nil, err
	}
	if v, ok := t.writes[key]; ok {
		return v, nil
	}
	if v, ok := t.fetched[key]; ok {
		return v, nil
	}
	return t.st.Get(key)
}

// prefetch reads the committed values of keys in one batched call, so that
// the reads that follow (of the same keys, through get) cost no round trip
// each. Keys already read ahead or written by the transaction are skipped;
// the order of keys does not matter to what is written.
func (t *txn) prefetch(keys []string) error {
	want := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := t.writes[k]; ok {
			continue
		}
		if t.unencoded[k] {
			continue
		}
		if _, ok := t.fetched[k]; ok {
			continue
		}
		want = append(want, k)
	}
	if len(want) == 0 {
		return nil
	}
	vals, err := t.st.GetMultiple(want)
	if err != nil {
		return err
	}
	if len(vals) != len(want) {
		return fmt.Errorf("batched read of %d keys returned %d values", len(want), len(vals))
	}
	if t.fetched == nil {
		t.fetched = make(map[string][]byte, len(want))
	}
	for i, k := range want {
		if len(vals[i]) == 0 {
			t.fetched[k] = nil
		} else {
			t.fetched[k] = vals[i]
		}
	}
	return nil
}

func (t *txn) put(key string, v []byte) { delete(t.unencoded, key); t.writes[key] = v }
func (t *txn) del(key string)           { delete(t.unencoded, key); t.writes[key] = nil }

// encodeBatch writes the document of a batch saved by this transaction but
// not encoded yet, if key is its key.
func (t *txn) encodeBatch(key string) error {
	if !t.unencoded[key] {
		return nil
	}
	return t.putJSON(key, t.batches[strings.TrimPrefix(key, kBatch)])
}

func (t *txn) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	t.put(key, b)
	return nil
}

// getJSON decodes the value at key into v and reports whether it was there.
func (t *txn) getJSON(key string, v any) (bool, error) {
	b, err := t.get(key)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// flush writes the buffered changes in sorted key order and sets the event.
func (t *txn) flush() error {
	t.st.StartWriteBatch()
	if err := t.flushWrites(); err != nil {
		return err
	}
	if err := t.st.FinishWriteBatch(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

func (t *txn) flushWrites() error {
	for _, k := range sortedKeys(t.unencoded) {
		if err := t.encodeBatch(k); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(t.writes) {
		v := t.writes[k]
		var err error
		if v == nil {
			err = t.st.Delete(k)
		} else {
			err = t.st.Put(k, v)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
	}
	for _, k := range sortedKeys(t.private) {
		if err := t.st.PutPrivate(TermsCollection, k, t.private[k]); err != nil {
			return fmt.Errorf("write private %s: %w", k, err)
		}
	}
	for _, k := range sortedKeys(t.purges) {
		if err := t.st.PurgePrivate(TermsCollection, k); err != nil {
			return fmt.Errorf("purge private %s: %w", k, err)
		}
	}
	// Every write sets the event, even one that recorded no lifecycle event
	// (a participant's registration, a replayed trade), so every committed
	// transaction has the same shape of receipt.
	events := t.events
	if events == nil {
		events = []Event{}
	}
	b, err := json.Marshal(WriteEvent{Events: events})
	if err != nil {
		return err
	}
	if err := t.st.SetEvent(EventName, b); err != nil {
		return fmt.Errorf("set event: %w", err)
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

// newUUID derives a UUIDv7 from the transaction: its timestamp gives the
// 48-bit millisecond prefix, a hash of the transaction ID and a counter the
// rest. The same transaction yields the same IDs on every node.
func (t *txn) newUUID() string {
	t.nextID++
	h := sha256.New()
	h.Write([]byte(t.txID))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], t.nextID)
	h.Write(n[:])
	sum := h.Sum(nil)
	var u uuid.UUID
	ms := uint64(t.now.UnixMilli())
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	copy(u[6:], sum[:10])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	return u.String()
}

// decode reads a JSON request strictly: keys given twice in one object, keys
// that match a field only if case is ignored, unknown fields and trailing
// data are refused, with an error that names the key by its path.
func decode(args []byte, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		return invalid("body", "request body is empty")
	}
	if err := strictjson.Check(args, v, false); err != nil {
		var ke *strictjson.Error
		if errors.As(err, &ke) {
			return invalid(ke.Path, "%s", ke.Error())
		}
		return invalid("body", "malformed JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return invalid(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return invalid("body", "malformed JSON at byte %d: %v", se.Offset, se)
	default:
		return invalid("body", "malformed JSON: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}
