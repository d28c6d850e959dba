package contracttest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

type scenario struct {
	name string
	run  func(t *testing.T, h *harness)
}

// Organisations of the scenarios' consortium.
const (
	regulator = "RegulatorMSP"
	provider  = "ProviderMSP"
	processor = "ProcessorMSP"
	exchange  = "ExchangeMSP"
	consumer  = "ConsumerMSP"
	auditor   = "AuditorMSP"
	foreign   = "ForeignMSP"   // a consumer in SG
	provider2 = "Provider2MSP" // a second provider, in CN-SH
)

type harness struct {
	t     *testing.T
	l     Ledger
	clock *Clock
	n     int
	salt  int
}

func newHarness(t *testing.T, l Ledger, clock *Clock) *harness {
	return &harness{t: t, l: l, clock: clock}
}

func (h *harness) submit(org, fn string, req any, transient map[string]any) ([]byte, error) {
	h.t.Helper()
	args, err := json.Marshal(req)
	if err != nil {
		h.t.Fatal(err)
	}
	var tm map[string][]byte
	if transient != nil {
		tm = map[string][]byte{}
		for k, v := range transient {
			if raw, ok := v.([]byte); ok {
				if raw != nil { // nil: leave the entry out
					tm[k] = raw
				}
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				h.t.Fatal(err)
			}
			tm[k] = b
		}
		if _, ok := transient[contract.TransientSalts]; !ok {
			switch v := transient[contract.TransientTerms].(type) {
			case contract.Terms:
				tm[contract.TransientSalts] = h.salts(1)
			case []contract.Terms:
				tm[contract.TransientSalts] = h.salts(len(v))
			}
		}
	}
	return h.l.Submit(org, fn, args, tm)
}

// salts returns n trades' salts, as an app would pass them. They are
// derived from a counter rather than drawn at random, so that a history
// replayed on two ledgers writes the same bytes (TestDeterminism); each is
// still distinct from every other.
func (h *harness) salts(n int) []byte {
	out := make([]byte, 0, n*contract.SaltSize)
	for range n {
		h.salt++
		sum := sha256.Sum256([]byte(fmt.Sprintf("contracttest salt %d", h.salt)))
		out = append(out, sum[:]...)
	}
	return out
}

// write submits and fails the test on error, decoding the result.
func (h *harness) write(org, fn string, req any, transient map[string]any) contract.WriteResult {
	h.t.Helper()
	out, err := h.submit(org, fn, req, transient)
	if err != nil {
		h.t.Fatalf("%s by %s: %v", fn, org, err)
	}
	var res contract.WriteResult
	if err := json.Unmarshal(out, &res); err != nil {
		h.t.Fatalf("%s result: %v", fn, err)
	}
	return res
}

func (h *harness) query(org, fn string, req any, out any) error {
	h.t.Helper()
	args, err := json.Marshal(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := h.l.Evaluate(org, fn, args)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		h.t.Fatalf("%s result: %v: %s", fn, err, b)
	}
	return nil
}

func (h *harness) mustQuery(org, fn string, req any, out any) {
	h.t.Helper()
	if err := h.query(org, fn, req, out); err != nil {
		h.t.Fatalf("%s by %s: %v", fn, org, err)
	}
}

// wantErr asserts that err is a contract error of kind, naming rule when
// rule is not empty.
func (h *harness) wantErr(err error, kind contract.Kind, rule string) *contract.Error {
	h.t.Helper()
	var ce *contract.Error
	if !errors.As(err, &ce) {
		h.t.Fatalf("want a %s error (%s), got %v", kind, rule, err)
	}
	if ce.Kind != kind || ce.Rule != rule {
		h.t.Fatalf("want kind %s rule %q, got kind %s rule %q: %s", kind, rule, ce.Kind, ce.Rule, ce.Detail)
	}
	return ce
}

func (h *harness) wantRule(err error, rule string) {
	h.t.Helper()
	h.wantErr(err, contract.KindRule, rule)
}

// setup bootstraps the regulator and registers the consortium.
func (h *harness) setup() {
	h.t.Helper()
	h.write(regulator, contract.FnBootstrap, contract.BootstrapRequest{Name: "National Data Administration", Region: "CN"}, nil)
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: provider, Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: provider2, Name: "Provider Two", Roles: []string{"provider"}, Region: "CN-SH"},
		{MSPID: processor, Name: "Processor", Roles: []string{"processor"}, Region: "CN"},
		{MSPID: exchange, Name: "Exchange", Roles: []string{"exchange"}, Region: "CN-SH"},
		{MSPID: consumer, Name: "Consumer", Roles: []string{"consumer"}, Region: "CN-BJ"},
		{MSPID: auditor, Name: "Auditor", Roles: []string{"auditor"}, Region: "CN"},
		{MSPID: foreign, Name: "Foreign Lab", Roles: []string{"consumer"}, Region: "SG"},
	} {
		h.write(regulator, contract.FnRegisterParticipant, p, nil)
	}
}

func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// batchReq is a valid collection request; change what a case needs.
func (h *harness) batchReq(id string) contract.CollectRequest {
	h.n++
	return contract.CollectRequest{
		ID: id, Name: "batch " + id, Sector: "healthcare", Modality: "text", Languages: []string{"zh-CN", "en"},
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: digest(h.n),
		SizeBytes: 4_000_000, Records: 1000, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training", "evaluation"}, Region: "CN", Licence: "CC-BY-4.0",
		Source: contract.Source{Type: "enterprise", Description: "clinic notes", Region: "CN"},
	}
}

func (h *harness) collect(req contract.CollectRequest) contract.Batch {
	h.t.Helper()
	return *h.write(provider, contract.FnCollect, req, nil).Batch
}

func (h *harness) assess(id string, score float64) {
	h.t.Helper()
	h.write(auditor, contract.FnAssess, contract.AssessRequest{BatchID: id, Score: &score, Metrics: map[string]float64{"dup-rate": 0.01}, Method: "sampled review"}, nil)
}

func terms(price float64) contract.Terms {
	return contract.Terms{UnitPrice: price, Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: "settle-1"}
}

func (h *harness) tradeReq(tradeID, batchID string) contract.TradeRequest {
	return contract.TradeRequest{TradeID: tradeID, BatchID: batchID, Seller: provider, Buyer: consumer, Tokens: 10_000,
		Rights: "licence", Purposes: []string{"model-training"}}
}

func (h *harness) trade(req contract.TradeRequest, tm contract.Terms) ([]byte, error) {
	return h.submit(exchange, contract.FnTrade, req, map[string]any{contract.TransientTerms: tm})
}

func (h *harness) batch(org, id string) contract.Batch {
	h.t.Helper()
	var b contract.Batch
	h.mustQuery(org, contract.FnGetBatch, contract.IDRequest{ID: id}, &b)
	return b
}

func (h *harness) process(org string, req contract.ProcessRequest) ([]byte, error) {
	return h.submit(org, contract.FnProcess, req, nil)
}

func (h *harness) output(id string, tokens int64) contract.OutputRequest {
	h.n++
	return contract.OutputRequest{ID: id, Name: "output " + id, Tokens: contract.Tokens{Count: tokens, Tokenizer: "o200k_base"},
		ContentDigest: digest(h.n), SizeBytes: 1000, Records: 10}
}

func tool() contract.Tool { return contract.Tool{Name: "cleaner", Version: "1.2.0"} }
