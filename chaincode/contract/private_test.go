package contract_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// privLedger is a mem ledger with a consortium, a batch "b" ready to trade,
// and helpers to trade on it.
type privLedger struct {
	t *testing.T
	*contracttest.MemLedger
	Clock *contracttest.Clock
}

func newPrivLedger(t *testing.T) *privLedger {
	t.Helper()
	clock := contracttest.NewClock()
	l := &privLedger{t, contracttest.NewMemLedger(clock.Now), clock}
	l.must("RegulatorMSP", contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"}, nil)
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: "ProviderMSP", Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: "ExchangeMSP", Name: "Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: "ConsumerMSP", Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"},
		{MSPID: "AuditorMSP", Name: "Auditor", Roles: []string{"auditor"}, Region: "CN"},
	} {
		l.must("RegulatorMSP", contract.FnRegisterParticipant, p, nil)
	}
	l.must("ProviderMSP", contract.FnCollect, contract.CollectRequest{ID: "b", Name: "b", Sector: "healthcare", Modality: "text",
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: "sha256:" + strings.Repeat("ab", 32),
		SizeBytes: 10, Records: 1, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training"}, Region: "CN",
		Source: contract.Source{Type: "enterprise"}}, nil)
	score := 90.0
	l.must("AuditorMSP", contract.FnAssess, contract.AssessRequest{BatchID: "b", Score: &score, Method: "review"}, nil)
	return l
}

func (l *privLedger) submit(org, fn string, req any, transient map[string][]byte) ([]byte, error) {
	args, err := json.Marshal(req)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.Submit(org, fn, args, transient)
}

func (l *privLedger) must(org, fn string, req any, transient map[string][]byte) []byte {
	l.t.Helper()
	out, err := l.submit(org, fn, req, transient)
	if err != nil {
		l.t.Fatalf("%s: %v", fn, err)
	}
	return out
}

func salt(n int) []byte {
	s := sha256.Sum256([]byte(fmt.Sprintf("private_test salt %d", n)))
	return s[:]
}

var sameTerms = contract.Terms{UnitPrice: 12.34, Currency: "CNY", PriceUnit: "1M tokens"}

func (l *privLedger) trade(id string, terms contract.Terms, s []byte) ([]byte, error) {
	tb, _ := json.Marshal(terms)
	return l.submit("ExchangeMSP", contract.FnTrade, contract.TradeRequest{TradeID: id, BatchID: "b", Seller: "ProviderMSP",
		Buyer: "ConsumerMSP", Tokens: 1000, Rights: "licence", Purposes: []string{"model-training"}},
		map[string][]byte{contract.TransientTerms: tb, contract.TransientSalts: s})
}

func (l *privLedger) priceKeys() []string {
	var out []string
	for _, e := range l.Events {
		var w contract.WriteEvent
		if err := json.Unmarshal(e, &w); err != nil {
			l.t.Fatal(err)
		}
		for _, ev := range w.Events {
			if ev.Type == contract.EventTraded {
				ts, _ := time.Parse(time.RFC3339Nano, ev.Timestamp)
				// Each single trade is its transaction's chunk.
				out = append(out, "price/"+ts.UTC().Format("2006-01-02T15:04:05.000000000Z")+"/"+ev.EventID+"/chunk")
			}
		}
	}
	return out
}

// Two trades with the same terms store values whose hashes are unrelated,
// and each stored value holds its salt; the price points' salts are not the
// terms' salts.
func TestIdenticalTermsUnrelatedCommitments(t *testing.T) {
	l := newPrivLedger(t)
	for i, id := range []string{"t1", "t2"} {
		if _, err := l.trade(id, sameTerms, salt(i)); err != nil {
			t.Fatal(err)
		}
	}
	a, b := l.Private("terms/ExchangeMSP/t1"), l.Private("terms/ExchangeMSP/t2")
	if a == nil || b == nil {
		t.Fatal("terms not stored")
	}
	if sha256.Sum256(a) == sha256.Sum256(b) {
		t.Fatalf("identical terms hash alike: %s", a)
	}
	if !bytes.Contains(a, []byte(fmt.Sprintf("%x", salt(0)))) || !bytes.Contains(b, []byte(fmt.Sprintf("%x", salt(1)))) {
		t.Fatalf("stored terms do not hold their salts: %s / %s", a, b)
	}
	pk := l.priceKeys()
	if len(pk) != 2 {
		t.Fatalf("price keys %v", pk)
	}
	pa, pb := l.Private(pk[0]), l.Private(pk[1])
	if pa == nil || pb == nil || sha256.Sum256(pa) == sha256.Sum256(pb) {
		t.Fatalf("price points missing or alike: %s / %s", pa, pb)
	}
	if bytes.Contains(pa, []byte(fmt.Sprintf("%x", salt(0)))) {
		t.Fatalf("the price point carries the terms' salt, linking the two: %s", pa)
	}
	// Without their salts, the two values are the same: the salt is what
	// tells them apart.
	strip := func(v []byte) string {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "salt")
		out, _ := json.Marshal(m)
		return string(out)
	}
	// A chunk of one trade holds its one point.
	point := func(v []byte) []byte {
		var c struct{ Points []json.RawMessage }
		if err := json.Unmarshal(v, &c); err != nil || len(c.Points) != 1 {
			t.Fatalf("price chunk %s: %v", v, err)
		}
		return c.Points[0]
	}
	if strip(a) != strip(b) || strip(point(pa)) == "" || strip(point(pb)) == "" {
		t.Fatalf("values differ beyond the salt: %s / %s", a, b)
	}
}

