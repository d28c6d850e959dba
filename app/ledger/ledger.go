// Package ledger holds the small types every ledger the app talks to returns,
// whether it is the embedded single-node ledger or a Fabric network. The app
// declares the interface it needs where it uses it; this package only fixes
// the shapes of results and the errors that cross that boundary.
package ledger

import "errors"

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
	Receipt func() []byte
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
