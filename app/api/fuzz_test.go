package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// The fuzz targets send arbitrary bodies, paths and queries through the whole
// server (middleware, binding, service, the contract on the in-memory ledger)
// and check what every answer must satisfy: a status from the route's set,
// never a 5xx; errors as problem+json whose status matches; successes as
// JSON; and a refused request leaves the ledger as it was. Each target keeps
// one server for all its inputs (per fuzzing process), so state grows only
// by the writes that succeed.
//
//	go test ./app/api -run '^$' -fuzz '^FuzzPostBatches$' -fuzztime 3m
//
// Inputs that once failed, and a sample of the corpus the fuzzer built, are
// in testdata/fuzz and run with every `go test`.

// fuzzServer is a server for one fuzz target, built on its first input.
type fuzzServer struct {
	once sync.Once
	e    *env
}

func (f *fuzzServer) get(t *testing.T) *env {
	f.once.Do(func() {
		f.e = newEnv(t)
		f.e.collected("b1")
		f.e.must(201, "POST", "/api/v1/batches/b1/circulations", provider,
			map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
		f.e.must(201, "POST", "/api/v1/trades", exchange, tradeBodyFor("t1", "b1", 10), nil)
	})
	return f.e
}

// height is the ledger's block count: every successful submission adds one.
func (e *env) height() uint64 {
	e.led.mu.Lock()
	defer e.led.mu.Unlock()
	return e.led.height
}

// serveRaw sends one request with a raw body and content type as org. It
// returns nil when target is no valid request target: Go's HTTP server
// answers those itself, before any handler.
func (e *env) serveRaw(method, target, org, ctype string, body []byte) *httptest.ResponseRecorder {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil
	}
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL, req.RequestURI = u, target
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if org != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[org])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// checkAnswer applies the invariants every answer must meet: status in
// allowed, a problem for errors, JSON for successes, and no ledger change
// unless it succeeded.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed []int, heightBefore, heightAfter uint64) {
	t.Helper()
	if rec == nil {
		t.Skip("not a valid request target")
	}
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("status %d, not one of %v: %s", rec.Code, allowed, rec.Body.String())
	}
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
			t.Fatalf("status %d as %q, not problem+json", rec.Code, ct)
		}
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Detail == "" || p.Type == "" {
			t.Fatalf("status %d with a malformed problem (%v): %s", rec.Code, err, rec.Body.String())
		}
		if heightAfter != heightBefore {
			t.Fatalf("refused with %d, but the ledger grew from %d to %d blocks", rec.Code, heightBefore, heightAfter)
		}
		return
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.String())
	}
}

// writeStatuses are the answers a write may give to any input.
var writeStatuses = []int{200, 201, 400, 403, 404, 409, 413, 415, 422}

