package receipt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// Embedded block header versions. The version states how the block's
// transaction records commit to content:
//   - [HeaderVersionUnsalted] (1): every digest of a record (argsHash,
//     writeSetHash, payloadHash, each event's digest) is [Digest], plain
//     SHA-256 of the content. Blocks of that version stay verifiable as
//     they are; their receipts carry no salts.
//   - [HeaderVersion] (2): every such digest is a salted commitment,
//     [Commit] over a 32-byte salt secret to the node and the content. A
//     receipt carries the salt of each event it shows, and no other salt.
const (
	HeaderVersionUnsalted = 1
	HeaderVersion         = 2
)

// SaltSize is the size in bytes of the salt of each commitment.
const SaltSize = 32

// Commit returns the salted commitment to content: "sha256:" and the
// lowercase hex SHA-256 of the salt followed by the content. The salt is
// 32 secret bytes, so the commitment confirms no guess of the content and
// says nothing of its length; with the salt, anyone can check it.
func Commit(salt, content []byte) string {
	h := sha256.New()
	h.Write(salt)
	h.Write(content)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Header is an embedded-ledger block header. Its JSON encoding (encoding/json,
// this field order) is what the node hashes and signs; a receipt carries
// those exact bytes, and the verifier hashes what the receipt carries rather
// than a re-encoding, so no change can be normalised away.
type Header struct {
	Version int    `json:"version"`
	Number  uint64 `json:"number"`
	// PrevHash is the hex hash of the previous block's header; 64 zeros for
	// the first block.
	PrevHash string `json:"prevHash"`
	// TxRoot is the hex Merkle root over the block's transaction records.
	TxRoot  string `json:"txRoot"`
	TxCount int    `json:"txCount"`
	// Time is the timestamp of the block's last transaction (RFC 3339, UTC):
	// derived from the transactions, so that replaying them yields the same
	// header.
	Time string `json:"time"`
}

// HeaderHash returns the hash of an encoded header: the block hash.
func HeaderHash(encoded []byte) Hash { return sha256.Sum256(encoded) }

// TxRecord is what a block records about one committed transaction. Its JSON
// encoding is the transaction's Merkle leaf. Transient data and private data
// never appear in it; private writes enter the write-set hash only as hashes.
// In a block of header version 2 every digest in it (ArgsHash, WriteSetHash,
// PayloadHash and each event's) is a salted commitment ([Commit]); in a
// version-1 block, plain [Digest].
type TxRecord struct {
	TxID      string `json:"txId"`
	Timestamp string `json:"timestamp"`
	// Creator is the MSP ID of the submitting organisation.
	Creator  string `json:"creator"`
	Function string `json:"function"`
	// ArgsHash is the digest of the JSON argument as submitted.
	ArgsHash string `json:"argsHash"`
	// WriteSetHash is the digest of the transaction's writes, in key order;
	// see the embedded ledger's documentation for the encoding.
	WriteSetHash string `json:"writeSetHash"`
	// EventName and PayloadHash identify the chaincode event the transaction
	// set, if any; the payload itself is kept beside the record.
	EventName   string `json:"eventName,omitempty"`
	PayloadHash string `json:"payloadHash,omitempty"`
	// Events are the digests of the lifecycle events in the payload, in order.
	Events []EventDigest `json:"events"`
}

// EventDigest commits to one lifecycle event: Digest is [Commit] of the
// event's salt and its JSON exactly as the contract encoded it (in a
// version-1 block, [Digest] of the JSON).
type EventDigest struct {
	EventID string `json:"eventId"`
	Digest  string `json:"digest"`
}

// Embedded is the evidence of an embedded-ledger receipt.
type Embedded struct {
	// Header is the block header, exactly as hashed and signed.
	Header json.RawMessage `json:"header"`
	// BlockHash is the hex [HeaderHash] of Header.
	BlockHash string `json:"blockHash"`
	// Signer is the fingerprint of the key that signed BlockHash (see
	// [KeyFingerprint]); the verifier requires it to be the trust anchor's.
	Signer string `json:"signer"`
	// Signature is the hex ASN.1 DER ECDSA P-256 signature over the 32
	// bytes of BlockHash.
	Signature string `json:"signature"`
	// Tx is the transaction record, exactly as it was hashed into the tree.
	Tx json.RawMessage `json:"tx"`
	// EventSalts are the hex salts of the events the receipt carries, one
	// per event, in the same order (header version 2; absent for version
	// 1): each event's committed digest is [Commit] of its salt and its
	// JSON. The salts of the events the receipt withholds are not in it.
	EventSalts []string `json:"eventSalts,omitempty"`
	// Proof is the Merkle audit path of Tx in the block's transaction tree.
	Proof MerkleProof `json:"proof"`
}

// MerkleProof is an RFC 6962 audit path.
type MerkleProof struct {
	LeafIndex uint64 `json:"leafIndex"`
	TreeSize  uint64 `json:"treeSize"`
	// Hashes are the hex sibling hashes, nearest the leaf first.
	Hashes []string `json:"hashes"`
}

// KeyFingerprint returns "sha256:" and the hex SHA-256 of the key's PKIX DER.
func KeyFingerprint(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return Digest(der), nil
}

// ErrNoTrustedKey means a trust anchor holds no ECDSA P-256 public key.
var ErrNoTrustedKey = errors.New("no ECDSA P-256 public key in the trust anchor")

// TrustedKeys returns the ECDSA P-256 keys in a PEM trust anchor, by
// fingerprint: "PUBLIC KEY" blocks, and the keys of "CERTIFICATE" blocks.
func TrustedKeys(anchorPEM []byte) (map[string]*ecdsa.PublicKey, error) {
	keys := map[string]*ecdsa.PublicKey{}
	rest := anchorPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("trust anchor public key: %w", err)
			}
			pub = k
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("trust anchor certificate: %w", err)
			}
			pub = c.PublicKey
		default:
			continue
		}
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			continue
		}
		fp, err := KeyFingerprint(k)
		if err != nil {
			return nil, err
		}
		keys[fp] = k
	}
	if len(keys) == 0 {
		return nil, ErrNoTrustedKey
	}
	return keys, nil
}

