package ledger

import "math"

// Position is a place in a ledger's commit order: a block number and, within
// that block, the ordinal of a committed transaction among those that set
// the contract's chaincode event (contract.EventName), counting from 0.
// Rejected and invalid transactions are not counted, so a position means the
// same transaction on every node and after every restart.
type Position struct {
	Block uint64
	Tx    int
}

// Live is the position of the next transaction to commit: a feed started
// there shows only what commits after the call. Ledgers resolve it to a
// concrete position when the feed starts, so a feed that has to reconnect
// loses nothing.
var Live = Position{Block: math.MaxUint64}

// Before reports whether p comes before q in commit order.
func (p Position) Before(q Position) bool {
	return p.Block < q.Block || (p.Block == q.Block && p.Tx < q.Tx)
}

// Committed is one committed transaction's chaincode event.
type Committed struct {
	Position
	// TxID is the transaction's ID.
	TxID string
	// Payload is the event payload: a contract.WriteEvent.
	Payload []byte
}
