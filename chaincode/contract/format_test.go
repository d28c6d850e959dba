package contract_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// formatLedger is a ledger with the development consortium and one batch,
// "lent", whose custody the provider gave the processor for an hour.
func formatLedger(t *testing.T) (*contracttest.MemLedger, *contracttest.Clock) {
	t.Helper()
	clock := contracttest.NewClock()
	l := contracttest.NewMemLedger(clock.Now)
	must := func(org, fn string, req any) {
		t.Helper()
		b, _ := json.Marshal(req)
		if _, err := l.Submit(org, fn, b, nil); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	must("RegulatorMSP", contract.FnBootstrap, contract.BootstrapRequest{Name: "r", Region: "CN"})
	for msp, role := range map[string]string{"ProviderMSP": "provider", "ProcessorMSP": "processor"} {
		must("RegulatorMSP", contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: msp, Name: msp, Roles: []string{role}, Region: "CN"})
	}
	must("ProviderMSP", contract.FnCollect, contract.CollectRequest{ID: "lent", Name: "n", Sector: "healthcare", Modality: "text",
		Tokens: contract.Tokens{Count: 10, Tokenizer: "t"}, ContentDigest: "sha256:" + strings.Repeat("0", 64), SizeBytes: 1, Records: 1,
		Classification: "general", PersonalInfo: "none", Deidentification: "none", LegalBasis: "contract",
		Purposes: []string{"evaluation"}, Region: "CN", Source: contract.Source{Type: "enterprise"}})
	must("ProviderMSP", contract.FnCirculate, contract.CirculateRequest{BatchID: "lent", To: "ProcessorMSP", Purpose: "evaluation",
		AccessMode: "copy", ExpiresAt: clock.Now().Add(time.Hour).Format(time.RFC3339)})
	return l, clock
}

// TestBatchFormat1IsMigrated rewrites the batch as the previous contract
// stored it (no formatVersion, no custodyExpiresAt): the expiry is rebuilt
// from the circulation, so the lapsed custodian loses the batch all the same.
func TestBatchFormat1IsMigrated(t *testing.T) {
	l, clock := formatLedger(t)
	var rec map[string]any
	if err := json.Unmarshal(l.Public("b/lent"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["formatVersion"] != float64(contract.BatchFormat) {
		t.Fatalf("stored formatVersion = %v, want %d", rec["formatVersion"], contract.BatchFormat)
	}
	delete(rec, "formatVersion")
	delete(rec, "custodyExpiresAt")
	v1, _ := json.Marshal(rec)
	l.SetRaw(false, "b/lent", v1)

	out, err := l.Evaluate("ProviderMSP", contract.FnGetBatch, []byte(`{"id":"lent"}`))
	if err != nil {
		t.Fatal(err)
	}
	var b contract.Batch
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if b.FormatVersion != contract.BatchFormat || b.CustodyExpiresAt["ProcessorMSP"] == "" {
		t.Fatalf("migrated record: format %d, expiries %v", b.FormatVersion, b.CustodyExpiresAt)
	}
	if _, err := l.Evaluate("ProcessorMSP", contract.FnGetBatch, []byte(`{"id":"lent"}`)); err != nil {
		t.Fatalf("before the expiry: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := l.Evaluate("ProcessorMSP", contract.FnGetBatch, []byte(`{"id":"lent"}`)); err == nil {
		t.Fatal("a format-1 record let the lapsed custodian read")
	}
}

// TestBatchFormatFromTheFutureIsRefused: a record of a later format is an
// error naming both versions, never read as if it were this one.
func TestBatchFormatFromTheFutureIsRefused(t *testing.T) {
	l, _ := formatLedger(t)
	var rec map[string]any
	_ = json.Unmarshal(l.Public("b/lent"), &rec)
	rec["formatVersion"] = contract.BatchFormat + 1
	v, _ := json.Marshal(rec)
	l.SetRaw(false, "b/lent", v)
	_, err := l.Evaluate("ProviderMSP", contract.FnGetBatch, []byte(`{"id":"lent"}`))
	if err == nil || !strings.Contains(err.Error(), "format 3") || !strings.Contains(err.Error(), "1 to 2") {
		t.Fatalf("err = %v", err)
	}
}
