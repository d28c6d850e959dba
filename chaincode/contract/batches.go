package contract

import (
	"encoding/json"
	"fmt"
	"math"
)

// batch returns the batch with id, or nil. The copy is the caller's to
// change. Decoded batches are kept for the rest of the transaction (a bulk
// of trades reads the same batch many times); saveBatch keeps them current.
func (t *txn) batch(id string) (*Batch, error) {
	if b, ok := t.batches[id]; ok {
		return b.clone(), nil
	}
	var b Batch
	ok, err := t.getJSON(kBatch+id, &b)
	if err != nil || !ok {
		return nil, err
	}
	if err := t.migrateBatch(&b); err != nil {
		return nil, err
	}
	t.batches[id] = &b
	return b.clone(), nil
}

// clone copies b deeply enough that changing the copy (its lists, its
// quality) leaves b as it was.
func (b *Batch) clone() *Batch {
	c := *b
	c.Custodians = append([]string(nil), b.Custodians...)
	c.Purposes = append([]string(nil), b.Purposes...)
	c.Languages = append([]string(nil), b.Languages...)
	c.Parents = append([]string(nil), b.Parents...)
	if b.CustodyExpiresAt != nil {
		c.CustodyExpiresAt = make(map[string]string, len(b.CustodyExpiresAt))
		for k, v := range b.CustodyExpiresAt {
			c.CustodyExpiresAt[k] = v
		}
	}
	if b.Quality != nil {
		q := *b.Quality
		c.Quality = &q
	}
	if b.Source != nil {
		s := *b.Source
		c.Source = &s
	}
	return &c
}

// mustBatch returns the batch with id or a not-found error naming field.
func (t *txn) mustBatch(field, id string) (*Batch, error) {
	b, err := t.batch(id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, hiddenBatch(field, id)
	}
	return b, nil
}

// saveBatch writes b and keeps the owner and custody indexes in step with
// it; old is the batch as it was (nil for a new batch).
func (t *txn) saveBatch(old, b *Batch) error {
	b.UpdatedAt = t.nowStr
	b.FormatVersion = BatchFormat
	b.Custodians = sortedSet(b.Custodians)
	if len(b.CustodyExpiresAt) == 0 {
		b.CustodyExpiresAt = nil
	}
	if old == nil {
		t.put(join(kSector+b.Sector, b.ID), present)
	}
	if old == nil || old.Owner != b.Owner {
		if old != nil {
			t.del(join(kOwner+old.Owner, b.ID))
		}
		t.put(join(kOwner+b.Owner, b.ID), present)
	}
	var before []string
	if old != nil {
		before = old.Custodians
	}
	for _, c := range before {
		if !contains(b.Custodians, c) {
			t.del(join(kCustody+c, b.ID))
		}
	}
	for _, c := range b.Custodians {
		if !contains(before, c) {
			t.put(join(kCustody+c, b.ID), present)
		}
	}
	t.batches[b.ID] = b.clone()
	// Encoded from that copy when read back or at flush (txn.unencoded).
	t.unencoded[kBatch+b.ID] = true
	return nil
}

// newEvent starts an event of typ recorded by the caller.
func (t *txn) newEvent(typ string, batchIDs ...string) Event {
	return Event{EventID: t.newUUID(), Type: typ, BatchIDs: batchIDs, Actor: t.caller, TxID: t.txID, Timestamp: t.nowStr}
}

// record appends e to b's history and saves b, whose state before this
// transaction's changes was old; it returns e as recorded (with b's seq).
func (t *txn) record(old, b *Batch, e Event) (Event, error) {
	e, err := t.appendEvent(b, e)
	if err != nil {
		return e, err
	}
	return e, t.saveBatch(old, b)
}

// roleActor returns the caller when it may record events of eventType
// (TT-R07) on batches it does not own.
func (t *txn) roleActor(eventType string) (*Participant, error) {
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	if err := ruleRole(actor, eventType, false); err != nil {
		return nil, err
	}
	return actor, nil
}

// eventLoc is where an event's first copy lives.
type eventLoc struct {
	BatchID string `json:"batchId"`
	Seq     int64  `json:"seq"`
	TxID    string `json:"txId"`
}

