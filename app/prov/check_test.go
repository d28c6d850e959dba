package prov_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/prov"
	"github.com/tokentrail/tokentrail/app/prov/provtest"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// awkward are identifiers that are not valid local parts as they stand: a
// colon, a leading '-', a trailing '.', a leading digit, non-ASCII letters,
// an underscore that must not be read as an escape, and a leading '.'.
var awkward = []string{"a:b", "-x", "x.", "9lives", "données-é", "a_3Ab", ".dot", "plain-1.2"}

func awkwardLineage() (contract.Lineage, map[string]contract.Event) {
	g := contract.Lineage{Root: awkward[0]}
	for i, id := range awkward {
		owner := []string{"ProviderMSP", "9Org.", "Org:with:colons"}[i%3]
		g.Nodes = append(g.Nodes, contract.Node{Distance: i, Batch: contract.Batch{ID: id, Name: "batch " + id, Owner: owner, Status: contract.StatusActive}})
	}
	g.Nodes = append(g.Nodes, contract.Node{Distance: 9, Batch: contract.Batch{ID: "7hidden"}, Redacted: true})
	events := map[string]contract.Event{}
	for i := 1; i < len(awkward); i++ {
		id := "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5" + string(rune('0'+i))
		g.Edges = append(g.Edges, contract.Edge{From: awkward[i-1], To: awkward[i], EventID: id, TxID: "tx" + id, Operations: []string{"cleaning", "filtering"}})
		events[id] = contract.Event{EventID: id, Actor: "-ProcessorMSP", Timestamp: "2026-03-01T10:00:00Z",
			Processed: &contract.ProcessedPayload{Tool: contract.Tool{Name: "clean", Version: "1.0"}}}
	}
	g.Edges = append(g.Edges, contract.Edge{From: awkward[len(awkward)-1], To: "7hidden", Redacted: true})
	return g, events
}

// TestPROVWithPythonProv checks an export with awkward identifiers with
// Python's prov package: it parses it, every agent is a prov:Organization,
// PROV-N, PROV-XML and RDF serialisation succeed, and the RDF names each
// batch by the URI its encoded qualified name stands for, from which the
// batch ID is recovered.
func TestPROVWithPythonProv(t *testing.T) {
	py := provtest.Python(t)
	g, events := awkwardLineage()
	doc, err := json.Marshal(prov.FromLineage(g, events))
	if err != nil {
		t.Fatal(err)
	}
	res, err := provtest.Run(t, py, doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	r := res[0]
	if r.Agents != 4 || len(r.Organizations) != 4 {
		t.Fatalf("%d agents, %d prov:Organization in RDF; want 4 and 4: %+v", r.Agents, len(r.Organizations), r)
	}
	var ids []string
	for _, uri := range r.Entities {
		local, ok := strings.CutPrefix(uri, "urn:tokentrail:batch:")
		if !ok {
			t.Fatalf("entity %s outside the batch namespace", uri)
		}
		id, err := prov.Unlocal(local)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	want := append(slices.Clone(awkward), "7hidden")
	sort.Strings(want)
	sort.Strings(ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("batch IDs recovered from the RDF: %q, want %q", ids, want)
	}
}

// TestPROVCheckerRefuses makes sure the check above can fail: the same
// document with identifiers left unencoded, and with agents typed by a
// plain string, are refused.
func TestPROVCheckerRefuses(t *testing.T) {
	py := provtest.Python(t)
	g, events := awkwardLineage()
	doc, err := json.Marshal(prov.FromLineage(g, events))
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"leading digit":          strings.ReplaceAll(string(doc), `"batch:_39lives"`, `"batch:9lives"`),
		"colon":                  strings.ReplaceAll(string(doc), `"batch:a_3Ab"`, `"batch:a:b"`),
		"trailing dot":           strings.ReplaceAll(string(doc), `"batch:x_2E"`, `"batch:x."`),
		"agent type as a string": strings.Replace(string(doc), `{"$":"prov:Organization","type":"prov:QUALIFIED_NAME"}`, `"prov:Organization"`, 1),
	} {
		if bad == string(doc) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		_, err := provtest.Run(t, py, []byte(bad))
		var ce *provtest.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: the checker accepted the document (%v)", name, err)
		}
	}
}

// TestLocal: the encoding is reversible, and its output uses only letters,
// digits, '-', '.' and '_', starts with a letter or '_' and does not end
// with '.'; a local part not in encoded form is refused.
func TestLocal(t *testing.T) {
	for _, id := range append(slices.Clone(awkward), "", "_", "__", "%", "a b", "\x00", "é.", "A-Z.a-z.0-9", strings.Repeat("9", 128)) {
		l := prov.Local(id)
		for i, c := range l {
			ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')
			if !ok || strings.HasSuffix(l, ".") {
				t.Fatalf("Local(%q) = %q: %q at %d", id, l, c, i)
			}
		}
		back, err := prov.Unlocal(l)
		if err != nil || back != id {
			t.Fatalf("Unlocal(Local(%q) = %q) = %q, %v", id, l, back, err)
		}
	}
	for _, l := range []string{"a_3ab", "a_3", "a_ZZ", "_61", "x."} {
		if id, err := prov.Unlocal(l); err == nil {
			t.Errorf("Unlocal(%q) = %q, want an error", l, id)
		}
	}
}
