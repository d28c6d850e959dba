package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func collectReq(id string, n int) contract.CollectRequest {
	return contract.CollectRequest{
		ID: id, Name: "batch " + id, Sector: "healthcare", Modality: "text",
		Tokens: contract.Tokens{Count: 10_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", n),
		SizeBytes: 40, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training"}, Region: "CN",
		Quality: &contract.QualityInput{Score: 90, Method: "review"}, Source: contract.Source{Type: "enterprise"},
	}
}

// Receipts of a bulk transaction, read by every role: each carries in clear
// only the events of batches its reader may read, withholds the others (and
// says how many), and verifies offline against the trust anchor; a changed
// carried event fails.
func TestBulkReceiptsShowOnlyReadableEvents(t *testing.T) {
	ctx := context.Background()
	l, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	svc := service.New(l, nil)
	must := func(w *service.Written, err error) *service.Written {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	reg := contract.RegisterParticipantRequest{MSPID: "RegulatorMSP", Name: "Regulator", Roles: []string{"regulator"}, Region: "CN"}
	var others []contract.RegisterParticipantRequest
	for _, p := range [][2]string{{"ProviderMSP", "provider"}, {"ProcessorMSP", "processor"}, {"ExchangeMSP", "exchange"},
		{"ConsumerMSP", "consumer"}, {"Consumer2MSP", "consumer"}, {"AuditorMSP", "auditor"}} {
		others = append(others, contract.RegisterParticipantRequest{MSPID: p[0], Name: p[0], Roles: []string{p[1]}, Region: "CN"})
	}
	if _, err := svc.EnsureParticipants(ctx, reg, others); err != nil {
		t.Fatal(err)
	}
	must(svc.Collect(ctx, "ProviderMSP", collectReq("a", 1)))
	must(svc.Collect(ctx, "ProviderMSP", collectReq("b", 2)))
	must(svc.Circulate(ctx, "ProviderMSP", contract.CirculateRequest{BatchID: "a", To: "ProcessorMSP", Purpose: "model-training", AccessMode: "copy"}))
	trade := func(id, batch, buyer string) contract.TradeRequest {
		return contract.TradeRequest{TradeID: id, BatchID: batch, Seller: "ProviderMSP", Buyer: buyer, Tokens: 1000,
			Rights: "licence", Purposes: []string{"model-training"}}
	}
	terms := contract.Terms{UnitPrice: 9.99, Currency: "CNY", PriceUnit: "1M tokens"}
	bulk, err := svc.TradeBulk(ctx, "ExchangeMSP", []contract.TradeRequest{trade("t-a", "a", "ConsumerMSP"), trade("t-b", "b", "Consumer2MSP")},
		[]contract.Terms{terms, terms})
	if err != nil {
		t.Fatal(err)
	}
	evA, evB := bulk.Results[0].EventID, bulk.Results[1].EventID
	if evA == "" || evB == "" || bulk.Results[0].TxID != bulk.Results[1].TxID {
		t.Fatalf("bulk: %+v", bulk.Results)
	}
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anchor := []byte(info.TrustAnchor)

	for _, c := range []struct {
		caller, event string
		carried       []string // event IDs carried in clear
		hidden        string   // text of a withheld event that must not appear
	}{
		{"RegulatorMSP", evA, []string{evA, evB}, ""},
		{"ExchangeMSP", evA, []string{evA, evB}, ""},
		{"AuditorMSP", evB, []string{evA, evB}, ""},
		{"ProviderMSP", evA, []string{evA, evB}, ""}, // owns both batches
		{"ProcessorMSP", evA, []string{evA}, "Consumer2MSP"},
		{"ConsumerMSP", evA, []string{evA}, "Consumer2MSP"},
		{"Consumer2MSP", evB, []string{evB}, "ConsumerMSP"},
	} {
		raw, err := svc.Receipt(ctx, c.caller, c.event)
		if err != nil {
			t.Fatalf("%s: %v", c.caller, err)
		}
		p, err := receipt.Verify(raw, anchor)
		if err != nil {
			t.Fatalf("%s's receipt does not verify: %v", c.caller, err)
		}
		if len(p.Events) != len(c.carried) || p.Withheld != 2-len(c.carried) {
			t.Fatalf("%s: %d events proved, %d withheld; want %v", c.caller, len(p.Events), p.Withheld, c.carried)
		}
		for i, id := range c.carried {
			if p.Events[i].EventID != id {
				t.Fatalf("%s: event %d is %s, want %s", c.caller, i, p.Events[i].EventID, id)
			}
		}
		if c.hidden != "" && bytes.Contains(raw, []byte(c.hidden)) {
			t.Fatalf("%s's receipt names %s, of a trade it may not read: %s", c.caller, c.hidden, raw)
		}
		// A carried event that changes no longer verifies.
		bad := bytes.Replace(raw, []byte(`"tokens":1000`), []byte(`"tokens":1001`), 1)
		if bytes.Equal(bad, raw) {
			t.Fatalf("%s: no event to change in %s", c.caller, raw)
		}
		if _, err := receipt.Verify(bad, anchor); err == nil {
			t.Fatalf("%s: a changed event verifies", c.caller)
		}
	}

	// A replay is answered with the first recording's receipt, a bulk
	// transaction's; the exchange reads both of its events.
	w := must(svc.Trade(ctx, "ExchangeMSP", trade("t-a", "a", "ConsumerMSP"), terms))
	if !w.Replayed || w.Receipt == nil {
		t.Fatalf("replay: %+v", w)
	}
	var r receipt.Receipt
	if err := json.Unmarshal(w.Receipt.Bytes(), &r); err != nil || len(r.Events) != 2 {
		t.Fatalf("replay's receipt: %s", w.Receipt)
	}
}
