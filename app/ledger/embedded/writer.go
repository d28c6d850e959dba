package embedded

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// submission is one queued write.
type submission struct {
	ctx       context.Context
	org       string
	fn        string
	args      []byte
	transient map[string][]byte
	done      chan outcome // buffered, so the writer never blocks on it
}

type outcome struct {
	res ledger.Result
	err error
	// block, index and payload are what the transaction's receipt is built
	// from; Submit builds it, in the submitter's goroutine rather than the
	// writer's. block is nil when there is no receipt to build.
	block   *receipt.EmbeddedBlock
	index   int
	payload []byte
}

// accepted is a transaction the contract accepted, waiting for its block.
type accepted struct {
	s       *submission
	st      *txState
	record  []byte
	payload []byte
	result  []byte
}

// run is the writer goroutine: it gathers queued submissions into blocks
// until the queue is closed and drained.
func (l *Ledger) run() {
	defer close(l.done)
	for first := range l.queue {
		batch := []*submission{first}
		argBytes := len(first.args)
	gather:
		for len(batch) < l.cfg.MaxBlockTxs && argBytes < maxBlockArgs {
			select {
			case s, ok := <-l.queue:
				if !ok {
					break gather
				}
				batch = append(batch, s)
				argBytes += len(s.args)
			default:
				break gather
			}
		}
		l.commitBlock(batch)
	}
}

// commitBlock executes batch in order and commits the accepted transactions
// as one block, answering every submitter.
func (l *Ledger) commitBlock(batch []*submission) {
	l.state.Lock()
	failed := l.failed
	l.state.Unlock()
	if failed != nil {
		for _, s := range batch {
			s.done <- outcome{err: fmt.Errorf("embedded ledger failed earlier (%v): %w", failed, ledger.ErrUnavailable)}
		}
		return
	}

	tx, err := l.db.Begin(true)
	if err != nil {
		for _, s := range batch {
			s.done <- outcome{err: fmt.Errorf("begin block: %v: %w", err, ledger.ErrUnavailable)}
		}
		return
	}
	var acc []accepted
	// rollback drops the block and fails every submission not yet answered:
	// the accepted ones and those not yet executed.
	rollback := func(cause error, rest []*submission) {
		_ = tx.Rollback()
		err := fmt.Errorf("block aborted: %v: %w", cause, ledger.ErrUnavailable)
		for _, a := range acc {
			a.s.done <- outcome{err: err}
		}
		for _, s := range rest {
			s.done <- outcome{err: err}
		}
	}

	seen := map[string]bool{}
	for i, s := range batch {
		if err := s.ctx.Err(); err != nil {
			s.done <- outcome{err: err}
			continue
		}
		a, err := l.execute(tx, s, seen)
		if err != nil {
			s.done <- outcome{err: err}
			continue
		}
		writeSet, err := a.st.apply()
		if err == nil && l.testHookApply != nil {
			err = l.testHookApply(a.st)
		}
		if err == nil {
			a.record, a.payload, err = l.txRecord(a.st, s, writeSet)
		}
		if err != nil {
			// The block's bbolt transaction may now hold part of this
			// transaction's writes: drop the whole block.
			rollback(err, batch[i:])
			return
		}
		seen[a.st.txID] = true
		acc = append(acc, *a)
	}
	if len(acc) == 0 {
		_ = tx.Rollback()
		return
	}

	number := l.height + 1 // only the writer changes height
	hash, sb, enc, err := l.writeBlock(tx, number, acc)
	if err != nil {
		rollback(err, nil)
		return
	}
	if err := tx.Commit(); err != nil {
		// bbolt rolled back. When the file still ends at the previous
		// block, the commit failed before its meta page was written (a
		// full disk fails the page writes): nothing of the block is in the
		// file and the ledger goes on. Otherwise — the meta page was written
		// but its fsync failed — the file's contents are not known: stop
		// taking writes until reopened, when the chain is verified again.
		if l.headUnchanged() {
			l.log.Error("block commit failed; nothing of it was written, the ledger goes on", "block", number, "err", err)
		} else {
			l.state.Lock()
			l.failed = err
			l.state.Unlock()
			l.log.Error("block commit failed; the ledger refuses writes until restarted", "block", number, "err", err)
		}
		for _, a := range acc {
			a.s.done <- outcome{err: fmt.Errorf("commit block %d: %v: %w", number, err, ledger.ErrUnavailable)}
		}
		return
	}
	l.headHash = hash
	l.lastTime = acc[len(acc)-1].st.ts
	l.state.Lock()
	l.height = number
	close(l.committed)
	l.committed = make(chan struct{})
	l.state.Unlock()
	if l.onBlock != nil {
		txs := make([]appliedTx, len(acc))
		for i, a := range acc {
			txs[i] = appliedTx{txID: a.st.txID, puts: a.st.puts, privPuts: a.st.privPuts}
		}
		l.onBlock(number, enc, txs)
	}
	// The receipts of the block's transactions share its header, signature
	// and transaction tree: they are prepared once here, not read back from
	// the block for each receipt.
	records := make([][]byte, len(acc))
	for i, a := range acc {
		records[i] = a.record
	}
	rb, err := receipt.NewEmbeddedBlock(sb.header, sb.signature, records, l.signer)
	if err != nil {
		// The block is committed all the same; its receipts are then read
		// from it when asked for.
		l.log.Error("cannot prepare the receipts of a committed block", "block", number, "err", err)
	}
	for i, a := range acc {
		a.s.done <- outcome{res: ledger.Result{TxID: a.st.txID, Block: number, Payload: a.result},
			block: rb, index: i, payload: a.payload}
	}
}

