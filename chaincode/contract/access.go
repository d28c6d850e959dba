package contract

import (
	"fmt"
	"time"
)

// The access policy. Every read and every write of a batch asks the
// functions below, and nothing else, whether the caller may see or act on
// the batch: MayRead for reads (and as the first question of every write),
// one may* function per kind of write. docs/api.md states the same policy as
// one table.
//
// Order of the questions, so that no answer tells a caller more than it may
// read:
//  1. Is the caller registered and active? (403 TT-R07; says nothing about
//     any batch)
//  2. Does the caller's role allow the action at all, whatever the batch?
//     (403 TT-R07; idem)
//  3. May the caller read the batch now? A batch it may not read and a batch
//     that does not exist get the same answer, byte for byte: 404 with
//     [hiddenBatch]'s text.
//  4. The rules that need the batch: ownership (403 TT-R07), custody (422
//     TT-R08), status, retention, taint and the others (422).

// BatchFormat is the version of the batch record this contract writes.
// Version 1 (no formatVersion field) had no custodyExpiresAt: it is
// migrated on read from the batch's circulations. A record of a later
// version than this is refused, never misread.
const BatchFormat = 2

// MayRead reports whether participant p may read batch b at time now: an
// active regulator, auditor or exchange reads every batch; any other active
// participant the batches it owns and those it holds through a custody that
// has not lapsed. A suspended or unregistered participant reads none.
func MayRead(p *Participant, b *Batch, now time.Time) bool {
	if p == nil || b == nil || p.Status != participantActive {
		return false
	}
	if hasAnyRole(p, RoleRegulator, RoleAuditor, RoleExchange) {
		return true
	}
	return b.Owner == p.MSPID || Holds(b, p.MSPID, now)
}

// Holds reports whether msp holds custody of b at now: it is among the
// custodians and its custody, when it was given for a time only, has not
// lapsed. Custody lapses at the instant of its expiry.
func Holds(b *Batch, msp string, now time.Time) bool {
	if !contains(b.Custodians, msp) {
		return false
	}
	exp, ok := b.CustodyExpiresAt[msp]
	if !ok {
		return true
	}
	until, err := parseTime(exp)
	return err == nil && now.Before(until)
}

// hiddenBatch is the one answer for a batch that does not exist and for a
// batch the caller may not read: the same kind, field and text in both
// cases, so the answer is no oracle of existence.
func hiddenBatch(field, id string) *Error {
	return &Error{Kind: KindNotFound, Field: field, Detail: "batch " + id + " does not exist or is not visible to the caller"}
}

// readable returns the batch with id when the caller p may read it now, and
// the hidden-batch error otherwise (missing or not readable alike).
func (t *txn) readable(p *Participant, field, id string) (*Batch, error) {
	b, err := t.batch(id)
	if err != nil {
		return nil, err
	}
	if b == nil || !MayRead(p, b, t.now) {
		return nil, hiddenBatch(field, id)
	}
	return b, nil
}

// mayAssess: a processor, auditor or exchange (checked before the batch is
// looked at) that may read the batch, which must be active (frozen and
// retired batches keep their quality) and within its retention.
func (t *txn) mayAssess(p *Participant, b *Batch) *Error {
	if err := ruleStatus(b, "assessed"); err != nil {
		return err
	}
	return ruleRetention(b, t.now, EventAssessed)
}

// mayProcess: every input readable (checked by the caller of this function
// first, for all inputs), then the role or ownership of every input
// (TT-R07), then per input custody now (TT-R08), status and retention.
func (t *txn) mayProcess(p *Participant, inputs []*Batch) *Error {
	ownsAll := true
	for _, b := range inputs {
		ownsAll = ownsAll && b.Owner == p.MSPID
	}
	if err := ruleRole(p, EventProcessed, ownsAll); err != nil {
		return err
	}
	for _, b := range inputs {
		if err := ruleStatus(b, "processed"); err != nil {
			return err
		}
		if err := ruleRetention(b, t.now, EventProcessed); err != nil {
			return err
		}
		if err := ruleCustody(b, p.MSPID, "process", t.now); err != nil {
			return err
		}
	}
	return nil
}

// mayCirculate: readable, then custody now (TT-R08); the rest of
// checkCirculation follows.
func (t *txn) mayCirculate(p *Participant, b *Batch) *Error {
	return ruleCustody(b, p.MSPID, "circulate", t.now)
}

