package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestBadInput sends malformed, mistyped, unknown, oversized and otherwise
// wrong requests: each gets a problem with the right status and field, none
// reaches the ledger, and no raw input comes back.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	hostile := `<script>alert(1)</script>`
	big := `{"reason":"` + strings.Repeat("x", MaxBody) + `"}`
	cases := []struct {
		name, method, path, org string
		body                    any
		ctype                   string
		status                  int
		field                   string
	}{
		{"malformed JSON", "POST", "/api/v1/batches", provider, `{"name": "x",`, "", 400, "body"},
		{"syntax error", "POST", "/api/v1/batches", provider, `{"name" "x"}`, "", 400, "body"},
		{"not an object", "POST", "/api/v1/batches", provider, `[1,2]`, "", 400, "body"},
		{"empty body", "POST", "/api/v1/batches/b1/freeze", regulator, "", "", 400, "body"},
		{"trailing data", "POST", "/api/v1/batches/b1/freeze", regulator, `{"reason":"a"}{"reason":"b"}`, "", 400, "body"},
		{"wrong type", "POST", "/api/v1/batches/b1/assessments", auditor, `{"score":"high","method":"m"}`, "", 400, "score"},
		{"wrong nested type", "POST", "/api/v1/batches", provider, `{"tokens":{"count":"many"}}`, "", 400, "tokens.count"},
		{"unknown field", "POST", "/api/v1/batches/b1/freeze", regulator, `{"reason":"a","extra":1}`, "", 400, "extra"},
		{"unknown field with markup", "POST", "/api/v1/batches/b1/freeze", regulator, `{"` + hostile + `":1}`, "", 400, hostile},
		{"batch id in body", "POST", "/api/v1/batches/b1/assessments", auditor, `{"batchId":"other","score":1,"method":"m"}`, "", 400, "batchId"},
		{"trade without terms", "POST", "/api/v1/trades", exchange, `{"tradeId":"t","batchId":"b1","seller":"ProviderMSP","buyer":"ConsumerMSP","tokens":1,"rights":"licence","purposes":["x"]}`, "", 400, "terms"},
		{"bulk without trades", "POST", "/api/v1/trades:bulk", exchange, `{"trades":[]}`, "", 400, "trades"},
		{"bulk trade without terms", "POST", "/api/v1/trades:bulk", exchange, `{"trades":[{"tradeId":"t"}]}`, "", 400, "trades[0].terms"},
		{"bulk over 1000", "POST", "/api/v1/trades:bulk", exchange, bulkOf(1001), "", 400, "trades"},
		{"oversize body", "POST", "/api/v1/batches/b1/freeze", regulator, big, "", 413, ""},
		{"oversize bulk", "POST", "/api/v1/trades:bulk", exchange, `{"trades":[` + strings.Repeat(`{"tradeId":"x"},`, MaxBulkBody/16) + `{}]}`, "", 413, ""},
		{"form body", "POST", "/api/v1/batches/b1/freeze", regulator, "reason=a", "application/x-www-form-urlencoded", 415, ""},
		{"bad batch id", "GET", "/api/v1/batches/" + strings.Repeat("x", 129), regulator, nil, "", 400, "id"},
		{"bad batch id chars", "GET", "/api/v1/batches/a%20b", regulator, nil, "", 400, "id"},
		{"bad id in write", "POST", "/api/v1/batches/a%3Cb%3E/freeze", regulator, `{"reason":"a"}`, "", 400, "id"},
		{"bad msp id", "GET", "/api/v1/participants/-x", regulator, nil, "", 400, "mspId"},
		{"bad event id", "GET", "/api/v1/events/%3Cx%3E/receipt", regulator, nil, "", 400, "eventId"},
		{"bad page token chars", "GET", "/api/v1/batches?pageToken=%3Cscript%3E", regulator, nil, "", 400, "pageToken"},
		{"foreign page token", "GET", "/api/v1/batches?pageToken=bm9wZQ", regulator, nil, "", 400, "pageToken"},
		{"page size too big", "GET", "/api/v1/batches?pageSize=501", regulator, nil, "", 400, "pageSize"},
		{"page size not a number", "GET", "/api/v1/batches/b1/events?pageSize=ten", regulator, nil, "", 400, "pageSize"},
		{"unknown filter", "GET", "/api/v1/batches?colour=red", regulator, nil, "", 400, "colour"},
		{"repeated filter", "GET", "/api/v1/batches?sector=finance&sector=science", regulator, nil, "", 400, "sector"},
		{"bad sector", "GET", "/api/v1/batches?sector=mining", regulator, nil, "", 400, "sector"},
		{"bad direction", "GET", "/api/v1/batches/b1/lineage?direction=sideways", regulator, nil, "", 400, "direction"},
		{"depth over 50", "GET", "/api/v1/batches/b1/lineage?depth=51", regulator, nil, "", 400, "depth"},
		{"bad format", "GET", "/api/v1/batches/b1/lineage?format=xml", regulator, nil, "", 400, "format"},
		{"bad time", "GET", "/api/v1/trades?from=yesterday", regulator, nil, "", 400, "from"},
		{"bad interval", "GET", "/api/v1/prices?interval=hour", regulator, nil, "", 400, "interval"},
		{"query on a route without any", "GET", "/api/v1/ledger?x=1", regulator, nil, "", 400, "x"},
		{"unknown route", "GET", "/api/v1/nothing-here", regulator, nil, "", 404, ""},
		{"unknown route outside the API", "GET", "/" + hostile, "", nil, "", 404, ""},
		{"wrong method", "DELETE", "/api/v1/batches/b1", regulator, nil, "", 405, ""},
		{"wrong method on write route", "GET", "/api/v1/processing", regulator, nil, "", 405, ""},
		{"no key", "GET", "/api/v1/batches", "", nil, "", 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.led.submits.Load() + e.led.evals.Load()
			var rec *httptest.ResponseRecorder
			if c.ctype != "" {
				req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body.(string)))
				req.Header.Set("Content-Type", c.ctype)
				req.Header.Set("Authorization", "Bearer "+e.keys[c.org])
				rec = httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
			} else {
				rec = e.do(c.method, c.path, c.org, c.body)
			}
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body.String())
			}
			p := problemOf(t, rec)
			if c.field != "" && p.Field != c.field {
				t.Errorf("field %q, want %q (%s)", p.Field, c.field, p.Detail)
			}
			if strings.Contains(rec.Body.String(), "<script>") {
				t.Errorf("raw markup echoed back: %s", rec.Body.String())
			}
			if p.RequestID == "" || rec.Header().Get(RequestIDHeader) != p.RequestID {
				t.Errorf("request ID %q in problem, %q in header", p.RequestID, rec.Header().Get(RequestIDHeader))
			}
			// The contract itself rejects a forged page token; everything
			// else must be refused before the ledger is asked.
			if c.name != "foreign page token" {
				if after := e.led.submits.Load() + e.led.evals.Load(); after != before {
					t.Errorf("the request reached the ledger (%d calls)", after-before)
				}
			}
		})
	}
	rec := e.do("DELETE", "/api/v1/batches/b1", regulator, nil)
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 without an Allow header naming GET: %q", allow)
	}
}

