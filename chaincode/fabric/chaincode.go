// Package fabric adapts the tokentrail contract to Hyperledger Fabric: a
// [contract.State] over the chaincode stub, and a fabric-contract-api-go
// smart contract whose transaction functions are the contract's functions,
// each taking its request as one JSON string and returning its result as
// one. Errors the contract means for the caller travel in the chaincode
// response message, encoded with [contract.EncodeError].
package fabric

import (
	"errors"
	"fmt"
	"sort"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-contract-api-go/v2/metadata"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// ContractName is the name of the chaincode's one contract, which is also its
// default: clients may call "RecordTrade" or "tokentrail:RecordTrade".
const ContractName = "tokentrail"

// NewChaincode returns the tokentrail chaincode, ready for a
// shim.ChaincodeServer or for shim.Start.
func NewChaincode() (*contractapi.ContractChaincode, error) {
	sc := &smartContract{c: contract.New()}
	sc.Name = ContractName
	sc.Info = metadata.InfoMetadata{
		Title:       "tokentrail",
		Description: "Lifecycle audit and compliance ledger for AI-training token batches",
	}
	cc, err := contractapi.NewChaincode(sc)
	if err != nil {
		return nil, fmt.Errorf("build chaincode: %w", err)
	}
	cc.DefaultContract = ContractName
	cc.TransactionSerializer = &stringSerializer{}
	cc.Info = metadata.InfoMetadata{Title: "tokentrail"}
	return cc, nil
}

// smartContract exposes every function of [contract.Contract] as a Fabric
// transaction of the same name. Each takes the function's JSON request as its
// single string argument and returns the JSON result.
type smartContract struct {
	contractapi.Contract
	c *contract.Contract
}

// GetEvaluateTransactions tags the contract's queries "evaluate" in the
// chaincode metadata, so clients evaluate rather than submit them.
func (s *smartContract) GetEvaluateTransactions() []string {
	var q []string
	for _, fn := range s.c.Functions() {
		if s.c.IsQuery(fn) {
			q = append(q, fn)
		}
	}
	sort.Strings(q)
	return q
}

// invoke runs fn over the transaction's stub. A failure comes back as an
// error whose text is [contract.EncodeError]'s, since only the text crosses
// the peer's gRPC boundary.
func (s *smartContract) invoke(ctx contractapi.TransactionContextInterface, fn, args string) (string, error) {
	out, err := s.c.Invoke(stubState{stub: ctx.GetStub()}, fn, []byte(args))
	if err != nil {
		return "", errors.New(contract.EncodeError(err))
	}
	return string(out), nil
}

// Writes.

// Bootstrap makes the caller the ledger's regulator.
func (s *smartContract) Bootstrap(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnBootstrap, request)
}

// RegisterParticipant registers an organisation.
func (s *smartContract) RegisterParticipant(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnRegisterParticipant, request)
}

// SuspendParticipant suspends an organisation.
func (s *smartContract) SuspendParticipant(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnSuspendParticipant, request)
}

// CollectBatch records a COLLECTED event.
func (s *smartContract) CollectBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnCollect, request)
}

// ProcessBatches records a PROCESSED event.
func (s *smartContract) ProcessBatches(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnProcess, request)
}

// AssessBatch records an ASSESSED event.
func (s *smartContract) AssessBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnAssess, request)
}

// CirculateBatch records a CIRCULATED event.
func (s *smartContract) CirculateBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnCirculate, request)
}

// RecordTrade records a TRADED event; its terms travel in transient data.
func (s *smartContract) RecordTrade(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnTrade, request)
}

// RecordTrades records several TRADED events in one transaction.
func (s *smartContract) RecordTrades(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnTradeBulk, request)
}

// AuditBatch records an AUDITED event.
func (s *smartContract) AuditBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnAudit, request)
}

// FreezeBatch records a FROZEN event.
func (s *smartContract) FreezeBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnFreeze, request)
}

// UnfreezeBatch records an UNFROZEN event.
func (s *smartContract) UnfreezeBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnUnfreeze, request)
}

// RetireBatch records a RETIRED event.
func (s *smartContract) RetireBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnRetire, request)
}

// Queries.

// GetParticipant returns one participant.
func (s *smartContract) GetParticipant(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnGetParticipant, request)
}

// ListParticipants returns participants.
func (s *smartContract) ListParticipants(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnListParticipants, request)
}

// GetBatch returns one batch.
func (s *smartContract) GetBatch(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnGetBatch, request)
}

// ListBatches returns batches.
func (s *smartContract) ListBatches(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnListBatches, request)
}

// History returns a batch's events in order.
func (s *smartContract) History(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnHistory, request)
}

// Lineage returns a batch's ancestors and descendants.
func (s *smartContract) Lineage(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnLineage, request)
}

// Impact returns everything downstream of a batch.
func (s *smartContract) Impact(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnImpact, request)
}

// Compliance evaluates the rules over a batch and its ancestors.
func (s *smartContract) Compliance(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnCompliance, request)
}

// ListTrades returns trades, with terms where the caller may read them.
func (s *smartContract) ListTrades(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnListTrades, request)
}

// Prices returns price statistics.
func (s *smartContract) Prices(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnPrices, request)
}

// GetEvent returns one event.
func (s *smartContract) GetEvent(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnGetEvent, request)
}

// ReadableEvents says which of a list of events the caller may read.
func (s *smartContract) ReadableEvents(ctx contractapi.TransactionContextInterface, request string) (string, error) {
	return s.invoke(ctx, contract.FnReadableEvents, request)
}
