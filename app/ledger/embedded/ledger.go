// Package embedded is tokentrail's single-node ledger: it runs the contract
// in process over a bbolt file, so one command starts a working system.
//
// Transactions run one at a time in a single writer goroutine against a
// consistent state. The writer takes every submission waiting in its queue
// (up to [Config.MaxBlockTxs]), executes each with the contract, and commits
// the accepted ones, their state changes and the block that records them in
// one bbolt transaction: group commit. That commit runs in a goroutine of
// its own while the writer executes the next block over the committed state
// and the committing block's writes: one block in flight. A block holds the Merkle root of its
// transaction records and the hash of the previous block, and is signed by
// the node's ECDSA P-256 key. A write is acknowledged only after bbolt has
// fsynced its block. Queries read a consistent snapshot, concurrently with
// the writer. On open the ledger verifies its chain and refuses to start on a
// broken one. See docs/embedded-ledger.md.
package embedded

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// DBFile is the name of the ledger's bbolt file in the data directory.
const DBFile = "ledger.db"

// Defaults of [Config].
const (
	DefaultMaxBlockTxs = 256
	DefaultLockTimeout = 200 * time.Millisecond
)

// maxBlockArgs bounds the submitted argument bytes taken into one block, so
// that a queue of bulk submissions does not make one huge block.
const maxBlockArgs = 8 << 20

// ErrLocked means another process has the data directory open.
var ErrLocked = errors.New("data directory is in use by another process")

// ErrBusy means the writer's queue is full: the submission was not queued
// and may be retried later. It wraps [ledger.ErrUnavailable].
var ErrBusy = fmt.Errorf("embedded ledger is busy: its submission queue is full: %w", ledger.ErrUnavailable)

// Config configures [Open]. Only Dir is required.
type Config struct {
	// Dir is the data directory; it is created (mode 0700) if missing.
	Dir string
	// MaxBlockTxs bounds the transactions in one block; 0 means
	// [DefaultMaxBlockTxs].
	MaxBlockTxs int
	// Clock stamps transactions; nil means time.Now. The ledger keeps
	// transaction times non-decreasing whatever the clock does.
	Clock func() time.Time
	// TxIDs makes the IDs of write transactions; nil means 32 random bytes in
	// hex. Each ID must be unique: a repeated one fails its submission.
	TxIDs func() string
	// Logger receives the ledger's log; nil discards it.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process to release the
	// data directory; 0 means [DefaultLockTimeout].
	LockTimeout time.Duration
	// FullVerify makes Open verify the whole chain rather than only the
	// blocks after the last verified checkpoint.
	FullVerify bool
	// NoPipeline makes the writer wait for each block's commit before it
	// executes the next, rather than execute the next while the block is
	// written and fsynced. The blocks are the same either way; it exists to
	// compare the two.
	NoPipeline bool
	// NoSync turns off fsync. It exists only to measure what durability
	// costs; a ledger with NoSync loses acknowledged writes on a crash.
	NoSync bool

	// headerVersion, when set (by tests), is the header version of the
	// blocks written: receipt.HeaderVersionUnsalted stands in for the
	// previous build. 0 means receipt.HeaderVersion.
	headerVersion int
}

// Ledger is an open embedded ledger. Its methods are safe for concurrent use.
type Ledger struct {
	cfg       Config
	db        *bolt.DB
	log       *slog.Logger
	contract  *contract.Contract
	fns       map[string]bool // every contract function
	key       *ecdsa.PrivateKey
	signer    string // fingerprint of key's public half
	anchorPEM string
	salts     *salter // the commitment salts, derived from key
	// headerVersion is the version of the blocks the writer writes.
	headerVersion int

	queue chan *submission
	done  chan struct{} // closed when the writer has stopped

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool

	// lastTime is written only by the writer goroutine (and Open before it
	// starts); headHash, the hash of the last committed block, only by
	// commitPending, which the writer runs one block at a time and waits
	// for before it reads headHash.
	lastTime time.Time
	headHash [32]byte

	state sync.Mutex // guards height, failed and committed
	// height is the number of the last committed block (0: none).
	height uint64
	// committed is closed and replaced each time a block commits, and
	// closed for good when the ledger closes: it wakes event feeds waiting
	// for the next block (see Events).
	committed chan struct{}
	// failed is set when a commit failed; the ledger then refuses writes
	// until it is reopened, because the file's state is no longer known.
	failed error

	// onBlock, when set (by tests and benchmarks), is called by
	// commitPending after each committed block, before its submitters are
	// answered, with the stored block and its transactions' write sets.
	onBlock func(number uint64, block []byte, txs []appliedTx)
	// testHookApply, when set (by tests), runs in the writer after each
	// accepted transaction's write set is hashed, before it joins the
	// block; an error aborts the block as a failed write would.
	testHookApply func(*txState) error
	// testHookCommit, when set (by tests), runs in commitPending just before
	// block number's bbolt transaction commits; an error stands in for a
	// commit that failed before anything of the block was written.
	testHookCommit func(number uint64) error
}

