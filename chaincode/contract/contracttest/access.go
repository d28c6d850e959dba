package contracttest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func init() { scenarios = append(scenarios, accessScenarios...) }

// score is a pointer to s, for assessment requests.
func score(s float64) *float64 { return &s }

// contractErr returns err as a contract error, failing the test when it is not one.
func (h *harness) contractErr(err error) *contract.Error {
	h.t.Helper()
	var ce *contract.Error
	if !errors.As(err, &ce) {
		h.t.Fatalf("want a contract error, got %v", err)
	}
	return ce
}

// evaluate runs a query and returns its raw answer.
func (h *harness) evaluate(org, fn string, req any) ([]byte, error) {
	h.t.Helper()
	args, err := json.Marshal(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.l.Evaluate(org, fn, args)
}

var accessScenarios = []scenario{
	{"access: no reading through a write", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("secret"))
		h.assess("secret", 60)
		// A processor that neither owns nor holds the batch may not read
		// it, and so may not assess it: nothing is written, nothing is
		// answered.
		_, err := h.submit(processor, contract.FnAssess, contract.AssessRequest{BatchID: "secret", Score: score(1), Method: "m"}, nil)
		h.wantErr(err, contract.KindNotFound, "")
		if q := h.batch(regulator, "secret").Quality; q == nil || q.Score != 60 {
			t.Fatalf("quality after a refused assessment: %+v", q)
		}
		// Once it holds the batch it may assess it, and the answer is
		// what it may read anyway.
		if err := h.circulate(provider, contract.CirculateRequest{BatchID: "secret", To: processor, Purpose: "evaluation", AccessMode: "copy"}); err != nil {
			t.Fatal(err)
		}
		res := h.write(processor, contract.FnAssess, contract.AssessRequest{BatchID: "secret", Score: score(70), Method: "m"}, nil)
		if res.Batch == nil || res.Batch.Quality.Score != 70 {
			t.Fatalf("assessment answer: %+v", res.Batch)
		}
		// A frozen batch keeps its quality, whoever asks.
		h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "secret", Reason: "inquiry"}, nil)
		_, err = h.submit(auditor, contract.FnAssess, contract.AssessRequest{BatchID: "secret", Score: score(5), Method: "m"}, nil)
		h.wantRule(err, contract.RuleStatus)
		if q := h.batch(regulator, "secret").Quality; q.Score != 70 {
			t.Fatalf("quality of the frozen batch changed to %v", q.Score)
		}
	}},
	{"access: not readable is answered as missing", oracleScenario},
	{"access: custody lapses at its expiry", expiryScenario},
	{"access: suspension takes reads away", suspensionScenario},
	{"access: redacted lineage nodes name nothing", redactionScenario},
	{"report: standing now and quality at collection", reportScenario},
}