// appendEvent records e as b's next event: it takes b's next seq and is
// written to b's history. The caller saves b.
func (t *txn) appendEvent(b *Batch, e Event) (Event, error) {
	b.Version++
	e.BatchID = b.ID
	e.Seq = b.Version
	if err := t.putJSON(join(kHistory+b.ID, seqKey(e.Seq)), e); err != nil {
		return e, err
	}
	// An event recorded on several batches (a processing step's outputs)
	// points at its first copy. Event IDs are new in each transaction
	// (derived from its ID), so only this transaction's writes can hold the
	// reference already: looking in the committed state would cost a read
	// on Fabric (a round trip to the peer and a key every peer re-checks)
	// for nothing.
	if _, done := t.writes[kEventRef+e.EventID]; !done {
		if err := t.putJSON(kEventRef+e.EventID, eventLoc{BatchID: b.ID, Seq: e.Seq, TxID: t.txID}); err != nil {
			return e, err
		}
	}
	t.events = append(t.events, e)
	return e, nil
}

// ancestors returns every ancestor of the batches in ids, breadth first, and
// fails when the graph is larger than limit.
func (t *txn) ancestors(ids []string, limit int) ([]*Batch, error) {
	seen := map[string]bool{}
	queue := append([]string(nil), ids...)
	for _, id := range ids {
		seen[id] = true
	}
	var out []*Batch
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		b, err := t.batch(id)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		for _, p := range b.Parents {
			if seen[p] {
				continue
			}
			seen[p] = true
			pb, err := t.batch(p)
			if err != nil {
				return nil, err
			}
			if pb == nil {
				continue
			}
			out = append(out, pb)
			if len(out) > limit {
				return nil, fmt.Errorf("lineage of %v has more than %d ancestors", ids, limit)
			}
			queue = append(queue, p)
		}
	}
	return out, nil
}

// maxAncestors bounds the ancestor walk of the taint rule.
const maxAncestors = 100000

// taintOf returns the batch itself or the nearest ancestor retired for a
// reason that taints its descendants (TT-R14), or nil.
func (t *txn) taintOf(b *Batch) (*Batch, error) {
	if b.Status == StatusRetired && contains(taintReasons, b.RetiredFor) {
		return b, nil
	}
	anc, err := t.ancestors([]string{b.ID}, maxAncestors)
	if err != nil {
		return nil, err
	}
	for _, a := range anc {
		if a.Status == StatusRetired && contains(taintReasons, a.RetiredFor) {
			return a, nil
		}
	}
	return nil, nil
}

// assessedFrom is the assessment given in a request as an event records it.
func assessedFrom(q *QualityInput) *AssessedPayload {
	if q == nil {
		return nil
	}
	return &AssessedPayload{Score: q.Score, Metrics: q.Metrics, Method: q.Method}
}

func qualityFrom(q *QualityInput, by, txID string) *Quality {
	if q == nil {
		return nil
	}
	return &Quality{Score: q.Score, Metrics: q.Metrics, Method: q.Method, AssessedBy: by, TxID: txID}
}

func collect(t *txn, args []byte) (any, error) {
	var req CollectRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	_, err := t.roleActor(EventCollected)
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if req.ID == "" {
		req.ID = t.newUUID()
	}
	if old, err := t.batch(req.ID); err != nil {
		return nil, err
	} else if old != nil {
		return nil, &Error{Kind: KindConflict, Field: "id", Detail: "batch " + req.ID + " already exists"}
	}
	if err := ruleLegalBasis(req.PersonalInfo, req.LegalBasis); err != nil {
		return nil, err
	}
	if holdsPersonalLevel(req.PersonalInfo) && (req.LegalBasis == "consent" || req.LegalBasis == "separate-consent") && req.ConsentRef == "" {
		return nil, &Error{Kind: KindRule, Rule: RuleLegalBasis, Field: "consentRef", Detail: "personal data collected on consent needs consentRef, the digest of the consent evidence"}
	}
	src := req.Source
	b := &Batch{
		ID: req.ID, Name: req.Name, Description: req.Description, Owner: t.caller, Custodians: []string{t.caller},
		Sector: req.Sector, Modality: req.Modality, Languages: req.Languages, Tokens: req.Tokens,
		ContentDigest: req.ContentDigest, SizeBytes: req.SizeBytes, Records: req.Records,
		Classification: req.Classification, PersonalInfo: req.PersonalInfo, Deidentification: req.Deidentification,
		LegalBasis: req.LegalBasis, ConsentRef: req.ConsentRef, Purposes: req.Purposes, Region: req.Region,
		Licence: req.Licence, RetentionUntil: req.RetentionUntil, Quality: qualityFrom(req.Quality, t.caller, t.txID),
		Source: &src, Status: StatusActive, CreatedTx: t.txID, CreatedAt: t.nowStr,
	}
	if err := ruleRetention(b, t.now, EventCollected); err != nil {
		return nil, err
	}
	e := t.newEvent(EventCollected, b.ID)
	e.Collected = &CollectedPayload{Source: src, Quality: assessedFrom(req.Quality)}
	e, err = t.appendEvent(b, e)
	if err != nil {
		return nil, err
	}
	if err := t.saveBatch(nil, b); err != nil {
		return nil, err
	}
	return WriteResult{Batch: b, Event: &e}, nil
}