// NewEmbedded builds the receipt of transaction index of an embedded-ledger
// block: header and signature as stored, every transaction record of the
// block in order (the proof needs their hashes), the transaction's events as
// the contract encoded them with their salts (see [EmbeddedBlock.Receipt]),
// and the signer's fingerprint. To build the receipts of several
// transactions of one block, use [NewEmbeddedBlock].
func NewEmbedded(header, signature []byte, records [][]byte, index int, events []json.RawMessage, salts [][]byte, signer string) (*Receipt, error) {
	if index < 0 || index >= len(records) {
		return nil, fmt.Errorf("transaction %d is not in a block of %d", index, len(records))
	}
	b, err := NewEmbeddedBlock(header, signature, records, signer)
	if err != nil {
		return nil, err
	}
	return b.Receipt(index, events, salts)
}

// EmbeddedBlock is what the receipts of one embedded-ledger block's
// transactions share: the header and its hash, the signature and the
// transaction tree, each decoded or built once. It keeps header and records
// without copying them; they must not change while it is in use. It is safe
// for concurrent use.
type EmbeddedBlock struct {
	header    []byte
	version   int
	number    uint64
	blockHash string
	signature string
	signer    string
	records   [][]byte
	tree      *MerkleTree
}

// NewEmbeddedBlock prepares the receipts of an embedded-ledger block's
// transactions from its header and signature as stored, every transaction
// record of the block in order and the signer's fingerprint.
func NewEmbeddedBlock(header, signature []byte, records [][]byte, signer string) (*EmbeddedBlock, error) {
	var h Header
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, fmt.Errorf("block header: %w", err)
	}
	leaves := make([]Hash, len(records))
	for i, rec := range records {
		leaves[i] = LeafHash(rec)
	}
	return &EmbeddedBlock{
		header:    header,
		version:   h.Version,
		number:    h.Number,
		blockHash: HexHash(HeaderHash(header)),
		signature: hex.EncodeToString(signature),
		signer:    signer,
		records:   records,
		tree:      NewMerkleTree(leaves),
	}, nil
}

// Version is the block's header version.
func (b *EmbeddedBlock) Version() int { return b.version }