func oracleScenario(t *testing.T, h *harness) {
	h.setup()
	h.collect(h.batchReq("hidden"))
	h.assess("hidden", 60)
	col := h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "hidden", To: consumer, Purpose: "evaluation", AccessMode: "sandbox"}, nil)
	frozen := h.batchReq("hidden-frozen")
	frozen.RetentionUntil = h.clock.Now().Add(time.Hour).Format(time.RFC3339)
	h.collect(frozen)
	h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "hidden-frozen", Reason: "x"}, nil)
	h.clock.Advance(2 * time.Hour) // past hidden-frozen's retention
	retired := h.collect(h.batchReq("hidden-retired"))
	h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: retired.ID, Reason: "consent-withdrawn"}, nil)

	// Every call a processor (which holds none of them) can make about a
	// batch, with the batch's ID in place of ID.
	calls := []struct {
		fn    string
		query bool
		req   string
	}{
		{contract.FnGetBatch, true, `{"id":"ID"}`},
		{contract.FnHistory, true, `{"batchId":"ID"}`},
		{contract.FnLineage, true, `{"batchId":"ID"}`},
		{contract.FnCompliance, true, `{"id":"ID"}`},
		{contract.FnListTrades, true, `{"batchId":"ID"}`},
		{contract.FnAssess, false, `{"batchId":"ID","score":1,"method":"m"}`},
		{contract.FnCirculate, false, `{"batchId":"ID","to":"ConsumerMSP","purpose":"evaluation","accessMode":"sandbox"}`},
		{contract.FnProcess, false, `{"inputs":["ID"],"operations":["cleaning"],"tool":{"name":"c","version":"1"},"outputs":[{"id":"out-x","name":"o","tokens":{"count":1,"tokenizer":"t"},"contentDigest":"` + digest(77) + `","sizeBytes":1,"records":1}]}`},
		{contract.FnRetire, false, `{"batchId":"ID","reason":"other"}`},
	}
	run := func(org, fn string, query bool, req string) string {
		var err error
		if query {
			_, err = h.l.Evaluate(org, fn, []byte(req))
		} else {
			_, err = h.l.Submit(org, fn, []byte(req), nil)
		}
		if err == nil {
			t.Fatalf("%s %s as %s: succeeded", fn, req, org)
		}
		b, _ := json.Marshal(h.contractErr(err))
		return string(b)
	}
	for _, c := range calls {
		for _, org := range []string{processor, consumer} {
			missing := run(org, c.fn, c.query, strings.ReplaceAll(c.req, "ID", "no-such-batch"))
			for _, id := range []string{"hidden", "hidden-frozen", "hidden-retired"} {
				if org == consumer && id == "hidden" {
					continue // the consumer holds this one
				}
				got := run(org, c.fn, c.query, strings.ReplaceAll(c.req, "ID", id))
				if want := strings.ReplaceAll(missing, "no-such-batch", id); got != want {
					t.Errorf("%s of %s as %s:\n got %s\nwant %s (as for a missing batch)", c.fn, id, org, got, want)
				}
			}
		}
	}
	// An event of a batch one may not read is a missing event.
	hiddenEvent := run(processor, contract.FnGetEvent, true, `{"id":"`+col.Event.EventID+`"}`)
	missingEvent := run(processor, contract.FnGetEvent, true, `{"id":"no-such-event"}`)
	if strings.ReplaceAll(missingEvent, "no-such-event", col.Event.EventID) != hiddenEvent {
		t.Errorf("event of an unreadable batch: %s, missing event: %s", hiddenEvent, missingEvent)
	}
	if strings.Contains(hiddenEvent, "hidden") {
		t.Errorf("the refusal names the batch: %s", hiddenEvent)
	}
}

func expiryScenario(t *testing.T, h *harness) {
	h.setup()
	h.collect(h.batchReq("lent"))
	h.assess("lent", 60)
	until := h.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	circ := h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "lent", To: processor, Purpose: "evaluation", AccessMode: "copy", ExpiresAt: until}, nil)
	if got := circ.Batch.CustodyExpiresAt[processor]; got != until {
		t.Fatalf("custodyExpiresAt = %v, want %s for %s", circ.Batch.CustodyExpiresAt, until, processor)
	}
	// Before the expiry the processor reads, processes and passes it on
	// (to the consumer, whose own custody has no end).
	h.batch(processor, "lent")
	if err := h.circulate(provider, contract.CirculateRequest{BatchID: "lent", To: consumer, Purpose: "evaluation", AccessMode: "copy"}); err != nil {
		t.Fatal(err)
	}
	// A holder cannot shorten another's custody by granting it again.
	shortly := h.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	if err := h.circulate(processor, contract.CirculateRequest{BatchID: "lent", To: consumer, Purpose: "evaluation", AccessMode: "copy", ExpiresAt: shortly}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"lent"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("lent-clean", 10)}}); err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(time.Hour) // custody lapses at the instant of its expiry
	var b contract.Batch
	h.wantErr(h.query(processor, contract.FnGetBatch, contract.IDRequest{ID: "lent"}, &b), contract.KindNotFound, "")
	var hist contract.Page[contract.Event]
	h.wantErr(h.query(processor, contract.FnHistory, contract.HistoryRequest{BatchID: "lent"}, &hist), contract.KindNotFound, "")
	var list contract.Page[contract.Batch]
	h.mustQuery(processor, contract.FnListBatches, contract.ListBatchesRequest{}, &list)
	for _, it := range list.Items {
		if it.ID == "lent" {
			t.Fatalf("the lapsed custodian still lists the batch")
		}
	}
	_, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"lent"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("lent-2", 10)}})
	h.wantErr(err, contract.KindNotFound, "")
	h.wantErr(h.circulate(processor, contract.CirculateRequest{BatchID: "lent", To: exchange, Purpose: "evaluation", AccessMode: "copy"}), contract.KindNotFound, "")
	// It still holds the output it made while it held the input.
	h.batch(processor, "lent-clean")
	// The consumer's custody had no end and has none now.
	now := h.batch(consumer, "lent")
	if _, limited := now.CustodyExpiresAt[consumer]; limited {
		t.Fatalf("a holder shortened the consumer's custody: %v", now.CustodyExpiresAt)
	}
	// The lapsed custodian stays listed with its expiry.
	if !slices.Contains(now.Custodians, processor) || now.CustodyExpiresAt[processor] != until {
		t.Fatalf("custodians %v, expiries %v", now.Custodians, now.CustodyExpiresAt)
	}
	// A new grant gives it back.
	if err := h.circulate(provider, contract.CirculateRequest{BatchID: "lent", To: processor, Purpose: "evaluation", AccessMode: "copy"}); err != nil {
		t.Fatal(err)
	}
	h.batch(processor, "lent")
	if exp := h.batch(provider, "lent").CustodyExpiresAt; len(exp) != 0 {
		t.Fatalf("custody without end still has an expiry: %v", exp)
	}
}

