package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/api/apitest"
)

// client is an apitest.Client over the env's server, safe for concurrent use.
func (e *env) client() apitest.Client {
	return func(method, path, org string, body any) (int, []byte, error) {
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			r = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, r)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if org != "" {
			req.Header.Set("Authorization", "Bearer "+e.keys[org])
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes(), nil
	}
}

// TestAuthorizationMatrixEveryRoute runs the conformance matrix of every
// route × role (and no key) over the in-memory ledger. The same matrix runs
// against the binary on the embedded ledger and on Fabric (package main).
func TestAuthorizationMatrixEveryRoute(t *testing.T) {
	e := newEnv(t)
	apitest.AuthorizationMatrix(t, e.client(), apitest.DevOrgs())
}

// matrixExempt are the /api/v1 routes the matrix leaves out, with why.
var matrixExempt = map[string]string{
	"GET /api/v1/openapi.json":  "public: the API's description, no key needed",
	"GET /api/v1/events/stream": "a long-lived event stream; its own tests check its authorisation",
	"POST /api/v1/openlineage":  "OpenLineage intake; its own tests check its authorisation",
}

// TestAuthorizationMatrixCoversEveryRoute fails when a route of the API is
// neither in the matrix nor exempt from it, so a new route gets a row.
func TestAuthorizationMatrixCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	var covered []string
	for _, r := range apitest.Routes() {
		covered = append(covered, r.Method+" "+r.Path)
	}
	for _, r := range e.srv.Echo().Routes() {
		key := r.Method + " " + strings.ReplaceAll(r.Path, `\:`, ":")
		if !strings.HasPrefix(r.Path, "/api/v1/") || matrixExempt[key] != "" {
			continue
		}
		if !slices.Contains(covered, key) {
			t.Errorf("%s is not in the authorisation matrix (app/api/apitest) nor exempt from it", key)
		}
	}
}

// TestAccessMatrix runs the access policy's matrix — every batch route ×
// every role, a suspended caller and no key × every relation to the batch —
// over the in-memory ledger. The same matrix runs against the binary on the
// embedded ledger and on Fabric (package main).
func TestAccessMatrix(t *testing.T) {
	e := newEnv(t)
	apitest.AccessMatrix(t, e.client(), apitest.DevOrgs(), apitest.AccessOptions{Suspend: apitest.DevOrgs().Consumer,
		ExpiryWait: time.Hour, Wait: e.led.clock.Advance})
}