// A ledger bootstrapped by format version 1 holds unsalted terms and no
// meta/format: they are read as they are, and a replay compares with them.
func TestFormatV1TermsStillRead(t *testing.T) {
	l := newPrivLedger(t)
	// Rewrite the ledger as version 1 left it: no meta/format, and (below)
	// unsalted terms.
	l.SetRaw(false, "meta/format", nil)
	if _, err := l.trade("old", sameTerms, salt(1)); err != nil {
		t.Fatal(err)
	}
	v1, _ := json.Marshal(sameTerms)
	l.SetRaw(true, "terms/ExchangeMSP/old", v1)
	out, err := l.Evaluate("RegulatorMSP", contract.FnListTrades, []byte(`{"batchId":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var page contract.Page[contract.Trade]
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Terms == nil || *page.Items[0].Terms != sameTerms {
		t.Fatalf("version-1 terms read as %s", out)
	}
	res, err := l.trade("old", sameTerms, salt(2))
	if err != nil || !bytes.Contains(res, []byte(`"replayed":true`)) {
		t.Fatalf("replay against version-1 terms: %s, %v", res, err)
	}
	other := sameTerms
	other.UnitPrice++
	if _, err := l.trade("old", other, salt(3)); err == nil || !strings.Contains(err.Error(), "different terms") {
		t.Fatalf("a replay with other terms against version-1 terms: %v", err)
	}
	// New trades on the old ledger are salted.
	if _, err := l.trade("new", sameTerms, salt(4)); err != nil {
		t.Fatal(err)
	}
	if v := l.Private("terms/ExchangeMSP/new"); !bytes.Contains(v, []byte(`"salt"`)) {
		t.Fatalf("new terms on a version-1 ledger are unsalted: %s", v)
	}
}

// Data of a newer format is never misread: trades, terms and prices are
// refused with an error naming both versions.
func TestNewerFormatRefused(t *testing.T) {
	l := newPrivLedger(t)
	if _, err := l.trade("t0", sameTerms, salt(0)); err != nil {
		t.Fatal(err)
	}
	newer := contract.FormatVersion + 1
	l.SetRaw(false, "meta/format", []byte(fmt.Sprint(newer)))
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", newer)) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", contract.FormatVersion)) {
			t.Fatalf("%s on a format-%d ledger: %v", what, newer, err)
		}
		var ce *contract.Error
		if errors.As(err, &ce) {
			t.Fatalf("%s: the refusal is the ledger's, not the caller's: %v", what, err)
		}
	}
	_, err := l.trade("t", sameTerms, salt(1))
	check("a trade", err)
	_, err = l.Evaluate("RegulatorMSP", contract.FnListTrades, []byte(`{"batchId":"b"}`))
	check("trades", err)
	_, err = l.Evaluate("RegulatorMSP", contract.FnListTrades, []byte(`{}`))
	check("trades by time", err)
	_, err = l.Evaluate("RegulatorMSP", contract.FnPrices, []byte(`{}`))
	check("prices", err)
	_, err = l.Evaluate("RegulatorMSP", contract.FnImpact, []byte(`{"id":"b"}`))
	check("impact", err)
	_, err = l.submit("ProviderMSP", contract.FnCirculate, contract.CirculateRequest{BatchID: "b", To: "AuditorMSP",
		Purpose: "model-training", AccessMode: "copy"}, nil)
	check("a circulation", err)
	_, err = l.submit("ProviderMSP", contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "other"}, nil)
	check("a retirement", err)
}

// Bootstrap records the format version.
func TestBootstrapRecordsFormat(t *testing.T) {
	l := newPrivLedger(t)
	if got, want := string(l.Public("meta/format")), fmt.Sprint(contract.FormatVersion); got != want {
		t.Fatalf("meta/format is %q, want %q", got, want)
	}
}