func bulkOf(n int) string {
	var b strings.Builder
	b.WriteString(`{"trades":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"tradeId":"t%d","terms":{"unitPrice":1,"currency":"CNY","priceUnit":"1M tokens"}}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestContractErrorsMapToProblems checks the statuses of the contract's
// refusals as they come through the API.
func TestContractErrorsMapToProblems(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	cases := []struct {
		name, method, path, org string
		body                    any
		status                  int
		rule, field             string
	}{
		{"invalid field", "POST", "/api/v1/batches", provider, func() any { b := collectBody("x"); b["sector"] = "mining"; return b }(), 400, "", "sector"},
		{"not found", "GET", "/api/v1/batches/missing", regulator, nil, 404, "", ""},
		{"unknown participant", "GET", "/api/v1/participants/NobodyMSP", regulator, nil, 404, "", ""},
		{"unknown event", "GET", "/api/v1/events/no-such-event/receipt", regulator, nil, 404, "", ""},
		{"existing ID", "POST", "/api/v1/batches", provider, collectBody("b1"), 409, "", ""},
		{"role", "POST", "/api/v1/batches", consumer, collectBody("c1"), 403, contract.RuleRole, ""},
		{"rule", "POST", "/api/v1/batches/b1/circulations", provider, map[string]any{"to": consumer, "purpose": "advertising", "accessMode": "copy"}, 422, contract.RulePurpose, ""},
		{"quantity", "POST", "/api/v1/trades", exchange, func() any { b := tradeBodyFor("q", "b1", 1); b["tokens"] = 2_000_000; return b }(), 422, contract.RuleQuantity, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := e.do(c.method, c.path, c.org, c.body)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body.String())
			}
			p := problemOf(t, rec)
			if p.Rule != c.rule || (c.field != "" && p.Field != c.field) {
				t.Errorf("rule %q field %q, want %q %q: %s", p.Rule, p.Field, c.rule, c.field, p.Detail)
			}
		})
	}
}

func TestToProblem(t *testing.T) {
	cases := []struct {
		err    error
		status int
		fault  bool
		detail string
	}{
		{fmt.Errorf("submit: %w", ledger.ErrUnavailable), 503, true, "ledger cannot be reached"},
		{ledger.ErrTxNotFound, 404, false, "no such transaction"},
		{context.DeadlineExceeded, 504, true, "in time"},
		{errors.New("bbolt: disk I/O error at /secret/path"), 500, true, "internal error"},
		{fmt.Errorf("wrapped: %w", &contract.Error{Kind: contract.KindRule, Rule: "TT-R03", Detail: "core data never leaves its region"}), 422, false, "core data"},
		{errors.New("peer said: " + contract.EncodeError(&contract.Error{Kind: contract.KindConflict, Rule: "TT-R12", Detail: "differs"})), 409, false, "differs"},
		{&contract.Error{Kind: contract.KindForbidden, Detail: "no"}, 403, false, "no"},
		{&contract.Error{Kind: "strange", Detail: "x"}, 500, true, "internal error"},
		{echo.ErrNotFound, 404, false, "no such route"},
		{&http.MaxBytesError{Limit: 10}, 413, false, "10 bytes"},
		{auth.ErrUnknownKey, 401, false, "unknown or revoked"},
	}
	for _, c := range cases {
		p, fault := toProblem(c.err)
		if p.Status != c.status || fault != c.fault || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("toProblem(%v) = %d %v %q, want %d %v containing %q", c.err, p.Status, fault, p.Detail, c.status, c.fault, c.detail)
		}
		if strings.Contains(p.Detail, "/secret/path") {
			t.Errorf("internal detail leaked: %q", p.Detail)
		}
	}
	p, _ := toProblem(&contract.Error{Kind: contract.KindForbidden, Detail: "no"})
	if p.Rule != contract.RuleRole {
		t.Errorf("a role refusal without a rule gets rule %q, want TT-R07", p.Rule)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for name, h := range map[string]string{
		"missing":          "",
		"wrong scheme":     "Basic " + e.keys[regulator],
		"no key":           "Bearer ",
		"unknown key":      "Bearer tt_" + strings.Repeat("A", 43),
		"malformed key":    "Bearer hello",
		"key with newline": "Bearer " + e.keys[regulator] + "x",
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/batches", nil)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code != 401 {
				t.Fatalf("status %d, want 401", rec.Code)
			}
			problemOf(t, rec)
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// The public routes need no key.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"} {
		if rec := e.do("GET", p, "", nil); rec.Code != 200 {
			t.Errorf("GET %s without a key: %d", p, rec.Code)
		}
	}
}

func TestLedgerUnavailable(t *testing.T) {
	e := newEnv(t)
	e.led.down.Store(true)
	for _, r := range [][2]string{{"POST", "/api/v1/batches"}, {"GET", "/api/v1/batches"}, {"GET", "/readyz"}, {"GET", "/api/v1/ledger"}} {
		var body any
		if r[0] == "POST" {
			body = collectBody("x")
		}
		rec := e.do(r[0], r[1], provider, body)
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s with the ledger down: %d, Retry-After %q", r[0], r[1], rec.Code, rec.Header().Get("Retry-After"))
		}
		problemOf(t, rec)
	}
	if rec := e.do("GET", "/healthz", "", nil); rec.Code != 200 {
		t.Errorf("healthz with the ledger down: %d (liveness does not depend on it)", rec.Code)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimit = 1; c.RateBurst = 2 })
	now := time.Unix(1_000_000, 0)
	e.srv.limiter.now = func() time.Time { return now }
	for i := range 2 {
		if rec := e.do("GET", "/api/v1/ledger", consumer, nil); rec.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := e.do("GET", "/api/v1/ledger", consumer, nil)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	problemOf(t, rec)
	// Another key has its own bucket.
	if rec := e.do("GET", "/api/v1/ledger", auditor, nil); rec.Code != 200 {
		t.Fatalf("another key: %d", rec.Code)
	}
	now = now.Add(time.Second)
	if rec := e.do("GET", "/api/v1/ledger", consumer, nil); rec.Code != 200 {
		t.Fatalf("after a second: %d", rec.Code)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(RequestIDHeader, "client-chosen-id-1")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if got := rec.Header().Get(RequestIDHeader); got != "client-chosen-id-1" {
		t.Errorf("a plain client request ID is kept: got %q", got)
	}
	req = httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(RequestIDHeader, "<bad id>")
	rec = httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if got := rec.Header().Get(RequestIDHeader); got == "<bad id>" || len(got) != 36 {
		t.Errorf("an unsafe client request ID is replaced by a UUID: got %q", got)
	}
}

// TestPanicRecovered checks that a panicking handler answers 500 and the
// server keeps serving.
func TestPanicRecovered(t *testing.T) {
	e := newEnv(t)
	e.srv.Echo().GET("/boom", func(echo.Context) error { panic("boom") })
	rec := e.do("GET", "/boom", "", nil)
	if rec.Code != 500 {
		t.Fatalf("panic: %d", rec.Code)
	}
	if p := problemOf(t, rec); strings.Contains(p.Detail, "boom") {
		t.Errorf("panic value leaked: %q", p.Detail)
	}
	if rec := e.do("GET", "/healthz", "", nil); rec.Code != 200 {
		t.Fatalf("after the panic: %d", rec.Code)
	}
}
