package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// `tokentrail verify` verifies a consumer's receipt of a bulk transaction,
// which withholds the other buyer's trade, and says so.
func TestVerifySaysWhatWasWithheld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := embedded.Open(embedded.Config{Dir: filepath.Join(dir, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	svc := service.New(l, nil)
	var others []contract.RegisterParticipantRequest
	for _, p := range [][2]string{{"ProviderMSP", "provider"}, {"ExchangeMSP", "exchange"}, {"ConsumerMSP", "consumer"}, {"Consumer2MSP", "consumer"}} {
		others = append(others, contract.RegisterParticipantRequest{MSPID: p[0], Name: p[0], Roles: []string{p[1]}, Region: "CN"})
	}
	if _, err := svc.EnsureParticipants(ctx, contract.RegisterParticipantRequest{MSPID: "RegulatorMSP", Name: "Regulator", Roles: []string{"regulator"}, Region: "CN"}, others); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "b"} {
		if _, err := svc.Collect(ctx, "ProviderMSP", contract.CollectRequest{ID: id, Name: id, Sector: "healthcare", Modality: "text",
			Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", i+1),
			SizeBytes: 1, Records: 1, Classification: "general", PersonalInfo: "none", Deidentification: "none", LegalBasis: "contract",
			Purposes: []string{"model-training"}, Region: "CN", Quality: &contract.QualityInput{Score: 90, Method: "review"},
			Source: contract.Source{Type: "enterprise"}}); err != nil {
			t.Fatal(err)
		}
	}
	tr := func(id, batch, buyer string) contract.TradeRequest {
		return contract.TradeRequest{TradeID: id, BatchID: batch, Seller: "ProviderMSP", Buyer: buyer, Tokens: 10, Rights: "licence", Purposes: []string{"model-training"}}
	}
	terms := contract.Terms{UnitPrice: 1, Currency: "CNY", PriceUnit: "1M tokens"}
	res, err := svc.TradeBulk(ctx, "ExchangeMSP", []contract.TradeRequest{tr("t1", "a", "ConsumerMSP"), tr("t2", "b", "Consumer2MSP")}, []contract.Terms{terms, terms})
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := svc.Receipt(ctx, "ConsumerMSP", res.Results[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := l.Info(ctx)
	anchor, file := filepath.Join(dir, "anchor.pem"), filepath.Join(dir, "receipt.json")
	if err := os.WriteFile(anchor, []byte(info.TrustAnchor), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, rcpt, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := verify([]string{"--trust", anchor, file}, &out, &errb); err != nil {
		t.Fatalf("verify: %v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "1 event(s) proved, 1 withheld") {
		t.Fatalf("verify does not say what was withheld: %s", out.String())
	}
}