// appliedTx is what tests learn about one committed transaction.
type appliedTx struct {
	txID     string
	puts     map[string][]byte
	privPuts map[string]map[string][]byte
}

// Open opens (creating if needed) the ledger in cfg.Dir, verifies its chain
// and starts its writer. It fails with [ErrLocked] when another process has
// the directory open, and with a [*ChainError] when the chain is broken.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded ledger: no data directory")
	}
	if cfg.MaxBlockTxs <= 0 {
		cfg.MaxBlockTxs = DefaultMaxBlockTxs
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.TxIDs == nil {
		cfg.TxIDs = randomTxID
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded ledger: data directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, DBFile), 0o600, boltOptions(cfg.LockTimeout, cfg.NoSync))
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded ledger: data directory %s: %w", cfg.Dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded ledger: open %s: %w", filepath.Join(cfg.Dir, DBFile), err)
	}
	l, err := open(cfg, db, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// boltOptions are the options the ledger opens its file with (and Replay
// its own).
func boltOptions(lockTimeout time.Duration, noSync bool) *bolt.Options {
	return &bolt.Options{
		Timeout:         lockTimeout,
		NoFreelistSync:  true, // rebuilt on open; halves the pages each commit writes
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30, // readers then rarely block the writer's remap
		NoSync:          noSync,
	}
}

func open(cfg Config, db *bolt.DB, log *slog.Logger) (*Ledger, error) {
	if err := db.Update(initBuckets); err != nil {
		return nil, fmt.Errorf("embedded ledger: initialise: %w", err)
	}
	var m meta
	if err := db.View(func(tx *bolt.Tx) (err error) { m, err = readMeta(tx); return err }); err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	key, created, err := loadOrCreateKey(cfg.Dir, m.height == 0)
	if err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	if created {
		log.Info("created node key", "path", filepath.Join(cfg.Dir, KeyFile))
	} else if fi, err := os.Stat(filepath.Join(cfg.Dir, KeyFile)); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("node key is readable by other users; it should have mode 0600",
			"path", filepath.Join(cfg.Dir, KeyFile), "mode", fi.Mode().Perm().String())
	}
	signer, err := receipt.KeyFingerprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	anchor, err := publicKeyPEM(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	c := contract.New()
	l := &Ledger{
		cfg:           cfg,
		db:            db,
		log:           log,
		contract:      c,
		fns:           map[string]bool{},
		key:           key,
		signer:        signer,
		anchorPEM:     anchor,
		salts:         newSalter(key),
		headerVersion: cfg.headerVersion,
		queue:         make(chan *submission, 4*cfg.MaxBlockTxs),
		done:          make(chan struct{}),
		height:        m.height,
		committed:     make(chan struct{}),
		headHash:      m.head,
	}
	for _, fn := range c.Functions() {
		l.fns[fn] = true
	}
	if l.headerVersion == 0 {
		l.headerVersion = receipt.HeaderVersion
	}

	start := time.Now()
	verified, last, err := l.verifyChain(m, cfg.FullVerify)
	if err != nil {
		return nil, err
	}
	if m.height > 0 {
		if err := db.Update(func(tx *bolt.Tx) error {
			return writeCheckpoint(tx, checkpoint{number: m.height, hash: m.head})
		}); err != nil {
			return nil, fmt.Errorf("embedded ledger: write checkpoint: %w", err)
		}
	}
	l.lastTime = last
	log.Info("embedded ledger open", "dir", cfg.Dir, "height", m.height,
		"verifiedBlocks", verified, "verifyTime", time.Since(start), "signer", signer)
	go l.run()
	return l, nil
}

func randomTxID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Submit runs a write as org and returns once the block holding it is
// durable. A contract refusal is returned as the contract's *contract.Error,
// unchanged; a storage failure wraps [ledger.ErrUnavailable]. The queue
// holds 4×[Config.MaxBlockTxs] submissions: when it is full Submit fails at
// once with [ErrBusy] rather than wait, so callers never pile up behind a
// slow disk. If ctx ends after the submission was queued, Submit returns
// ctx.Err() but the transaction may still commit, as on any ledger. The
// result can build the transaction's receipt, the bytes [Ledger.Receipt]
// returns for it, without reading the block again.
func (l *Ledger) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	if !l.fns[fn] {
		return ledger.Result{}, &contract.Error{Kind: contract.KindInvalid, Field: "function",
			Detail: fmt.Sprintf("unknown function %q", fn)}
	}
	if l.contract.IsQuery(fn) {
		return ledger.Result{}, &contract.Error{Kind: contract.KindInvalid, Field: "function",
			Detail: fmt.Sprintf("%s is a query: evaluate it", fn)}
	}
	s := &submission{ctx: ctx, org: org, fn: fn, args: bytes.Clone(args), transient: transient,
		done: make(chan outcome, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ledger.Result{}, fmt.Errorf("embedded ledger is closed: %w", ledger.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		l.mu.RUnlock()
		return ledger.Result{}, err
	}
	select {
	case l.queue <- s:
		l.mu.RUnlock()
	default:
		l.mu.RUnlock()
		return ledger.Result{}, ErrBusy
	}
	select {
	case o := <-s.done:
		if o.err == nil && o.block != nil {
			o.res.Receipt = func() ledger.Receipt {
				if b := l.writeReceipt(o); b != nil {
					return ledger.Receipt{b}
				}
				return nil
			}
		}
		return o.res, o.err
	case <-ctx.Done():
		return ledger.Result{}, ctx.Err()
	}
}

// Evaluate runs a query as org against the latest committed state.
func (l *Ledger) Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error) {
	if l.fns[fn] && !l.contract.IsQuery(fn) {
		return nil, &contract.Error{Kind: contract.KindInvalid, Field: "function",
			Detail: fmt.Sprintf("%s is a write: submit it", fn)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := l.view(func(tx *bolt.Tx) error {
		// A query is no transaction of the ledger's: it takes a throwaway ID
		// rather than one from cfg.TxIDs, so that queries never shift the
		// IDs of writes.
		st := newTxState(tx, true, randomTxID(), l.cfg.Clock().UTC(), org, nil)
		var err error
		out, err = l.contract.Invoke(st, fn, args)
		return err
	})
	return out, err
}

// view runs fn in a read transaction, mapping a closed database to
// [ledger.ErrUnavailable].
func (l *Ledger) view(fn func(tx *bolt.Tx) error) error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return fmt.Errorf("embedded ledger is closed: %w", ledger.ErrUnavailable)
	}
	err := l.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("embedded ledger is closed: %w", ledger.ErrUnavailable)
	}
	return err
}

