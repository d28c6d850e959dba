package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The embedded ledger's ceiling is the store's raw durable write rate for
// the writes a run committed, in the blocks it committed them in: the same
// group commit. After the run, every committed transaction is executed again
// by the contract (untimed) over the raw file's state to recover its exact
// write set; the block's header, signature and transaction records come
// from the run's receipts. Then each block is written into a fresh bbolt
// file with the ledger's options — state and private writes, the
// transaction index, the encoded block and the head — as one fsynced bbolt
// transaction, and only those transactions are timed. What is left out is
// what tokentrail adds: HTTP, JSON, the contract, hashing, signing and
// queueing. (The same method as app/ledger/embedded's benchmarks, which
// record the write sets in process.)

// Buckets and keys of the embedded ledger's file (docs/embedded-ledger.md).
var (
	bucketState   = []byte("state")
	bucketPrivate = []byte("private")
	bucketBlocks  = []byte("blocks")
	bucketTxs     = []byte("txs")
	bucketMeta    = []byte("meta")
)

// replayTx is one ledger transaction as the server submits it.
type replayTx struct {
	fn, org   string
	args      []byte
	transient map[string][]byte
}

// CeilingResult is the raw store's rate for the run's writes.
type CeilingResult struct {
	Kind          string  `json:"kind"`
	Transactions  int     `json:"transactions"`
	Blocks        int     `json:"blocks"`
	TxPerBlock    float64 `json:"txPerBlock"`
	Events        int64   `json:"events"`
	RawSeconds    float64 `json:"rawSeconds"`
	RawEventsPerS float64 `json:"rawEventsPerS"`
	Ratio         float64 `json:"ratio"` // the run's events/s ÷ RawEventsPerS
	Failures      int     `json:"failures,omitempty"`
	// ExactWriteSets counts the replayed transactions whose write set hashes
	// to the writeSetHash of the ledger's own transaction record.
	ExactWriteSets int `json:"exactWriteSets"`
	// SaltedWriteSets counts the replayed transactions that hash otherwise
	// because they are trades: the server drew the salts of their private
	// values, which never leave it, so the replay draws its own. Their write
	// sets have the same keys and the same sizes.
	SaltedWriteSets int `json:"saltedWriteSets,omitempty"`
	// UncheckedWriteSets counts the replayed transactions whose record's
	// writeSetHash is a salted commitment (header version 2) that the run
	// could not open: the salts are the node's secret, and no
	// [Config.WriteSetCommitment] was given.
	UncheckedWriteSets int `json:"uncheckedWriteSets,omitempty"`
}

// placed is a committed transaction with its place in the ledger.
type placed struct {
	tx     *replayTx
	block  uint64
	leaf   uint64
	txID   string
	time   time.Time
	header []byte
	sig    []byte
	record []byte
	// writeSetHash is the record's writeSetHash; committed says it is a
	// salted commitment (header version 2) rather than the plain digest.
	writeSetHash string
	committed    bool
}

// embeddedReceipt holds the fields of an embedded receipt the ceiling needs.
type embeddedReceipt struct {
	Kind        string `json:"kind"`
	BlockNumber uint64 `json:"blockNumber"`
	Embedded    *struct {
		Header    json.RawMessage `json:"header"`
		Signature string          `json:"signature"`
		Tx        json.RawMessage `json:"tx"`
		Proof     struct {
			LeafIndex uint64 `json:"leafIndex"`
		} `json:"proof"`
	} `json:"embedded"`
}

