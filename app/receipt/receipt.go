// Package receipt defines tokentrail's transaction receipts and verifies them
// offline. A receipt is a self-contained JSON document that proves a
// transaction, and the lifecycle events it recorded, are on a ledger. It is
// checked against a trust anchor that comes from outside the receipt (the
// embedded node's public key, or on Fabric the organisations' root
// certificates), never from the receipt itself.
//
// Every receipt has the same envelope: kind, txId, blockNumber and the events
// (each exactly as the contract encoded it). The evidence depends on the
// ledger kind and sits under a field named after it: "embedded" holds a signed,
// hash-chained block header and the Merkle path of the transaction. A new kind
// adds its evidence type, a field in [Receipt] and a case in [Verify].
package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Ledger kinds a receipt may come from.
const (
	KindEmbedded = "embedded"
	KindFabric   = "fabric"
)

// Receipt is the receipt document. Its JSON form is canonical: compact, in
// this field order, with no HTML escaping; see [Receipt.Marshal].
type Receipt struct {
	Kind        string `json:"kind"`
	TxID        string `json:"txId"`
	BlockNumber uint64 `json:"blockNumber"`
	// Events are the transaction's events, each exactly the JSON the contract
	// recorded, so that a verifier can hash them and compare each with the
	// digest the ledger committed to.
	Events []json.RawMessage `json:"events"`
	// Embedded is the evidence of an embedded-ledger receipt.
	Embedded *Embedded `json:"embedded,omitempty"`
	// Fabric is the evidence of a Fabric receipt.
	Fabric *Fabric `json:"fabric,omitempty"`
}

// Marshal returns the receipt's canonical JSON.
func (r *Receipt) Marshal() ([]byte, error) {
	parts, err := r.MarshalParts()
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return bytes.Join(parts, nil), nil
}

// MarshalParts returns the receipt's canonical JSON in consecutive parts that
// together are what [Receipt.Marshal] returns: for a receipt built from a
// [FabricBlock], the block's data entries are one part, encoded once and
// shared by the receipts of all the block's transactions (not to be
// changed); otherwise one part.
func (r *Receipt) MarshalParts() ([][]byte, error) {
	if f := r.Fabric; f != nil && f.encoded != nil && f.encoded.of(f.Data) {
		return r.marshalSpliced()
	}
	b, err := r.marshalAll()
	return [][]byte{b}, err
}

// marshalAll encodes the receipt field by field.
func (r *Receipt) marshalAll() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Check names one step of verification; a failed verification names the
// check that failed.
type Check string

// Checks, in the order they run.
const (
	// CheckFormat: the document is a well-formed receipt of a known kind, in
	// canonical form.
	CheckFormat Check = "format"
	// CheckTrustAnchor: the trust anchor holds a usable key, and it is the
	// key the receipt says signed it.
	CheckTrustAnchor Check = "trust-anchor"
	// CheckEventDigest: each event the receipt carries hashes to the digest
	// the transaction committed to for its ID, in the committed order; events
	// the receipt withholds are counted, not shown.
	CheckEventDigest Check = "event-digest"
	// CheckHeader: the block header is well formed and hashes to the block
	// hash that was signed.
	CheckHeader Check = "header"
	// CheckSignature: the block hash carries a valid signature by the trusted key.
	CheckSignature Check = "signature"
	// CheckQuorum: the block is signed by enough distinct orderer
	// organisations (Fabric BFT ordering: a quorum of those the trust
	// anchor names).
	CheckQuorum Check = "orderer-quorum"
	// CheckMerklePath: the transaction record and its audit path lead to the
	// transaction root in the header.
	CheckMerklePath Check = "merkle-path"
	// CheckBinding: the envelope (txId, blockNumber) and the events name the
	// same transaction and block as the signed evidence.
	CheckBinding Check = "binding"
)