// Receipt returns the receipt of a committed transaction as canonical JSON
// (see package receipt). It wraps [ledger.ErrTxNotFound] when no committed
// transaction has the ID.
func (l *Ledger) Receipt(ctx context.Context, txID string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := l.view(func(tx *bolt.Tx) error {
		loc := tx.Bucket(bucketTxs).Get([]byte(txID))
		if loc == nil {
			return fmt.Errorf("transaction %q: %w", txID, ledger.ErrTxNotFound)
		}
		number, index, ok := parseTxIndex(loc)
		if !ok {
			return fmt.Errorf("transaction index entry of %q is malformed", txID)
		}
		enc := tx.Bucket(bucketBlocks).Get(blockKey(number))
		if enc == nil {
			return fmt.Errorf("block %d of transaction %q is missing", number, txID)
		}
		b, err := decodeBlock(enc)
		if err != nil {
			return fmt.Errorf("block %d: %w", number, err)
		}
		if index >= len(b.txs) {
			return fmt.Errorf("transaction %q: index %d beyond block %d", txID, index, number)
		}
		// The block aliases bbolt's pages, which are valid only in this read
		// transaction: the receipt is encoded, into bytes of its own, before
		// it ends, so nothing of the block needs copying.
		records := make([][]byte, len(b.txs))
		for i, t := range b.txs {
			records[i] = t.record
		}
		rb, err := receipt.NewEmbeddedBlock(b.header, b.signature, records, l.signer)
		if err != nil {
			return fmt.Errorf("block %d: %w", number, err)
		}
		out, err = txReceipt(l.salts, rb, index, txID, b.txs[index].payload)
		return err
	})
	return out, err
}

