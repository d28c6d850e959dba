package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

type writeAnswer struct {
	Batch   *contract.Batch  `json:"batch"`
	Batches []contract.Batch `json:"batches"`
	Event   *contract.Event  `json:"event"`
	Receipt json.RawMessage  `json:"receipt"`
}

// TestLifecycleEveryRoute drives one batch through every route of the API
// and checks what each answers.
func TestLifecycleEveryRoute(t *testing.T) {
	e := newEnv(t)

	// Participants.
	var p contract.Participant
	e.must(201, "POST", "/api/v1/participants", regulator, map[string]any{"mspId": "Lab2MSP", "name": "Second Lab", "roles": []string{"consumer"}, "region": "CN"}, &p)
	if p.MSPID != "Lab2MSP" || p.Status != "active" {
		t.Fatalf("registered participant: %+v", p)
	}
	e.must(200, "POST", "/api/v1/participants/Lab2MSP/suspend", regulator, map[string]any{"reason": "licence revoked"}, &p)
	if p.Status != "suspended" {
		t.Fatalf("suspended participant: %+v", p)
	}
	var parts contract.Page[contract.Participant]
	e.must(200, "GET", "/api/v1/participants", consumer, nil, &parts)
	if len(parts.Items) != 7 {
		t.Fatalf("participants: %d, want 7", len(parts.Items))
	}
	e.must(200, "GET", "/api/v1/participants/ExchangeMSP", consumer, nil, &p)
	if p.Roles[0] != "exchange" {
		t.Fatalf("exchange: %+v", p)
	}

	// Collect: {batch, event, receipt}.
	var w writeAnswer
	e.must(201, "POST", "/api/v1/batches", provider, collectBody("raw-1"), &w)
	if w.Batch == nil || w.Batch.ID != "raw-1" || w.Batch.Owner != provider || w.Event == nil || w.Event.Type != contract.EventCollected {
		t.Fatalf("collect answer: %+v", w)
	}
	var rcpt map[string]any
	if err := json.Unmarshal(w.Receipt, &rcpt); err != nil || rcpt["txId"] != w.Event.TxID {
		t.Fatalf("collect receipt %s does not name tx %s", w.Receipt, w.Event.TxID)
	}
	collectEvent := w.Event.EventID

	// Assess, circulate, process.
	e.must(201, "POST", "/api/v1/batches/raw-1/assessments", auditor, map[string]any{"score": 70, "method": "sampled"}, &w)
	if w.Event.Type != contract.EventAssessed || len(w.Receipt) == 0 {
		t.Fatalf("assess answer: %+v", w)
	}
	e.must(201, "POST", "/api/v1/batches/raw-1/circulations", provider, map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, &w)
	if w.Event.Type != contract.EventCirculated {
		t.Fatalf("circulate answer: %+v", w)
	}
	e.must(201, "POST", "/api/v1/processing", processor, map[string]any{
		"inputs": []string{"raw-1"}, "operations": []string{"cleaning"}, "tool": map[string]string{"name": "dedup", "version": "1.0"},
		"outputs": []any{outputBody("clean-1", 900_000)}}, &w)
	if len(w.Batches) != 1 || w.Batches[0].ID != "clean-1" || w.Event.Type != contract.EventProcessed {
		t.Fatalf("process answer: %+v", w)
	}
	e.must(201, "POST", "/api/v1/batches/clean-1/assessments", auditor, map[string]any{"score": 90, "method": "audit"}, nil)

	// Trades: one, a replay, a different replay, bulk.
	e.must(201, "POST", "/api/v1/trades", exchange, tradeBodyFor("t-1", "raw-1", 12.5), &w)
	if w.Event.Type != contract.EventTraded || w.Event.Traded.TradeID != "t-1" {
		t.Fatalf("trade answer: %+v", w)
	}
	first := *w.Event
	e.must(200, "POST", "/api/v1/trades", exchange, tradeBodyFor("t-1", "raw-1", 12.5), &w)
	if w.Event.EventID != first.EventID || w.Event.TxID != first.TxID {
		t.Fatalf("replay answered event %s, want the first %s", w.Event.EventID, first.EventID)
	}
	rec := e.do("POST", "/api/v1/trades", exchange, tradeBodyFor("t-1", "raw-1", 99))
	if pr := problemOf(t, rec); rec.Code != 409 || pr.Rule != contract.RuleIdempotency {
		t.Fatalf("different replay: %d %+v", rec.Code, pr)
	}
	var bulk service.BulkResult
	e.must(200, "POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": []any{
		tradeBodyFor("b-1", "raw-1", 10), tradeBodyFor("t-1", "raw-1", 12.5), tradeBodyFor("b-2", "nope", 10)}}, &bulk)
	if len(bulk.Results) != 3 || bulk.Results[0].Status != "committed" || bulk.Results[0].EventID == "" ||
		bulk.Results[1].Status != "replayed" || bulk.Results[2].Status != "rejected" || bulk.Results[2].Error == nil {
		t.Fatalf("bulk results: %+v", bulk.Results)
	}

	// Audit.
	e.must(201, "POST", "/api/v1/batches/clean-1/audits", auditor, map[string]any{"scope": "privacy",
		"findings": []any{map[string]any{"rule": "TT-R01", "result": "pass", "evidence": []string{first.TxID}}}, "verdict": "compliant"}, &w)
	if w.Event.Type != contract.EventAudited {
		t.Fatalf("audit answer: %+v", w)
	}

	// Reads.
	var b contract.Batch
	e.must(200, "GET", "/api/v1/batches/clean-1", processor, nil, &b)
	if b.ID != "clean-1" || len(b.Parents) != 1 || b.Parents[0] != "raw-1" {
		t.Fatalf("batch: %+v", b)
	}
	var batches contract.Page[contract.BatchView]
	e.must(200, "GET", "/api/v1/batches?sector=healthcare&pageSize=1", regulator, nil, &batches)
	if len(batches.Items) != 1 || batches.NextPageToken == "" {
		t.Fatalf("first page: %+v", batches)
	}
	var page2 contract.Page[contract.BatchView]
	e.must(200, "GET", "/api/v1/batches?sector=healthcare&pageSize=1&pageToken="+batches.NextPageToken, regulator, nil, &page2)
	if len(page2.Items) != 1 || page2.Items[0].ID == batches.Items[0].ID {
		t.Fatalf("second page repeats or is empty: %+v", page2)
	}
	var hist contract.Page[contract.Event]
	e.must(200, "GET", "/api/v1/batches/raw-1/events", regulator, nil, &hist)
	if len(hist.Items) < 5 || hist.Items[0].Type != contract.EventCollected || hist.Items[0].Seq != 1 {
		t.Fatalf("history: %+v", hist.Items)
	}
	for i, ev := range hist.Items {
		if ev.Seq != int64(i+1) {
			t.Fatalf("history seq %d at %d", ev.Seq, i)
		}
	}
	var lin contract.Lineage
	e.must(200, "GET", "/api/v1/batches/clean-1/lineage?direction=up&depth=5", regulator, nil, &lin)
	if lin.Root != "clean-1" || len(lin.Edges) != 1 || lin.Edges[0].From != "raw-1" || lin.Edges[0].To != "clean-1" {
		t.Fatalf("lineage: %+v", lin)
	}
	var prov PROVAnswer
	e.must(200, "GET", "/api/v1/batches/clean-1/lineage?format=prov-json", regulator, nil, &prov)
	if prov.Entity["batch:raw-1"] == nil || prov.Entity["batch:clean-1"] == nil || len(prov.Activity) != 1 ||
		len(prov.WasDerivedFrom) != 1 || len(prov.WasAssociatedWith) != 1 || prov.Agent["org:"+processor] == nil {
		t.Fatalf("prov-json: %+v", prov)
	}
	var imp contract.Impact
	e.must(200, "GET", "/api/v1/batches/raw-1/impact", regulator, nil, &imp)
	if imp.Root != "raw-1" || len(imp.Batches) != 2 || imp.TradeCount < 2 {
		t.Fatalf("impact: %+v", imp)
	}
	var comp contract.Compliance
	e.must(200, "GET", "/api/v1/batches/clean-1/compliance", auditor, nil, &comp)
	if comp.BatchID != "clean-1" || len(comp.Results) == 0 {
		t.Fatalf("compliance: %+v", comp)
	}
	var trades contract.Page[contract.Trade]
	e.must(200, "GET", "/api/v1/trades?batchId=raw-1", regulator, nil, &trades)
	if len(trades.Items) != 2 || trades.Items[0].Terms == nil {
		t.Fatalf("regulator's trades: %+v", trades.Items)
	}
	var exTrades contract.Page[contract.Trade]
	e.must(200, "GET", "/api/v1/trades?batchId=raw-1", exchange, nil, &exTrades)
	if exTrades.Items[0].Terms == nil {
		t.Fatalf("the recording exchange does not see its terms: %+v", exTrades.Items[0])
	}
	var audTrades contract.Page[contract.Trade] // a fresh value: decoding into the old one would keep its terms
	e.must(200, "GET", "/api/v1/trades?batchId=raw-1", auditor, nil, &audTrades)
	if len(audTrades.Items) != 2 {
		t.Fatalf("auditor's trades: %+v", audTrades.Items)
	}
	for _, tr := range audTrades.Items {
		if tr.Terms != nil {
			t.Fatalf("the auditor sees private terms: %+v", tr)
		}
	}
	var prices contract.Prices
	e.must(200, "GET", "/api/v1/prices?sector=healthcare&interval=window", regulator, nil, &prices)
	if len(prices.Buckets) != 1 || prices.Buckets[0].Trades != 2 {
		t.Fatalf("prices: %+v", prices)
	}
	e.must(200, "GET", "/api/v1/events/"+collectEvent+"/receipt", consumer, nil, &rcpt)
	if rcpt["kind"] != "embedded" || rcpt["txId"] == "" {
		t.Fatalf("receipt: %+v", rcpt)
	}
	var info ledgerInfoBody
	e.must(200, "GET", "/api/v1/ledger", consumer, nil, &info)
	if info.Kind != "test" || info.Height == 0 || !strings.Contains(info.TrustAnchor, "BEGIN") {
		t.Fatalf("ledger info: %+v", info)
	}

	// Freeze, unfreeze, retire.
	e.must(200, "POST", "/api/v1/batches/clean-1/freeze", regulator, map[string]any{"reason": "investigation"}, &w)
	if w.Event.Type != contract.EventFrozen {
		t.Fatalf("freeze: %+v", w)
	}
	rec = e.do("POST", "/api/v1/batches/clean-1/circulations", processor, map[string]any{"to": consumer, "purpose": "model-training", "accessMode": "api"})
	if pr := problemOf(t, rec); rec.Code != 422 || pr.Rule != contract.RuleStatus {
		t.Fatalf("circulating a frozen batch: %d %+v", rec.Code, pr)
	}
	e.must(200, "POST", "/api/v1/batches/clean-1/unfreeze", regulator, map[string]any{"reason": "cleared"}, nil)
	e.must(200, "POST", "/api/v1/batches/clean-1/retire", regulator, map[string]any{"reason": "retention-expired"}, &w)
	if w.Event.Type != contract.EventRetired {
		t.Fatalf("retire: %+v", w)
	}

	// Health, readiness, metrics, the document.
	e.must(200, "GET", "/healthz", "", nil, nil)
	e.must(200, "GET", "/readyz", "", nil, nil)
	rec = e.do("GET", "/metrics", "", nil)
	for _, m := range []string{`tokentrail_http_requests_total{method="POST",route="/api/v1/trades",status="201"} 1`,
		"tokentrail_ledger_commit_duration_seconds_bucket", "tokentrail_ledger_block_height"} {
		if !strings.Contains(rec.Body.String(), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	rec = e.do("GET", "/api/v1/openapi.json", "", nil)
	if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("openapi.json: %d", rec.Code)
	}
}