// Error is a failed verification: the check that failed and why.
type Error struct {
	Check  Check
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "receipt verification failed: " + string(e.Check) + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(c Check, err error, format string, a ...any) *Error {
	return &Error{Check: c, Detail: fmt.Sprintf(format, a...), Err: err}
}

// Proof is what a verified receipt proved.
type Proof struct {
	Kind        string `json:"kind"`
	TxID        string `json:"txId"`
	BlockNumber uint64 `json:"blockNumber"`
	// BlockHash is the hex SHA-256 of the block header.
	BlockHash string `json:"blockHash"`
	// BlockTime is the block's time (RFC 3339) as the block states it.
	BlockTime string `json:"blockTime"`
	// PrevHash is the hash of the previous block, which the header commits to.
	PrevHash string `json:"prevHash"`
	// Timestamp, Creator and Function are the transaction's, as recorded.
	Timestamp string `json:"timestamp"`
	Creator   string `json:"creator"`
	Function  string `json:"function"`
	// Events are the events proved to be in the transaction, in order.
	Events []ProvedEvent `json:"events"`
	// Withheld is how many of the transaction's events the receipt does not
	// carry, because its holder may not read them; the receipt proves that
	// they exist, by their digests, and nothing of their content.
	Withheld int `json:"withheld"`
	// Signer is the fingerprint of the trusted key that signed the block:
	// "sha256:" and the hex SHA-256 of its PKIX (SubjectPublicKeyInfo) DER.
	Signer string `json:"signer"`
	// Endorsers are the MSP IDs of the organisations whose endorsements were
	// verified (Fabric receipts only), sorted.
	Endorsers []string `json:"endorsers,omitempty"`
}

// ProvedEvent is one event proved to be in the transaction.
type ProvedEvent struct {
	EventID  string   `json:"eventId"`
	Type     string   `json:"type"`
	BatchIDs []string `json:"batchIds"`
	Digest   string   `json:"digest"`
}

// Summary returns a short, human-readable account of what was proved.
func (p *Proof) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transaction %s (%s by %s at %s) is transaction of %s block %d (hash %s, time %s), signed by key %s",
		p.TxID, p.Function, p.Creator, p.Timestamp, p.Kind, p.BlockNumber, p.BlockHash, p.BlockTime, p.Signer)
	fmt.Fprintf(&b, "; %d event(s) proved", len(p.Events))
	if p.Withheld > 0 {
		fmt.Fprintf(&b, ", %d withheld (the receipt's holder may not read them; their digests are committed)", p.Withheld)
	}
	for _, e := range p.Events {
		fmt.Fprintf(&b, "\n  %s %s %v %s", e.EventID, e.Type, e.BatchIDs, e.Digest)
	}
	return b.String()
}

// Verify checks receiptJSON against the trust anchor (PEM text obtained from
// outside the receipt) and returns what it proved. On failure the error is an
// *[Error] naming the check that failed. Any change to the receipt's content
// fails: every field is either signed, committed to by a signed hash, or
// compared with signed data.
func Verify(receiptJSON []byte, trustAnchorPEM []byte) (*Proof, error) {
	r, err := decodeCanonical(receiptJSON)
	if err != nil {
		return nil, err
	}
	switch r.Kind {
	case KindEmbedded:
		if r.Embedded == nil {
			return nil, fail(CheckFormat, nil, `kind %q receipt has no "embedded" evidence`, r.Kind)
		}
		return verifyEmbedded(r, trustAnchorPEM)
	case KindFabric:
		return verifyFabric(r, trustAnchorPEM)
	default:
		return nil, fail(CheckFormat, nil, "unknown receipt kind %q", r.Kind)
	}
}

// decodeCanonical parses a receipt strictly and requires it to be in
// canonical form apart from insignificant whitespace, so that no byte of its
// content can change without changing what is verified (encoding/json would
// otherwise accept, for example, a key with different letter case).
func decodeCanonical(doc []byte) (*Receipt, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, fail(CheckFormat, err, "not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		return nil, fail(CheckFormat, err, "not a receipt")
	}
	if dec.More() {
		return nil, fail(CheckFormat, nil, "unexpected data after the receipt")
	}
	again, err := r.Marshal()
	if err != nil {
		return nil, fail(CheckFormat, err, "cannot re-encode the receipt")
	}
	if !bytes.Equal(again, compact.Bytes()) {
		return nil, fail(CheckFormat, nil, "receipt is not in canonical form (field names, order or encoding changed)")
	}
	return &r, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the object")
	}
	return nil
}

// Digest returns "sha256:" and the lowercase hex SHA-256 of b: the form of
// every content digest in a receipt.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// HexHash returns h as lowercase hex: the form of block and tree hashes.
func HexHash(h Hash) string { return hex.EncodeToString(h[:]) }

// parseHexHash decodes a 64-character lowercase hex hash. Upper case is
// refused: it would decode to the same bytes, so a changed letter would
// otherwise go unnoticed.
func parseHexHash(s string) (Hash, error) {
	var h Hash
	b, err := parseHex(s)
	if err != nil {
		return h, err
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("hash %q is %d bytes, want %d", s, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// parseHex decodes lowercase hex and refuses any other spelling.
func parseHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	if hex.EncodeToString(b) != s {
		return nil, fmt.Errorf("hex %q is not lowercase", s)
	}
	return b, nil
}
