package embedded

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Replay writes a ledger's committed blocks again into a fresh bbolt file,
// with the ledger's file options, bucket layout, data format, write order and
// block encoding, to time what the store alone takes for them: the
// benchmarks' ceiling (app/bench and this package's benchmarks). Each block
// is first executed ([Replay.Prepare], untimed): its transactions run again
// with the contract over the replayed state, exactly as the ledger's writer
// runs them, which yields their write sets and event payloads. Then
// [Replay.Write] writes the block — its write sets, the encoded block (the
// header and signature given, the records given and the payloads just
// made), the transaction index and the head — in one bbolt transaction,
// fsynced, and only that is timed.
//
// Because the writer and Replay share the code that writes (storeWriteSet,
// storeBlock, encodeBlock, boltOptions), a change of the ledger's format
// changes the replay with it; TestReplayMatchesLedger checks that a replayed
// file holds what the ledger wrote, byte for byte.
type Replay struct {
	db *bolt.DB
	cc *contract.Contract
}

// ReplayTx is one committed transaction to replay: what was submitted, and
// its place and record in its block.
type ReplayTx struct {
	TxID      string
	Time      time.Time
	Creator   string // the submitting MSP ID
	Function  string
	Args      []byte
	Transient map[string][]byte
	// Record is the transaction's record exactly as its block holds it.
	Record []byte
}

// ReplayBlock is one committed block: its header and signature exactly as
// stored, and its transactions in order. A block with no Header is a group
// of set-up transactions whose block is not known: Write then writes their
// write sets and index entries but no block.
type ReplayBlock struct {
	Number    uint64
	Header    []byte
	Signature []byte
	Txs       []ReplayTx
}

// ReplayedTx is what executing one transaction again gave.
type ReplayedTx struct {
	// Err is the contract's refusal, or its panic; the transaction is then
	// left out of what is written.
	Err error
	// WriteSet is the write set's plain digest, as the ledger computes it
	// before committing to it (see [Ledger.WriteSetCommitment]).
	WriteSet [32]byte
	// Events counts the lifecycle events of its chaincode event.
	Events int
}

// PreparedBlock is a block executed and ready to be written.
type PreparedBlock struct {
	// Txs has one entry per transaction of the ReplayBlock, in order.
	Txs    []ReplayedTx
	number uint64
	enc    []byte // nil: no block (set-up transactions)
	head   [32]byte
	txIDs  []string
	writes []appliedTx
}

// NewReplay creates a fresh file at path (which must not exist) with the
// ledger's options (fsync on) and initialises it as the ledger does.
func NewReplay(path string) (*Replay, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(DefaultLockTimeout, false))
	if err != nil {
		return nil, err
	}
	fresh := true
	if err := db.View(func(tx *bolt.Tx) error { fresh = tx.Bucket(bucketMeta) == nil; return nil }); err != nil || !fresh {
		db.Close()
		return nil, errors.Join(err, fmt.Errorf("replay: %s is not a new file", path))
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, err
	}
	return &Replay{db: db, cc: contract.New()}, nil
}

// Close closes the file.
func (r *Replay) Close() error { return r.db.Close() }

// Prepare executes b's transactions in order over the file's state, each
// seeing the writes of the block's earlier ones, in a bbolt transaction that
// is then rolled back: nothing is written and nothing is timed. A
// transaction the contract refuses now is reported in its ReplayedTx and
// left out of the block.
func (r *Replay) Prepare(b ReplayBlock) (*PreparedBlock, error) {
	tx, err := r.db.Begin(true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p := &PreparedBlock{Txs: make([]ReplayedTx, len(b.Txs)), number: b.Number}
	sb := &storedBlock{header: b.Header, signature: b.Signature}
	for i, t := range b.Txs {
		st := newTxState(tx, false, t.TxID, t.Time, t.Creator, t.Transient)
		if err := r.invoke(st, t); err != nil {
			p.Txs[i].Err = err
			continue
		}
		ws, err := st.apply()
		if err != nil {
			return nil, fmt.Errorf("replay transaction %s: %w", t.TxID, err)
		}
		p.Txs[i].WriteSet = ws
		if st.eventName == contract.EventName {
			events, err := payloadEvents(st.event)
			if err != nil {
				return nil, fmt.Errorf("replay transaction %s: event payload: %w", t.TxID, err)
			}
			p.Txs[i].Events = len(events)
		}
		p.txIDs = append(p.txIDs, t.TxID)
		p.writes = append(p.writes, appliedTx{txID: t.TxID, puts: st.puts, privPuts: st.privPuts})
		sb.txs = append(sb.txs, storedTx{record: t.Record, payload: st.event})
	}
	if b.Header != nil {
		p.enc = encodeBlock(sb)
		p.head = receipt.HeaderHash(b.Header)
	}
	return p, nil
}

// invoke runs one transaction with the contract, a panic included as the
// writer takes it.
func (r *Replay) invoke(st *txState, t ReplayTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("contract failed on %s: %v", t.Function, p)
		}
	}()
	_, err = r.cc.Invoke(st, t.Function, t.Args)
	return err
}

// Write writes a prepared block in one fsynced bbolt transaction — its
// transactions' writes, then the block, the index entries and the head, as
// the ledger's writer does — and returns how long that transaction took.
func (r *Replay) Write(p *PreparedBlock) (time.Duration, error) {
	start := time.Now()
	err := r.db.Update(func(tx *bolt.Tx) error { return writePrepared(tx, p) })
	return time.Since(start), err
}

func writePrepared(tx *bolt.Tx, p *PreparedBlock) error {
	state, private := tx.Bucket(bucketState), tx.Bucket(bucketPrivate)
	for _, w := range p.writes {
		if err := storeWriteSet(state, private, w.puts, w.privPuts); err != nil {
			return err
		}
	}
	if p.enc == nil {
		txs := tx.Bucket(bucketTxs)
		for i, id := range p.txIDs {
			if err := txs.Put([]byte(id), txIndexValue(p.number, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return storeBlock(tx, p.number, p.enc, p.txIDs, p.head)
}

// preparedFromCommitted is a block as the writer committed it (onBlock), replayed
// as it is by this package's benchmarks, with no execution.
func preparedFromCommitted(number uint64, enc []byte, txs []appliedTx) (*PreparedBlock, error) {
	b, err := decodeBlock(enc)
	if err != nil {
		return nil, err
	}
	p := &PreparedBlock{number: number, enc: enc, head: receipt.HeaderHash(b.header), writes: txs}
	for _, t := range txs {
		p.txIDs = append(p.txIDs, t.txID)
	}
	return p, nil
}
