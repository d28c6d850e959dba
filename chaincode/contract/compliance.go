package contract

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// ruleTitles names each rule in a report.
var ruleTitles = []struct{ id, title string }{
	{RuleLegalBasis, "legal basis"},
	{RuleDeidentify, "de-identification"},
	{RuleCrossBorder, "cross-border transfer"},
	{RulePurpose, "purpose limitation"},
	{RuleStatus, "status"},
	{RuleRetention, "retention"},
	{RuleRole, "role"},
	{RuleCustody, "custody"},
	{RuleLineage, "lineage"},
	{RuleConservation, "token conservation"},
	{RuleQualityGate, "quality gate"},
	{RuleIdempotency, "idempotency"},
	{RuleQuantity, "quantity"},
	{RuleTaint, "consent taint"},
}

// maxEvidence bounds the transaction IDs one rule result cites.
const maxEvidence = 200

// report gathers, per rule, whether it was checked, what failed and the
// transactions it rests on.
type report struct {
	checked  map[string]int
	failures map[string][]string
	evidence map[string][]string
	seenEv   map[string]map[string]bool
	notes    map[string][]string
}

func newReport() *report {
	return &report{checked: map[string]int{}, failures: map[string][]string{}, evidence: map[string][]string{},
		seenEv: map[string]map[string]bool{}, notes: map[string][]string{}}
}

// cite adds txID to rule's evidence without counting a check: a transaction
// a check rested on besides the one it judged (the assessment a trade's
// quality gate saw, say).
func (r *report) cite(rule, txID string) {
	if r.seenEv[rule] == nil {
		r.seenEv[rule] = map[string]bool{}
	}
	if txID != "" && !r.seenEv[rule][txID] && len(r.evidence[rule]) < maxEvidence {
		r.seenEv[rule][txID] = true
		r.evidence[rule] = append(r.evidence[rule], txID)
	}
}

// now records a judgement of the batch's standing at the report's time,
// resting on txID: a failure comes first in the rule's detail, since it is
// what holds today; a note (err nil) is appended to the detail.
func (r *report) now(rule, txID string, err *Error, note string) {
	r.cite(rule, txID)
	if err != nil {
		r.checked[rule]++
		r.failures[rule] = append([]string{"now: " + err.Detail + " (tx " + txID + ")"}, r.failures[rule]...)
		return
	}
	r.notes[rule] = append(r.notes[rule], note+" (tx "+txID+")")
}

// check records one application of rule, resting on txID; err is the rule
// check's result.
func (r *report) check(rule, txID string, err *Error) {
	r.checked[rule]++
	if r.seenEv[rule] == nil {
		r.seenEv[rule] = map[string]bool{}
	}
	if txID != "" && !r.seenEv[rule][txID] && len(r.evidence[rule]) < maxEvidence {
		r.seenEv[rule][txID] = true
		r.evidence[rule] = append(r.evidence[rule], txID)
	}
	if err != nil {
		r.failures[rule] = append(r.failures[rule], err.Detail+" (tx "+txID+")")
	}
}

