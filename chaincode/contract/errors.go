package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kind classifies a contract error; the HTTP layer maps each kind to a status.
type Kind string

// Error kinds.
const (
	KindInvalid   Kind = "invalid"   // the request is malformed or a field is out of range
	KindNotFound  Kind = "not-found" // a named batch, participant, event or trade does not exist
	KindConflict  Kind = "conflict"  // an ID is taken, or a replay differs from the original
	KindForbidden Kind = "forbidden" // the caller's role or status does not allow it (TT-R07)
	KindRule      Kind = "rule"      // a compliance rule refused it
)

// Rule IDs.
const (
	RuleLegalBasis   = "TT-R01"
	RuleDeidentify   = "TT-R02"
	RuleCrossBorder  = "TT-R03"
	RulePurpose      = "TT-R04"
	RuleStatus       = "TT-R05"
	RuleRetention    = "TT-R06"
	RuleRole         = "TT-R07"
	RuleCustody      = "TT-R08"
	RuleLineage      = "TT-R09"
	RuleConservation = "TT-R10"
	RuleQualityGate  = "TT-R11"
	RuleIdempotency  = "TT-R12"
	RuleQuantity     = "TT-R13"
	RuleTaint        = "TT-R14"
)

// Error is every error the contract returns on purpose. Field names the
// offending request field for KindInvalid; Rule names the rule for
// KindRule, and for KindForbidden and KindConflict when a rule applies.
type Error struct {
	Kind   Kind   `json:"kind"`
	Rule   string `json:"rule,omitempty"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Rule != "" {
		b.WriteString(" " + e.Rule)
	}
	if e.Field != "" {
		b.WriteString(" (" + e.Field + ")")
	}
	b.WriteString(": " + e.Detail)
	return b.String()
}

// ErrNotFound matches every KindNotFound error with errors.Is.
var ErrNotFound = &Error{Kind: KindNotFound, Detail: "not found"}

// Is lets errors.Is(err, ErrNotFound) match any error of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t == ErrNotFound && e.Kind == KindNotFound
}

func invalid(field, format string, a ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Detail: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) *Error {
	return &Error{Kind: KindNotFound, Detail: fmt.Sprintf(format, a...)}
}

func conflict(rule, format string, a ...any) *Error {
	return &Error{Kind: KindConflict, Rule: rule, Detail: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) *Error {
	return &Error{Kind: KindForbidden, Rule: RuleRole, Detail: fmt.Sprintf(format, a...)}
}

func violation(rule, format string, a ...any) *Error {
	return &Error{Kind: KindRule, Rule: rule, Detail: fmt.Sprintf(format, a...)}
}

// errorPrefix marks an encoded [Error] in a chaincode response message, so a
// Fabric client can recover the kind and rule from the text the peer returns.
const errorPrefix = "tokentrail-error:"

// EncodeError renders err for transport as a chaincode error message: an
// [Error] becomes a prefixed JSON object; anything else stays as it is.
func EncodeError(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		b, _ := json.Marshal(ce)
		return errorPrefix + string(b)
	}
	return err.Error()
}

// DecodeError finds an error encoded by [EncodeError] anywhere in msg (peers
// wrap chaincode messages in their own text) and returns it.
func DecodeError(msg string) (*Error, bool) {
	i := strings.Index(msg, errorPrefix)
	if i < 0 {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(msg[i+len(errorPrefix):]))
	var e Error
	if err := dec.Decode(&e); err != nil || e.Kind == "" {
		return nil, false
	}
	return &e, true
}