func holdsPersonalLevel(level string) bool { return level != "none" }

func maxOf(list []string, values ...string) string {
	best := -1
	for _, v := range values {
		if i := indexOf(list, v); i > best {
			best = i
		}
	}
	return list[best]
}

func minOf(list []string, values ...string) string {
	best := len(list)
	for _, v := range values {
		if i := indexOf(list, v); i < best {
			best = i
		}
	}
	return list[best]
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, v := range a {
		if contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func process(t *txn, args []byte) (any, error) {
	var req ProcessRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	inputs := make([]*Batch, len(req.Inputs))
	for i, id := range req.Inputs {
		b, err := t.readable(actor, fmt.Sprintf("inputs[%d]", i), id)
		if err != nil {
			return nil, err
		}
		inputs[i] = b
	}
	if err := t.mayProcess(actor, inputs); err != nil {
		return nil, err
	}
	var tokensIn int64
	for _, b := range inputs {
		if err := ruleCrossBorder(b, actor.Region, req.CrossBorder); err != nil {
			return nil, err
		}
		tokensIn += b.Tokens.Count
	}
	var tokensOut int64
	for i := range req.Outputs {
		tokensOut += req.Outputs[i].Tokens.Count
	}
	if err := ruleConservation(req.Operations, tokensIn, tokensOut); err != nil {
		return nil, err
	}

	// What the outputs inherit.
	first := inputs[0]
	in, err := inherit(inputs, req.Operations, t.caller)
	if err != nil {
		return nil, err
	}

	outIDs := make([]string, len(req.Outputs))
	outputs := make([]*Batch, len(req.Outputs))
	for i := range req.Outputs {
		o := &req.Outputs[i]
		if o.ID == "" {
			o.ID = t.newUUID()
		}
		if old, err := t.batch(o.ID); err != nil {
			return nil, err
		} else if old != nil {
			return nil, &Error{Kind: KindConflict, Rule: RuleLineage, Field: fmt.Sprintf("outputs[%d].id", i), Detail: "output batch " + o.ID + " already exists; outputs must be new"}
		}
		modality, langs := o.Modality, o.Languages
		if modality == "" {
			modality = first.Modality
		}
		if langs == nil {
			langs = first.Languages
		}
		outIDs[i] = o.ID
		outputs[i] = &Batch{
			ID: o.ID, Name: o.Name, Description: o.Description, Owner: in.Owner, Custodians: []string{in.Owner, t.caller},
			Sector: first.Sector, Modality: modality, Languages: langs, Tokens: o.Tokens, ContentDigest: o.ContentDigest,
			SizeBytes: o.SizeBytes, Records: o.Records, Classification: in.Classification,
			PersonalInfo: in.PersonalInfo, Deidentification: in.Deidentification, LegalBasis: in.LegalBasis, ConsentRef: in.ConsentRef,
			Purposes: in.Purposes, Region: actor.Region, Licence: in.Licence, RetentionUntil: in.RetentionUntil,
			Quality: qualityFrom(o.Quality, t.caller, t.txID), Parents: sortedSet(req.Inputs), Status: StatusActive,
			CreatedTx: t.txID, CreatedAt: t.nowStr,
		}
	}
	// Every check has passed: write.
	ratio := 0.0
	if tokensIn > 0 {
		ratio = math.Round(float64(tokensOut)/float64(tokensIn)*1e6) / 1e6
	}
	all := append(append([]string(nil), req.Inputs...), outIDs...)
	e := t.newEvent(EventProcessed, all...)
	e.Processed = &ProcessedPayload{Inputs: req.Inputs, Operations: req.Operations, Tool: req.Tool, Outputs: outIDs,
		Owner: in.Owner, Region: actor.Region, CrossBorder: req.CrossBorder, TokensIn: tokensIn, TokensOut: tokensOut, KeptRatio: ratio}
	for i := range req.Outputs {
		if q := assessedFrom(req.Outputs[i].Quality); q != nil {
			if e.Processed.OutputQuality == nil {
				e.Processed.OutputQuality = map[string]AssessedPayload{}
			}
			e.Processed.OutputQuality[outIDs[i]] = *q
		}
	}
	var first0 Event
	for i, b := range inputs {
		old := *b
		ec, err := t.appendEvent(b, e)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first0 = ec
		}
		if err := t.saveBatch(&old, b); err != nil {
			return nil, err
		}
	}
	result := make([]Batch, len(outputs))
	for i, b := range outputs {
		if _, err := t.appendEvent(b, e); err != nil {
			return nil, err
		}
		if err := t.saveBatch(nil, b); err != nil {
			return nil, err
		}
		for _, p := range b.Parents {
			edge := Edge{From: p, To: b.ID, EventID: e.EventID, TxID: t.txID, Operations: req.Operations}
			if err := t.putJSON(join(kChild+p, b.ID), edge); err != nil {
				return nil, err
			}
			if err := t.putJSON(join(kParent+b.ID, p), edge); err != nil {
				return nil, err
			}
		}
		if v := t.viewBatch(actor, b); v != nil {
			result[i] = *v
		} else {
			result[i] = Batch{ID: b.ID}
		}
	}
	return WriteResult{Batches: result, Event: &first0}, nil
}

func timeBefore(a, b string) bool {
	ta, err1 := parseTime(a)
	tb, err2 := parseTime(b)
	if err1 != nil || err2 != nil {
		return a < b
	}
	return ta.Before(tb)
}

func assess(t *txn, args []byte) (any, error) {
	var req AssessRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	actor, err := t.roleActor(EventAssessed)
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	b, err := t.readable(actor, "batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	if err := t.mayAssess(actor, b); err != nil {
		return nil, err
	}
	old := *b
	e := t.newEvent(EventAssessed, b.ID)
	e.Assessed = &AssessedPayload{Score: *req.Score, Metrics: req.Metrics, Method: req.Method}
	b.Quality = &Quality{Score: *req.Score, Metrics: req.Metrics, Method: req.Method, AssessedBy: t.caller, TxID: t.txID}
	if e, err = t.record(&old, b, e); err != nil {
		return nil, err
	}
	return WriteResult{Batch: t.viewBatch(actor, b), Event: &e}, nil
}

func circulate(t *txn, args []byte) (any, error) {
	var req CirculateRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	// What a circulation reads first — the batch, the recipient and the
	// ledger's format (which says whether it keeps a circulation index) —
	// in one batched call.
	if err := t.prefetch([]string{kBatch + req.BatchID, kParticipant + req.To, kFormat}); err != nil {
		return nil, err
	}
	b, err := t.readable(actor, "batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	if err := t.mayCirculate(actor, b); err != nil {
		return nil, err
	}
	if req.To == t.caller {
		return nil, invalid("to", "a batch cannot be circulated to its own holder")
	}
	to, err := t.activeParticipant("to", req.To)
	if err != nil {
		return nil, err
	}
	if req.ExpiresAt != "" {
		if ts, _ := parseTime(req.ExpiresAt); !ts.After(t.now) {
			return nil, invalid("expiresAt", "must be in the future")
		}
	}
	if err := checkCirculation(t, b, to, &req); err != nil {
		return nil, err
	}
	old := *b
	e := t.newEvent(EventCirculated, b.ID)
	e.Circulated = &CirculatedPayload{To: req.To, Purpose: req.Purpose, AccessMode: req.AccessMode, CrossBorder: req.CrossBorder, ExpiresAt: req.ExpiresAt}
	extendCustody(b, req.To, req.ExpiresAt, t.now)
	if e, err = t.record(&old, b, e); err != nil {
		return nil, err
	}
	chunked, err := t.chunked()
	if err != nil {
		return nil, err
	}
	if !chunked {
		// Formats 1 and 2 index a batch's circulations; format 3 finds them
		// in its history.
		if err := t.putJSON(join(kCirculation+b.ID, seqKey(e.Seq)), e); err != nil {
			return nil, err
		}
	}
	return WriteResult{Batch: t.viewBatch(actor, b), Event: &e}, nil
}

// checkCirculation runs the rules a circulation must pass, in the order a
// reader would ask them.
func checkCirculation(t *txn, b *Batch, to *Participant, req *CirculateRequest) error {
	if err := ruleStatus(b, "circulated"); err != nil {
		return err
	}
	if err := ruleRetention(b, t.now, EventCirculated); err != nil {
		return err
	}
	tainted, err := t.taintOf(b)
	if err != nil {
		return err
	}
	if err := ruleTaint(b, tainted, "circulated"); err != nil {
		return err
	}
	if err := rulePurpose(b, req.Purpose); err != nil {
		return err
	}
	if err := ruleDeidCirculation(b, t.caller, req.To, req.AccessMode); err != nil {
		return err
	}
	dest := to.Region
	if req.CrossBorder != nil {
		dest = req.CrossBorder.Destination
	}
	if err := ruleCrossBorder(b, dest, req.CrossBorder); err != nil {
		return err
	}
	if dest != to.Region {
		if err := ruleCrossBorder(b, to.Region, req.CrossBorder); err != nil {
			return err
		}
	}
	return nil
}

func audit(t *txn, args []byte) (any, error) {
	var req AuditRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	actor, err := t.roleActor(EventAudited)
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	b, err := t.readable(actor, "batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	old := *b
	e := t.newEvent(EventAudited, b.ID)
	e.Audited = &AuditedPayload{Scope: req.Scope, Findings: req.Findings, Verdict: req.Verdict}
	if e, err = t.record(&old, b, e); err != nil {
		return nil, err
	}
	return WriteResult{Batch: t.viewBatch(actor, b), Event: &e}, nil
}

func freeze(t *txn, args []byte) (any, error)   { return setStatus(t, args, EventFrozen) }
func unfreeze(t *txn, args []byte) (any, error) { return setStatus(t, args, EventUnfrozen) }
func retire(t *txn, args []byte) (any, error)   { return setStatus(t, args, EventRetired) }

func setStatus(t *txn, args []byte, typ string) (any, error) {
	var req StatusRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if typ != EventRetired {
		// Freezing and unfreezing need the role whatever the batch. Any
		// participant may come to own a batch (an ownership trade), so
		// for a retirement the role question waits until the batch is
		// known to be readable.
		if err := ruleRole(actor, typ, false); err != nil {
			return nil, err
		}
	}
	b, err := t.readable(actor, "batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	if err := t.mayStatus(actor, b, typ); err != nil {
		return nil, err
	}
	old := *b
	switch typ {
	case EventFrozen:
		if b.Status != StatusActive {
			return nil, conflict("", "batch %s is %s, not active, and cannot be frozen", b.ID, b.Status)
		}
		b.Status = StatusFrozen
	case EventUnfrozen:
		if b.Status != StatusFrozen {
			return nil, conflict("", "batch %s is %s, not frozen", b.ID, b.Status)
		}
		b.Status = StatusActive
	case EventRetired:
		if err := checkEnum("reason", req.Reason, retireWhy); err != nil {
			return nil, err
		}
		if b.Status == StatusRetired {
			return nil, conflict("", "batch %s is already retired", b.ID)
		}
		if b.Status == StatusFrozen && !contains(actor.Roles, RoleRegulator) {
			return nil, violation(RuleStatus, "batch %s is frozen: only the regulator may retire it", b.ID)
		}
		b.Status = StatusRetired
		b.RetiredFor = req.Reason
		if err := t.purgeTerms(b.ID); err != nil {
			return nil, err
		}
	}
	e := t.newEvent(typ, b.ID)
	e.Status = &StatusPayload{Reason: req.Reason}
	if e, err = t.record(&old, b, e); err != nil {
		return nil, err
	}
	return WriteResult{Batch: t.viewBatch(actor, b), Event: &e}, nil
}

// purgeTerms removes the private terms of every trade of a batch, found in
// the batch's trade index (formats 1 and 2) or its history (format 3).
func (t *txn) purgeTerms(batchID string) error {
	chunked, err := t.chunked()
	if err != nil {
		return err
	}
	if chunked {
		prefix := join(kHistory+batchID, "")
		return t.st.Range(prefix, prefixEnd(prefix), func(k string, v []byte) (bool, error) {
			e, ok, err := tradedEvent(k, v)
			if ok {
				t.purges[join(kTerms+e.Traded.Exchange, e.Traded.TradeID)] = true
			}
			return err == nil, err
		})
	}
	prefix := join(kBatchTrade+batchID, "")
	return t.st.Range(prefix, prefixEnd(prefix), func(_ string, v []byte) (bool, error) {
		var tr Trade
		if err := json.Unmarshal(v, &tr); err != nil {
			return false, err
		}
		t.purges[join(kTerms+tr.Exchange, tr.TradeID)] = true
		return true, nil
	})
}
