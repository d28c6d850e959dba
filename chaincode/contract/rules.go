package contract

import (
	"strings"
	"time"
)

// The rule checks below are used twice: by the transactions, before anything
// is written, and by the compliance report, which replays a batch's history
// through them. Each returns nil or an *Error naming its rule.

// country is the part of an ISO 3166 code that decides whether a transfer
// crosses a border: CN-SH and CN-BJ are both CN.
func country(region string) string {
	if i := strings.IndexByte(region, '-'); i >= 0 {
		return region[:i]
	}
	return region
}

func holdsPersonal(b *Batch) bool { return b.PersonalInfo != "none" }

// ruleLegalBasis is TT-R01.
func ruleLegalBasis(personalInfo, legalBasis string) *Error {
	switch {
	case personalInfo == "personal" && legalBasis == "none":
		return violation(RuleLegalBasis, "personal data needs a legal basis other than none")
	case personalInfo == "sensitive" && legalBasis != "separate-consent" && legalBasis != "legal-duty":
		return violation(RuleLegalBasis, "sensitive personal data needs the legal basis separate-consent or legal-duty, not %s", legalBasis)
	}
	return nil
}

// ruleDeidTrade is TT-R02 for trades.
func ruleDeidTrade(b *Batch) *Error {
	if holdsPersonal(b) && b.Deidentification != "anonymized" {
		return violation(RuleDeidentify, "batch %s holds %s data that is not anonymized, so it may not be traded", b.ID, b.PersonalInfo)
	}
	return nil
}

// ruleDeidCirculation is TT-R02 for circulations: personal data leaves its
// holder's organisation only in a sandbox or anonymized.
func ruleDeidCirculation(b *Batch, actor, to, accessMode string) *Error {
	if holdsPersonal(b) && b.Deidentification != "anonymized" && to != actor && accessMode != "sandbox" {
		return violation(RuleDeidentify, "batch %s holds %s data that is not anonymized: it may go to another organisation only in sandbox access mode", b.ID, b.PersonalInfo)
	}
	return nil
}

// ruleCrossBorder is TT-R03: moving a batch of region from to region dest.
func ruleCrossBorder(b *Batch, dest string, cb *CrossBorder) *Error {
	if country(dest) == country(b.Region) {
		return nil
	}
	if b.Classification == "core" {
		return violation(RuleCrossBorder, "batch %s is core data and never leaves %s (destination %s)", b.ID, b.Region, dest)
	}
	if b.Classification == "important" || holdsPersonal(b) {
		if cb == nil || cb.Mechanism == "" || cb.ApprovalRef == "" {
			return violation(RuleCrossBorder, "batch %s is %s data going from %s to %s: crossBorder.mechanism and crossBorder.approvalRef are required", b.ID, sensitivity(b), b.Region, dest)
		}
		if country(cb.Destination) != country(dest) {
			return violation(RuleCrossBorder, "crossBorder.destination %s does not match the destination %s", cb.Destination, dest)
		}
	}
	return nil
}

func sensitivity(b *Batch) string {
	if b.Classification == "important" {
		return "important"
	}
	return b.PersonalInfo
}

// rulePurpose is TT-R04.
func rulePurpose(b *Batch, purposes ...string) *Error {
	for _, p := range purposes {
		if !contains(b.Purposes, p) {
			return violation(RulePurpose, "purpose %s is not among batch %s's permitted purposes %v", p, b.ID, b.Purposes)
		}
	}
	return nil
}

// ruleStatus is TT-R05.
func ruleStatus(b *Batch, action string) *Error {
	if b.Status != StatusActive {
		return violation(RuleStatus, "batch %s is %s and cannot be %s", b.ID, b.Status, action)
	}
	return nil
}

// ruleRetention is TT-R06.
func ruleRetention(b *Batch, now time.Time, eventType string) *Error {
	if b.RetentionUntil == "" {
		return nil
	}
	until, err := time.Parse(time.RFC3339Nano, b.RetentionUntil)
	if err != nil || !now.After(until) {
		return nil
	}
	switch eventType {
	case EventAudited, EventFrozen, EventUnfrozen, EventRetired:
		return nil
	}
	return violation(RuleRetention, "batch %s's retention ended at %s: only audits, freezes and retirement are accepted, not %s", b.ID, b.RetentionUntil, eventType)
}