// mayStatus is freeze, unfreeze and retirement: freezing and unfreezing
// need the regulator's role (asked before the batch is read); retirement
// the regulator or the owner, asked once the batch is known to be readable.
func (t *txn) mayStatus(p *Participant, b *Batch, typ string) *Error {
	return ruleRole(p, typ, b.Owner == p.MSPID)
}

// viewBatch is b for an answer to p: b itself when p may read it, nil
// otherwise. Write answers pass through it, so no write answers with more
// than a read would.
func (t *txn) viewBatch(p *Participant, b *Batch) *Batch {
	if MayRead(p, b, t.now) {
		return b
	}
	return nil
}

// extendCustody makes msp a custodian of b until until ("" for no end). A
// grant never shortens a custody the party already holds: the later expiry
// wins and a custody without end stays without end, so one holder cannot
// cut another's custody short by circulating the batch to it again.
func extendCustody(b *Batch, msp, until string, now time.Time) {
	current := Holds(b, msp, now)
	if !contains(b.Custodians, msp) {
		b.Custodians = append(b.Custodians, msp)
	}
	old, limited := b.CustodyExpiresAt[msp]
	switch {
	case until == "":
		if limited {
			delete(b.CustodyExpiresAt, msp)
		}
		return
	case current && !limited:
		return // holds without end already
	case current && limited && !timeBefore(old, until):
		return // holds longer already
	}
	if b.CustodyExpiresAt == nil {
		b.CustodyExpiresAt = map[string]string{}
	}
	b.CustodyExpiresAt[msp] = until
}

// migrateBatch brings a batch record read from the ledger to [BatchFormat].
// Version 1 records carry no custody expiries: they are rebuilt from the
// batch's history (circulations with an expiry, trades and processing that
// give custody without one), in the order the events were recorded.
func (t *txn) migrateBatch(b *Batch) error {
	switch {
	case b.FormatVersion == BatchFormat:
		return nil
	case b.FormatVersion > BatchFormat:
		return fmt.Errorf("batch %s is stored in format %d; this contract reads formats 1 to %d: upgrade the contract", b.ID, b.FormatVersion, BatchFormat)
	case b.FormatVersion != 0 && b.FormatVersion != 1:
		return fmt.Errorf("batch %s has format %d, which no version of this contract wrote (this one reads 1 to %d)", b.ID, b.FormatVersion, BatchFormat)
	}
	// Only circulations can set an expiry: without one that has, the
	// record needs no more than its version.
	limited := false
	circulations, err := t.batchCirculations(b.ID)
	for _, e := range circulations {
		limited = limited || (e.Circulated != nil && e.Circulated.ExpiresAt != "")
	}
	if err != nil {
		return fmt.Errorf("migrate batch %s from format 1: %w", b.ID, err)
	}
	b.FormatVersion = BatchFormat
	if !limited {
		return nil
	}
	events, err := t.allEvents(b.ID)
	if err != nil {
		return fmt.Errorf("migrate batch %s from format 1: %w", b.ID, err)
	}
	b.CustodyExpiresAt = nil
	s := &Batch{ID: b.ID}
	for _, e := range events {
		ts, _ := parseTime(e.Timestamp)
		applyCustody(s, e, ts)
	}
	for msp, until := range s.CustodyExpiresAt {
		if contains(b.Custodians, msp) {
			if b.CustodyExpiresAt == nil {
				b.CustodyExpiresAt = map[string]string{}
			}
			b.CustodyExpiresAt[msp] = until
		}
	}
	return nil
}

// applyCustody changes the custodians of s as event e, recorded at ts, did.
func applyCustody(s *Batch, e Event, ts time.Time) {
	switch e.Type {
	case EventCollected:
		extendCustody(s, e.Actor, "", ts)
	case EventProcessed:
		if pp := e.Processed; pp != nil && contains(pp.Outputs, s.ID) {
			extendCustody(s, pp.Owner, "", ts)
			extendCustody(s, e.Actor, "", ts)
		}
	case EventCirculated:
		if c := e.Circulated; c != nil {
			extendCustody(s, c.To, c.ExpiresAt, ts)
		}
	case EventTraded:
		if tr := e.Traded; tr != nil {
			extendCustody(s, tr.Buyer, "", ts)
		}
	}
}