// Receipt builds the receipt of transaction index of the block, with the
// transaction's events as the contract encoded them and, for a block of
// header version 2, the salt of each event (one per event, [SaltSize] bytes
// each). A version-1 block takes no salts.
func (b *EmbeddedBlock) Receipt(index int, events []json.RawMessage, salts [][]byte) (*Receipt, error) {
	if index < 0 || index >= len(b.records) {
		return nil, fmt.Errorf("transaction %d is not in a block of %d", index, len(b.records))
	}
	var hexSalts []string
	switch b.version {
	case HeaderVersionUnsalted:
		if len(salts) != 0 {
			return nil, fmt.Errorf("a block of header version %d has no salts, %d given", b.version, len(salts))
		}
	case HeaderVersion:
		if len(salts) != len(events) {
			return nil, fmt.Errorf("%d salts for %d events", len(salts), len(events))
		}
		hexSalts = make([]string, len(salts))
		for i, s := range salts {
			if len(s) != SaltSize {
				return nil, fmt.Errorf("salt %d is %d bytes, want %d", i, len(s), SaltSize)
			}
			hexSalts[i] = hex.EncodeToString(s)
		}
	default:
		return nil, fmt.Errorf("block header version %d is not one this build knows (%d or %d)", b.version, HeaderVersionUnsalted, HeaderVersion)
	}
	// Only the transaction's ID is needed from its record.
	var tx struct {
		TxID string `json:"txId"`
	}
	if err := json.Unmarshal(b.records[index], &tx); err != nil {
		return nil, fmt.Errorf("transaction record: %w", err)
	}
	path := b.tree.Path(index)
	hashes := make([]string, len(path))
	for i, p := range path {
		hashes[i] = HexHash(p)
	}
	if events == nil {
		events = []json.RawMessage{}
	}
	return &Receipt{
		Kind:        KindEmbedded,
		TxID:        tx.TxID,
		BlockNumber: b.number,
		Events:      events,
		Embedded: &Embedded{
			Header:     b.header,
			BlockHash:  b.blockHash,
			Signer:     b.signer,
			Signature:  b.signature,
			Tx:         b.records[index],
			EventSalts: hexSalts,
			Proof:      MerkleProof{LeafIndex: uint64(index), TreeSize: uint64(len(b.records)), Hashes: hashes},
		},
	}, nil
}