// PROVAnswer is the part of a PROV-JSON document the tests read.
type PROVAnswer struct {
	Entity            map[string]map[string]any `json:"entity"`
	Activity          map[string]map[string]any `json:"activity"`
	Agent             map[string]map[string]any `json:"agent"`
	WasDerivedFrom    map[string]map[string]any `json:"wasDerivedFrom"`
	WasAssociatedWith map[string]map[string]any `json:"wasAssociatedWith"`
}

// TestBulkChunks checks that a bulk request becomes one ledger transaction
// per chunk, that results keep request order, and that a chunk failing after
// earlier ones committed reports its trades as not recorded.
func TestBulkChunks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ChunkSize = 2 })
	e.collected("b")
	trades := make([]any, 5)
	for i := range trades {
		trades[i] = tradeBodyFor(fmt.Sprintf("c-%d", i), "b", float64(10+i))
	}
	before := e.led.submits.Load()
	var res service.BulkResult
	e.must(200, "POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": trades}, &res)
	if n := e.led.submits.Load() - before; n != 3 {
		t.Fatalf("%d ledger transactions for 5 trades in chunks of 2, want 3", n)
	}
	for i, r := range res.Results {
		if r.TradeID != fmt.Sprintf("c-%d", i) || r.Status != "committed" || r.EventID == "" || r.TxID == "" {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if res.Results[0].TxID != res.Results[1].TxID || res.Results[1].TxID == res.Results[2].TxID {
		t.Fatalf("trades 0 and 1 share a transaction, 2 has its own: %+v", res.Results)
	}

	// The ledger goes down after the first chunk of the next request.
	fl := &failAfter{memLedger: e.led, ok: 1}
	srv, err := New(Config{Ledger: fl, Auth: e.srv.auth, ChunkSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	for i := range trades {
		trades[i] = tradeBodyFor(fmt.Sprintf("d-%d", i), "b", 10)
	}
	e.must(200, "POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": trades}, &res)
	want := []string{"committed", "committed", "not-recorded", "not-recorded", "not-recorded"}
	for i, r := range res.Results {
		if r.Status != want[i] || (r.Status == "not-recorded" && (r.Error == nil || r.Error.Kind != "unavailable")) {
			t.Fatalf("result %d: %+v, want %s", i, r, want[i])
		}
	}
	// Retrying the whole request is safe: what committed comes back replayed.
	fl.ok = 100
	e.must(200, "POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": trades}, &res)
	want = []string{"replayed", "replayed", "committed", "committed", "committed"}
	for i, r := range res.Results {
		if r.Status != want[i] {
			t.Fatalf("retry result %d: %+v, want %s", i, r, want[i])
		}
	}
	// When the first chunk fails, the request fails as a whole.
	fl.ok = 0
	rec := e.do("POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": trades})
	if rec.Code != 503 {
		t.Fatalf("first chunk failing: %d", rec.Code)
	}
}

