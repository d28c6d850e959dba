// Package service turns the API's requests into contract calls on a ledger:
// it encodes the contract's request types, moves private trade terms into the
// transient map, submits as the caller's organisation, attaches receipts to
// writes and splits bulk trades into one ledger transaction per chunk. It
// knows neither HTTP nor which ledger it talks to.
package service

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// DefaultChunkSize is how many trades of a bulk request go into one ledger
// transaction (see docs/design/0005-bulk-trades.md).
const DefaultChunkSize = 250

// MaxBulkTrades is the most trades one bulk request may hold.
const MaxBulkTrades = 1000

// Service runs the API's operations on a ledger.
type Service struct {
	l     Ledger
	log   *slog.Logger
	chunk int

	// readCache shares the answers receipts need about what a caller may
	// read; see readableCache.
	readCache *readableCache

	nsMu sync.Mutex // guards ns
	// ns is the OpenLineage namespace of the ledger's batches; see Namespace.
	ns string
}

// Option configures a [Service].
type Option func(*Service)

// WithChunkSize sets the number of trades per bulk ledger transaction.
func WithChunkSize(n int) Option {
	return func(s *Service) {
		if n > 0 {
			s.chunk = n
		}
	}
}

// New returns a service over l. log receives what clients are not told.
func New(l Ledger, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{l: l, log: log, chunk: DefaultChunkSize, readCache: newReadableCache()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Written is the answer to a write: what it created or changed, its event and
// the receipt of the transaction that holds the event.
type Written struct {
	Participant *contract.Participant `json:"participant,omitempty"`
	Batch       *contract.Batch       `json:"batch,omitempty"`
	Batches     []contract.Batch      `json:"batches,omitempty"`
	Event       *contract.Event       `json:"event,omitempty"`
	Receipt     ledger.Receipt        `json:"receipt,omitempty"`
	// ReceiptWithheld says why a committed write is answered without its
	// receipt: a Fabric receipt carries its whole block, which holds
	// records the caller may not read.
	ReceiptWithheld string `json:"receiptWithheld,omitempty"`
	// Replayed is true for an exact replay of a trade: nothing new was
	// written and Event is the first recording's.
	Replayed bool `json:"-"`
}

// write submits fn as caller and decodes the contract's WriteResult.
func (s *Service) write(ctx context.Context, caller, fn string, req any, transient map[string][]byte) (*Written, error) {
	args, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", fn, err)
	}
	res, err := s.l.Submit(ctx, caller, fn, args, transient)
	if err != nil {
		return nil, err
	}
	var wr contract.WriteResult
	if err := json.Unmarshal(res.Payload, &wr); err != nil {
		return nil, fmt.Errorf("decode %s result (tx %s): %w", fn, res.TxID, err)
	}
	out := &Written{Participant: wr.Participant, Batch: wr.Batch, Batches: wr.Batches, Event: wr.Event, Replayed: wr.Replayed}
	// The receipt is the one of the transaction that holds the event: for a
	// replay that is the first recording, not the replay's own transaction.
	txID := res.TxID
	if wr.Event != nil && wr.Event.TxID != "" {
		txID = wr.Event.TxID
	}
	var rcpt ledger.Receipt
	if txID == res.TxID && res.Receipt != nil {
		// The ledger can build the receipt from what it has at hand.
		rcpt = res.Receipt()
	}
	if rcpt == nil {
		raw, err := s.l.Receipt(ctx, txID)
		if err != nil {
			// The write is committed; failing the request now would invite a
			// retry of something that succeeded. The receipt stays available
			// from GET /api/v1/events/{eventId}/receipt.
			s.log.WarnContext(ctx, "receipt not attached to committed write", "fn", fn, "txId", txID, "err", err)
			return out, nil
		}
		rcpt = ledger.Receipt{raw}
	}
	// The receipt shows only what the caller may read: a replay's receipt
	// is of the first recording's transaction, perhaps a bulk one, and a
	// Fabric receipt holds its whole block.
	shown, err := s.forCaller(ctx, caller, rcpt, wr.Event)
	if err != nil {
		if ce, ok := ContractError(err); ok && ce.Kind == contract.KindForbidden {
			out.ReceiptWithheld = ce.Detail
			return out, nil
		}
		s.log.WarnContext(ctx, "receipt not attached to committed write", "fn", fn, "txId", txID, "err", err)
		return out, nil
	}
	out.Receipt = shown
	return out, nil
}

// RegisterParticipant registers an organisation (regulator only).
func (s *Service) RegisterParticipant(ctx context.Context, caller string, req contract.RegisterParticipantRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnRegisterParticipant, req, nil)
}

// SuspendParticipant suspends an organisation (regulator only).
func (s *Service) SuspendParticipant(ctx context.Context, caller string, req contract.SuspendParticipantRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnSuspendParticipant, req, nil)
}

// Collect registers a collected batch.
func (s *Service) Collect(ctx context.Context, caller string, req contract.CollectRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnCollect, req, nil)
}

