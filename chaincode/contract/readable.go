package contract

import "fmt"

// ReadableEvents answers which of a list of events the caller may read, by
// the rule every other query applies: an event is readable when its batch
// is (MayRead, at the query's time). Receipts use it to carry in clear only what the caller may
// read (docs/design/0018-commitments.md).

// MaxReadableEvents is the most event IDs one ReadableEvents request may
// name: a Fabric block of bulk trades can hold a few thousand events.
const MaxReadableEvents = 20_000

// ReadableEventsRequest names the events to check.
type ReadableEventsRequest struct {
	EventIDs []string `json:"eventIds"`
}

// ReadableEvents is the answer: the named events the caller may read, in
// the order asked (each once), and whether the caller reads every batch by
// its role, including batches that do not exist (an event of a transaction
// the ledger did not commit).
type ReadableEvents struct {
	ReadsAll bool     `json:"readsAll"`
	Readable []string `json:"readable"`
}

func readableEvents(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[ReadableEventsRequest](t, args)
	if err != nil {
		return nil, err
	}
	if len(req.EventIDs) > MaxReadableEvents {
		return nil, invalid("eventIds", "has more than %d entries", MaxReadableEvents)
	}
	// A batch that names no owner and no custodian is readable only to a
	// caller who reads every batch: asking MayRead about it keeps the rule in
	// one place.
	out := ReadableEvents{ReadsAll: MayRead(p, &Batch{}, t.now), Readable: []string{}}
	seen := map[string]bool{}
	cache := map[string]bool{}
	for i, id := range req.EventIDs {
		if err := checkID(fmt.Sprintf("eventIds[%d]", i), id); err != nil {
			return nil, err
		}
	}
	if out.ReadsAll {
		// Every event is readable: the answer is the list, each once.
		for _, id := range req.EventIDs {
			if !seen[id] {
				seen[id] = true
				out.Readable = append(out.Readable, id)
			}
		}
		// Events the ledger does not hold are not listed, as below.
		return t.heldEvents(out)
	}
	// Two batched reads instead of two per event: where each event is,
	// then the batches they are on.
	refs := make([]string, len(req.EventIDs))
	for i, id := range req.EventIDs {
		refs[i] = kEventRef + id
	}
	if err := t.prefetch(refs); err != nil {
		return nil, err
	}
	var batchKeys []string
	for _, id := range req.EventIDs {
		var loc eventLoc
		if ok, err := t.getJSON(kEventRef+id, &loc); err != nil {
			return nil, err
		} else if ok {
			batchKeys = append(batchKeys, kBatch+loc.BatchID)
		}
	}
	if err := t.prefetch(batchKeys); err != nil {
		return nil, err
	}
	for _, id := range req.EventIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		var loc eventLoc
		ok, err := t.getJSON(kEventRef+id, &loc)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		readable, known := cache[loc.BatchID]
		if !known {
			b, err := t.batch(loc.BatchID)
			if err != nil {
				return nil, err
			}
			readable = b != nil && MayRead(p, b, t.now)
			cache[loc.BatchID] = readable
		}
		if readable {
			out.Readable = append(out.Readable, id)
		}
	}
	return out, nil
}

// heldEvents keeps in out.Readable only the events the ledger holds, with
// one batched read of their references.
func (t *txn) heldEvents(out ReadableEvents) (any, error) {
	refs := make([]string, len(out.Readable))
	for i, id := range out.Readable {
		refs[i] = kEventRef + id
	}
	if err := t.prefetch(refs); err != nil {
		return nil, err
	}
	held := out.Readable[:0]
	for _, id := range out.Readable {
		v, err := t.get(kEventRef + id)
		if err != nil {
			return nil, err
		}
		if v != nil {
			held = append(held, id)
		}
	}
	out.Readable = held
	return out, nil
}
