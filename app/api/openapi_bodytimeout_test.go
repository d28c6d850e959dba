package api

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestOpenAPIWritesDocumentBodyTimeout: every registered write reads its
// body under a deadline and answers 408 body-timeout when it is late, so
// every write the document describes lists that response.
func TestOpenAPIWritesDocumentBodyTimeout(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Ref string `json:"$ref"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	e := newEnv(t)
	writes := 0
	for _, r := range e.srv.Echo().Routes() {
		if r.Method != http.MethodPost {
			continue
		}
		writes++
		path := openAPIPath(r.Path)
		resp, ok := doc.Paths[path]["post"].Responses["408"]
		if !ok {
			t.Errorf("POST %s: no 408 response", path)
			continue
		}
		if resp.Ref != "#/components/responses/BodyTimeout" {
			t.Errorf("POST %s: 408 is %q", path, resp.Ref)
		}
	}
	if writes < 10 {
		t.Fatalf("only %d writes registered; the route table was not read", writes)
	}
	if d := doc.Components.Responses["BodyTimeout"].Description; d == "" {
		t.Error("the BodyTimeout response has no description")
	}
}
