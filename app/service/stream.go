package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Cursor is a place in the stream of committed lifecycle events: the
// position just after one event. Block and Tx locate the transaction (see
// [ledger.Position]); Event counts the lifecycle events of that transaction
// already delivered. Resuming from an event's cursor delivers exactly the
// events after it.
//
// Its text form, "block.tx.event" in decimal, is what clients hold. "0" is
// the cursor before every event.
type Cursor struct {
	Block uint64
	Tx    int
	Event int
}

// maxOrdinal bounds the Tx and Event parts of a cursor.
const maxOrdinal = 1<<31 - 1

// String returns the cursor's text form.
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return "0"
	}
	return strconv.FormatUint(c.Block, 10) + "." + strconv.Itoa(c.Tx) + "." + strconv.Itoa(c.Event)
}

var cursorPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})$`)

// ErrBadCursor means a cursor's text is not one this API hands out.
var ErrBadCursor = errors.New("not a stream cursor")

// ErrCursorAhead means a cursor names a place the ledger has not reached.
var ErrCursorAhead = errors.New("the cursor is ahead of the ledger")

// ParseCursor reads a cursor's text form. It fails with [ErrBadCursor] for
// anything [Cursor.String] cannot have written.
func ParseCursor(s string) (Cursor, error) {
	if s == "0" {
		return Cursor{}, nil
	}
	m := cursorPattern.FindStringSubmatch(s)
	if m == nil {
		return Cursor{}, ErrBadCursor
	}
	block, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return Cursor{}, ErrBadCursor
	}
	tx, err1 := strconv.Atoi(m[2])
	ev, err2 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || tx > maxOrdinal || ev > maxOrdinal {
		return Cursor{}, ErrBadCursor
	}
	c := Cursor{Block: block, Tx: tx, Event: ev}
	if c == (Cursor{}) { // "0.0.0" is written "0"
		return Cursor{}, ErrBadCursor
	}
	return c, nil
}

// StreamFilter narrows a stream: to events of the given types (none: all
// types) and to events on one batch ("": all batches).
type StreamFilter struct {
	Types   []string
	BatchID string
}

// StreamEvent is one lifecycle event in a stream: one batch's copy of it,
// exactly as that batch's history holds it.
type StreamEvent struct {
	Cursor  Cursor
	Type    string
	BatchID string
	// Data is the event's JSON, byte for byte the item of
	// GET /api/v1/batches/{id}/events.
	Data json.RawMessage
}

// Stream is one caller's feed of committed lifecycle events. It is used by
// one goroutine.
type Stream struct {
	s      *Service
	caller string
	after  *Cursor
	filter StreamFilter
	// readsAll: the caller's role reads every batch.
	readsAll bool
	// visible caches whether the caller may read a batch (see visibleTo).
	visible map[string]visibility
	// selfCheckedUntil: when a readsAll caller's own standing is next asked.
	selfCheckedUntil time.Time
}

// maxVisibilityCache bounds a stream's visibility cache; it is emptied when full.
const maxVisibilityCache = 10_000

// OpenStream prepares caller's stream of the events after cursor after
// (nil: only events committed from now on), narrowed by f. It fails when
// the caller is not a registered participant, and with [ErrCursorAhead]
// when after names a block beyond the ledger's height.
func (s *Service) OpenStream(ctx context.Context, caller string, after *Cursor, f StreamFilter) (*Stream, error) {
	var p contract.Participant
	if err := s.queryInto(ctx, caller, contract.FnGetParticipant, contract.IDRequest{ID: caller}, &p); err != nil {
		return nil, err
	}
	if after != nil && after.Block > 0 {
		info, err := s.l.Info(ctx)
		if err != nil {
			return nil, err
		}
		// Heights count blocks, numbered from 0 or 1 depending on the
		// ledger: a cursor may name at most the block after the last.
		if after.Block > info.Height+1 {
			return nil, fmt.Errorf("block %d, height %d: %w", after.Block, info.Height, ErrCursorAhead)
		}
	}
	st := &Stream{s: s, caller: caller, after: after, filter: f, visible: map[string]visibility{}, selfCheckedUntil: time.Now().Add(visibilityTTL)}
	for _, r := range p.Roles {
		if r == contract.RoleRegulator || r == contract.RoleAuditor || r == contract.RoleExchange {
			st.readsAll = true
		}
	}
	return st, nil
}

// Run calls fn with each event of the stream, in commit order, until ctx
// ends (it returns ctx.Err()), fn fails (its error) or the ledger fails.
func (st *Stream) Run(ctx context.Context, fn func(StreamEvent) error) error {
	from := ledger.Live
	if st.after != nil {
		from = ledger.Position{Block: st.after.Block, Tx: st.after.Tx}
	}
	return st.s.l.Events(ctx, from, func(c ledger.Committed) error {
		var we struct {
			Events []json.RawMessage `json:"events"`
		}
		if len(c.Payload) > 0 {
			if err := json.Unmarshal(c.Payload, &we); err != nil {
				return fmt.Errorf("event payload of tx %s at %d.%d: %w", c.TxID, c.Block, c.Tx, err)
			}
		}
		for i, raw := range we.Events {
			if a := st.after; a != nil && c.Block == a.Block && c.Tx == a.Tx && i < a.Event {
				continue
			}
			var head struct {
				Type    string `json:"type"`
				BatchID string `json:"batchId"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return fmt.Errorf("event %d of tx %s: %w", i, c.TxID, err)
			}
			if len(st.filter.Types) > 0 && !slices.Contains(st.filter.Types, head.Type) {
				continue
			}
			if st.filter.BatchID != "" && head.BatchID != st.filter.BatchID {
				continue
			}
			ok, err := st.visibleTo(ctx, head.BatchID, head.Type, raw)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			ev := StreamEvent{Cursor: Cursor{Block: c.Block, Tx: c.Tx, Event: i + 1}, Type: head.Type, BatchID: head.BatchID, Data: raw}
			if err := fn(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// Visibility look-ups wait this long for a batch that a peer has not
// committed yet (on Fabric the event may come from a peer ahead of the one
// the caller's queries go to).
const (
	visibilityWait = 5 * time.Second
	visibilityPoll = 100 * time.Millisecond
)

// visibleTo reports whether the caller may read batchID, asking the ledger
// as the caller (GetBatch, the contract's one read policy) and caching the
// answer for a while. Visibility can shrink as well as grow: a custody
// lapses at its expiry and a suspended participant reads nothing. So a "yes"
// is kept until the caller's custody expires, and never longer than
// [visibilityTTL]; a "no" is kept until an event that can add a custodian
// (CIRCULATED, TRADED) arrives on the batch, or for visibilityTTL. A caller
// whose role reads every batch is asked about itself every visibilityTTL,
// so its stream ends once it is suspended.
//
// The contract answers a batch the caller may not read as a missing one. A
// missing batch is waited for (a peer behind the one the event came from)
// only when the event is one the caller expects to see: its own, or one
// that gave it the batch; any other is simply not visible.
func (st *Stream) visibleTo(ctx context.Context, batchID, typ string, raw json.RawMessage) (bool, error) {
	now := time.Now()
	if st.readsAll {
		if now.Before(st.selfCheckedUntil) {
			return true, nil
		}
		if _, err := st.s.Query(ctx, st.caller, contract.FnGetParticipant, contract.IDRequest{ID: st.caller}); err != nil {
			return false, fmt.Errorf("stream of %s: %w", st.caller, err)
		}
		st.selfCheckedUntil = now.Add(visibilityTTL)
		return true, nil
	}
	if typ == contract.EventCirculated || typ == contract.EventTraded {
		if v, ok := st.visible[batchID]; ok && !v.ok {
			delete(st.visible, batchID)
		}
	}
	if v, ok := st.visible[batchID]; ok && now.Before(v.until) {
		return v.ok, nil
	}
	expected := st.expects(raw)
	deadline := now.Add(visibilityWait)
	for {
		b, err := st.s.Query(ctx, st.caller, contract.FnGetBatch, contract.IDRequest{ID: batchID})
		v := visibility{ok: err == nil, until: time.Now().Add(visibilityTTL)}
		ce, isContract := ContractError(err)
		switch {
		case err == nil:
			var batch contract.Batch
			if json.Unmarshal(b, &batch) == nil && batch.Owner != st.caller {
				if exp, limited := batch.CustodyExpiresAt[st.caller]; limited {
					if ts, perr := time.Parse(time.RFC3339Nano, exp); perr == nil && ts.Before(v.until) {
						v.until = ts
					}
				}
			}
		case isContract && ce.Kind == contract.KindForbidden:
		case isContract && ce.Kind == contract.KindNotFound && !expected:
		case isContract && ce.Kind == contract.KindNotFound && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(visibilityPoll):
			}
			continue
		default:
			// Unknown, or not found although the event gave it to the
			// caller: end the stream rather than skip an event; the
			// client resumes.
			return false, fmt.Errorf("visibility of batch %s to %s: %w", batchID, st.caller, err)
		}
		if len(st.visible) >= maxVisibilityCache {
			clear(st.visible)
		}
		st.visible[batchID] = v
		return v.ok, nil
	}
}

// visibility is a cached answer of visibleTo, good until until.
type visibility struct {
	ok    bool
	until time.Time
}

// visibilityTTL bounds how long a cached visibility answer is trusted.
const visibilityTTL = 30 * time.Second

// expects reports whether an event is one its caller must be able to read:
// one the caller recorded, or one that made it a custodian.
func (st *Stream) expects(raw json.RawMessage) bool {
	var e struct {
		Actor      string `json:"actor"`
		Circulated *struct {
			To string `json:"to"`
		} `json:"circulated"`
		Traded *struct {
			Buyer string `json:"buyer"`
		} `json:"traded"`
		Processed *struct {
			Owner string `json:"owner"`
		} `json:"processed"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return true
	}
	return e.Actor == st.caller || (e.Circulated != nil && e.Circulated.To == st.caller) || (e.Traded != nil && e.Traded.Buyer == st.caller) ||
		(e.Processed != nil && e.Processed.Owner == st.caller)
}
