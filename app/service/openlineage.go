package service

import (
	"context"
	"sort"

	"github.com/tokentrail/tokentrail/app/openlineage"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The ledger side of the OpenLineage export and import: which events and
// batches the caller may read, and recording a RunEvent. The conversion
// itself is package openlineage.

// WithLineageNamespace sets the OpenLineage namespace of the ledger's
// batches (default "tokentrail://" and the ledger's kind). Several ledgers
// feeding one lineage store need distinct namespaces.
func WithLineageNamespace(ns string) Option {
	return func(s *Service) { s.ns = ns }
}

// Namespace returns the OpenLineage namespace of this ledger's batches:
// the configured one, or "tokentrail://" and the ledger's kind.
func (s *Service) Namespace(ctx context.Context) (string, error) {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	if s.ns != "" {
		return s.ns, nil
	}
	info, err := s.l.Info(ctx)
	if err != nil {
		return "", err
	}
	s.ns = "tokentrail://" + info.Kind
	return s.ns, nil
}

// LineageOpenLineage answers the lineage question as OpenLineage RunEvents:
// each PROCESSED event of the graph is a COMPLETE run of its tool's job,
// with the inputs and outputs as datasets named by batch ID.
func (s *Service) LineageOpenLineage(ctx context.Context, caller string, req contract.LineageRequest) (*openlineage.Lineage, error) {
	ns, err := s.Namespace(ctx)
	if err != nil {
		return nil, err
	}
	var g contract.Lineage
	if err := s.queryInto(ctx, caller, contract.FnLineage, req, &g); err != nil {
		return nil, err
	}
	nodes := map[string]*contract.Node{}
	for i := range g.Nodes {
		if !g.Nodes[i].Redacted {
			nodes[g.Nodes[i].ID] = &g.Nodes[i]
		}
	}
	var order []string
	outputsOf := map[string][]string{}
	withheldOutputs := map[string]bool{}
	for _, e := range g.Edges {
		if e.Redacted {
			// Neither end is readable: the step is withheld, counted once
			// per output it made (the edge carries no event ID to group by).
			if !withheldOutputs[e.To] {
				withheldOutputs[e.To] = true
			}
			continue
		}
		if _, ok := outputsOf[e.EventID]; !ok {
			order = append(order, e.EventID)
		}
		if !contains(outputsOf[e.EventID], e.To) {
			outputsOf[e.EventID] = append(outputsOf[e.EventID], e.To)
		}
	}
	out := &openlineage.Lineage{Root: g.Root, Namespace: ns, Truncated: g.Truncated, Events: []openlineage.RunEvent{}, Withheld: len(withheldOutputs)}
	var events []contract.Event
	for i, id := range order {
		if i >= maxProvActivities {
			out.Withheld += len(order) - i
			break
		}
		ev, err := s.processedEvent(ctx, caller, id, outputsOf[id], nodes)
		if err != nil {
			return nil, err
		}
		if ev == nil {
			out.Withheld++
			continue
		}
		events = append(events, *ev)
	}
	// A step's other inputs and outputs may lie outside the graph (a
	// sibling output, a co-input when looking down): describe those the
	// caller may read too.
	batches := map[string]*contract.Batch{}
	for id, n := range nodes {
		batches[id] = &n.Batch
	}
	lookups := 0
	for _, ev := range events {
		for _, id := range append(append([]string(nil), ev.Processed.Inputs...), ev.Processed.Outputs...) {
			if _, ok := batches[id]; ok || lookups >= maxProvActivities {
				continue
			}
			lookups++
			var b contract.Batch
			err := s.queryInto(ctx, caller, contract.FnGetBatch, contract.IDRequest{ID: id}, &b)
			if ce, ok := ContractError(err); ok && (ce.Kind == contract.KindForbidden || ce.Kind == contract.KindNotFound) {
				batches[id] = nil
				continue
			}
			if err != nil {
				return nil, err
			}
			batches[id] = &b
		}
	}
	for _, ev := range events {
		out.Events = append(out.Events, openlineage.FromEvent(ns, ev, batches))
	}
	sort.SliceStable(out.Events, func(i, j int) bool {
		a, b := out.Events[i], out.Events[j]
		if a.EventTime != b.EventTime {
			return a.EventTime < b.EventTime
		}
		return a.Run.RunID < b.Run.RunID
	})
	return out, nil
}

// processedEvent reads PROCESSED event id as caller: through its first
// copy (GetEvent, readable by those who may read the first input), or
// through the history of an output the caller may read, where the event
// that created the output is the first. It returns nil when the caller may
// read neither.
func (s *Service) processedEvent(ctx context.Context, caller, id string, outputs []string, nodes map[string]*contract.Node) (*contract.Event, error) {
	var ref contract.EventRef
	err := s.queryInto(ctx, caller, contract.FnGetEvent, contract.IDRequest{ID: id}, &ref)
	if err == nil && ref.Event.Processed != nil {
		return &ref.Event, nil
	}
	if ce, ok := ContractError(err); err != nil && !(ok && (ce.Kind == contract.KindForbidden || ce.Kind == contract.KindNotFound)) {
		return nil, err
	}
	for _, o := range outputs {
		if nodes[o] == nil {
			continue
		}
		var page contract.Page[contract.Event]
		if err := s.queryInto(ctx, caller, contract.FnHistory, contract.HistoryRequest{BatchID: o, PageRequest: contract.PageRequest{PageSize: 1}}, &page); err != nil {
			if ce, ok := ContractError(err); ok && (ce.Kind == contract.KindForbidden || ce.Kind == contract.KindNotFound) {
				continue
			}
			return nil, err
		}
		if len(page.Items) == 1 && page.Items[0].EventID == id && page.Items[0].Processed != nil {
			return &page.Items[0], nil
		}
	}
	return nil, nil
}

// RunEventResult is the answer to a posted RunEvent: the PROCESSED event it
// was recorded as, or why it was not recorded.
type RunEventResult struct {
	// Recorded is false for run states that record nothing (START, RUNNING,
	// ABORT, FAIL, OTHER).
	Recorded bool
	Written  *Written
	Detail   string
}

// RecordRunEvent records a pipeline's COMPLETE RunEvent as a PROCESSED
// event submitted by caller (docs/openlineage.md has the mapping). Other
// run states are answered with Recorded false and nothing is written. A
// RunEvent that cannot be mapped is refused with a *contract.Error of kind
// invalid whose Field is the JSON path of the problem; the contract's own
// refusals name the RunEvent's fields too.
func (s *Service) RecordRunEvent(ctx context.Context, caller string, ev openlineage.RunEvent) (*RunEventResult, error) {
	ns, err := s.Namespace(ctx)
	if err != nil {
		return nil, err
	}
	req, recorded, detail, err := openlineage.ProcessRequest(ns, ev)
	if err != nil {
		return nil, err
	}
	if !recorded {
		return &RunEventResult{Detail: detail}, nil
	}
	w, err := s.Process(ctx, caller, req)
	if err != nil {
		if ce, ok := ContractError(err); ok && ce.Field != "" {
			c := *ce
			c.Field = openlineage.Field(c.Field)
			return nil, &c
		}
		return nil, err
	}
	return &RunEventResult{Recorded: true, Written: w}, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
