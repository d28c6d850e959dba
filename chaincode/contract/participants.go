package contract

import (
	"encoding/json"
	"strconv"
)

const (
	participantActive    = "active"
	participantSuspended = "suspended"
)

// participant returns the registered participant with mspID, or nil.
func (t *txn) participant(mspID string) (*Participant, error) {
	if p, ok := t.parts[mspID]; ok {
		return p, nil
	}
	var p Participant
	ok, err := t.getJSON(kParticipant+mspID, &p)
	if err != nil || !ok {
		return nil, err
	}
	t.parts[mspID] = &p
	return &p, nil
}

// actor returns the caller as a registered, active participant (TT-R07).
func (t *txn) actor() (*Participant, error) {
	p, err := t.participant(t.caller)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, forbidden("%s is not a registered participant", t.caller)
	}
	if p.Status != participantActive {
		return nil, forbidden("%s is suspended and may submit nothing", t.caller)
	}
	return p, nil
}

// actorWithRole returns the caller when it holds one of roles (TT-R07).
func (t *txn) actorWithRole(action string, roles ...string) (*Participant, error) {
	p, err := t.actor()
	if err != nil {
		return nil, err
	}
	if !hasAnyRole(p, roles...) {
		return nil, forbidden("%s may not %s: that needs the role %s", p.MSPID, action, orList(roles))
	}
	return p, nil
}

func hasAnyRole(p *Participant, roles ...string) bool {
	for _, r := range roles {
		if contains(p.Roles, r) {
			return true
		}
	}
	return false
}

func orList(list []string) string {
	s := ""
	for i, v := range list {
		switch {
		case i == 0:
		case i == len(list)-1:
			s += " or "
		default:
			s += ", "
		}
		s += v
	}
	return s
}

// reader returns the caller for a query: a registered, active participant.
// Suspension takes every right away, reads included (docs/api.md): a
// suspended participant is refused every query with TT-R07, whatever it
// asks, so the refusal says nothing about any batch.
func (t *txn) reader() (*Participant, error) {
	p, err := t.participant(t.caller)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, forbidden("%s is not a registered participant", t.caller)
	}
	if p.Status != participantActive {
		return nil, forbidden("%s is suspended and may read nothing", t.caller)
	}
	return p, nil
}

// activeParticipant returns the named participant when it is registered and
// active; field names the request field for the error.
func (t *txn) activeParticipant(field, mspID string) (*Participant, error) {
	p, err := t.participant(mspID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, &Error{Kind: KindNotFound, Field: field, Detail: "participant " + mspID + " is not registered"}
	}
	if p.Status != participantActive {
		return nil, &Error{Kind: KindRule, Rule: RuleRole, Field: field, Detail: "participant " + mspID + " is suspended"}
	}
	return p, nil
}

func (t *txn) saveParticipant(p *Participant) error {
	t.parts[p.MSPID] = p
	return t.putJSON(kParticipant+p.MSPID, p)
}

func bootstrap(t *txn, args []byte) (any, error) {
	var req BootstrapRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	if err := checkText("name", req.Name, MaxNameLen, true); err != nil {
		return nil, err
	}
	if err := checkRegion("region", req.Region); err != nil {
		return nil, err
	}
	if err := checkMSP("caller", t.caller); err != nil {
		return nil, err
	}
	reg, err := t.get(kRegulator)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		return nil, conflict("", "the ledger already has its regulator, %s", string(reg))
	}
	p := &Participant{MSPID: t.caller, Name: req.Name, Roles: []string{RoleRegulator}, Region: req.Region,
		Status: participantActive, RegisteredBy: t.caller, TxID: t.txID}
	t.put(kRegulator, []byte(t.caller))
	t.put(kFormat, []byte(strconv.Itoa(FormatVersion)))
	if err := t.saveParticipant(p); err != nil {
		return nil, err
	}
	return WriteResult{Participant: p}, nil
}

func registerParticipant(t *txn, args []byte) (any, error) {
	var req RegisterParticipantRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	if _, err := t.actorWithRole("register participants", RoleRegulator); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	existing, err := t.participant(req.MSPID)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, conflict("", "participant %s is already registered", req.MSPID)
	}
	p := &Participant{MSPID: req.MSPID, Name: req.Name, Roles: req.Roles, Region: req.Region,
		Status: participantActive, RegisteredBy: t.caller, TxID: t.txID}
	if err := t.saveParticipant(p); err != nil {
		return nil, err
	}
	return WriteResult{Participant: p}, nil
}

func suspendParticipant(t *txn, args []byte) (any, error) {
	var req SuspendParticipantRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	if _, err := t.actorWithRole("suspend participants", RoleRegulator); err != nil {
		return nil, err
	}
	if err := checkMSP("mspId", req.MSPID); err != nil {
		return nil, err
	}
	if err := checkText("reason", req.Reason, MaxReasonLen, true); err != nil {
		return nil, err
	}
	p, err := t.participant(req.MSPID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, notFound("participant %s is not registered", req.MSPID)
	}
	if contains(p.Roles, RoleRegulator) {
		return nil, invalid("mspId", "the regulator cannot be suspended")
	}
	cp := *p
	cp.Status = participantSuspended
	cp.SuspendedFor = req.Reason
	if err := t.saveParticipant(&cp); err != nil {
		return nil, err
	}
	return WriteResult{Participant: &cp}, nil
}

func getParticipant(t *txn, args []byte) (any, error) {
	var req IDRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	if _, err := t.reader(); err != nil {
		return nil, err
	}
	if err := checkMSP("mspId", req.ID); err != nil {
		return nil, err
	}
	p, err := t.participant(req.ID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, notFound("participant %s is not registered", req.ID)
	}
	return p, nil
}

func listParticipants(t *txn, args []byte) (any, error) {
	if len(args) > 0 {
		var req struct{}
		if err := decode(args, &req); err != nil {
			return nil, err
		}
	}
	if _, err := t.reader(); err != nil {
		return nil, err
	}
	items := []Participant{}
	err := t.st.Range(kParticipant, prefixEnd(kParticipant), func(_ string, v []byte) (bool, error) {
		var p Participant
		if err := json.Unmarshal(v, &p); err != nil {
			return false, err
		}
		items = append(items, p)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return Page[Participant]{Items: items}, nil
}
