package prov

import (
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestFromLineage maps a merge of two inputs into two outputs: each batch is one
// entity, the event one activity that used each input once and generated
// each output once, with one derivation per input-output pair.
func TestFromLineage(t *testing.T) {
	node := func(id string, d int) contract.Node {
		return contract.Node{Distance: d, Batch: contract.Batch{ID: id, Name: id, Owner: "ProviderMSP"}}
	}
	g := contract.Lineage{Root: "a", Nodes: []contract.Node{node("a", 0), node("b", 0), node("x", 1), node("y", 1),
		{Distance: 2, Batch: contract.Batch{ID: "hidden"}, Redacted: true}}}
	for _, from := range []string{"a", "b"} {
		for _, to := range []string{"x", "y"} {
			g.Edges = append(g.Edges, contract.Edge{From: from, To: to, EventID: "e1", TxID: "tx1", Operations: []string{"merge"}})
		}
	}
	p := FromLineage(g, map[string]contract.Event{"e1": {EventID: "e1", Actor: "ProcessorMSP", Timestamp: "2026-03-01T00:00:00Z"}})
	if len(p.Entity) != 5 || len(p.Activity) != 1 || len(p.Used) != 2 || len(p.WasGeneratedBy) != 2 || len(p.WasDerivedFrom) != 4 {
		t.Fatalf("entities %d activities %d used %d generated %d derived %d", len(p.Entity), len(p.Activity), len(p.Used), len(p.WasGeneratedBy), len(p.WasDerivedFrom))
	}
	if len(p.WasAssociatedWith) != 1 || p.Agent[Org("ProcessorMSP")] == nil || p.Agent[Org("ProviderMSP")] == nil {
		t.Fatalf("agents %v associations %v", p.Agent, p.WasAssociatedWith)
	}
	if len(p.WasAttributedTo) != 4 {
		t.Fatalf("attributions %d, want 4 (the redacted batch has no owner shown)", len(p.WasAttributedTo))
	}
	if p.Entity[Batch("hidden")]["prov:label"] != nil {
		t.Fatal("a redacted batch shows its name")
	}
}

// TestFromLineageRedactedEdge: an edge between two batches the caller may not
// read carries no event, so PROV-JSON states only the derivation — no
// activity, no agent, no transaction.
func TestFromLineageRedactedEdge(t *testing.T) {
	hidden := func(id string, d int) contract.Node {
		return contract.Node{Distance: d, Batch: contract.Batch{ID: id, Status: contract.StatusActive}, Redacted: true}
	}
	g := contract.Lineage{Root: "mine", Nodes: []contract.Node{{Batch: contract.Batch{ID: "mine", Name: "mine"}}, hidden("h1", 1), hidden("h2", 2)},
		Edges: []contract.Edge{{From: "mine", To: "h1", EventID: "e1", TxID: "tx1", Operations: []string{"cleaning"}}, {From: "h1", To: "h2", Redacted: true}}}
	p := FromLineage(g, map[string]contract.Event{})
	if len(p.Activity) != 1 || p.Activity[Event("")] != nil || len(p.WasDerivedFrom) != 2 {
		t.Fatalf("activities %v, derivations %v", p.Activity, p.WasDerivedFrom)
	}
	for _, d := range p.WasDerivedFrom {
		if d["prov:generatedEntity"] == Batch("h2") && d["prov:activity"] != nil {
			t.Fatalf("the redacted derivation names an activity: %v", d)
		}
	}
}
