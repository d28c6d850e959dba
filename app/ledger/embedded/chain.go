package embedded

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
)

// ErrBrokenChain matches every [*ChainError] with errors.Is.
var ErrBrokenChain = errors.New("ledger chain is broken")

// Chain checks, named in a [ChainError].
const (
	CheckBlockMissing = "block-missing" // a block between the checkpoint and the head is absent
	CheckEncoding     = "encoding"      // the stored block cannot be decoded
	CheckHeader       = "header"        // the header is malformed or has the wrong number
	CheckCheckpoint   = "checkpoint"    // the block no longer hashes to the verified checkpoint
	CheckPrevHash     = "prev-hash"     // the header does not link to the previous block
	CheckSignature    = "signature"     // the node key did not sign the header
	CheckTxRoot       = "tx-root"       // the transactions do not hash to the header's root or count
	CheckTxRecord     = "tx-record"     // a transaction record is malformed
	CheckPayload      = "payload"       // an event payload or event does not match its record
	CheckTxIndex      = "tx-index"      // the transaction index disagrees with the block
	CheckHead         = "head"          // the recorded head is not the last block
	CheckTime         = "time"          // transaction times go backwards
)

// ChainError says where and how the chain is broken.
type ChainError struct {
	Block  uint64
	Check  string
	Detail string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("ledger chain is broken at block %d: %s: %s; the ledger refuses to start (restore the data directory from a backup)",
		e.Block, e.Check, e.Detail)
}

// Is makes errors.Is(err, ErrBrokenChain) true.
func (e *ChainError) Is(target error) bool { return target == ErrBrokenChain }

func broken(block uint64, check, format string, a ...any) *ChainError {
	return &ChainError{Block: block, Check: check, Detail: fmt.Sprintf(format, a...)}
}

