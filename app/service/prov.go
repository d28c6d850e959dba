package service

import (
	"context"

	"github.com/tokentrail/tokentrail/app/prov"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// maxProvActivities bounds the event look-ups one lineage export makes to
// name the agent of each processing step (PROV-JSON) or to describe it
// (OpenLineage); beyond it activities carry no association, or the steps
// are counted as withheld.
const maxProvActivities = 500

// LineagePROV answers the lineage question as PROV-JSON (package prov),
// with each processing step's event as far as the caller may read it.
func (s *Service) LineagePROV(ctx context.Context, caller string, req contract.LineageRequest) (*prov.Document, error) {
	var g contract.Lineage
	if err := s.queryInto(ctx, caller, contract.FnLineage, req, &g); err != nil {
		return nil, err
	}
	actors := map[string]contract.Event{}
	for _, e := range g.Edges {
		if _, ok := actors[e.EventID]; ok || e.Redacted || len(actors) >= maxProvActivities {
			continue
		}
		var ref contract.EventRef
		if err := s.queryInto(ctx, caller, contract.FnGetEvent, contract.IDRequest{ID: e.EventID}, &ref); err != nil {
			if ce, ok := ContractError(err); ok && (ce.Kind == contract.KindNotFound || ce.Kind == contract.KindForbidden) {
				actors[e.EventID] = contract.Event{}
				continue
			}
			return nil, err
		}
		actors[e.EventID] = ref.Event
	}
	return prov.FromLineage(g, actors), nil
}
