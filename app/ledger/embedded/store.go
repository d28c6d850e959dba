package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the ledger's bbolt file. See docs/embedded-ledger.md.
var (
	bucketState   = []byte("state")   // key → value: the contract's world state
	bucketPrivate = []byte("private") // collection → (key → value)
	bucketBlocks  = []byte("blocks")  // 8-byte big-endian number → encoded block
	bucketTxs     = []byte("txs")     // txID → 8-byte block number, 4-byte index
	bucketMeta    = []byte("meta")    // the keys below
)

var (
	metaFormat     = []byte("format")     // formatVersion, one byte
	metaHeight     = []byte("height")     // 8-byte number of the last block
	metaHead       = []byte("head")       // 32-byte hash of the last block
	metaCheckpoint = []byte("checkpoint") // 8-byte number + 32-byte hash of a verified block
)

// formatVersion is the version of the file's data. Version 2 holds the
// contract's salted private values (contract.FormatVersion 2). Version 3
// writes blocks of header version 2, whose transaction records hold salted
// commitments (receipt.HeaderVersion); its blocks before the upgrade stay of
// header version 1. A version-1 or -2 file is migrated when it is opened
// (see migrate).
const formatVersion = 3

// blockEncodingVersion leads every stored block.
const blockEncodingVersion = 1

// storedBlock is a block as kept in the blocks bucket.
type storedBlock struct {
	header    []byte // header JSON, exactly as hashed and signed
	signature []byte // ASN.1 DER ECDSA signature over the header hash
	txs       []storedTx
}

// storedTx is one transaction of a block: its record (the Merkle leaf) and
// the chaincode event payload the record commits to by hash.
type storedTx struct {
	record  []byte
	payload []byte
}

// encodeBlock writes a block as: version byte, then length-prefixed
// (uvarint) header and signature, the transaction count, and each
// transaction's length-prefixed record and payload.
func encodeBlock(b *storedBlock) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(b.header) + len(b.signature)
	for _, t := range b.txs {
		n += 2*binary.MaxVarintLen64 + len(t.record) + len(t.payload)
	}
	out := make([]byte, 0, n)
	out = append(out, blockEncodingVersion)
	out = appendBytes(out, b.header)
	out = appendBytes(out, b.signature)
	out = binary.AppendUvarint(out, uint64(len(b.txs)))
	for _, t := range b.txs {
		out = appendBytes(out, t.record)
		out = appendBytes(out, t.payload)
	}
	return out
}

func appendBytes(out, b []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

var errBlockEncoding = errors.New("malformed block encoding")

// decodeBlock parses an encoded block. The result aliases enc.
func decodeBlock(enc []byte) (*storedBlock, error) {
	if len(enc) == 0 || enc[0] != blockEncodingVersion {
		return nil, fmt.Errorf("%w: unknown version", errBlockEncoding)
	}
	r := enc[1:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k) {
			return nil, false
		}
		b := r[k : k+int(n)]
		r = r[k+int(n):]
		return b, true
	}
	var b storedBlock
	var ok bool
	if b.header, ok = next(); !ok {
		return nil, fmt.Errorf("%w: header", errBlockEncoding)
	}
	if b.signature, ok = next(); !ok {
		return nil, fmt.Errorf("%w: signature", errBlockEncoding)
	}
	count, k := binary.Uvarint(r)
	if k <= 0 || count > uint64(len(r)) {
		return nil, fmt.Errorf("%w: transaction count", errBlockEncoding)
	}
	r = r[k:]
	b.txs = make([]storedTx, count)
	for i := range b.txs {
		if b.txs[i].record, ok = next(); !ok {
			return nil, fmt.Errorf("%w: transaction %d record", errBlockEncoding, i)
		}
		if b.txs[i].payload, ok = next(); !ok {
			return nil, fmt.Errorf("%w: transaction %d payload", errBlockEncoding, i)
		}
	}
	if len(r) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBlockEncoding, len(r))
	}
	return &b, nil
}

func blockKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

func txIndexValue(block uint64, index int) []byte {
	v := binary.BigEndian.AppendUint64(nil, block)
	return binary.BigEndian.AppendUint32(v, uint32(index))
}

func parseTxIndex(v []byte) (uint64, int, bool) {
	if len(v) != 12 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(v), int(binary.BigEndian.Uint32(v[8:])), true
}

type checkpoint struct {
	number uint64
	hash   [32]byte
}

// meta is the ledger's bookkeeping as read from the meta bucket.
type meta struct {
	height     uint64
	head       [32]byte
	checkpoint checkpoint
}