// headUnchanged reports whether the file's head is still the last block this
// writer committed. Only the writer calls it.
func (l *Ledger) headUnchanged() bool {
	var m meta
	err := l.db.View(func(tx *bolt.Tx) (err error) { m, err = readMeta(tx); return err })
	return err == nil && m.height == l.height && m.head == l.headHash
}

// execute runs one submission with the contract. A returned error goes to
// the submitter; the transaction has then written nothing.
func (l *Ledger) execute(tx *bolt.Tx, s *submission, seen map[string]bool) (a *accepted, err error) {
	txID := l.cfg.TxIDs()
	if txID == "" || seen[txID] || tx.Bucket(bucketTxs).Get([]byte(txID)) != nil {
		return nil, fmt.Errorf("transaction ID %q is empty or already used", txID)
	}
	ts := l.cfg.Clock().UTC()
	if ts.Before(l.lastTime) {
		ts = l.lastTime
	}
	l.lastTime = ts
	st := newTxState(tx, false, txID, ts, s.org, s.transient)
	defer func() {
		// A panic in the contract must not take the node down; the staged
		// writes are simply dropped.
		if p := recover(); p != nil {
			l.log.Error("contract panicked", "fn", s.fn, "txId", txID, "panic", p)
			a, err = nil, fmt.Errorf("contract failed on %s: %v", s.fn, p)
		}
	}()
	out, err := l.contract.Invoke(st, s.fn, s.args)
	if err != nil {
		return nil, err
	}
	return &accepted{s: s, st: st, result: out}, nil
}

