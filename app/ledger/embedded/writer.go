package embedded

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
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
// until the queue is closed and drained. It executes a block while the block
// before is being committed (see executeBlock); with [Config.NoPipeline] it
// waits for each block's commit before it gathers the next.
func (l *Ledger) run() {
	defer close(l.done)
	var inflight *pendingBlock
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
		inflight = l.executeBlock(batch, inflight)
		if l.cfg.NoPipeline && inflight != nil {
			<-inflight.done
			inflight = nil
		}
	}
	if inflight != nil {
		<-inflight.done
	}
}

// commitBlock executes batch in order and commits the accepted transactions
// as one block, answering every submitter, and returns once it is done.
func (l *Ledger) commitBlock(batch []*submission) {
	if b := l.executeBlock(batch, nil); b != nil {
		<-b.done
	}
}

// pendingBlock is a block the writer executed, built and signed, handed to
// commitPending, which writes and commits it in its own goroutine.
type pendingBlock struct {
	number uint64
	hash   [32]byte
	sb     *storedBlock
	enc    []byte
	acc    []accepted
	// writes is what acc writes, merged: the overlay the next block is
	// executed over until this one is committed.
	writes *blockWrites
	done   chan struct{} // closed when the block is committed or has failed
	err    error         // set before done is closed when it failed
}

// refusal is a submission the contract refused.
type refusal struct {
	s   *submission
	err error
}