func suspensionScenario(t *testing.T, h *harness) {
	h.setup()
	h.collect(h.batchReq("held"))
	if err := h.circulate(provider, contract.CirculateRequest{BatchID: "held", To: consumer, Purpose: "evaluation", AccessMode: "sandbox"}); err != nil {
		t.Fatal(err)
	}
	h.batch(consumer, "held")
	h.write(regulator, contract.FnSuspendParticipant, contract.SuspendParticipantRequest{MSPID: consumer, Reason: "breach"}, nil)
	h.write(regulator, contract.FnSuspendParticipant, contract.SuspendParticipantRequest{MSPID: auditor, Reason: "breach"}, nil)
	for _, org := range []string{consumer, auditor} {
		for _, q := range []struct {
			fn  string
			req any
		}{
			{contract.FnGetBatch, contract.IDRequest{ID: "held"}},
			{contract.FnGetBatch, contract.IDRequest{ID: "no-such-batch"}},
			{contract.FnListBatches, contract.ListBatchesRequest{}},
			{contract.FnHistory, contract.HistoryRequest{BatchID: "held"}},
			{contract.FnLineage, contract.LineageRequest{BatchID: "held"}},
			{contract.FnCompliance, contract.IDRequest{ID: "held"}},
			{contract.FnListTrades, contract.ListTradesRequest{}},
			{contract.FnPrices, contract.PricesRequest{}},
			{contract.FnListParticipants, struct{}{}},
			{contract.FnGetParticipant, contract.IDRequest{ID: org}},
		} {
			_, err := h.evaluate(org, q.fn, q.req)
			h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		}
	}
}

func redactionScenario(t *testing.T, h *harness) {
	h.setup()
	h.collect(h.batchReq("mine"))
	sib := h.batchReq("sibling-of-provider2")
	sib.Name, sib.Description = "provider two's own corpus", "nobody else's business"
	h.write(provider2, contract.FnCollect, sib, nil)
	for org, id := range map[string]string{provider: "mine", provider2: "sibling-of-provider2"} {
		if err := h.circulate(org, contract.CirculateRequest{BatchID: id, To: processor, Purpose: "evaluation", AccessMode: "copy"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"mine", "sibling-of-provider2"}, Operations: []string{"labeling"},
		Tool: tool(), Outputs: []contract.OutputRequest{h.output("merged", 10)}}); err != nil {
		t.Fatal(err)
	}
	raw, err := h.evaluate(provider, contract.FnLineage, contract.LineageRequest{BatchID: "mine", Direction: "down"})
	if err != nil {
		t.Fatal(err)
	}
	var g contract.Lineage
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	var merged map[string]any
	var whole struct{ Nodes []json.RawMessage }
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	for _, n := range whole.Nodes {
		var m map[string]any
		_ = json.Unmarshal(n, &m)
		if m["id"] == "merged" {
			merged = m
		}
	}
	if merged == nil || merged["redacted"] != true {
		t.Fatalf("merged node: %v in %s", merged, raw)
	}
	var keys []string
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"distance", "id", "redacted", "status"}) {
		t.Errorf("a redacted node carries %v", keys)
	}
	for _, leak := range []string{"sibling-of-provider2", "provider two", "nobody else", provider2} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the provider's lineage names %q: %s", leak, raw)
		}
	}
	// Edges the provider may see one end of keep their event.
	if len(g.Edges) != 1 || g.Edges[0].EventID == "" || g.Edges[0].Redacted {
		t.Errorf("edges: %+v", g.Edges)
	}
}