// txRecord builds the transaction's record (its Merkle leaf) and returns it
// with the event payload it commits to. In a block of header version 2 every
// digest of the record is a salted commitment (see salts.go); the write set
// enters as the commitment to its digest (state.go's apply). Version 1, plain
// digests, is written only by tests standing in for the previous build.
func (l *Ledger) txRecord(st *txState, s *submission, writeSet [32]byte) (record, payload []byte, err error) {
	commit := func(item byte, index int, content []byte) string {
		if l.headerVersion == receipt.HeaderVersionUnsalted {
			return receipt.Digest(content)
		}
		return receipt.Commit(l.salts.salt(st.txID, item, index), content)
	}
	rec := receipt.TxRecord{
		TxID:      st.txID,
		Timestamp: st.ts.Format(time.RFC3339Nano),
		Creator:   st.creator,
		Function:  s.fn,
		ArgsHash:  commit(saltArgs, 0, s.args),
		Events:    []receipt.EventDigest{},
	}
	// The write set's digest is what the commitment is over; version 1
	// recorded the digest itself.
	if l.headerVersion == receipt.HeaderVersionUnsalted {
		rec.WriteSetHash = "sha256:" + receipt.HexHash(writeSet)
	} else {
		rec.WriteSetHash = commit(saltWriteSet, 0, writeSet[:])
	}
	if st.eventName != "" {
		rec.EventName = st.eventName
		rec.PayloadHash = commit(saltPayload, 0, st.event)
		payload = st.event
		if st.eventName == contract.EventName {
			if rec.Events, err = eventDigests(st.event, func(i int, raw []byte) string { return commit(saltEvent, i, raw) }); err != nil {
				return nil, nil, fmt.Errorf("event payload of %s: %w", st.txID, err)
			}
		}
	}
	record, err = json.Marshal(rec)
	return record, payload, err
}

// eventDigests returns the digest of each event in a [contract.WriteEvent]
// payload, as digest gives it for event i's bytes exactly as the contract
// wrote them.
func eventDigests(payload []byte, digest func(i int, raw []byte) string) ([]receipt.EventDigest, error) {
	events, err := payloadEvents(payload)
	if err != nil {
		return nil, err
	}
	out := make([]receipt.EventDigest, len(events))
	for i, raw := range events {
		id, err := eventID(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out[i] = receipt.EventDigest{EventID: id, Digest: digest(i, raw)}
	}
	return out, nil
}

// eventIDPrefix is how every event the contract encodes begins (EventID is
// the first field of contract.Event); reading the ID from there spares a
// full decode of each event of a bulk transaction.
const eventIDPrefix = `{"eventId":"`

// eventID returns the eventId of one encoded event.
func eventID(raw []byte) (string, error) {
	if rest, ok := bytes.CutPrefix(raw, []byte(eventIDPrefix)); ok {
		if end := bytes.IndexByte(rest, '"'); end > 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end]), nil
		}
	}
	var e struct {
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", err
	}
	if e.EventID == "" {
		return "", errors.New("event has no eventId")
	}
	return e.EventID, nil
}

// writeBlock builds, signs and stores block number over acc, with the
// transaction index and the new head, and returns the block hash and the
// block, decoded and encoded.
func (l *Ledger) writeBlock(tx *bolt.Tx, number uint64, acc []accepted) (hash [32]byte, sb *storedBlock, enc []byte, err error) {
	leaves := make([]receipt.Hash, len(acc))
	sb = &storedBlock{txs: make([]storedTx, len(acc))}
	for i, a := range acc {
		leaves[i] = receipt.LeafHash(a.record)
		sb.txs[i] = storedTx{record: a.record, payload: a.payload}
	}
	h := receipt.Header{
		Version:  l.headerVersion,
		Number:   number,
		PrevHash: receipt.HexHash(l.headHash),
		TxRoot:   receipt.HexHash(receipt.MerkleRoot(leaves)),
		TxCount:  len(acc),
		Time:     acc[len(acc)-1].st.ts.Format(time.RFC3339Nano),
	}
	if sb.header, err = json.Marshal(h); err != nil {
		return hash, nil, nil, err
	}
	hash = receipt.HeaderHash(sb.header)
	if sb.signature, err = ecdsa.SignASN1(rand.Reader, l.key, hash[:]); err != nil {
		return hash, nil, nil, fmt.Errorf("sign block %d: %w", number, err)
	}
	enc = encodeBlock(sb)
	txIDs := make([]string, len(acc))
	for i, a := range acc {
		txIDs[i] = a.st.txID
	}
	if err := storeBlock(tx, number, enc, txIDs, hash); err != nil {
		return hash, nil, nil, err
	}
	return hash, sb, enc, nil
}