func readMeta(tx *bolt.Tx) (meta, error) {
	var m meta
	b := tx.Bucket(bucketMeta)
	if err := checkFormat(b.Get(metaFormat)); err != nil {
		return m, err
	}
	if v := b.Get(metaHeight); v != nil {
		if len(v) != 8 {
			return m, errors.New("malformed height")
		}
		m.height = binary.BigEndian.Uint64(v)
	}
	if v := b.Get(metaHead); v != nil {
		if len(v) != 32 {
			return m, errors.New("malformed head hash")
		}
		copy(m.head[:], v)
	}
	if v := b.Get(metaCheckpoint); v != nil {
		if len(v) != 40 {
			return m, errors.New("malformed checkpoint")
		}
		m.checkpoint.number = binary.BigEndian.Uint64(v)
		copy(m.checkpoint.hash[:], v[8:])
	}
	return m, nil
}

// storeBlock stores encoded block number, the index entry of each of its
// transactions (txIDs, in block order) and the new head, hash: what a block
// adds besides its transactions' writes. The ledger's writer and Replay both
// store blocks through here.
func storeBlock(tx *bolt.Tx, number uint64, enc []byte, txIDs []string, hash [32]byte) error {
	blocks := tx.Bucket(bucketBlocks)
	blocks.FillPercent = 0.95 // keys only ever grow
	if err := blocks.Put(blockKey(number), enc); err != nil {
		return fmt.Errorf("store block %d: %w", number, err)
	}
	txs := tx.Bucket(bucketTxs)
	for i, id := range txIDs {
		if err := txs.Put([]byte(id), txIndexValue(number, i)); err != nil {
			return fmt.Errorf("index transaction %s: %w", id, err)
		}
	}
	if err := writeHead(tx, number, hash); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	return nil
}

func writeHead(tx *bolt.Tx, height uint64, head [32]byte) error {
	b := tx.Bucket(bucketMeta)
	if err := b.Put(metaHeight, binary.BigEndian.AppendUint64(nil, height)); err != nil {
		return err
	}
	return b.Put(metaHead, bytes.Clone(head[:]))
}

func writeCheckpoint(tx *bolt.Tx, c checkpoint) error {
	v := binary.BigEndian.AppendUint64(nil, c.number)
	return tx.Bucket(bucketMeta).Put(metaCheckpoint, append(v, c.hash[:]...))
}

// initBuckets creates the buckets of a new file and checks an existing one.
func initBuckets(tx *bolt.Tx) error {
	fresh := tx.Bucket(bucketMeta) == nil
	for _, name := range [][]byte{bucketState, bucketPrivate, bucketBlocks, bucketTxs, bucketMeta} {
		if fresh {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		} else if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %q is missing", name)
		}
	}
	if fresh {
		return tx.Bucket(bucketMeta).Put(metaFormat, []byte{formatVersion})
	}
	return migrate(tx)
}

// checkFormat accepts the stored format version f only when it is this
// build's.
func checkFormat(f []byte) error {
	switch {
	case len(f) != 1:
		return fmt.Errorf("malformed data format version %x", f)
	case f[0] > formatVersion:
		return fmt.Errorf("the file's data format is version %d, newer than this build's version %d: open it with a newer tokentrail", f[0], formatVersion)
	case f[0] != formatVersion:
		return fmt.Errorf("the file's data format is version %d, which this build (version %d) cannot read", f[0], formatVersion)
	}
	return nil
}

// migrate brings a file of an older data format to this build's, in the
// bbolt transaction that opens it.
//
// Version 1 to 2: the contract's private values gained a salt (contract
// FormatVersion 2). The contract reads a version-1 value, which has none,
// as what it is, and a version-1 ledger records no meta/format, which the
// contract takes for version 1; so nothing stored changes shape, and the
// blocks, which commit to the old values' hashes, stay as they are.
//
// Version 2 to 3: new blocks are of header version 2 (salted commitments in
// their transaction records). The blocks already written are signed and
// chained and cannot be rewritten: they stay of header version 1, and the
// chain verification and their receipts check them the version-1 way.
//
// Either way only the version byte moves, so that an older build refuses the
// file from now on, naming both versions, rather than meet what it does not
// know (salted values; blocks of a header version it would take for a
// broken chain).
func migrate(tx *bolt.Tx) error {
	b := tx.Bucket(bucketMeta)
	f := b.Get(metaFormat)
	if len(f) == 1 && f[0] >= 1 && f[0] < formatVersion {
		return b.Put(metaFormat, []byte{formatVersion})
	}
	return checkFormat(f)
}