// executeBlock executes batch in order over the committed state and, when
// prev is not nil, the writes of prev, the block before, which may still be
// being committed. It then builds and signs the block of the accepted
// transactions, waits for prev, and hands the block to commitPending,
// returning it. It returns nil when nothing is left in flight.
//
// Every submitter is answered only once everything its answer rests on is
// known: a refusal once prev is committed (the refusal may rest on prev's
// writes), an accepted transaction once its own block is committed. If prev
// fails, the transactions executed over its writes are failed with
// [ledger.ErrUnavailable] and nothing of them is committed.
func (l *Ledger) executeBlock(batch []*submission, prev *pendingBlock) *pendingBlock {
	failAll := func(subs []*submission, err error) {
		for _, s := range subs {
			s.done <- outcome{err: err}
		}
	}
	if prev != nil {
		select {
		case <-prev.done:
			// Committed (or failed) already: the committed head is the
			// parent, and nothing of prev is executed over.
			prev = nil
		default:
		}
	}
	l.state.Lock()
	failed := l.failed
	l.state.Unlock()
	if failed != nil {
		failAll(batch, fmt.Errorf("embedded ledger failed earlier (%v): %w", failed, ledger.ErrUnavailable))
		return prev
	}
	rtx, err := l.db.Begin(false)
	if err != nil {
		failAll(batch, fmt.Errorf("begin block: %v: %w", err, ledger.ErrUnavailable))
		return prev
	}

	// The block's number and parent: prev's when it is in flight (if prev
	// fails, this block is dropped), else the committed head's, which no
	// one changes while no block is in flight.
	var number uint64
	var parent [32]byte
	var over overlay
	if prev != nil {
		number, parent = prev.number+1, prev.hash
		// prev may have committed before rtx began: then rtx holds its
		// writes already.
		if committedHeight(rtx) < prev.number {
			over = append(over, prev.writes)
		}
	} else {
		l.state.Lock()
		number = l.height + 1
		l.state.Unlock()
		parent = l.headHash
	}
	writes := newBlockWrites()
	over = append(over, writes)

	var acc []accepted
	var refused []refusal
	var abort error
	// take executes s into the block; it returns false when that aborted
	// the block.
	take := func(s *submission) bool {
		if err := s.ctx.Err(); err != nil {
			s.done <- outcome{err: err}
			return true
		}
		a, err := l.execute(rtx, over, s)
		if err != nil {
			refused = append(refused, refusal{s, err})
			return true
		}
		writeSet := hashWriteSet(a.st.puts, a.st.privPuts)
		if l.testHookApply != nil {
			err = l.testHookApply(a.st)
		}
		if err == nil {
			a.record, a.payload, err = l.txRecord(a.st, s, writeSet)
		}
		if err != nil {
			// Drop the whole block, as a failed write drops it.
			abort = fmt.Errorf("block aborted: %v: %w", err, ledger.ErrUnavailable)
			s.done <- outcome{err: abort}
			return false
		}
		writes.add(a.st)
		acc = append(acc, *a)
		return true
	}
	argBytes := 0
	for i, s := range batch {
		argBytes += len(s.args)
		if !take(s) {
			failAll(batch[i+1:], abort)
			break
		}
	}
	// While prev is being committed the writer would only wait: it takes
	// what is queued meanwhile, and what arrives until prev is done, into
	// this block instead, as the sequential writer would have found it
	// queued after prev's commit. Fewer, larger blocks cost less CPU per
	// transaction.
	if prev != nil && abort == nil {
	extend:
		for n := len(batch); n < l.cfg.MaxBlockTxs && argBytes < maxBlockArgs; n++ {
			var s *submission
			var ok bool
			select {
			case <-prev.done:
				break extend
			case s, ok = <-l.queue:
			default:
				// Nothing queued: wait for a submission or for prev with no
				// read transaction open, since bbolt's commit of prev may
				// need to remap the file, which waits for readers.
				if rtx != nil {
					_ = rtx.Rollback()
					rtx = nil
				}
				select {
				case <-prev.done:
					break extend
				case s, ok = <-l.queue:
				}
			}
			if !ok {
				break extend
			}
			if rtx == nil {
				// The new read transaction may hold prev already; prev's
				// layer of the overlay then repeats what it holds.
				if rtx, err = l.db.Begin(false); err != nil {
					abort = fmt.Errorf("block aborted: begin read: %v: %w", err, ledger.ErrUnavailable)
					s.done <- outcome{err: abort}
					break extend
				}
			}
			argBytes += len(s.args)
			if !take(s) {
				break extend
			}
		}
	}
	// The read transaction ends before anything waits for prev (see above).
	if rtx != nil {
		_ = rtx.Rollback()
	}

	var b *pendingBlock
	if abort == nil && len(acc) > 0 {
		b = &pendingBlock{number: number, acc: acc, writes: writes, done: make(chan struct{})}
		if b.hash, b.sb, b.enc, err = l.buildBlock(number, parent, acc); err != nil {
			abort = fmt.Errorf("block aborted: %v: %w", err, ledger.ErrUnavailable)
			b = nil
		}
	}
	if abort != nil {
		for _, a := range acc {
			a.s.done <- outcome{err: abort}
		}
	}

	if prev != nil {
		<-prev.done
		if prev.err != nil {
			err := fmt.Errorf("block %d, which this transaction was executed after, was not committed: %v: %w",
				prev.number, prev.err, ledger.ErrUnavailable)
			for _, r := range refused {
				r.s.done <- outcome{err: err}
			}
			if b != nil {
				for _, a := range b.acc {
					a.s.done <- outcome{err: err}
				}
			}
			return nil
		}
	}
	for _, r := range refused {
		r.s.done <- outcome{err: r.err}
	}
	if b == nil {
		return nil
	}
	go l.commitPending(b)
	return b
}

