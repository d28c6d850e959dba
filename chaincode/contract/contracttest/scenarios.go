package contracttest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// circ is a circulation request to the consumer for model training.
func circ(id string) contract.CirculateRequest {
	return contract.CirculateRequest{BatchID: id, To: consumer, Purpose: "model-training", AccessMode: "copy"}
}

func (h *harness) circulate(org string, req contract.CirculateRequest) error {
	_, err := h.submit(org, contract.FnCirculate, req, nil)
	return err
}

var scenarios = []scenario{
	{"bootstrap once", func(t *testing.T, h *harness) {
		h.setup()
		_, err := h.submit(provider, contract.FnBootstrap, contract.BootstrapRequest{Name: "x", Region: "CN"}, nil)
		h.wantErr(err, contract.KindConflict, "")
	}},
	{"TT-R01 legal basis", func(t *testing.T, h *harness) {
		h.setup()
		ok := h.batchReq("personal-ok")
		ok.PersonalInfo, ok.LegalBasis, ok.ConsentRef = "personal", "consent", digest(900)
		h.collect(ok)
		sens := h.batchReq("sensitive-ok")
		sens.PersonalInfo, sens.LegalBasis, sens.ConsentRef = "sensitive", "separate-consent", digest(901)
		h.collect(sens)

		bad := h.batchReq("personal-none")
		bad.PersonalInfo, bad.LegalBasis = "personal", "none"
		_, err := h.submit(provider, contract.FnCollect, bad, nil)
		h.wantRule(err, contract.RuleLegalBasis)
		bad2 := h.batchReq("sensitive-consent")
		bad2.PersonalInfo, bad2.LegalBasis, bad2.ConsentRef = "sensitive", "consent", digest(902)
		_, err = h.submit(provider, contract.FnCollect, bad2, nil)
		h.wantRule(err, contract.RuleLegalBasis)
		bad3 := h.batchReq("consent-without-ref")
		bad3.PersonalInfo, bad3.LegalBasis = "personal", "consent"
		_, err = h.submit(provider, contract.FnCollect, bad3, nil)
		h.wantRule(err, contract.RuleLegalBasis)
	}},
	{"TT-R02 de-identification", func(t *testing.T, h *harness) {
		h.setup()
		p := h.batchReq("pi")
		p.PersonalInfo, p.LegalBasis, p.ConsentRef = "personal", "consent", digest(903)
		h.collect(p)
		h.assess("pi", 80)
		// Sandbox access to another organisation is allowed, a copy is not.
		sb := circ("pi")
		sb.AccessMode = "sandbox"
		if err := h.circulate(provider, sb); err != nil {
			t.Fatal(err)
		}
		h.wantRule(h.circulate(provider, circ("pi")), contract.RuleDeidentify)
		_, err := h.trade(h.tradeReq("t-pi", "pi"), terms(10))
		h.wantRule(err, contract.RuleDeidentify)

		an := h.batchReq("anon")
		an.PersonalInfo, an.Deidentification, an.LegalBasis, an.ConsentRef = "personal", "anonymized", "consent", digest(904)
		h.collect(an)
		h.assess("anon", 80)
		if err := h.circulate(provider, circ("anon")); err != nil {
			t.Fatal(err)
		}
		if _, err := h.trade(h.tradeReq("t-anon", "anon"), terms(10)); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R03 cross-border", func(t *testing.T, h *harness) {
		h.setup()
		g := h.batchReq("general")
		h.collect(g)
		toSG := circ("general")
		toSG.To = foreign
		if err := h.circulate(provider, toSG); err != nil {
			t.Fatalf("general data may leave without a mechanism: %v", err)
		}
		imp := h.batchReq("important")
		imp.Classification = "important"
		h.collect(imp)
		req := circ("important")
		req.To = foreign
		h.wantRule(h.circulate(provider, req), contract.RuleCrossBorder)
		req.CrossBorder = &contract.CrossBorder{Destination: "SG", Mechanism: "standard-contract", ApprovalRef: "CAC-2026-001"}
		if err := h.circulate(provider, req); err != nil {
			t.Fatal(err)
		}
		// Within one country (CN to CN-BJ) is not cross-border.
		if err := h.circulate(provider, circ("important")); err != nil {
			t.Fatal(err)
		}
		core := h.batchReq("core")
		core.Classification = "core"
		h.collect(core)
		creq := circ("core")
		creq.To = foreign
		creq.CrossBorder = &contract.CrossBorder{Destination: "SG", Mechanism: "security-assessment", ApprovalRef: "CAC-2026-002"}
		h.wantRule(h.circulate(provider, creq), contract.RuleCrossBorder)
	}},
	{"TT-R04 purpose limitation", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 70)
		req := circ("b")
		req.Purpose = "analytics"
		h.wantRule(h.circulate(provider, req), contract.RulePurpose)
		if err := h.circulate(provider, circ("b")); err != nil {
			t.Fatal(err)
		}
		tr := h.tradeReq("t1", "b")
		tr.Purposes = []string{"model-training", "research"}
		_, err := h.trade(tr, terms(5))
		h.wantRule(err, contract.RulePurpose)
		if _, err := h.trade(h.tradeReq("t2", "b"), terms(5)); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R05 status", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 70)
		h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "b", Reason: "investigation"}, nil)
		h.wantRule(h.circulate(provider, circ("b")), contract.RuleStatus)
		_, err := h.trade(h.tradeReq("t1", "b"), terms(5))
		h.wantRule(err, contract.RuleStatus)
		_, err = h.process(provider, contract.ProcessRequest{Inputs: []string{"b"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("o", 10)}})
		h.wantRule(err, contract.RuleStatus)
		h.write(regulator, contract.FnUnfreeze, contract.StatusRequest{BatchID: "b", Reason: "cleared"}, nil)
		if err := h.circulate(provider, circ("b")); err != nil {
			t.Fatal(err)
		}
		h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "other"}, nil)
		h.wantRule(h.circulate(provider, circ("b")), contract.RuleStatus)
	}},
	{"TT-R06 retention", func(t *testing.T, h *harness) {
		h.setup()
		req := h.batchReq("b")
		until := h.clock.Now().Add(24 * time.Hour)
		req.RetentionUntil = until.Format(time.RFC3339)
		h.collect(req)
		if err := h.circulate(provider, circ("b")); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(48 * time.Hour)
		h.wantRule(h.circulate(provider, circ("b")), contract.RuleRetention)
		score := 50.0
		_, err := h.submit(auditor, contract.FnAssess, contract.AssessRequest{BatchID: "b", Score: &score, Method: "m"}, nil)
		h.wantRule(err, contract.RuleRetention)
		// Audits, freezes and retirement are still accepted.
		h.write(auditor, contract.FnAudit, contract.AuditRequest{BatchID: "b", Scope: "retention", Verdict: "compliant"}, nil)
		h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "b", Reason: "hold"}, nil)
		h.write(regulator, contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "retention-expired"}, nil)
		// Collecting data already past its retention is refused.
		old := h.batchReq("old")
		old.RetentionUntil = "2020-01-01T00:00:00Z"
		_, err = h.submit(provider, contract.FnCollect, old, nil)
		h.wantRule(err, contract.RuleRetention)
	}},
	{"TT-R07 role", func(t *testing.T, h *harness) {
		h.setup()
		_, err := h.submit(consumer, contract.FnCollect, h.batchReq("x"), nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		_, err = h.submit("StrangerMSP", contract.FnCollect, h.batchReq("x"), nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		_, err = h.submit(provider, contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: "X", Name: "x", Roles: []string{"provider"}, Region: "CN"}, nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		h.collect(h.batchReq("b"))
		h.assess("b", 60)
		_, err = h.submit(provider, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(1)})
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		_, err = h.submit(provider, contract.FnTradeBulk, contract.BulkTradeRequest{Trades: []contract.TradeRequest{h.tradeReq("t", "b")}},
			map[string]any{contract.TransientTerms: []contract.Terms{terms(1)}})
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		_, err = h.submit(provider, contract.FnFreeze, contract.StatusRequest{BatchID: "b", Reason: "x"}, nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		// Retirement needs ownership unless one is the regulator: an
		// auditor reads the batch but does not own it. A consumer cannot
		// read it, so it is answered as if the batch did not exist.
		_, err = h.submit(auditor, contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "other"}, nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		_, err = h.submit(consumer, contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "other"}, nil)
		h.wantErr(err, contract.KindNotFound, "")
		_, err = h.submit(provider, contract.FnAudit, contract.AuditRequest{BatchID: "b", Scope: "x", Verdict: "compliant"}, nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		// A suspended participant can submit nothing.
		h.write(regulator, contract.FnSuspendParticipant, contract.SuspendParticipantRequest{MSPID: provider, Reason: "licence revoked"}, nil)
		_, err = h.submit(provider, contract.FnCollect, h.batchReq("y"), nil)
		h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		// The owner may process its own batch without the processor role.
		h.collect2(h.batchReq("own"))
		if _, err := h.process(provider2, contract.ProcessRequest{Inputs: []string{"own"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("own-clean", 10)}}); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R08 custody", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 60)
		// The processor holds nothing yet, so it may not even read the
		// batch: answered as a missing one. An auditor reads every batch
		// but holds none: custody refuses it.
		_, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"b"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("o", 10)}})
		h.wantErr(err, contract.KindNotFound, "")
		h.wantErr(h.circulate(consumer, contract.CirculateRequest{BatchID: "b", To: processor, Purpose: "model-training", AccessMode: "copy"}), contract.KindNotFound, "")
		h.wantRule(h.circulate(auditor, contract.CirculateRequest{BatchID: "b", To: processor, Purpose: "model-training", AccessMode: "copy"}), contract.RuleCustody)
		tr := h.tradeReq("t", "b")
		tr.Seller = processor
		_, err = h.trade(tr, terms(1))
		h.wantRule(err, contract.RuleCustody)
		// Once it holds the batch it may process it.
		if err := h.circulate(provider, contract.CirculateRequest{BatchID: "b", To: processor, Purpose: "model-training", AccessMode: "copy"}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"b"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("o", 10)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.trade(h.tradeReq("t", "b"), terms(1)); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R09 lineage", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("a"))
		// A missing input is answered as an input one may not read.
		_, err := h.process(provider, contract.ProcessRequest{Inputs: []string{"missing"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("o", 10)}})
		if e := h.wantErr(err, contract.KindNotFound, ""); e != nil && e.Field != "inputs[0]" {
			t.Errorf("missing input: field %q, want inputs[0]", e.Field)
		}
		_, err = h.process(provider, contract.ProcessRequest{Inputs: []string{"a"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("a", 10)}})
		h.wantRule(err, contract.RuleLineage)
		h.collect(h.batchReq("taken"))
		_, err = h.process(provider, contract.ProcessRequest{Inputs: []string{"a"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("taken", 10)}})
		h.wantErr(err, contract.KindConflict, contract.RuleLineage)
		if _, err := h.process(provider, contract.ProcessRequest{Inputs: []string{"a"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("a2", 10)}}); err != nil {
			t.Fatal(err)
		}
		if got := h.batch(provider, "a2").Parents; len(got) != 1 || got[0] != "a" {
			t.Fatalf("parents = %v", got)
		}
	}},
	{"TT-R10 conservation and inheritance", func(t *testing.T, h *harness) {
		h.setup()
		a := h.batchReq("a")
		a.PersonalInfo, a.LegalBasis, a.ConsentRef, a.Classification = "personal", "consent", digest(905), "general"
		a.Purposes = []string{"model-training", "evaluation", "research"}
		a.RetentionUntil = "2030-01-01T00:00:00Z"
		h.collect(a)
		b := h.batchReq("b")
		b.Tokens.Count = 500_000
		b.Classification, b.LegalBasis = "important", "contract"
		b.Purposes = []string{"model-training", "research"}
		b.RetentionUntil = "2029-06-30T00:00:00Z"
		h.collect(b)
		h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "a", To: processor, Purpose: "model-training", AccessMode: "sandbox"}, nil)
		h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "b", To: processor, Purpose: "model-training", AccessMode: "copy"}, nil)
		// Cleaning cannot create tokens: 1.5M in, 1.6M out.
		_, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"a", "b"}, Operations: []string{"cleaning", "deduplication"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("big", 1_600_000)}})
		h.wantRule(err, contract.RuleConservation)
		// Augmentation may.
		if _, err := h.process(processor, contract.ProcessRequest{Inputs: []string{"a", "b"}, Operations: []string{"augmentation"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("aug", 2_000_000)}}); err != nil {
			t.Fatal(err)
		}
		res := h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"a", "b"}, Operations: []string{"cleaning", "deidentification"}, Tool: tool(),
			Outputs: []contract.OutputRequest{h.output("clean-1", 700_000), h.output("clean-2", 600_000)}}, nil)
		if len(res.Batches) != 2 {
			t.Fatalf("want 2 outputs, got %d", len(res.Batches))
		}
		o := res.Batches[0]
		checks := map[string][2]string{
			"classification":   {o.Classification, "important"},
			"personalInfo":     {o.PersonalInfo, "personal"},
			"deidentification": {o.Deidentification, "pseudonymized"},
			"legalBasis":       {o.LegalBasis, "contract"},
			"retentionUntil":   {o.RetentionUntil, "2029-06-30T00:00:00Z"},
			"region":           {o.Region, "CN"},
			"owner":            {o.Owner, provider},
			"sector":           {o.Sector, "healthcare"},
		}
		for f, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", f, c[0], c[1])
			}
		}
		if got := o.Purposes; len(got) != 2 || got[0] != "model-training" || got[1] != "research" {
			t.Errorf("purposes = %v, want the intersection [model-training research]", got)
		}
		if !contains(o.Custodians, processor) {
			t.Errorf("custodians %v lack the processor", o.Custodians)
		}
		if p := res.Event.Processed; p.TokensIn != 1_500_000 || p.TokensOut != 1_300_000 || p.KeptRatio != 0.866667 {
			t.Errorf("event records %d → %d ratio %v", p.TokensIn, p.TokensOut, p.KeptRatio)
		}
		// Anonymization clears personal information.
		an := h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"clean-1"}, Operations: []string{"anonymization"}, Tool: tool(),
			Outputs: []contract.OutputRequest{h.output("anon", 600_000)}}, nil)
		if b := an.Batches[0]; b.PersonalInfo != "none" || b.Deidentification != "anonymized" {
			t.Errorf("anonymized output: personalInfo %s deidentification %s", b.PersonalInfo, b.Deidentification)
		}
	}},
	{"TT-R11 quality gate", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		_, err := h.trade(h.tradeReq("t", "b"), terms(3))
		h.wantRule(err, contract.RuleQualityGate)
		h.assess("b", 90)
		if _, err := h.trade(h.tradeReq("t", "b"), terms(3)); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R12 idempotency", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 90)
		first := h.write(exchange, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(3)})
		again := h.write(exchange, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(3)})
		if !again.Replayed || again.Event.EventID != first.Event.EventID || again.Event.TxID != first.Event.TxID {
			t.Fatalf("replay gave %+v, first %+v", again.Event, first.Event)
		}
		if v := h.batch(provider, "b").Version; v != 3 {
			t.Fatalf("a replay must record nothing: version %d, want 3", v)
		}
		other := h.tradeReq("t", "b")
		other.Tokens = 20_000
		_, err := h.trade(other, terms(3))
		h.wantErr(err, contract.KindConflict, contract.RuleIdempotency)
		_, err = h.trade(h.tradeReq("t", "b"), terms(4))
		h.wantErr(err, contract.KindConflict, contract.RuleIdempotency)
	}},
	{"TT-R13 quantity", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 90)
		tr := h.tradeReq("t1", "b")
		tr.Tokens = 1_000_001
		_, err := h.trade(tr, terms(3))
		h.wantRule(err, contract.RuleQuantity)
		tr.Tokens = 0
		_, err = h.trade(tr, terms(3))
		h.wantRule(err, contract.RuleQuantity)
		tr.Tokens = 1_000_000
		if _, err := h.trade(tr, terms(3)); err != nil {
			t.Fatal(err)
		}
	}},
	{"TT-R14 taint", func(t *testing.T, h *harness) {
		h.setup()
		a := h.batchReq("a")
		a.PersonalInfo, a.LegalBasis, a.ConsentRef = "personal", "consent", digest(906)
		h.collect(a)
		h.write(provider, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"a"}, Operations: []string{"anonymization"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("child", 900_000)}}, nil)
		h.write(provider, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"child"}, Operations: []string{"labeling"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("grandchild", 900_000)}}, nil)
		h.assess("grandchild", 80)
		if err := h.circulate(provider, circ("grandchild")); err != nil {
			t.Fatal(err)
		}
		h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: "a", Reason: "consent-withdrawn"}, nil)
		h.wantRule(h.circulate(provider, circ("grandchild")), contract.RuleTaint)
		_, err := h.trade(h.tradeReq("t", "grandchild"), terms(2))
		h.wantRule(err, contract.RuleTaint)
		// Retirement for another reason taints nothing.
		h.collect(h.batchReq("c"))
		h.write(provider, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"c"}, Operations: []string{"labeling"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("c-child", 10)}}, nil)
		h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: "c", Reason: "other"}, nil)
		if err := h.circulate(provider, circ("c-child")); err != nil {
			t.Fatal(err)
		}
	}},
	{"bulk trades commit the valid and report the rest", func(t *testing.T, h *harness) {
		h.setup()
		h.collect(h.batchReq("b"))
		h.assess("b", 90)
		h.collect(h.batchReq("unassessed"))
		trades := []contract.TradeRequest{h.tradeReq("t1", "b"), h.tradeReq("t2", "unassessed"), h.tradeReq("t3", "b"), h.tradeReq("t1", "b")}
		tms := []contract.Terms{terms(1), terms(2), terms(3), terms(1)}
		out, err := h.submit(exchange, contract.FnTradeBulk, contract.BulkTradeRequest{Trades: trades}, map[string]any{contract.TransientTerms: tms})
		if err != nil {
			t.Fatal(err)
		}
		var res contract.BulkTradeResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		want := []string{contract.BulkCommitted, contract.BulkRejected, contract.BulkCommitted, contract.BulkReplayed}
		for i, r := range res.Results {
			if r.Status != want[i] {
				t.Errorf("trade %d: status %s, want %s (%v)", i, r.Status, want[i], r.Error)
			}
		}
		if e := res.Results[1].Error; e == nil || e.Rule != contract.RuleQualityGate {
			t.Errorf("rejected trade's error: %+v", e)
		}
		if res.Results[3].EventID != res.Results[0].EventID {
			t.Errorf("an in-bulk replay must return the first event")
		}
		if v := h.batch(provider, "unassessed").Version; v != 1 {
			t.Errorf("a rejected trade left a trace: version %d", v)
		}
		var page contract.Page[contract.Trade]
		h.mustQuery(exchange, contract.FnListTrades, contract.ListTradesRequest{BatchID: "b"}, &page)
		if len(page.Items) != 2 || page.Items[0].Terms == nil {
			t.Fatalf("trades of b: %+v", page.Items)
		}
	}},
	{"queries: history, lineage, impact, compliance, trades, prices", queriesScenario},
	{"prices: no attacker recovers a price it was not party to", pricePrivacyScenario},
	{"invalid input names the field and writes nothing", func(t *testing.T, h *harness) {
		h.setup()
		cases := map[string]func(r *contract.CollectRequest){
			"tokens.count":   func(r *contract.CollectRequest) { r.Tokens.Count = 0 },
			"contentDigest":  func(r *contract.CollectRequest) { r.ContentDigest = "md5:abc" },
			"sector":         func(r *contract.CollectRequest) { r.Sector = "mining" },
			"id":             func(r *contract.CollectRequest) { r.ID = "has space" },
			"region":         func(r *contract.CollectRequest) { r.Region = "China" },
			"purposes":       func(r *contract.CollectRequest) { r.Purposes = nil },
			"retentionUntil": func(r *contract.CollectRequest) { r.RetentionUntil = "next year" },
			"languages[0]":   func(r *contract.CollectRequest) { r.Languages = []string{"??"} },
		}
		for field, mutate := range cases {
			req := h.batchReq("x-" + field)
			req.ID = "bad"
			mutate(&req)
			_, err := h.submit(provider, contract.FnCollect, req, nil)
			if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != field {
				t.Errorf("field = %q, want %q (%s)", ce.Field, field, ce.Detail)
			}
		}
		_, err := h.l.Submit(provider, contract.FnCollect, []byte(`{"name":"x","colour":"red"}`), nil)
		if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "colour" {
			t.Errorf("unknown field: %+v", ce)
		}
		_, err = h.l.Submit(provider, contract.FnCollect, []byte(`{"name":`), nil)
		h.wantErr(err, contract.KindInvalid, "")
		// Keys are matched exactly and given once, at any depth: a valid
		// request with one key repeated or recased is refused by its path.
		valid, err := json.Marshal(h.batchReq("strict"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ from, to, field string }{
			{`"personalInfo":"none"`, `"personalInfo":"none","PersonalInfo":"sensitive"`, "PersonalInfo"},
			{`"personalInfo":`, `"personalInfo":"sensitive","personalInfo":`, "personalInfo"},
			{`"name":`, `"Name":`, "Name"},
			{`"tokenizer":`, `"tokenizer":"x","tokenizer":`, "tokens.tokenizer"},
			{`"type":`, `"TYPE":`, "source.TYPE"},
		} {
			if !bytes.Contains(valid, []byte(c.from)) {
				t.Fatalf("request without %s: %s", c.from, valid)
			}
			body := bytes.Replace(valid, []byte(c.from), []byte(c.to), 1)
			_, err := h.l.Submit(provider, contract.FnCollect, body, nil)
			if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != c.field {
				t.Errorf("%s: field %q, want %q (%s)", c.to, ce.Field, c.field, ce.Detail)
			}
		}
		trades, err := json.Marshal(contract.BulkTradeRequest{Trades: []contract.TradeRequest{{TradeID: "a"}, {TradeID: "b"}}})
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Replace(trades, []byte(`"tradeId":"b"`), []byte(`"tradeId":"b","tradeId":"c"`), 1)
		_, err = h.l.Submit(exchange, contract.FnTradeBulk, body, nil)
		if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "trades[1].tradeId" {
			t.Errorf("bulk duplicate: field %q (%s)", ce.Field, ce.Detail)
		}
		var page contract.Page[contract.Batch]
		h.mustQuery(regulator, contract.FnListBatches, contract.ListBatchesRequest{}, &page)
		if len(page.Items) != 0 {
			t.Fatalf("rejected collections left batches: %v", page.Items)
		}
	}},
}

// collect2 registers a batch as the second provider.
func (h *harness) collect2(req contract.CollectRequest) contract.Batch {
	h.t.Helper()
	req.Region = "CN-SH"
	return *h.write(provider2, contract.FnCollect, req, nil).Batch
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