// FuzzPostBatches posts arbitrary bodies (and content types) to
// POST /api/v1/batches as the provider.
func FuzzPostBatches(f *testing.F) {
	valid, _ := json.Marshal(collectBody("fz-1"))
	f.Add(valid, "application/json")
	f.Add([]byte(`{"id":"x","tokens":{"count":-1}}`), "")
	f.Add([]byte(`{"id":"b1"}`), "application/problem+json")
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`), "application/json")
	f.Add([]byte("{\"name\":\"\xff\xfe\",\"id\":\"\u00e9\"}"), "application/json; charset=utf-8")
	f.Add([]byte(`{"id":"a","source":{"type":"enterprise"},"purposes":["model-training"],"tokens":{"count":1e400}}`), "")
	f.Add([]byte("reason=a"), "application/x-www-form-urlencoded")
	f.Add([]byte(`{"id":"x"} trailing`), "text/json")
	var fs fuzzServer
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		e := fs.get(t)
		before := e.height()
		rec := e.serveRaw("POST", "/api/v1/batches", provider, ctype, body)
		checkAnswer(t, rec, writeStatuses, before, e.height())
		if rec.Code == 201 {
			var w struct {
				Batch *struct{ ID string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil || w.Batch == nil || w.Batch.ID == "" {
				t.Fatalf("201 without the batch: %s", rec.Body.String())
			}
		}
	})
}

// FuzzTradesBulk posts arbitrary bodies to POST /api/v1/trades:bulk as the
// exchange. A 200 must report one result per trade sent.
func FuzzTradesBulk(f *testing.F) {
	one, _ := json.Marshal(map[string]any{"trades": []any{tradeBodyFor("fz-t1", "b1", 10), tradeBodyFor("t1", "b1", 10)}})
	f.Add(one)
	f.Add([]byte(bulkOf(3)))
	f.Add([]byte(`{"trades":[]}`))
	f.Add([]byte(`{"trades":[{"tradeId":"x","terms":null}]}`))
	f.Add([]byte(`{"trades":[{"tradeId":"x","batchId":"b1","tokens":1e308,"terms":{"unitPrice":-1,"currency":"CNY","priceUnit":"1M tokens"}}]}`))
	f.Add([]byte(`{"trades":{"0":{}}}`))
	var fs fuzzServer
	f.Fuzz(func(t *testing.T, body []byte) {
		e := fs.get(t)
		before := e.height()
		rec := e.serveRaw("POST", "/api/v1/trades:bulk", exchange, "application/json", body)
		checkAnswer(t, rec, writeStatuses, before, e.height())
		if rec.Code == 200 {
			var sent struct{ Trades []json.RawMessage }
			var got struct{ Results []json.RawMessage }
			if json.Unmarshal(body, &sent) != nil || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got.Results) != len(sent.Trades) {
				t.Fatalf("200 with %d results for %d trades: %s", len(got.Results), len(sent.Trades), rec.Body.String())
			}
		}
	})
}

// readRoutes are the GET routes, with {} where the fuzzed path parameter
// goes.
var readRoutes = []string{
	"/api/v1/participants", "/api/v1/participants/{}", "/api/v1/batches", "/api/v1/batches/{}",
	"/api/v1/batches/{}/events", "/api/v1/batches/{}/lineage", "/api/v1/batches/{}/impact",
	"/api/v1/batches/{}/compliance", "/api/v1/trades", "/api/v1/prices", "/api/v1/events/{}/receipt", "/api/v1/ledger",
}

// FuzzQueryParams sends arbitrary query strings and path parameters to every
// read route as any organisation: answers are 200, 400, 403 or 404 (never a
// 5xx), and reads never change the ledger.
func FuzzQueryParams(f *testing.F) {
	f.Add(uint8(2), uint8(0), "b1", "sector=finance&pageSize=1")
	f.Add(uint8(4), uint8(0), "b1", "pageToken=aC9iMS8w&pageSize=500")
	f.Add(uint8(5), uint8(1), "b1", "direction=both&depth=50&format=prov-json")
	f.Add(uint8(8), uint8(3), "", "from=2026-01-01T00:00:00Z&to=2020-01-01T00:00:00Z&batchId=b1")
	f.Add(uint8(9), uint8(0), "", "interval=window&sector=finance&modality=text")
	f.Add(uint8(3), uint8(4), "..%2F..%2Fledger", "")
	f.Add(uint8(1), uint8(5), "%00", "x=%ff")
	f.Add(uint8(2), uint8(4), "", "pageToken=Yy9Qcm92aWRlck1TUC9iMQ&owner=ProviderMSP")
	var fs fuzzServer
	f.Fuzz(func(t *testing.T, route, who uint8, param, rawQuery string) {
		e := fs.get(t)
		path := readRoutes[int(route)%len(readRoutes)]
		target := path
		for i := 0; i+1 < len(path); i++ {
			if path[i:i+2] == "{}" {
				target = path[:i] + url.PathEscape(param) + path[i+2:]
				break
			}
		}
		if rawQuery != "" {
			target += "?" + rawQuery
		}
		before := e.height()
		rec := e.serveRaw("GET", target, allOrgs[int(who)%len(allOrgs)], "", nil)
		checkAnswer(t, rec, []int{200, 400, 403, 404}, before, e.height())
		if e.height() != before {
			t.Fatalf("a read changed the ledger")
		}
	})
}

// writeRoutes are the POST routes other than collect and bulk, with {} where
// the fuzzed batch or MSP ID goes.
var writeRoutes = []string{
	"/api/v1/participants", "/api/v1/participants/{}/suspend", "/api/v1/processing",
	"/api/v1/batches/{}/assessments", "/api/v1/batches/{}/circulations", "/api/v1/trades",
	"/api/v1/batches/{}/audits", "/api/v1/batches/{}/freeze", "/api/v1/batches/{}/unfreeze", "/api/v1/batches/{}/retire",
}

// FuzzWriteRoutes posts arbitrary bodies to every other write route with an
// arbitrary path ID, as any organisation.
func FuzzWriteRoutes(f *testing.F) {
	f.Add(uint8(0), uint8(0), "", []byte(`{"mspId":"FzMSP","name":"F","roles":["consumer"],"region":"CN"}`))
	f.Add(uint8(1), uint8(0), "ConsumerMSP", []byte(`{"reason":"fuzz"}`))
	f.Add(uint8(2), uint8(2), "", []byte(`{"inputs":["b1"],"operations":["cleaning"],"tool":{"name":"t","version":"1"},"outputs":[{"id":"fz-o","name":"o","tokens":{"count":10,"tokenizer":"x"},"contentDigest":"sha256:00000000000000000000000000000000000000000000000000000000000000ff","sizeBytes":1,"records":1}]}`))
	f.Add(uint8(3), uint8(5), "b1", []byte(`{"score":50,"method":"m","metrics":{"a":1}}`))
	f.Add(uint8(4), uint8(1), "b1", []byte(`{"to":"ConsumerMSP","purpose":"model-training","accessMode":"api","crossBorder":{"destination":"SG"}}`))
	f.Add(uint8(5), uint8(3), "", []byte(`{"tradeId":"fz","batchId":"b1","seller":"ProviderMSP","buyer":"ConsumerMSP","tokens":5,"rights":"licence","purposes":["model-training"],"terms":{"unitPrice":1,"currency":"CNY","priceUnit":"1M tokens"}}`))
	f.Add(uint8(6), uint8(5), "b1", []byte(`{"scope":"s","findings":[{"rule":"TT-R01","result":"pass","evidence":["x"]}],"verdict":"compliant"}`))
	f.Add(uint8(7), uint8(0), "b1", []byte(`{"reason":"r"}`))
	f.Add(uint8(9), uint8(1), "b1", []byte(`{"reason":"consent-withdrawn"}`))
	f.Add(uint8(8), uint8(0), "..", []byte(`{}`))
	var fs fuzzServer
	f.Fuzz(func(t *testing.T, route, who uint8, id string, body []byte) {
		e := fs.get(t)
		path := writeRoutes[int(route)%len(writeRoutes)]
		target := path
		for i := 0; i+1 < len(path); i++ {
			if path[i:i+2] == "{}" {
				target = path[:i] + url.PathEscape(id) + path[i+2:]
				break
			}
		}
		before := e.height()
		rec := e.serveRaw(http.MethodPost, target, allOrgs[int(who)%len(allOrgs)], "application/json", body)
		checkAnswer(t, rec, writeStatuses, before, e.height())
	})
}
