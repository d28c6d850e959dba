// Package ledger holds the small types every ledger the app talks to returns,
// whether it is the embedded single-node ledger or a Fabric network. The app
// declares the interface it needs where it uses it; this package only fixes
// the shapes of results and the errors that cross that boundary.
package ledger

import (
	"bytes"
	"errors"
	"io"
)

// Result is what a committed write returns.
type Result struct {
	// TxID is the ID of the committed transaction.
	TxID string
	// Block is the number of the block that holds it.
	Block uint64
	// Payload is the contract's JSON result.
	Payload []byte
	// Receipt, when the ledger has what a receipt needs at hand, builds the
	// transaction's receipt (see package receipt): the same bytes the
	// ledger's Receipt returns for TxID, or nil when it cannot be built.
	// It is nil when the caller has to ask the ledger's Receipt. Building is
	// left to the caller because not every write's answer carries a receipt
	// (a bulk chunk's does not).
	Receipt func() Receipt
}

// Receipt is a receipt's canonical JSON in consecutive parts, which together
// are the document. A Fabric receipt carries its whole block, tens of
// kilobytes: the receipts of one block's writes share that part rather than
// each holding a copy of it. Parts are never changed once made.
type Receipt [][]byte

// Len is the length of the document.
func (r Receipt) Len() int {
	n := 0
	for _, p := range r {
		n += len(p)
	}
	return n
}

// Bytes returns the document in one slice: the only part itself when there
// is one, else a copy of the parts joined.
func (r Receipt) Bytes() []byte {
	if len(r) == 1 {
		return r[0]
	}
	if len(r) == 0 {
		return nil
	}
	return bytes.Join(r, nil)
}

// WriteTo writes the document to w part by part, copying nothing.
func (r Receipt) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range r {
		m, err := w.Write(p)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// UnmarshalJSON keeps a copy of the document as one part (a client reading
// a write's answer).
func (r *Receipt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = Receipt{append([]byte(nil), b...)}
	return nil
}

// MarshalJSON returns the document (already canonical JSON).
func (r Receipt) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r.Bytes(), nil
}

// Info describes a ledger to clients that want to verify its receipts.
type Info struct {
	// Kind is "embedded" or "fabric".
	Kind string `json:"kind"`
	// Height is the number of committed blocks.
	Height uint64 `json:"height"`
	// TrustAnchor is the PEM text a receipt verifier needs: the embedded
	// node's public key, or the channel organisations' root certificates.
	TrustAnchor string `json:"trustAnchor"`
}

// Ledger kinds.
const (
	KindEmbedded = "embedded"
	KindFabric   = "fabric"
)

var (
	// ErrUnavailable means the ledger cannot take or answer requests right
	// now (closed, unreachable, disk full or failed); callers may retry later.
	ErrUnavailable = errors.New("ledger unavailable")
	// ErrTxNotFound means no committed transaction has the given ID.
	ErrTxNotFound = errors.New("transaction not found")
)
