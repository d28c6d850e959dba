package service

import (
	"context"
	"fmt"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// maxProvActivities bounds the event look-ups one PROV-JSON answer makes to
// name the agent of each processing step; beyond it activities carry no
// association (the graph itself is complete).
const maxProvActivities = 500

// PROV is a W3C PROV-JSON document (https://www.w3.org/submissions/prov-json/).
// Every section is an object keyed by identifier; relations use blank-node
// identifiers "_:rN".
type PROV struct {
	Prefix            map[string]string         `json:"prefix"`
	Entity            map[string]map[string]any `json:"entity"`
	Activity          map[string]map[string]any `json:"activity"`
	Agent             map[string]map[string]any `json:"agent"`
	WasGeneratedBy    map[string]map[string]any `json:"wasGeneratedBy"`
	Used              map[string]map[string]any `json:"used"`
	WasDerivedFrom    map[string]map[string]any `json:"wasDerivedFrom"`
	WasAssociatedWith map[string]map[string]any `json:"wasAssociatedWith"`
	WasAttributedTo   map[string]map[string]any `json:"wasAttributedTo"`
}

// LineagePROV answers the lineage question as PROV-JSON: batches are
// entities, PROCESSED events are activities that used the inputs and
// generated the outputs, organisations are agents (the processing actor is
// associated with the activity, the owner is attributed the batch).
func (s *Service) LineagePROV(ctx context.Context, caller string, req contract.LineageRequest) (*PROV, error) {
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
	return toPROV(g, actors), nil
}

func toPROV(g contract.Lineage, events map[string]contract.Event) *PROV {
	p := &PROV{
		Prefix: map[string]string{
			"tt":    "urn:tokentrail:",
			"batch": "urn:tokentrail:batch:",
			"event": "urn:tokentrail:event:",
			"org":   "urn:tokentrail:org:",
			"tx":    "urn:tokentrail:tx:",
		},
		Entity: map[string]map[string]any{}, Activity: map[string]map[string]any{}, Agent: map[string]map[string]any{},
		WasGeneratedBy: map[string]map[string]any{}, Used: map[string]map[string]any{}, WasDerivedFrom: map[string]map[string]any{},
		WasAssociatedWith: map[string]map[string]any{}, WasAttributedTo: map[string]map[string]any{},
	}
	n := 0
	seen := map[string]bool{}
	rel := func() string { n++; return fmt.Sprintf("_:r%d", n) }
	agent := func(msp string) string {
		id := "org:" + msp
		if _, ok := p.Agent[id]; !ok {
			p.Agent[id] = map[string]any{"prov:type": "prov:Organization", "tt:mspId": msp}
		}
		return id
	}
	for _, node := range g.Nodes {
		id := "batch:" + node.ID
		e := map[string]any{"prov:type": "tt:TokenBatch", "tt:distance": node.Distance}
		if node.Redacted {
			e["tt:redacted"] = true
			p.Entity[id] = e
			continue
		}
		e["prov:label"] = node.Name
		e["tt:status"] = node.Status
		e["tt:contentDigest"] = node.ContentDigest
		e["tt:tokens"] = node.Tokens.Count
		e["tt:tokenizer"] = node.Tokens.Tokenizer
		e["tt:sector"] = node.Sector
		e["tt:modality"] = node.Modality
		e["tt:classification"] = node.Classification
		e["tt:createdTxId"] = node.CreatedTx
		p.Entity[id] = e
		if node.Owner != "" {
			p.WasAttributedTo[rel()] = map[string]any{"prov:entity": id, "prov:agent": agent(node.Owner)}
		}
	}
	for _, e := range g.Edges {
		if e.Redacted {
			// The caller may read neither end: only the derivation, with
			// no activity, agent or transaction.
			p.WasDerivedFrom[rel()] = map[string]any{"prov:generatedEntity": "batch:" + e.To, "prov:usedEntity": "batch:" + e.From}
			continue
		}
		act := "event:" + e.EventID
		if _, ok := p.Activity[act]; !ok {
			a := map[string]any{"prov:type": "tt:" + contract.EventProcessed, "tt:operations": e.Operations, "tt:txId": e.TxID}
			if ev := events[e.EventID]; ev.EventID != "" {
				a["prov:startTime"] = ev.Timestamp
				a["prov:endTime"] = ev.Timestamp
				if ev.Processed != nil {
					a["tt:tool"] = ev.Processed.Tool.Name + "@" + ev.Processed.Tool.Version
				}
				if ev.Actor != "" {
					p.WasAssociatedWith[rel()] = map[string]any{"prov:activity": act, "prov:agent": agent(ev.Actor)}
				}
			}
			p.Activity[act] = a
		}
		from, to := "batch:"+e.From, "batch:"+e.To
		// An event with several inputs and outputs appears as one edge per
		// pair; "used" and "wasGeneratedBy" are stated once per batch.
		if !seen[act+" used "+from] {
			seen[act+" used "+from] = true
			p.Used[rel()] = map[string]any{"prov:activity": act, "prov:entity": from}
		}
		if !seen[act+" generated "+to] {
			seen[act+" generated "+to] = true
			p.WasGeneratedBy[rel()] = map[string]any{"prov:entity": to, "prov:activity": act}
		}
		p.WasDerivedFrom[rel()] = map[string]any{"prov:generatedEntity": to, "prov:usedEntity": from, "prov:activity": act}
	}
	return p
}
