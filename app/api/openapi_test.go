package api

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var echoParam = regexp.MustCompile(`(^|/):([A-Za-z]+)`)

// openAPIPath turns an Echo route path into its OpenAPI form.
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, `\:`, "\x00")
	p = echoParam.ReplaceAllString(p, "$1{$2}")
	return strings.ReplaceAll(p, "\x00", ":")
}

// TestOpenAPICoversRoutes checks that every registered route is described in
// the embedded OpenAPI document and every described operation is registered.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	e := newEnv(t)
	registered := map[string]bool{}
	for _, r := range e.srv.Echo().Routes() {
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	if len(registered) < 25 {
		t.Fatalf("only %d routes registered; the route table was not read", len(registered))
	}
	for _, r := range sortedKeys(registered) {
		if !described[r] {
			t.Errorf("route %s is not described in openapi.json", r)
		}
	}
	for _, d := range sortedKeys(described) {
		if !registered[d] {
			t.Errorf("openapi.json describes %s, which is not registered", d)
		}
	}
}

// TestOpenAPIReferencesResolve checks every $ref points at a component.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	comps := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				sec, _ := comps[parts[0]].(map[string]any)
				if len(parts) != 2 || sec == nil || sec[parts[1]] == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v1/batches/:id/lineage":     "/api/v1/batches/{id}/lineage",
		`/api/v1/trades\:bulk`:            "/api/v1/trades:bulk",
		"/api/v1/events/:eventId/receipt": "/api/v1/events/{eventId}/receipt",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