// Process records processing of batches into new ones.
func (s *Service) Process(ctx context.Context, caller string, req contract.ProcessRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnProcess, req, nil)
}

// Assess records a quality assessment.
func (s *Service) Assess(ctx context.Context, caller string, req contract.AssessRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnAssess, req, nil)
}

// Circulate records a circulation.
func (s *Service) Circulate(ctx context.Context, caller string, req contract.CirculateRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnCirculate, req, nil)
}

// Audit records an audit.
func (s *Service) Audit(ctx context.Context, caller string, req contract.AuditRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnAudit, req, nil)
}

// Freeze freezes a batch.
func (s *Service) Freeze(ctx context.Context, caller string, req contract.StatusRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnFreeze, req, nil)
}

// Unfreeze unfreezes a batch.
func (s *Service) Unfreeze(ctx context.Context, caller string, req contract.StatusRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnUnfreeze, req, nil)
}

// Retire retires a batch.
func (s *Service) Retire(ctx context.Context, caller string, req contract.StatusRequest) (*Written, error) {
	return s.write(ctx, caller, contract.FnRetire, req, nil)
}

// Trade records one trade; its terms travel in the transient map only.
func (s *Service) Trade(ctx context.Context, caller string, req contract.TradeRequest, terms contract.Terms) (*Written, error) {
	t, err := json.Marshal(terms)
	if err != nil {
		return nil, fmt.Errorf("encode terms: %w", err)
	}
	return s.write(ctx, caller, contract.FnTrade, req, map[string][]byte{contract.TransientTerms: t, contract.TransientSalts: newSalts(1)})
}

// newSalts draws the salts of n trades' private values (contract.SaltSize
// random bytes each) for the transient map: every submission, a replay
// included, gets fresh ones, and they never leave the transaction's
// endorsers and the private collection.
func newSalts(n int) []byte {
	b := make([]byte, n*contract.SaltSize)
	rand.Read(b) // crypto/rand.Read never fails (it panics if the system source does)
	return b
}

// Bulk item statuses beyond the contract's committed, replayed and rejected.
const (
	// BulkNotRecorded: the trade's chunk could not be submitted (the ledger
	// failed after earlier chunks were committed). Retrying is safe: trades
	// that did commit come back as replayed.
	BulkNotRecorded = "not-recorded"
)

// BulkItem is one trade's outcome in a bulk request.
type BulkItem struct {
	TradeID string     `json:"tradeId"`
	Status  string     `json:"status"`
	EventID string     `json:"eventId,omitempty"`
	TxID    string     `json:"txId,omitempty"`
	Error   *ItemError `json:"error,omitempty"`
}

