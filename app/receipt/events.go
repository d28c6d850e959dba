package receipt

import (
	"encoding/json"
	"errors"
	"fmt"
)

// committedEvent is one event a transaction committed to, as the ledger's
// evidence states it: its ID and the digest of its JSON.
type committedEvent struct {
	EventID string
	Digest  string
}

// eventHead is what a verifier reads of an event.
type eventHead struct {
	EventID  string   `json:"eventId"`
	Type     string   `json:"type"`
	BatchIDs []string `json:"batchIds"`
	TxID     string   `json:"txId"`
}

// proveEvents checks the events a receipt carries against the events the
// transaction committed to, for both kinds of receipt. A receipt may carry
// a subset of them (the ones its holder may read), in the committed order,
// each at most once: each carried event must hash to the digest committed
// for its ID and name the receipt's transaction. It returns the proved
// events and how many committed events the receipt withholds.
func proveEvents(txID string, carried []json.RawMessage, committed []committedEvent) ([]ProvedEvent, int, error) {
	return proveEventsWith(txID, carried, committed, func(_ int, raw []byte) string { return Digest(raw) })
}

// proveEventsWith is proveEvents with the digest of carried event i given by
// digest: an embedded block of header version 2 commits to each event with
// its own salt.
func proveEventsWith(txID string, carried []json.RawMessage, committed []committedEvent, digest func(i int, raw []byte) string) ([]ProvedEvent, int, error) {
	if len(carried) > len(committed) {
		return nil, 0, fail(CheckEventDigest, nil, "receipt carries %d events, the transaction committed to %d", len(carried), len(committed))
	}
	proved := make([]ProvedEvent, len(carried))
	j := 0
	for i, raw := range carried {
		var e eventHead
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, 0, fail(CheckFormat, err, "event %d is not an event", i)
		}
		for j < len(committed) && committed[j].EventID != e.EventID {
			j++
		}
		if j == len(committed) {
			return nil, 0, fail(CheckEventDigest, nil, "event %d (%q) is not one the transaction committed to after event %d, or is out of order", i, e.EventID, i-1)
		}
		want := committed[j]
		j++
		if got := digest(i, raw); got != want.Digest {
			return nil, 0, fail(CheckEventDigest, nil, "event %d (%s) hashes to %s, the transaction committed to %s", i, e.EventID, got, want.Digest)
		}
		if e.TxID != txID {
			return nil, 0, fail(CheckBinding, nil, "event %d names transaction %q, the receipt is for %q", i, e.TxID, txID)
		}
		proved[i] = ProvedEvent{EventID: e.EventID, Type: e.Type, BatchIDs: e.BatchIDs, Digest: want.Digest}
	}
	return proved, len(committed) - len(carried), nil
}

// EventIDs returns the IDs of the events a receipt carries, in order.
func (r *Receipt) EventIDs() ([]string, error) {
	ids := make([]string, len(r.Events))
	for i, raw := range r.Events {
		var e eventHead
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("receipt event %d: %w", i, err)
		}
		ids[i] = e.EventID
	}
	return ids, nil
}

// ErrCannotWithhold means a receipt's evidence itself holds its events, so
// leaving them out of its events would hide nothing: a Fabric receipt
// carries its whole block.
var ErrCannotWithhold = errors.New("a Fabric receipt carries its whole block, events included: it cannot withhold events")

// Withhold returns a copy of an embedded receipt that carries only the
// events keep accepts, with only their salts; the others remain in it only
// as the commitments its transaction record holds, and the copy verifies
// like the original.
func (r *Receipt) Withhold(keep func(eventID string) bool) (*Receipt, error) {
	if r.Kind != KindEmbedded {
		return nil, ErrCannotWithhold
	}
	ids, err := r.EventIDs()
	if err != nil {
		return nil, err
	}
	// A receipt of a version-2 block carries one salt per event; the salt
	// of an event left out goes with it.
	var salts []string
	if r.Embedded != nil {
		salts = r.Embedded.EventSalts
	}
	if len(salts) > 0 && len(salts) != len(r.Events) {
		return nil, fmt.Errorf("receipt carries %d events and %d event salts", len(r.Events), len(salts))
	}
	cp := *r
	cp.Events = make([]json.RawMessage, 0, len(r.Events))
	var kept []string
	for i, id := range ids {
		if keep(id) {
			cp.Events = append(cp.Events, r.Events[i])
			if len(salts) > 0 {
				kept = append(kept, salts[i])
			}
		}
	}
	if r.Embedded != nil {
		ev := *r.Embedded
		ev.EventSalts = kept
		cp.Embedded = &ev
	}
	return &cp, nil
}
