package service

import (
	"context"
	"errors"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Ledger is what the service needs from a ledger (embedded or Fabric). Both
// ledgers run the same contract; the service never knows which one it has.
type Ledger interface {
	// Submit runs the write fn with args as org and returns once the
	// transaction is committed. Errors the contract raised come back as
	// *contract.Error (possibly wrapped); [ledger.ErrUnavailable] when the ledger
	// cannot be reached. transient data is passed to the contract and never
	// recorded. The result's Receipt, when set, builds the transaction's
	// receipt without another trip to the ledger.
	Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error)
	// Evaluate runs the query fn with args as org and returns its JSON result.
	Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error)
	// Receipt returns the self-contained receipt of a committed transaction,
	// or [ledger.ErrTxNotFound].
	Receipt(ctx context.Context, txID string) ([]byte, error)
	// Info describes the ledger: its kind, height and trust anchor.
	Info(ctx context.Context) (ledger.Info, error)
	// Ready returns nil when the ledger can take requests.
	Ready(ctx context.Context) error
	// Events calls fn with the chaincode event (a contract.WriteEvent) of
	// every committed transaction at or after from, in commit order, then
	// with each new one as it commits; [ledger.Live] starts after the last
	// transaction committed when it is called. Positions are stable: the
	// same position names the same transaction on every call. It returns
	// ctx.Err() when ctx ends, fn's error when fn fails, and an error
	// wrapping [ledger.ErrUnavailable] when the ledger closes or cannot be
	// read.
	Events(ctx context.Context, from ledger.Position, fn func(ledger.Committed) error) error
}

// ContractError returns the contract's error carried by err: a
// *contract.Error in its chain, or one encoded in its text (as Fabric peers
// return chaincode errors).
func ContractError(err error) (*contract.Error, bool) {
	if err == nil {
		return nil, false
	}
	var ce *contract.Error
	if errors.As(err, &ce) {
		return ce, true
	}
	return contract.DecodeError(err.Error())
}