func compliance(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[IDRequest](t, args)
	if err != nil {
		return nil, err
	}
	root, err := t.visibleBatch(p, "id", req.ID)
	if err != nil {
		return nil, err
	}
	anc, err := t.ancestors([]string{root.ID}, maxGraphNodes)
	if err != nil {
		return nil, invalid("id", "%v", err)
	}
	batches := append([]*Batch{root}, anc...)
	r := newReport()

	// Retirements that taint descendants, by batch.
	tainting := map[string]time.Time{}
	histories := map[string][]Event{}
	for _, b := range batches {
		h, err := t.allEvents(b.ID)
		if err != nil {
			return nil, err
		}
		histories[b.ID] = h
		for _, e := range h {
			if e.Type == EventRetired && contains(taintReasons, b.RetiredFor) {
				ts, _ := parseTime(e.Timestamp)
				tainting[b.ID] = ts
			}
		}
	}
	for _, b := range batches {
		if err := t.replayBatch(r, b, histories[b.ID], tainting); err != nil {
			return nil, err
		}
	}
	if err := t.standing(r, root, histories); err != nil {
		return nil, err
	}

	out := Compliance{BatchID: root.ID, Compliant: true, Ancestors: []string{}, Results: []RuleResult{}}
	for _, a := range anc {
		out.Ancestors = append(out.Ancestors, a.ID)
	}
	sort.Strings(out.Ancestors)
	for _, rt := range ruleTitles {
		res := RuleResult{Rule: rt.id, Title: rt.title, Evidence: r.evidence[rt.id]}
		if res.Evidence == nil {
			res.Evidence = []string{}
		}
		n := r.checked[rt.id]
		switch {
		case len(r.failures[rt.id]) > 0:
			res.Result = ResultFail
			res.Detail = fmt.Sprintf("%d of %d checks failed: %s", len(r.failures[rt.id]), n, r.failures[rt.id][0])
			out.Compliant = false
		case n == 0:
			res.Result = ResultNotApplicable
			res.Detail = "no event of the batch or its ancestors is subject to this rule"
		default:
			res.Result = ResultPass
			res.Detail = fmt.Sprintf("%d checks passed over %d batches", n, len(batches))
		}
		for _, n := range r.notes[rt.id] {
			res.Detail += "; " + n
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// standing judges what the rules imply for the batch now, at the query's
// time, beyond what its recorded events were checked against: a batch that
// is, or derives from, a batch retired for a tainting reason may no longer
// be circulated or traded (TT-R14 fails, citing the retirement); a frozen
// batch may not be used (TT-R05 fails, citing the freeze); a custody that
// has lapsed is noted under TT-R08, citing the circulation that granted it.
func (t *txn) standing(r *report, root *Batch, histories map[string][]Event) error {
	tainted, err := t.taintOf(root)
	if err != nil {
		return err
	}
	if tainted != nil {
		tx := ""
		if e := lastEvent(histories[tainted.ID], EventRetired); e != nil {
			tx = e.TxID
		}
		r.now(RuleTaint, tx, ruleTaint(root, tainted, "circulated or traded"), "")
	}
	if root.Status == StatusFrozen {
		tx := ""
		if e := lastEvent(histories[root.ID], EventFrozen); e != nil {
			tx = e.TxID
		}
		r.now(RuleStatus, tx, violation(RuleStatus, "batch %s is frozen and may not be processed, assessed, circulated or traded until the regulator unfreezes it", root.ID), "")
	}
	for _, msp := range sortedKeys(root.CustodyExpiresAt) {
		if !contains(root.Custodians, msp) || Holds(root, msp, t.now) {
			continue
		}
		tx := ""
		h := histories[root.ID]
		for i := len(h) - 1; i >= 0; i-- {
			if c := h[i].Circulated; h[i].Type == EventCirculated && c != nil && c.To == msp {
				tx = h[i].TxID
				break
			}
		}
		r.now(RuleCustody, tx, nil, fmt.Sprintf("now: %s's custody lapsed at %s; it may no longer read, process or circulate the batch", msp, root.CustodyExpiresAt[msp]))
	}
	return nil
}

// lastEvent returns the last event of type typ in h, or nil.
func lastEvent(h []Event, typ string) *Event {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Type == typ {
			return &h[i]
		}
	}
	return nil
}

// allEvents returns a batch's whole history in seq order.
func (t *txn) allEvents(id string) ([]Event, error) {
	prefix := join(kHistory+id, "")
	var out []Event
	err := t.st.Range(prefix, prefixEnd(prefix), func(_ string, v []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, err
		}
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// replayBatch walks b's history from its creation, rebuilding the state the
// batch had before each event (owner, custodians, status, quality) and
// running the same rule checks the transactions ran.
func (t *txn) replayBatch(r *report, final *Batch, events []Event, tainting map[string]time.Time) error {
	s := *final // immutable fields come from the current state
	s.Status = StatusActive
	s.Quality = nil
	s.Custodians = nil
	s.CustodyExpiresAt = nil
	tradeIDs := map[string]bool{}
	for _, e := range events {
		ts, _ := parseTime(e.Timestamp)
		actor, err := t.participant(e.Actor)
		if err != nil {
			return err
		}
		isOwner := e.Actor == s.Owner
		switch e.Type {
		case EventCollected:
			s.Owner, s.Custodians = e.Actor, []string{e.Actor}
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, false))
			r.check(RuleLegalBasis, e.TxID, ruleLegalBasis(s.PersonalInfo, s.LegalBasis))
			if e.Collected != nil && e.Collected.Quality != nil {
				s.Quality = qualityOf(e.Collected.Quality, e)
			} else if final.Quality != nil && final.Quality.TxID == e.TxID {
				// Recorded before collections kept their assessment:
				// known only while it is still the batch's latest.
				s.Quality = final.Quality
			}
		case EventProcessed:
			pp := e.Processed
			if contains(pp.Outputs, s.ID) {
				// The batch was made here: what it inherited.
				s.Owner, s.Custodians = pp.Owner, []string{pp.Owner, e.Actor}
				r.check(RuleLegalBasis, e.TxID, ruleLegalBasis(s.PersonalInfo, s.LegalBasis))
				r.check(RuleConservation, e.TxID, ruleConservation(pp.Operations, pp.TokensIn, pp.TokensOut))
				var lerr *Error
				for _, in := range pp.Inputs {
					if pb, err := t.batch(in); err != nil {
						return err
					} else if pb == nil {
						lerr = violation(RuleLineage, "input %s of batch %s is missing", in, s.ID)
					} else if in == s.ID {
						lerr = violation(RuleLineage, "batch %s is its own input", s.ID)
					} else {
						r.check(RuleCrossBorder, e.TxID, ruleCrossBorder(pb, pp.Region, pp.CrossBorder))
					}
				}
				r.check(RuleLineage, e.TxID, lerr)
				if q, ok := pp.OutputQuality[s.ID]; ok {
					s.Quality = qualityOf(&q, e)
				} else if final.Quality != nil && final.Quality.TxID == e.TxID {
					s.Quality = final.Quality
				}
				break
			}
			// The batch was an input.
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, isOwner))
			r.check(RuleCustody, e.TxID, ruleCustody(&s, e.Actor, "process", ts))
			r.check(RuleStatus, e.TxID, ruleStatus(&s, "processed"))
			r.check(RuleRetention, e.TxID, ruleRetention(&s, ts, e.Type))
		case EventAssessed:
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, false))
			r.check(RuleRetention, e.TxID, ruleRetention(&s, ts, e.Type))
			a := e.Assessed
			s.Quality = &Quality{Score: a.Score, Metrics: a.Metrics, Method: a.Method, AssessedBy: e.Actor, TxID: e.TxID}
		case EventCirculated:
			c := e.Circulated
			r.check(RuleCustody, e.TxID, ruleCustody(&s, e.Actor, "circulate", ts))
			r.check(RuleStatus, e.TxID, ruleStatus(&s, "circulated"))
			r.check(RuleRetention, e.TxID, ruleRetention(&s, ts, e.Type))
			r.check(RulePurpose, e.TxID, rulePurpose(&s, c.Purpose))
			r.check(RuleDeidentify, e.TxID, ruleDeidCirculation(&s, e.Actor, c.To, c.AccessMode))
			dest := c.To
			if to, err := t.participant(c.To); err != nil {
				return err
			} else if to != nil {
				dest = to.Region
			}
			if c.CrossBorder != nil {
				dest = c.CrossBorder.Destination
			}
			r.check(RuleCrossBorder, e.TxID, ruleCrossBorder(&s, dest, c.CrossBorder))
			t.checkTaint(r, &s, e, ts, tainting)
			extendCustody(&s, c.To, c.ExpiresAt, ts)
			s.Custodians = sortedSet(s.Custodians)
		case EventTraded:
			tr := e.Traded
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, false))
			r.check(RuleCustody, e.TxID, ruleSeller(&s, tr.Seller))
			r.check(RuleStatus, e.TxID, ruleStatus(&s, "traded"))
			r.check(RuleRetention, e.TxID, ruleRetention(&s, ts, e.Type))
			r.check(RulePurpose, e.TxID, rulePurpose(&s, tr.Purposes...))
			r.check(RuleDeidentify, e.TxID, ruleDeidTrade(&s))
			r.check(RuleQualityGate, e.TxID, ruleQualityGate(&s))
			if s.Quality != nil {
				r.cite(RuleQualityGate, s.Quality.TxID)
			}
			r.check(RuleQuantity, e.TxID, ruleQuantity(&s, tr.Tokens))
			key := tr.Exchange + "/" + tr.TradeID
			var dup *Error
			if tradeIDs[key] {
				dup = conflict(RuleIdempotency, "trade %s of %s is recorded twice", tr.TradeID, tr.Exchange)
			}
			tradeIDs[key] = true
			r.check(RuleIdempotency, e.TxID, dup)
			t.checkTaint(r, &s, e, ts, tainting)
			extendCustody(&s, tr.Buyer, "", ts)
			s.Custodians = sortedSet(s.Custodians)
			if tr.Rights == "ownership" {
				s.Owner = tr.Buyer
			}
		case EventAudited:
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, false))
		case EventFrozen, EventUnfrozen:
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, false))
			if e.Type == EventFrozen {
				s.Status = StatusFrozen
			} else {
				s.Status = StatusActive
			}
		case EventRetired:
			r.check(RuleRole, e.TxID, ruleRole(actor, e.Type, isOwner))
			s.Status = StatusRetired
		}
	}
	return nil
}

// checkTaint applies TT-R14 to a circulation or trade of s at ts: it fails
// when s or one of its ancestors had been retired for a tainting reason by
// then.
func (t *txn) checkTaint(r *report, s *Batch, e Event, ts time.Time, tainting map[string]time.Time) {
	var err *Error
	check := func(id string) {
		if at, ok := tainting[id]; ok && !ts.Before(at) && err == nil {
			err = violation(RuleTaint, "batch %s was %s after %s, from which it derives, was retired", s.ID, pastTense(e.Type), id)
		}
	}
	check(s.ID)
	if anc, aerr := t.ancestors([]string{s.ID}, maxGraphNodes); aerr == nil {
		for _, a := range anc {
			check(a.ID)
		}
	}
	r.check(RuleTaint, e.TxID, err)
}

func pastTense(eventType string) string {
	if eventType == EventTraded {
		return "traded"
	}
	return "circulated"
}

// qualityOf is an assessment recorded in event e as the batch's quality.
func qualityOf(a *AssessedPayload, e Event) *Quality {
	return &Quality{Score: a.Score, Metrics: a.Metrics, Method: a.Method, AssessedBy: e.Actor, TxID: e.TxID}
}