// writeReceipt returns the receipt of the committed write o, or nil when it
// cannot be built: the write stands, and [Ledger.Receipt] reads its receipt
// from the block.
func (l *Ledger) writeReceipt(o outcome) []byte {
	r, err := txReceipt(l.salts, o.block, o.index, o.res.TxID, o.payload)
	if err != nil {
		l.log.Error("cannot build the receipt of a committed write", "txId", o.res.TxID, "err", err)
		return nil
	}
	return r
}

// txReceipt returns the canonical receipt of transaction index of block,
// whose ID is txID and whose chaincode event payload is payload. Writes and
// [Ledger.Receipt] both build receipts here, so that the receipt a write
// returns is the one Receipt returns later. A receipt of a block of header
// version 2 carries the salt of every event of the transaction; whoever
// withholds an event from it drops its salt too ([receipt.Receipt.Withhold]).
func txReceipt(salts *salter, block *receipt.EmbeddedBlock, index int, txID string, payload []byte) ([]byte, error) {
	events, err := payloadEvents(payload)
	if err != nil {
		return nil, fmt.Errorf("transaction %q event payload: %w", txID, err)
	}
	var eventSalts [][]byte
	if block.Version() != receipt.HeaderVersionUnsalted {
		eventSalts = salts.eventSalts(txID, len(events))
	}
	r, err := block.Receipt(index, events, eventSalts)
	if err != nil {
		return nil, fmt.Errorf("transaction %q: %w", txID, err)
	}
	if r.TxID != txID {
		return nil, fmt.Errorf("transaction index of %q points at %q", txID, r.TxID)
	}
	return r.Marshal()
}

// payloadEvents splits a chaincode event payload ([contract.WriteEvent]) into
// its events, each exactly as the contract encoded it. An empty payload has
// no events.
func payloadEvents(payload []byte) ([]json.RawMessage, error) {
	if len(payload) == 0 {
		return []json.RawMessage{}, nil
	}
	var w struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, err
	}
	if w.Events == nil {
		w.Events = []json.RawMessage{}
	}
	return w.Events, nil
}

// Info describes the ledger: its kind, height and trust anchor.
func (l *Ledger) Info(ctx context.Context) (ledger.Info, error) {
	return ledger.Info{Kind: ledger.KindEmbedded, Height: l.Height(), TrustAnchor: l.anchorPEM}, nil
}

// Height returns the number of the last committed block (0: none).
func (l *Ledger) Height() uint64 {
	l.state.Lock()
	defer l.state.Unlock()
	return l.height
}

// TrustAnchor returns the PEM public key that verifies this ledger's receipts.
func (l *Ledger) TrustAnchor() string { return l.anchorPEM }

// Ready reports whether the ledger takes writes: it wraps
// [ledger.ErrUnavailable] once closed or after a failed commit.
func (l *Ledger) Ready(ctx context.Context) error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return fmt.Errorf("embedded ledger is closed: %w", ledger.ErrUnavailable)
	}
	l.state.Lock()
	defer l.state.Unlock()
	if l.failed != nil {
		return fmt.Errorf("embedded ledger failed: %v: %w", l.failed, ledger.ErrUnavailable)
	}
	return nil
}

// Close stops taking submissions, commits what is queued, records the head
// as a verified checkpoint and closes the file. It is safe to call twice.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done

	l.state.Lock()
	height, failed := l.height, l.failed
	close(l.committed) // the writer has stopped: no block will follow
	l.state.Unlock()
	var errs []error
	// Blocks written by this process were built and signed here, so a clean
	// close may record the head as verified; after a crash the next open
	// verifies everything since the last checkpoint.
	if failed == nil && height > 0 {
		head := l.headHash
		if err := l.db.Update(func(tx *bolt.Tx) error {
			return writeCheckpoint(tx, checkpoint{number: height, hash: head})
		}); err != nil {
			errs = append(errs, fmt.Errorf("write checkpoint: %w", err))
		}
	}
	if err := l.db.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
