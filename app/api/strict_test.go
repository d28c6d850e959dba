package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract/strictjson"
)

// mustJSON encodes v, whose map keys encoding/json writes sorted.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStrictJSONEveryRoute sends, on every write route, a body with a key
// given twice, a key in the wrong case and a nested duplicate: each is
// refused with 400 naming the key by its path, and nothing reaches the
// ledger's write path.
func TestStrictJSONEveryRoute(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	const runID = "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f"
	olRun := mustJSON(t, pipelineRun("tokentrail://test", runID, "clean@1.4", []string{"b1"}, []string{"cleaning"}, out("o1", 900)))
	bulk := map[string]any{"trades": []any{tradeBodyFor("t0", "b1", 1), tradeBodyFor("t1", "b1", 1), tradeBodyFor("t2", "b1", 1), tradeBodyFor("t3", "b1", 1)}}
	reason := `{"reason":"investigation"}`

	type mutation struct {
		name        string
		from, to    string // the first occurrence of from becomes to
		field       string
		wantProblem string // a word the detail must contain
	}
	dup := func(key, value, field string) mutation {
		k := fmt.Sprintf("%q:", key)
		return mutation{"duplicate " + field, k, k + value + "," + k, field, "more than once"}
	}
	recase := func(key, wrong, field string) mutation {
		return mutation{"wrong case " + field, fmt.Sprintf("%q:", key), fmt.Sprintf("%q:", wrong), field, "case-sensitive"}
	}
	routes := []struct {
		path, org, body string
		muts            []mutation
	}{
		{"/api/v1/participants", regulator, `{"mspId":"NewMSP","name":"New","roles":["consumer"],"region":"CN"}`,
			[]mutation{dup("name", `"x"`, "name"), recase("region", "Region", "Region"),
				{"nested duplicate", `"roles":["consumer"]`, `"roles":["consumer",{"a":1,"a":2}]`, "roles[1].a", "more than once"}}},
		{"/api/v1/participants/ConsumerMSP/suspend", regulator, reason,
			[]mutation{dup("reason", `"x"`, "reason"), recase("reason", "REASON", "REASON")}},
		{"/api/v1/batches", provider, mustJSON(t, collectBody("new1")),
			[]mutation{
				{"personal info given twice", `"personalInfo":"none"`, `"personalInfo":"none","PersonalInfo":"sensitive"`, "PersonalInfo", "case-sensitive"},
				dup("personalInfo", `"sensitive"`, "personalInfo"),
				{"nested duplicate", `"type":"enterprise"`, `"type":"enterprise","type":"web"`, "source.type", "more than once"},
				{"nested wrong case", `"tokenizer":`, `"Tokenizer":`, "tokens.Tokenizer", "case-sensitive"}}},
		{"/api/v1/processing", processor, mustJSON(t, map[string]any{"inputs": []string{"b1"}, "operations": []string{"cleaning"},
			"tool": map[string]any{"name": "clean", "version": "1"}, "outputs": []any{outputBody("p1", 900), outputBody("p2", 90)}}),
			[]mutation{dup("inputs", `["b1"]`, "inputs"), recase("operations", "Operations", "Operations"),
				{"nested duplicate", `"count":90,`, `"count":90,"count":9000,`, "outputs[1].tokens.count", "more than once"}}},
		{"/api/v1/batches/b1/assessments", auditor, `{"method":"review","metrics":{"dup-rate":0.01},"score":80}`,
			[]mutation{dup("score", "10", "score"), recase("method", "Method", "Method"),
				{"map duplicate", `"dup-rate":0.01`, `"dup-rate":0.01,"dup-rate":0.9`, "metrics.dup-rate", "more than once"}}},
		{"/api/v1/batches/b1/circulations", provider, `{"accessMode":"copy","crossBorder":{"destination":"SG","mechanism":"scc"},"purpose":"model-training","to":"ProcessorMSP"}`,
			[]mutation{dup("to", `"ConsumerMSP"`, "to"), recase("purpose", "purPose", "purPose"),
				{"nested duplicate", `"destination":"SG"`, `"destination":"SG","destination":"US"`, "crossBorder.destination", "more than once"}}},
		{"/api/v1/trades", exchange, mustJSON(t, tradeBodyFor("t9", "b1", 1)),
			[]mutation{dup("tokens", "1", "tokens"), recase("buyer", "Buyer", "Buyer"),
				{"nested duplicate", `"currency":"CNY"`, `"currency":"CNY","currency":"USD"`, "terms.currency", "more than once"}}},
		{`/api/v1/trades:bulk`, exchange, mustJSON(t, bulk),
			[]mutation{
				{"duplicate in the fourth trade", `"tokens":10000,"tradeId":"t3"`, `"tokens":10000,"tokens":1,"tradeId":"t3"`, "trades[3].tokens", "more than once"},
				{"wrong case in the third trade", `"tradeId":"t2"`, `"TradeID":"t2"`, "trades[2].TradeID", "case-sensitive"},
				{"top-level duplicate", `{"trades":`, `{"trades":[],"trades":`, "trades", "more than once"}}},
		{"/api/v1/batches/b1/audits", auditor, `{"findings":[{"result":"pass","rule":"TT-R01"}],"scope":"all","verdict":"pass"}`,
			[]mutation{dup("verdict", `"fail"`, "verdict"), recase("scope", "Scope", "Scope"),
				{"nested duplicate", `"result":"pass"`, `"result":"fail","result":"pass"`, "findings[0].result", "more than once"}}},
		{"/api/v1/batches/b1/freeze", regulator, reason, []mutation{dup("reason", `"x"`, "reason"), recase("reason", "Reason", "Reason")}},
		{"/api/v1/batches/b1/unfreeze", regulator, reason, []mutation{dup("reason", `"x"`, "reason"), recase("reason", "Reason", "Reason")}},
		{"/api/v1/batches/b1/retire", regulator, reason, []mutation{dup("reason", `"x"`, "reason"), recase("reason", "Reason", "Reason")}},
		{"/api/v1/openlineage", processor, olRun,
			[]mutation{
				{"START then EventType COMPLETE", `"eventType":"COMPLETE"`, `"eventType":"START","EventType":"COMPLETE"`, "EventType", "case-sensitive"},
				dup("eventType", `"START"`, "eventType"),
				{"nested duplicate", `"runId":"` + runID + `"`, `"runId":"` + runID + `","runId":"` + runID + `"`, "run.runId", "more than once"},
				{"duplicate inside a facet", `"operations":["cleaning"]`, `"operations":["cleaning"],"operations":["cleaning"]`,
					"run.facets.tokentrail_processing.operations", "more than once"},
				{"wrong case inside a facet", `"tokenizer":"o200k_base"`, `"Tokenizer":"o200k_base"`,
					"outputs[0].facets.tokentrail_tokens.Tokenizer", "case-sensitive"}}},
	}
	for _, r := range routes {
		for _, m := range r.muts {
			t.Run(strings.TrimPrefix(r.path, "/api/v1/")+"/"+m.name, func(t *testing.T) {
				if !strings.Contains(r.body, m.from) {
					t.Fatalf("the body has no %s: %s", m.from, r.body)
				}
				body := strings.Replace(r.body, m.from, m.to, 1)
				submits := e.led.submits.Load()
				rec := e.do(http.MethodPost, r.path, r.org, body)
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s\nbody %s", rec.Code, rec.Body.String(), body)
				}
				p := problemOf(t, rec)
				if p.Field != m.field || !strings.Contains(p.Detail, m.wantProblem) {
					t.Errorf("field %q detail %q, want field %q and %q", p.Field, p.Detail, m.field, m.wantProblem)
				}
				if n := e.led.submits.Load() - submits; n != 0 {
					t.Errorf("%d submissions reached the ledger", n)
				}
			})
		}
	}
}

// BenchmarkDecodeBulk1000 measures decoding a bulk body of 1,000 trades:
// encoding/json alone (what the API did before keys were checked) and the
// strict decoding the API does now.
func BenchmarkDecodeBulk1000(b *testing.B) {
	trades := make([]any, 1000)
	for i := range trades {
		trades[i] = tradeBodyFor(fmt.Sprintf("trade-%04d", i), "batch-1", 12.5)
	}
	body, err := json.Marshal(map[string]any{"trades": trades})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v bulkBody
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("key-check-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v bulkBody
			if err := strictjson.Check(body, &v, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v bulkBody
			if err := unmarshalStrict(body, &v, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mustJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