func (r *embeddedReceipt) place(tx *replayTx) (placed, error) {
	if r.Kind != "embedded" || r.Embedded == nil {
		return placed{}, fmt.Errorf("the ceiling needs the embedded ledger's receipts (got kind %q)", r.Kind)
	}
	sig, err := hex.DecodeString(r.Embedded.Signature)
	if err != nil {
		return placed{}, fmt.Errorf("receipt signature: %w", err)
	}
	var rec struct {
		TxID         string `json:"txId"`
		Timestamp    string `json:"timestamp"`
		WriteSetHash string `json:"writeSetHash"`
	}
	if err := json.Unmarshal(r.Embedded.Tx, &rec); err != nil {
		return placed{}, fmt.Errorf("receipt transaction record: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, rec.Timestamp)
	if err != nil {
		return placed{}, fmt.Errorf("receipt transaction time: %w", err)
	}
	var h struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(r.Embedded.Header, &h); err != nil {
		return placed{}, fmt.Errorf("receipt block header: %w", err)
	}
	return placed{tx: tx, block: r.BlockNumber, leaf: r.Embedded.Proof.LeafIndex, txID: rec.TxID, time: ts,
		header: r.Embedded.Header, sig: sig, record: r.Embedded.Tx, writeSetHash: rec.WriteSetHash, committed: h.Version >= 2}, nil
}

// locate finds where each committed transaction of the run went: from the
// receipt in a single write's answer, or, for bulk chunks, from the receipt
// of the chunk's first event (fetched now, untimed).
func locate(ctx context.Context, cl *client, all []committed) ([]placed, error) {
	var out []placed
	for _, cm := range all {
		if len(cm.replay) == 1 && !bytes.Contains(cm.body[:min(len(cm.body), 32)], []byte(`"results"`)) {
			var w struct {
				Receipt embeddedReceipt `json:"receipt"`
			}
			if err := json.Unmarshal(cm.body, &w); err != nil {
				return nil, err
			}
			p, err := w.Receipt.place(cm.replay[0])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		var br contract.BulkTradeResult
		if err := json.Unmarshal(cm.body, &br); err != nil {
			return nil, err
		}
		// Chunks are consecutive in the answer; each starts a new txId.
		chunk, last := -1, ""
		for _, it := range br.Results {
			if it.TxID == last {
				continue
			}
			last = it.TxID
			chunk++
			if chunk >= len(cm.replay) {
				return nil, fmt.Errorf("bulk answer has more transactions than the %d chunks sent", len(cm.replay))
			}
			if it.Status != contract.BulkCommitted {
				return nil, fmt.Errorf("bulk trade %s: %s", it.TradeID, it.Status)
			}
			b, err := cl.mustDo(ctx, "GET", "/api/v1/events/"+url.PathEscape(it.EventID)+"/receipt", orgExchange, nil)
			if err != nil {
				return nil, err
			}
			var r embeddedReceipt
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, err
			}
			p, err := r.place(cm.replay[chunk])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].block != out[j].block {
			return out[i].block < out[j].block
		}
		return out[i].leaf < out[j].leaf
	})
	return out, nil
}

// Ceiling measures the raw store's rate for the committed transactions all,
// after replaying setup (the consortium and the scenario's set-up writes)
// into the same file untimed.
func Ceiling(ctx context.Context, c Config, cl *client, setup []committed, all []committed) (*CeilingResult, error) {
	txs, err := locate(ctx, cl, all)
	if err != nil {
		return nil, err
	}
	setupTxs, err := locate(ctx, cl, setup)
	if err != nil {
		return nil, err
	}
	if len(txs) == 0 {
		return nil, errors.New("no committed transactions to replay")
	}
	dir, err := os.MkdirTemp(c.CeilingDir, "tokentrail-ceiling-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketState, bucketPrivate, bucketBlocks, bucketTxs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	cc := contract.New()

	// Set-up, untimed: the development consortium, then the scenario's own.
	orgs := auth.DevConsortium()
	pre := []*replayTx{{fn: contract.FnBootstrap, org: orgs[0].MSPID,
		args: mustJSON(contract.BootstrapRequest{Name: orgs[0].Name, Region: orgs[0].Region})}}
	for _, o := range orgs[1:] {
		pre = append(pre, &replayTx{fn: contract.FnRegisterParticipant, org: orgs[0].MSPID,
			args: mustJSON(contract.RegisterParticipantRequest{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region})})
	}
	t0 := time.Now().Add(-time.Hour)
	var prePlaced []placed
	for i, s := range pre {
		prePlaced = append(prePlaced, placed{tx: s, txID: fmt.Sprintf("setup-%d", i), time: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	for _, p := range append(prePlaced, setupTxs...) {
		ws, err := execute(db, cc, []placed{p})
		if err != nil {
			return nil, err
		}
		if ws[0].err != nil {
			return nil, fmt.Errorf("set-up %s: %w", p.tx.fn, ws[0].err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return writeSets(tx, ws) }); err != nil {
			return nil, err
		}
	}

	res := &CeilingResult{Kind: "embedded: bbolt, same blocks, fsync per block", Transactions: len(txs)}
	var timed time.Duration
	for i := 0; i < len(txs); {
		j := i
		for j < len(txs) && txs[j].block == txs[i].block {
			j++
		}
		group := txs[i:j]
		ws, err := execute(db, cc, group)
		if err != nil {
			return nil, err
		}
		var ok []writeSet
		for _, w := range ws {
			if w.err != nil {
				res.Failures++
				continue
			}
			res.Events += int64(w.events)
			recorded := "sha256:" + hex.EncodeToString(w.hash[:])
			if w.p.committed {
				recorded = ""
				if c.WriteSetCommitment != nil {
					recorded = c.WriteSetCommitment(w.p.txID, w.hash)
				}
			}
			switch {
			case recorded == "":
				res.UncheckedWriteSets++
			case recorded == w.p.writeSetHash:
				res.ExactWriteSets++
			case w.p.tx.transient[contract.TransientSalts] != nil:
				res.SaltedWriteSets++
			}
			ok = append(ok, w)
		}
		enc := encodeBlock(group[0].header, group[0].sig, ok)
		start := time.Now()
		err = db.Update(func(tx *bolt.Tx) error {
			if err := writeSets(tx, ok); err != nil {
				return err
			}
			b := tx.Bucket(bucketBlocks)
			b.FillPercent = 0.95
			if err := b.Put(binary.BigEndian.AppendUint64(nil, group[0].block), enc); err != nil {
				return err
			}
			var head [32]byte
			m := tx.Bucket(bucketMeta)
			if err := m.Put([]byte("height"), binary.BigEndian.AppendUint64(nil, group[0].block)); err != nil {
				return err
			}
			return m.Put([]byte("head"), head[:])
		})
		timed += time.Since(start)
		if err != nil {
			return nil, err
		}
		res.Blocks++
		i = j
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.TxPerBlock = float64(res.Transactions) / float64(res.Blocks)
	res.RawSeconds = timed.Seconds()
	res.RawEventsPerS = float64(res.Events) / timed.Seconds()
	return res, nil
}

// writeSet is what one replayed transaction writes.
type writeSet struct {
	p       placed
	puts    map[string][]byte            // nil value: delete
	private map[string]map[string][]byte // collection → key → value (nil: purge)
	event   []byte
	events  int
	hash    [32]byte // as the embedded ledger hashes a write set, before its commitment
	err     error
}

// execute runs the contract for each transaction of one block in order, each
// seeing the committed state and the writes of the block's earlier ones.
func execute(db *bolt.DB, cc *contract.Contract, group []placed) ([]writeSet, error) {
	rtx, err := db.Begin(false)
	if err != nil {
		return nil, err
	}
	defer rtx.Rollback()
	ov := &replayState{rtx: rtx, puts: map[string][]byte{}, private: map[string]map[string][]byte{}}
	out := make([]writeSet, len(group))
	for i, p := range group {
		st := &replayTx2{base: ov, p: p, puts: map[string][]byte{}, private: map[string]map[string][]byte{}}
		_, err := cc.Invoke(st, p.tx.fn, p.tx.args)
		out[i] = writeSet{p: p, puts: st.puts, private: st.private, event: st.event, err: err}
		if err != nil {
			continue
		}
		var we contract.WriteEvent
		if json.Unmarshal(st.event, &we) == nil {
			out[i].events = len(we.Events)
		}
		out[i].hash = hashWriteSet(st.puts, st.private)
		for k, v := range st.puts {
			ov.puts[k] = v
		}
		for c, kv := range st.private {
			if ov.private[c] == nil {
				ov.private[c] = map[string][]byte{}
			}
			for k, v := range kv {
				ov.private[c][k] = v
			}
		}
	}
	return out, nil
}

// writeSets applies write sets and the transaction index in one bbolt
// transaction, keys in order (as the ledger writes them).
func writeSets(tx *bolt.Tx, ws []writeSet) error {
	st, priv, idx := tx.Bucket(bucketState), tx.Bucket(bucketPrivate), tx.Bucket(bucketTxs)
	for i, w := range ws {
		for _, k := range sortedKeys(w.puts) {
			var err error
			if v := w.puts[k]; v == nil {
				err = st.Delete([]byte(k))
			} else {
				err = st.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		for _, c := range sortedKeys(w.private) {
			cb, err := priv.CreateBucketIfNotExists([]byte(c))
			if err != nil {
				return err
			}
			for _, k := range sortedKeys(w.private[c]) {
				if v := w.private[c][k]; v == nil {
					err = cb.Delete([]byte(k))
				} else {
					err = cb.Put([]byte(k), v)
				}
				if err != nil {
					return err
				}
			}
		}
		v := binary.BigEndian.AppendUint64(nil, w.p.block)
		v = binary.BigEndian.AppendUint32(v, uint32(i))
		if err := idx.Put([]byte(w.p.txID), v); err != nil {
			return err
		}
	}
	return nil
}

// encodeBlock encodes a block as the embedded ledger stores it: version,
// then length-prefixed header, signature, the transaction count and each
// transaction's record and event payload.
func encodeBlock(header, sig []byte, ws []writeSet) []byte {
	out := []byte{1}
	app := func(b []byte) { out = binary.AppendUvarint(out, uint64(len(b))); out = append(out, b...) }
	app(header)
	app(sig)
	out = binary.AppendUvarint(out, uint64(len(ws)))
	for _, w := range ws {
		app(w.p.record)
		app(w.event)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// replayState is a block's view: the committed file plus the writes of the
// block's transactions executed so far.
type replayState struct {
	rtx     *bolt.Tx
	puts    map[string][]byte
	private map[string]map[string][]byte
}

// replayTx2 is one transaction over a replayState: reads see the state
// before it; writes are staged.
type replayTx2 struct {
	base    *replayState
	p       placed
	puts    map[string][]byte
	private map[string]map[string][]byte
	event   []byte
}

var _ contract.State = (*replayTx2)(nil)

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (t *replayTx2) Get(key string) ([]byte, error) {
	if v, ok := t.base.puts[key]; ok {
		return clone(v), nil
	}
	return clone(t.base.rtx.Bucket(bucketState).Get([]byte(key))), nil
}

func (t *replayTx2) GetMultiple(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := t.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (t *replayTx2) StartWriteBatch()        {}
func (t *replayTx2) FinishWriteBatch() error { return nil }

func (t *replayTx2) Put(key string, value []byte) error {
	t.puts[key] = clone(value)
	return nil
}

func (t *replayTx2) Delete(key string) error {
	t.puts[key] = nil
	return nil
}

func (t *replayTx2) Range(start, end string, fn func(string, []byte) (bool, error)) error {
	return mergeRange(t.base.rtx.Bucket(bucketState), t.base.puts, start, end, fn)
}

func (t *replayTx2) GetPrivate(collection, key string) ([]byte, error) {
	if v, ok := t.base.private[collection][key]; ok {
		return clone(v), nil
	}
	if b := t.base.rtx.Bucket(bucketPrivate).Bucket([]byte(collection)); b != nil {
		return clone(b.Get([]byte(key))), nil
	}
	return nil, nil
}

func (t *replayTx2) PutPrivate(collection, key string, value []byte) error {
	if t.private[collection] == nil {
		t.private[collection] = map[string][]byte{}
	}
	t.private[collection][key] = clone(value)
	return nil
}

func (t *replayTx2) PurgePrivate(collection, key string) error {
	if t.private[collection] == nil {
		t.private[collection] = map[string][]byte{}
	}
	t.private[collection][key] = nil
	return nil
}

func (t *replayTx2) RangePrivate(collection, start, end string, fn func(string, []byte) (bool, error)) error {
	return mergeRange(t.base.rtx.Bucket(bucketPrivate).Bucket([]byte(collection)), t.base.private[collection], start, end, fn)
}

func (t *replayTx2) Transient() (map[string][]byte, error) {
	if t.p.tx.transient == nil {
		return map[string][]byte{}, nil
	}
	return t.p.tx.transient, nil
}

func (t *replayTx2) SetEvent(name string, payload []byte) error {
	t.event = clone(payload)
	return nil
}

func (t *replayTx2) TxID() string               { return t.p.txID }
func (t *replayTx2) TxTime() (time.Time, error) { return t.p.time, nil }
func (t *replayTx2) Creator() (string, error)   { return t.p.tx.org, nil }

// mergeRange calls fn for the keys in [start, end) of b overlaid with ov
// (where a nil value hides the key), in ascending order.
func mergeRange(b *bolt.Bucket, ov map[string][]byte, start, end string, fn func(string, []byte) (bool, error)) error {
	var ks []string
	for k := range ov {
		if k >= start && (end == "" || k < end) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var ck, cv []byte
	var cur *bolt.Cursor
	if b != nil {
		cur = b.Cursor()
		ck, cv = cur.Seek([]byte(start))
	}
	inRange := func(k []byte) bool { return k != nil && (end == "" || string(k) < end) }
	i := 0
	for {
		haveC, haveO := inRange(ck), i < len(ks)
		if !haveC && !haveO {
			return nil
		}
		var k string
		var v []byte
		switch {
		case haveO && (!haveC || ks[i] <= string(ck)):
			k, v = ks[i], ov[ks[i]]
			if haveC && ks[i] == string(ck) {
				ck, cv = cur.Next()
			}
			i++
			if v == nil {
				continue
			}
		default:
			k, v = string(ck), cv
			ck, cv = cur.Next()
		}
		more, err := fn(k, clone(v))
		if err != nil || !more {
			return err
		}
	}
}

// hashWriteSet hashes a write set the way the embedded ledger does for the
// writeSetHash of its transaction records (app/ledger/embedded/state.go), so
// a replay can be checked against what the ledger actually wrote: the
// record holds this digest (header version 1) or the node's salted
// commitment to it (version 2).
func hashWriteSet(puts map[string][]byte, private map[string]map[string][]byte) [32]byte {
	h := sha256.New()
	var buf []byte
	lp := func(b []byte) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(b)))
		h.Write(buf)
		h.Write(b)
	}
	for _, k := range sortedKeys(puts) {
		h.Write([]byte{'P'})
		lp([]byte(k))
		if v := puts[k]; v == nil {
			h.Write([]byte{'D'})
		} else {
			h.Write([]byte{'S'})
			lp(v)
		}
	}
	for _, c := range sortedKeys(private) {
		for _, k := range sortedKeys(private[c]) {
			h.Write([]byte{'C'})
			lp([]byte(c))
			lp([]byte(k))
			if v := private[c][k]; v == nil {
				h.Write([]byte{'D'})
			} else {
				h.Write([]byte{'S'})
				sum := sha256.Sum256(v)
				h.Write(sum[:])
			}
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