func reportScenario(t *testing.T, h *harness) {
	h.setup()
	// Quality given at collection, a trade, then a new assessment.
	q := h.batchReq("rated")
	q.Quality = &contract.QualityInput{Score: 80, Method: "at source"}
	rated := h.collect(q)
	if _, err := h.trade(h.tradeReq("t-rated", "rated"), terms(10)); err != nil {
		t.Fatal(err)
	}
	h.assess("rated", 90)
	rep := h.report(auditor, "rated")
	r11 := rep.result(contract.RuleQualityGate)
	if r11.Result != contract.ResultPass || !slices.Contains(r11.Evidence, rated.CreatedTx) {
		t.Errorf("TT-R11 of a batch assessed at collection: %+v (collection tx %s)", r11, rated.CreatedTx)
	}

	// A descendant of a batch later retired for withdrawn consent.
	h.collect(h.batchReq("root"))
	h.assess("root", 70)
	if err := h.circulate(provider, contract.CirculateRequest{BatchID: "root", To: processor, Purpose: "model-training", AccessMode: "copy"}); err != nil {
		t.Fatal(err)
	}
	out := h.output("child", 100)
	out.Quality = &contract.QualityInput{Score: 75, Method: "m"}
	if _, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"root"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{out}}); err != nil {
		t.Fatal(err)
	}
	tr := h.tradeReq("t-child", "child")
	tr.Tokens = 50
	if _, err := h.trade(tr, terms(10)); err != nil {
		t.Fatal(err)
	}
	if rep := h.report(auditor, "child"); !rep.Compliant {
		t.Fatalf("before the retirement: %+v", rep)
	}
	ret := h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: "root", Reason: "consent-withdrawn"}, nil)
	tr.TradeID = "t-child-2"
	_, err := h.trade(tr, terms(10))
	h.wantRule(err, contract.RuleTaint)
	rep = h.report(auditor, "child")
	r14 := rep.result(contract.RuleTaint)
	if rep.Compliant || r14.Result != contract.ResultFail || !slices.Contains(r14.Evidence, ret.Event.TxID) || !strings.Contains(r14.Detail, "root") {
		t.Errorf("after the ancestor's retirement: compliant %v, TT-R14 %+v (retirement tx %s)", rep.Compliant, r14, ret.Event.TxID)
	}

	// Frozen now: TT-R05 fails, citing the freeze.
	h.collect(h.batchReq("held"))
	fr := h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "held", Reason: "inquiry"}, nil)
	rep = h.report(regulator, "held")
	if r05 := rep.result(contract.RuleStatus); rep.Compliant || r05.Result != contract.ResultFail || !slices.Contains(r05.Evidence, fr.Event.TxID) {
		t.Errorf("frozen batch: compliant %v, TT-R05 %+v", rep.Compliant, r05)
	}

	// A lapsed custody is noted under TT-R08, citing its circulation.
	h.collect(h.batchReq("lent"))
	until := h.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	c := h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "lent", To: processor, Purpose: "evaluation", AccessMode: "copy", ExpiresAt: until}, nil)
	h.clock.Advance(2 * time.Hour)
	rep = h.report(provider, "lent")
	if r08 := rep.result(contract.RuleCustody); !slices.Contains(r08.Evidence, c.Event.TxID) || !strings.Contains(r08.Detail, processor+"'s custody lapsed") {
		t.Errorf("lapsed custody: TT-R08 %+v", r08)
	}
}

type report struct{ contract.Compliance }

func (r report) result(rule string) contract.RuleResult {
	for _, res := range r.Results {
		if res.Rule == rule {
			return res
		}
	}
	return contract.RuleResult{}
}

func (h *harness) report(org, id string) report {
	h.t.Helper()
	var r report
	h.mustQuery(org, contract.FnCompliance, contract.IDRequest{ID: id}, &r.Compliance)
	return r
}