// failAfter lets ok submissions through, then fails as an unreachable ledger.
type failAfter struct {
	*memLedger
	ok int
}

func (f *failAfter) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	if f.ok <= 0 {
		return ledger.Result{}, ledger.ErrUnavailable
	}
	f.ok--
	return f.memLedger.Submit(ctx, org, fn, args, transient)
}

// TestWriteAnswerBytes: the answer to a write splices the ledger's receipt
// in rather than encoding the whole answer with json.Marshal; it must still
// be the bytes json.Marshal would give, with the receipt exactly as the
// receipt route serves it.
func TestWriteAnswerBytes(t *testing.T) {
	e := newEnv(t)
	rec := e.do("POST", "/api/v1/batches", provider, collectBody("raw-bytes"))
	if rec.Code != 201 {
		t.Fatalf("collect: %d %s", rec.Code, rec.Body)
	}
	var w service.Written
	if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
	}
	want, err := json.Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Body.String(); got != string(want)+"\n" {
		t.Fatalf("answer bytes differ from json.Marshal:\n got %s\nwant %s", got, want)
	}
	if w.Batch == nil || w.Event == nil || len(w.Receipt) == 0 {
		t.Fatalf("answer lacks batch, event or receipt: %s", rec.Body)
	}
	got := e.do("GET", "/api/v1/events/"+w.Event.EventID+"/receipt", provider, nil)
	if got.Code != 200 || strings.TrimSpace(got.Body.String()) != string(w.Receipt.Bytes()) {
		t.Fatalf("receipt route %d %s, write answered %s", got.Code, got.Body, w.Receipt.Bytes())
	}
}
