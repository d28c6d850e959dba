package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/prov"
	"github.com/tokentrail/tokentrail/app/prov/provtest"
)

// TestPROVExportAwkwardIDs exports, through the API, the lineage of
// batches whose IDs are not valid PROV-N or XML local parts as they stand
// (a colon, a leading '-', a trailing '.', a leading digit) and has
// Python's prov package check the documents (package provtest): each
// parses, each agent is a prov:Organization, PROV-N, PROV-XML and RDF are
// written, and every batch is named by the URI of its encoded ID.
func TestPROVExportAwkwardIDs(t *testing.T) {
	py := provtest.Python(t)
	e := newEnv(t)
	for _, id := range []string{"a:b", "-x"} {
		e.collected(id)
		e.must(http.StatusCreated, "POST", "/api/v1/batches/"+url.PathEscape(id)+"/circulations", provider,
			map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	}
	e.must(http.StatusCreated, "POST", "/api/v1/processing", processor, map[string]any{
		"inputs": []string{"a:b", "-x"}, "operations": []string{"merge"}, "tool": map[string]string{"name": "m", "version": "1"},
		"outputs": []any{outputBody("x.", 1_500_000), outputBody("9lives", 400_000)}}, nil)
	var docs [][]byte
	for _, q := range []string{"a:b?direction=down", "9lives?direction=up", "x.?direction=both"} {
		id, query, _ := strings.Cut(q, "?")
		for _, org := range []string{regulator, processor, consumer} {
			rec := e.do("GET", "/api/v1/batches/"+url.PathEscape(id)+"/lineage?format=prov-json&"+query, org, nil)
			if rec.Code == http.StatusOK {
				docs = append(docs, rec.Body.Bytes())
			}
		}
	}
	if len(docs) < 6 {
		t.Fatalf("%d documents exported, want at least the regulator's and the processor's", len(docs))
	}
	res, err := provtest.Run(t, py, docs...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range []string{"a:b", "-x", "x.", "9lives"} {
		want["urn:tokentrail:batch:"+prov.Local(id)] = true
	}
	for _, r := range res {
		for _, uri := range r.Entities {
			if !strings.HasPrefix(uri, "urn:tokentrail:batch:") {
				t.Fatalf("entity %s outside the batch namespace", uri)
			}
			delete(want, uri)
		}
		if r.Agents == 0 || len(r.Organizations) != r.Agents {
			t.Fatalf("%d agents, organisations %v", r.Agents, r.Organizations)
		}
	}
	if len(want) != 0 {
		t.Fatalf("no export names %v", want)
	}
}