// eventRoles lists the roles that may record each event type (TT-R07).
// PROCESSED and RETIRED are also open to the owner; CIRCULATED to any
// holder (TT-R08 decides).
var eventRoles = map[string][]string{
	EventCollected: {RoleProvider},
	EventProcessed: {RoleProcessor},
	EventAssessed:  {RoleProcessor, RoleAuditor, RoleExchange},
	EventTraded:    {RoleExchange},
	EventAudited:   {RoleAuditor},
	EventFrozen:    {RoleRegulator},
	EventUnfrozen:  {RoleRegulator},
	EventRetired:   {RoleRegulator},
}

// ruleRole is TT-R07 for an event type; isOwner says whether the actor owns
// every batch the event acts on.
func ruleRole(p *Participant, eventType string, isOwner bool) *Error {
	if p == nil {
		return forbidden("the actor is not a registered participant")
	}
	roles, restricted := eventRoles[eventType]
	if !restricted || hasAnyRole(p, roles...) {
		return nil
	}
	if isOwner && (eventType == EventProcessed || eventType == EventRetired) {
		return nil
	}
	who := orList(roles)
	if eventType == EventProcessed || eventType == EventRetired {
		who += " or the owner"
	}
	return forbidden("%s may not record %s: that needs the role %s", p.MSPID, eventType, who)
}

// ruleCustody is TT-R08 for processing and circulation at time now: the
// actor owns the batch or holds a custody that has not lapsed.
func ruleCustody(b *Batch, actor, action string, now time.Time) *Error {
	if actor == b.Owner || Holds(b, actor, now) {
		return nil
	}
	if exp, ok := b.CustodyExpiresAt[actor]; ok && contains(b.Custodians, actor) {
		return violation(RuleCustody, "%s's custody of batch %s lapsed at %s: it may no longer %s it", actor, b.ID, exp, action)
	}
	return violation(RuleCustody, "%s neither owns nor holds batch %s and may not %s it", actor, b.ID, action)
}

// ruleSeller is TT-R08 for trades.
func ruleSeller(b *Batch, seller string) *Error {
	if seller != b.Owner {
		return violation(RuleCustody, "the seller %s is not the owner of batch %s (%s)", seller, b.ID, b.Owner)
	}
	return nil
}

// ruleConservation is TT-R10.
func ruleConservation(ops []string, in, out int64) *Error {
	for _, op := range ops {
		if !contains(reducingOps, op) {
			return nil
		}
	}
	if out > in {
		return violation(RuleConservation, "%s can only remove tokens: the outputs hold %d tokens, the inputs %d", strings.Join(ops, ", "), out, in)
	}
	return nil
}

// ruleQualityGate is TT-R11.
func ruleQualityGate(b *Batch) *Error {
	if b.Quality == nil {
		return violation(RuleQualityGate, "batch %s has no quality assessment and cannot be traded yet", b.ID)
	}
	return nil
}

// ruleQuantity is TT-R13.
func ruleQuantity(b *Batch, tokens int64) *Error {
	if tokens < 1 || tokens > b.Tokens.Count {
		return violation(RuleQuantity, "a trade of batch %s must be of 1 to %d tokens, not %d", b.ID, b.Tokens.Count, tokens)
	}
	return nil
}

// taintReasons are the retirement reasons that taint every descendant.
var taintReasons = []string{"consent-withdrawn", "erasure-request"}

// ruleTaint is TT-R14: tainted names a retired ancestor, or is empty.
func ruleTaint(b *Batch, tainted *Batch, action string) *Error {
	if tainted == nil {
		return nil
	}
	return violation(RuleTaint, "batch %s derives from batch %s, retired for %s, and cannot be %s", b.ID, tainted.ID, tainted.RetiredFor, action)
}