// ItemError says why one trade was not recorded.
type ItemError struct {
	Kind   string `json:"kind"`
	Rule   string `json:"rule,omitempty"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// BulkResult is the answer to a bulk trade request, in request order.
type BulkResult struct {
	Results []BulkItem `json:"results"`
}

// TradeBulk records trades in chunks of the configured size, one ledger
// transaction per chunk. terms[i] belongs to trades[i]. When the first chunk
// fails as a whole (the caller may not trade, the ledger is down) the error
// is returned and nothing was recorded; when a later chunk fails, the trades
// of it and of every later chunk are reported as [BulkNotRecorded].
func (s *Service) TradeBulk(ctx context.Context, caller string, trades []contract.TradeRequest, terms []contract.Terms) (*BulkResult, error) {
	if len(trades) != len(terms) {
		return nil, fmt.Errorf("%d trades but %d terms", len(trades), len(terms))
	}
	out := &BulkResult{Results: make([]BulkItem, 0, len(trades))}
	for start := 0; start < len(trades); start += s.chunk {
		end := min(start+s.chunk, len(trades))
		items, err := s.tradeChunk(ctx, caller, trades[start:end], terms[start:end])
		if err == nil && start == 0 {
			err = roleRefusal(items)
		}
		if err != nil {
			if start == 0 {
				return nil, err
			}
			s.log.ErrorContext(ctx, "bulk trade chunk failed", "caller", caller, "from", start, "err", err)
			ie := &ItemError{Kind: "unavailable", Detail: "this trade's chunk could not be recorded; nothing of it was written, retry the request"}
			if ce, ok := ContractError(err); ok {
				ie = &ItemError{Kind: string(ce.Kind), Rule: ce.Rule, Field: ce.Field, Detail: ce.Detail}
			}
			for _, t := range trades[start:] {
				out.Results = append(out.Results, BulkItem{TradeID: t.TradeID, Status: BulkNotRecorded, Error: ie})
			}
			return out, nil
		}
		out.Results = append(out.Results, items...)
	}
	return out, nil
}

// roleRefusal returns the role error when the contract refused every trade of
// a chunk for the caller's role (TT-R07): the caller may not trade at all, and
// the request as a whole is answered 403 rather than 200 with only refusals.
func roleRefusal(items []BulkItem) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		if it.Error == nil || it.Error.Kind != string(contract.KindForbidden) {
			return nil
		}
	}
	e := items[0].Error
	return &contract.Error{Kind: contract.KindForbidden, Rule: e.Rule, Detail: e.Detail}
}

func (s *Service) tradeChunk(ctx context.Context, caller string, trades []contract.TradeRequest, terms []contract.Terms) ([]BulkItem, error) {
	args, err := json.Marshal(contract.BulkTradeRequest{Trades: trades})
	if err != nil {
		return nil, err
	}
	t, err := json.Marshal(terms)
	if err != nil {
		return nil, err
	}
	res, err := s.l.Submit(ctx, caller, contract.FnTradeBulk, args, map[string][]byte{contract.TransientTerms: t, contract.TransientSalts: newSalts(len(trades))})
	if err != nil {
		return nil, err
	}
	var br contract.BulkTradeResult
	if err := json.Unmarshal(res.Payload, &br); err != nil {
		return nil, fmt.Errorf("decode bulk result (tx %s): %w", res.TxID, err)
	}
	if len(br.Results) != len(trades) {
		return nil, fmt.Errorf("bulk result (tx %s) has %d results for %d trades", res.TxID, len(br.Results), len(trades))
	}
	items := make([]BulkItem, len(br.Results))
	for i, r := range br.Results {
		items[i] = BulkItem{TradeID: r.TradeID, Status: r.Status, EventID: r.EventID, TxID: r.TxID}
		if r.Error != nil {
			items[i].Error = &ItemError{Kind: string(r.Error.Kind), Rule: r.Error.Rule, Field: r.Error.Field, Detail: r.Error.Detail}
		}
	}
	return items, nil
}

// Query runs the read fn with req as caller and returns the contract's JSON
// answer unchanged.
func (s *Service) Query(ctx context.Context, caller, fn string, req any) (json.RawMessage, error) {
	args, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", fn, err)
	}
	return s.l.Evaluate(ctx, caller, fn, args)
}

func (s *Service) queryInto(ctx context.Context, caller, fn string, req, out any) error {
	b, err := s.Query(ctx, caller, fn, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s result: %w", fn, err)
	}
	return nil
}

// Receipt returns the receipt of the transaction holding event eventID, as
// seen by caller (who must be allowed to read the event).
func (s *Service) Receipt(ctx context.Context, caller, eventID string) ([]byte, error) {
	var ref contract.EventRef
	if err := s.queryInto(ctx, caller, contract.FnGetEvent, contract.IDRequest{ID: eventID}, &ref); err != nil {
		return nil, err
	}
	if ref.TxID == "" {
		return nil, fmt.Errorf("event %s has no transaction ID", eventID)
	}
	raw, err := s.l.Receipt(ctx, ref.TxID)
	if err != nil {
		return nil, err
	}
	shown, err := s.forCaller(ctx, caller, ledger.Receipt{raw}, nil)
	return shown.Bytes(), err
}

// Info describes the ledger.
func (s *Service) Info(ctx context.Context) (ledger.Info, error) { return s.l.Info(ctx) }

// Ready returns nil when the ledger can take requests.
func (s *Service) Ready(ctx context.Context) error { return s.l.Ready(ctx) }

// EnsureParticipants makes sure the regulator has bootstrapped the ledger and
// every other organisation is registered, submitting only what is missing,
// so it is safe on every start. It reports how many it registered.
func (s *Service) EnsureParticipants(ctx context.Context, regulator contract.RegisterParticipantRequest, others []contract.RegisterParticipantRequest) (int, error) {
	n := 0
	exists, err := s.participantExists(ctx, regulator.MSPID, regulator.MSPID)
	if err != nil {
		return 0, err
	}
	if !exists {
		if _, err := s.write(ctx, regulator.MSPID, contract.FnBootstrap, contract.BootstrapRequest{Name: regulator.Name, Region: regulator.Region}, nil); err != nil {
			return 0, fmt.Errorf("bootstrap ledger as %s: %w", regulator.MSPID, err)
		}
		n++
	}
	for _, p := range others {
		exists, err := s.participantExists(ctx, regulator.MSPID, p.MSPID)
		if err != nil {
			return n, err
		}
		if exists {
			continue
		}
		if _, err := s.RegisterParticipant(ctx, regulator.MSPID, p); err != nil {
			return n, fmt.Errorf("register %s: %w", p.MSPID, err)
		}
		n++
	}
	return n, nil
}

func (s *Service) participantExists(ctx context.Context, caller, mspID string) (bool, error) {
	_, err := s.Query(ctx, caller, contract.FnGetParticipant, contract.IDRequest{ID: mspID})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, contract.ErrNotFound):
		return false, nil
	}
	// Before the ledger is bootstrapped nobody may read: the contract says
	// the caller is not a registered participant.
	if ce, ok := ContractError(err); ok && (ce.Kind == contract.KindNotFound || (ce.Kind == contract.KindForbidden && caller == mspID)) {
		return false, nil
	}
	return false, fmt.Errorf("look up participant %s: %w", mspID, err)
}