func verifyEmbedded(r *Receipt, anchorPEM []byte) (*Proof, error) {
	ev := r.Embedded
	keys, err := TrustedKeys(anchorPEM)
	if err != nil {
		return nil, fail(CheckTrustAnchor, err, "cannot use the trust anchor")
	}

	// The header's version says how the record commits to events.
	var h Header
	if err := decodeStrict(ev.Header, &h); err != nil {
		return nil, fail(CheckHeader, err, "block header is malformed")
	}
	digest, err := eventDigester(h.Version, ev.EventSalts, len(r.Events))
	if err != nil {
		return nil, err
	}

	// The transaction record and the events it commits to.
	var tx TxRecord
	if err := decodeStrict(ev.Tx, &tx); err != nil {
		return nil, fail(CheckFormat, err, "transaction record is malformed")
	}
	committed := make([]committedEvent, len(tx.Events))
	for i, d := range tx.Events {
		committed[i] = committedEvent{EventID: d.EventID, Digest: d.Digest}
	}
	proved, withheld, err := proveEventsWith(r.TxID, r.Events, committed, digest)
	if err != nil {
		return nil, err
	}

	// The hash that was signed.
	blockHash, err := parseHexHash(ev.BlockHash)
	if err != nil {
		return nil, fail(CheckHeader, err, "block hash is malformed")
	}
	if got := HeaderHash(ev.Header); got != blockHash {
		return nil, fail(CheckHeader, nil, "block header hashes to %s, the receipt says %s", HexHash(got), ev.BlockHash)
	}
	txRoot, err := parseHexHash(h.TxRoot)
	if err != nil {
		return nil, fail(CheckHeader, err, "transaction root is malformed")
	}
	if _, err := parseHexHash(h.PrevHash); err != nil {
		return nil, fail(CheckHeader, err, "previous block hash is malformed")
	}

	// The signer is the trusted key, and it signed this block hash.
	key, ok := keys[ev.Signer]
	if !ok {
		return nil, fail(CheckTrustAnchor, nil, "block was signed by key %s, which is not in the trust anchor", ev.Signer)
	}
	sig, err := parseHex(ev.Signature)
	if err != nil {
		return nil, fail(CheckSignature, err, "signature is malformed")
	}
	if !ecdsa.VerifyASN1(key, blockHash[:], sig) {
		return nil, fail(CheckSignature, nil, "signature over block hash %s does not verify with key %s", ev.BlockHash, ev.Signer)
	}

	// The transaction record is in the signed block.
	if ev.Proof.TreeSize != uint64(h.TxCount) {
		return nil, fail(CheckMerklePath, nil, "proof is for a tree of %d transactions, the block holds %d",
			ev.Proof.TreeSize, h.TxCount)
	}
	path := make([]Hash, len(ev.Proof.Hashes))
	for i, s := range ev.Proof.Hashes {
		if path[i], err = parseHexHash(s); err != nil {
			return nil, fail(CheckMerklePath, err, "path hash %d is malformed", i)
		}
	}
	root, err := rootFromPath(LeafHash(ev.Tx), ev.Proof.LeafIndex, ev.Proof.TreeSize, path)
	if err != nil {
		return nil, fail(CheckMerklePath, err, "audit path is invalid")
	}
	if root != txRoot {
		return nil, fail(CheckMerklePath, nil, "transaction and audit path lead to root %s, the header says %s",
			hex.EncodeToString(root[:]), h.TxRoot)
	}

	// The envelope names what the evidence proves.
	if tx.TxID != r.TxID {
		return nil, fail(CheckBinding, nil, "receipt is for transaction %q, the record is of %q", r.TxID, tx.TxID)
	}
	if h.Number != r.BlockNumber {
		return nil, fail(CheckBinding, nil, "receipt names block %d, the header is of block %d", r.BlockNumber, h.Number)
	}

	return &Proof{
		Kind:        r.Kind,
		TxID:        r.TxID,
		BlockNumber: h.Number,
		BlockHash:   ev.BlockHash,
		BlockTime:   h.Time,
		PrevHash:    h.PrevHash,
		Timestamp:   tx.Timestamp,
		Creator:     tx.Creator,
		Function:    tx.Function,
		Events:      proved,
		Withheld:    withheld,
		Signer:      ev.Signer,
	}, nil
}

// eventDigester returns how a receipt's carried events are hashed for
// comparison with their committed digests, by the block's header version:
// plain [Digest] for version 1, whose receipts carry no salts; for version 2,
// [Commit] with the receipt's salt of each carried event, one per event.
func eventDigester(version int, salts []string, events int) (func(i int, raw []byte) string, error) {
	switch {
	case version == HeaderVersionUnsalted:
		if len(salts) != 0 {
			return nil, fail(CheckFormat, nil, "receipt carries %d event salts, but block header version %d commits to events unsalted", len(salts), version)
		}
		return func(_ int, raw []byte) string { return Digest(raw) }, nil
	case version == HeaderVersion:
		if len(salts) != events {
			return nil, fail(CheckEventDigest, nil, "receipt carries %d events and %d event salts; block header version %d needs one salt per event", events, len(salts), version)
		}
		decoded := make([][]byte, len(salts))
		for i, s := range salts {
			b, err := parseHex(s)
			if err != nil || len(b) != SaltSize {
				return nil, fail(CheckEventDigest, err, "event salt %d is not %d bytes of lowercase hex", i, SaltSize)
			}
			decoded[i] = b
		}
		return func(i int, raw []byte) string { return Commit(decoded[i], raw) }, nil
	case version > HeaderVersion:
		return nil, fail(CheckHeader, nil, "block header version %d is newer than this verifier's version %d: verify the receipt with a newer tokentrail", version, HeaderVersion)
	default:
		return nil, fail(CheckHeader, nil, "block header version %d is not supported (this verifier reads versions %d and %d)", version, HeaderVersionUnsalted, HeaderVersion)
	}
}