// verifyChain verifies the blocks from the checkpoint (or from the first
// block when full is set) to the head. It returns how many blocks it
// checked and the time of the last transaction.
func (l *Ledger) verifyChain(m meta, full bool) (verified uint64, last time.Time, err error) {
	if m.height == 0 {
		err = l.db.View(func(tx *bolt.Tx) error {
			if k, _ := tx.Bucket(bucketBlocks).Cursor().First(); k != nil {
				return broken(0, CheckHead, "the head says there are no blocks, but there are")
			}
			return nil
		})
		return 0, time.Time{}, err
	}
	if m.checkpoint.number > m.height {
		return 0, time.Time{}, broken(m.height, CheckHead, "the verified checkpoint %d is beyond the head %d",
			m.checkpoint.number, m.height)
	}
	from := uint64(1)
	if !full && m.checkpoint.number > 0 {
		from = m.checkpoint.number
	}
	err = l.db.View(func(tx *bolt.Tx) error {
		v := chainVerifier{pub: &l.key.PublicKey, salts: l.salts, txs: tx.Bucket(bucketTxs)}
		if m.checkpoint.number > 0 {
			v.checkpoint = &m.checkpoint
		}
		c := tx.Bucket(bucketBlocks).Cursor()
		k, enc := c.Seek(blockKey(from))
		for n := from; n <= m.height; n++ {
			if !bytes.Equal(k, blockKey(n)) {
				return broken(n, CheckBlockMissing, "block %d is missing", n)
			}
			if err := v.block(n, enc); err != nil {
				return err
			}
			k, enc = c.Next()
		}
		if k != nil {
			return broken(m.height, CheckHead, "there are blocks after the recorded head %d", m.height)
		}
		if v.prev != m.head {
			return broken(m.height, CheckHead, "the recorded head hash %s is not the hash of block %d",
				receipt.HexHash(m.head), m.height)
		}
		last = v.lastTime
		return nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return m.height - from + 1, last, nil
}

// chainVerifier checks consecutive blocks.
type chainVerifier struct {
	pub        *ecdsa.PublicKey
	salts      *salter
	txs        *bolt.Bucket
	checkpoint *checkpoint // the first block must hash to it, if set
	prev       [32]byte    // hash of the block before the next one
	started    bool
	lastTime   time.Time
	version    int // header version of the previous block; versions never go back
}

func (v *chainVerifier) block(n uint64, enc []byte) error {
	b, err := decodeBlock(enc)
	if err != nil {
		return broken(n, CheckEncoding, "%v", err)
	}
	var h receipt.Header
	dec := json.NewDecoder(bytes.NewReader(b.header))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return broken(n, CheckHeader, "malformed header: %v", err)
	}
	if h.Number != n {
		return broken(n, CheckHeader, "header says block %d", h.Number)
	}
	switch {
	case h.Version > receipt.HeaderVersion:
		return broken(n, CheckHeader, "header version %d is newer than this build's version %d", h.Version, receipt.HeaderVersion)
	case h.Version != receipt.HeaderVersion && h.Version != receipt.HeaderVersionUnsalted:
		return broken(n, CheckHeader, "header version %d is unknown", h.Version)
	case h.Version < v.version:
		return broken(n, CheckHeader, "header version %d follows a block of version %d", h.Version, v.version)
	}
	hash := receipt.HeaderHash(b.header)
	// The first block links to 64 zeros; later ones to their predecessor.
	// Verification that starts at a checkpoint trusts that block's link,
	// checked when the checkpoint was made, and checks its hash instead.
	if n == 1 || v.started {
		if h.PrevHash != receipt.HexHash(v.prev) {
			return broken(n, CheckPrevHash, "header links to %s, the previous block hashes to %s",
				h.PrevHash, receipt.HexHash(v.prev))
		}
	}
	if v.checkpoint != nil && n == v.checkpoint.number && hash != v.checkpoint.hash {
		return broken(n, CheckCheckpoint, "block hashes to %s, the verified checkpoint says %s",
			receipt.HexHash(hash), receipt.HexHash(v.checkpoint.hash))
	}
	if !ecdsa.VerifyASN1(v.pub, hash[:], b.signature) {
		return broken(n, CheckSignature, "signature over %s does not verify with the node key", receipt.HexHash(hash))
	}
	if h.TxCount != len(b.txs) || len(b.txs) == 0 {
		return broken(n, CheckTxRoot, "header counts %d transactions, the block holds %d", h.TxCount, len(b.txs))
	}
	leaves := make([]receipt.Hash, len(b.txs))
	for i, t := range b.txs {
		leaves[i] = receipt.LeafHash(t.record)
		if err := v.tx(n, h.Version, i, t); err != nil {
			return err
		}
	}
	if root := receipt.HexHash(receipt.MerkleRoot(leaves)); root != h.TxRoot {
		return broken(n, CheckTxRoot, "transactions hash to root %s, the header says %s", root, h.TxRoot)
	}
	v.prev = hash
	v.started = true
	v.version = h.Version
	return nil
}

// tx checks transaction i of block n, of header version version.
func (v *chainVerifier) tx(n uint64, version int, i int, t storedTx) error {
	var rec receipt.TxRecord
	dec := json.NewDecoder(bytes.NewReader(t.record))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return broken(n, CheckTxRecord, "transaction %d: %v", i, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, rec.Timestamp)
	if err != nil {
		return broken(n, CheckTxRecord, "transaction %d timestamp: %v", i, err)
	}
	if ts.Before(v.lastTime) {
		return broken(n, CheckTime, "transaction %d at %s is before the previous one at %s", i, rec.Timestamp,
			v.lastTime.Format(time.RFC3339Nano))
	}
	v.lastTime = ts
	commit := func(item byte, index int, content []byte) string {
		if version == receipt.HeaderVersionUnsalted {
			return receipt.Digest(content)
		}
		return receipt.Commit(v.salts.salt(rec.TxID, item, index), content)
	}
	if rec.PayloadHash == "" && len(t.payload) != 0 || rec.PayloadHash != "" && commit(saltPayload, 0, t.payload) != rec.PayloadHash {
		return broken(n, CheckPayload, "transaction %d event payload does not match its hash", i)
	}
	if len(t.payload) > 0 && len(rec.Events) > 0 {
		digests, err := eventDigests(t.payload, func(j int, raw []byte) string { return commit(saltEvent, j, raw) })
		if err != nil {
			return broken(n, CheckPayload, "transaction %d: %v", i, err)
		}
		if len(digests) != len(rec.Events) {
			return broken(n, CheckPayload, "transaction %d payload holds %d events, the record %d", i, len(digests), len(rec.Events))
		}
		for j := range digests {
			if digests[j] != rec.Events[j] {
				return broken(n, CheckPayload, "transaction %d event %d does not match its digest", i, j)
			}
		}
	}
	loc := v.txs.Get([]byte(rec.TxID))
	if bn, idx, ok := parseTxIndex(loc); !ok || bn != n || idx != i {
		return broken(n, CheckTxIndex, "transaction %s (%d) is not indexed at this block and position", rec.TxID, i)
	}
	return nil
}
