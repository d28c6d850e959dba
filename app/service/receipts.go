package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Receipts show only what their holder may read
// (docs/design/0018-commitments.md):
//
//   - An embedded receipt carries in clear only the events of its
//     transaction the caller may read; the others stay in it as the digests
//     its transaction record commits to, and it verifies all the same.
//   - A Fabric receipt carries its whole block, which no receipt can prove
//     with less. It goes only to a caller who may read every record in the
//     block: one who reads every batch by role (the regulator, auditors,
//     exchanges), or one who may read every event of every transaction in
//     it. Anyone else is refused with the reason and who can produce it.

// readable asks the contract which of ids caller may read.
func (s *Service) readable(ctx context.Context, caller string, ids []string) (*contract.ReadableEvents, error) {
	var out contract.ReadableEvents
	if err := s.queryInto(ctx, caller, contract.FnReadableEvents, contract.ReadableEventsRequest{EventIDs: ids}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// forCaller returns the receipt raw as caller may have it. own, when set, is
// an event the caller is already being answered with in clear: a receipt of
// that event alone needs no check. A Fabric receipt the caller may not have
// is a *contract.Error of kind forbidden.
func (s *Service) forCaller(ctx context.Context, caller string, rc ledger.Receipt, own *contract.Event) (ledger.Receipt, error) {
	// A caller found to read every batch may have any receipt whole.
	if s.readCache.readsAll(caller) {
		return rc, nil
	}
	if len(rc) == 0 {
		return nil, fmt.Errorf("receipt: empty")
	}
	// The head (kind, transaction, block) comes first, in the first part.
	kind, txID, block, err := receiptHead(rc[0])
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	switch kind {
	case receipt.KindEmbedded:
		shown, err := s.embeddedForCaller(ctx, caller, rc.Bytes(), own)
		if err != nil {
			return nil, err
		}
		return ledger.Receipt{shown}, nil
	case receipt.KindFabric:
		// Every write of a block carries the same block: its writers share
		// one verdict, and the block is decoded once for them.
		v, err := s.readCache.get(ctx, caller, fmt.Sprintf("fabric-block/%d", block), func() (any, error) {
			// Shared: no one request's cancellation may fail the others.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readableAskTimeout)
			defer cancel()
			return s.fabricVerdict(actx, caller, rc.Bytes())
		})
		if err != nil {
			return nil, err
		}
		if why, _ := v.(string); why != "" {
			return nil, &contract.Error{Kind: contract.KindForbidden, Detail: fmt.Sprintf(
				"%s may not have the receipt of transaction %s: a Fabric receipt carries its whole block (block %d), and %s. "+
					"The regulator, an auditor or an exchange, who read every batch, can obtain it; a member that runs its own peer reads the block there",
				caller, txID, block, why)}
		}
		return rc, nil
	default:
		return nil, fmt.Errorf("receipt of unknown kind %q", kind)
	}
}

// receiptHead reads a receipt's kind, transaction ID and block number,
// which its canonical form puts first, without decoding the rest.
func receiptHead(raw []byte) (kind, txID string, block uint64, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", "", 0, fmt.Errorf("not a JSON object")
	}
	var haveKind, haveTx, haveBlock bool
	for dec.More() && !(haveKind && haveTx && haveBlock) {
		tok, err := dec.Token()
		if err != nil {
			return "", "", 0, err
		}
		switch tok {
		case "kind":
			err, haveKind = dec.Decode(&kind), true
		case "txId":
			err, haveTx = dec.Decode(&txID), true
		case "blockNumber":
			err, haveBlock = dec.Decode(&block), true
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return "", "", 0, err
		}
	}
	if !haveKind {
		return "", "", 0, fmt.Errorf("no kind")
	}
	return kind, txID, block, nil
}

// embeddedForCaller withholds the events of an embedded receipt that caller
// may not read.
func (s *Service) embeddedForCaller(ctx context.Context, caller string, raw []byte, own *contract.Event) ([]byte, error) {
	// Most write answers hold the receipt of their own single event: read
	// just enough of it to tell.
	var head struct {
		Events []struct {
			EventID string `json:"eventId"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if len(head.Events) == 0 || (own != nil && len(head.Events) == 1 && head.Events[0].EventID == own.EventID) {
		return raw, nil
	}
	var r receipt.Receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	ids, err := r.EventIDs()
	if err != nil {
		return nil, err
	}
	rd, err := s.readable(ctx, caller, ids)
	if err != nil {
		return nil, err
	}
	if rd.ReadsAll {
		s.readCache.markReadsAll(caller)
	}
	if rd.ReadsAll || len(rd.Readable) == len(ids) {
		return raw, nil
	}
	keep := make(map[string]bool, len(rd.Readable))
	for _, id := range rd.Readable {
		keep[id] = true
	}
	w, err := r.Withhold(func(id string) bool { return keep[id] })
	if err != nil {
		return nil, err
	}
	return w.Marshal()
}

// fabricVerdict decides whether caller may have the Fabric receipt raw (and
// so any receipt of its block): "" when it may, why not when not.
func (s *Service) fabricVerdict(ctx context.Context, caller string, raw []byte) (any, error) {
	var r receipt.Receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	entries, err := receipt.FabricDisclosure(&r)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.EventIDs...)
	}
	rd, err := s.readable(ctx, caller, ids)
	if err != nil {
		return nil, err
	}
	if rd.ReadsAll {
		s.readCache.markReadsAll(caller)
		return "", nil
	}
	return fabricWithheld(entries, rd.Readable, r.Fabric.Chaincode), nil
}

// participantFns are the writes whose requests and results concern only
// participants, whom every registered organisation may list.
var participantFns = map[string]bool{
	contract.FnBootstrap: true, contract.FnRegisterParticipant: true, contract.FnSuspendParticipant: true,
}

// fabricWithheld returns why a caller who does not read every batch may not
// have a receipt of the block whose entries are given, or "" when every
// entry concerns only what the caller may read. Only entries known to
// disclose nothing else pass: a tokentrail write whose every event the
// caller may read, that names no batch without an event (a bulk trade
// every trade of which was recorded; not a replay, which records no event),
// or a participant write. The reason names no other transaction, event or
// count: the caller may not read them, so the refusal must not tell them.
func fabricWithheld(entries []receipt.DisclosedTx, readable []string, chaincode string) string {
	ok := make(map[string]bool, len(readable))
	for _, id := range readable {
		ok[id] = true
	}
	for _, e := range entries {
		switch {
		case !e.Readable || e.Chaincode != chaincode:
			return "it holds a transaction that is not of this chaincode"
		case participantFns[e.Function]:
			continue
		case len(e.EventIDs) == 0:
			return "it holds a transaction that recorded no event, so what its request names cannot be checked"
		case e.Function == contract.FnTradeBulk && e.Trades != len(e.EventIDs):
			return "it holds a bulk trade some of whose trades were not recorded, and they name batches that cannot be checked"
		}
		for _, id := range e.EventIDs {
			if !ok[id] {
				return "it holds an event of a batch the caller may not read"
			}
		}
	}
	return ""
}