// committedHeight returns the height of the last block committed as of tx.
func committedHeight(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bucketMeta).Get(metaHeight)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// commitPending writes block b, its transactions' writes and the new head in
// one bbolt transaction and commits it, then answers b's submitters. It runs
// in its own goroutine, one block at a time: the writer starts it only once
// the block before is done.
func (l *Ledger) commitPending(b *pendingBlock) {
	defer close(b.done)
	fail := func(err error) {
		b.err = err
		for _, a := range b.acc {
			a.s.done <- outcome{err: fmt.Errorf("commit block %d: %v: %w", b.number, err, ledger.ErrUnavailable)}
		}
	}
	tx, err := l.db.Begin(true)
	if err != nil {
		fail(fmt.Errorf("begin block: %w", err))
		return
	}
	state, private := tx.Bucket(bucketState), tx.Bucket(bucketPrivate)
	txIDs := make([]string, len(b.acc))
	for i, a := range b.acc {
		if err := storeWriteSet(state, private, a.st.puts, a.st.privPuts); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("block aborted: %w", err))
			return
		}
		txIDs[i] = a.st.txID
	}
	if err := storeBlock(tx, b.number, b.enc, txIDs, b.hash); err != nil {
		_ = tx.Rollback()
		fail(fmt.Errorf("block aborted: %w", err))
		return
	}
	commit := tx.Commit
	if l.testHookCommit != nil {
		if err := l.testHookCommit(b.number); err != nil {
			commit = func() error { _ = tx.Rollback(); return err }
		}
	}
	if err := commit(); err != nil {
		// bbolt rolled back. When the file still ends at the previous
		// block, the commit failed before its meta page was written (a
		// full disk fails the page writes): nothing of the block is in the
		// file and the ledger goes on. Otherwise — the meta page was written
		// but its fsync failed — the file's contents are not known: stop
		// taking writes until reopened, when the chain is verified again.
		if l.headUnchanged() {
			l.log.Error("block commit failed; nothing of it was written, the ledger goes on", "block", b.number, "err", err)
		} else {
			l.state.Lock()
			l.failed = err
			l.state.Unlock()
			l.log.Error("block commit failed; the ledger refuses writes until restarted", "block", b.number, "err", err)
		}
		fail(err)
		return
	}
	acc := b.acc
	l.headHash = b.hash
	l.state.Lock()
	l.height = b.number
	close(l.committed)
	l.committed = make(chan struct{})
	l.state.Unlock()
	if l.onBlock != nil {
		txs := make([]appliedTx, len(acc))
		for i, a := range acc {
			txs[i] = appliedTx{txID: a.st.txID, puts: a.st.puts, privPuts: a.st.privPuts}
		}
		l.onBlock(b.number, b.enc, txs)
	}
	// The receipts of the block's transactions share its header, signature
	// and transaction tree: they are prepared once here, not read back from
	// the block for each receipt.
	records := make([][]byte, len(acc))
	for i, a := range acc {
		records[i] = a.record
	}
	rb, err := receipt.NewEmbeddedBlock(b.sb.header, b.sb.signature, records, l.signer)
	if err != nil {
		// The block is committed all the same; its receipts are then read
		// from it when asked for.
		l.log.Error("cannot prepare the receipts of a committed block", "block", b.number, "err", err)
	}
	for i, a := range acc {
		a.s.done <- outcome{res: ledger.Result{TxID: a.st.txID, Block: b.number, Payload: a.result},
			block: rb, index: i, payload: a.payload}
	}
}

// headUnchanged reports whether the file's head is still the last block this
// ledger committed. Only commitPending calls it.
func (l *Ledger) headUnchanged() bool {
	var m meta
	err := l.db.View(func(tx *bolt.Tx) (err error) { m, err = readMeta(tx); return err })
	return err == nil && m.height == l.height && m.head == l.headHash
}

// execute runs one submission with the contract over tx, the committed
// state, seen through over, the uncommitted writes. A returned error goes to
// the submitter; the transaction has then written nothing.
func (l *Ledger) execute(tx *bolt.Tx, over overlay, s *submission) (a *accepted, err error) {
	txID := l.cfg.TxIDs()
	if txID == "" || over.hasTx(txID) || tx.Bucket(bucketTxs).Get([]byte(txID)) != nil {
		return nil, fmt.Errorf("transaction ID %q is empty or already used", txID)
	}
	ts := l.cfg.Clock().UTC()
	if ts.Before(l.lastTime) {
		ts = l.lastTime
	}
	l.lastTime = ts
	st := newTxState(tx, false, txID, ts, s.org, s.transient)
	st.over = over
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

// buildBlock builds and signs block number over acc, whose parent is the
// block of hash parent, and returns the block hash and the block, decoded and
// encoded. commitPending stores it.
func (l *Ledger) buildBlock(number uint64, parent [32]byte, acc []accepted) (hash [32]byte, sb *storedBlock, enc []byte, err error) {
	leaves := make([]receipt.Hash, len(acc))
	sb = &storedBlock{txs: make([]storedTx, len(acc))}
	for i, a := range acc {
		leaves[i] = receipt.LeafHash(a.record)
		sb.txs[i] = storedTx{record: a.record, payload: a.payload}
	}
	h := receipt.Header{
		Version:  l.headerVersion,
		Number:   number,
		PrevHash: receipt.HexHash(parent),
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
	return hash, sb, encodeBlock(sb), nil
}
