package contract_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// fuzzLedger is a ledger with the consortium registered and one batch, so
// fuzzed requests reach the rules, not only the role check.
func fuzzLedger(t testing.TB) *contracttest.MemLedger {
	clock := contracttest.NewClock()
	l := contracttest.NewMemLedger(clock.Now)
	must := func(org, fn, args string) {
		if _, err := l.Submit(org, fn, []byte(args), nil); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	must("RegulatorMSP", contract.FnBootstrap, `{"name":"Regulator","region":"CN"}`)
	for _, p := range []string{
		`{"mspId":"ProviderMSP","name":"P","roles":["provider"],"region":"CN"}`,
		`{"mspId":"ProcessorMSP","name":"Q","roles":["processor"],"region":"CN"}`,
		`{"mspId":"ExchangeMSP","name":"E","roles":["exchange"],"region":"CN"}`,
		`{"mspId":"ConsumerMSP","name":"C","roles":["consumer"],"region":"SG"}`,
	} {
		must("RegulatorMSP", contract.FnRegisterParticipant, p)
	}
	must("ProviderMSP", contract.FnCollect, seedBatch)
	return l
}

const seedBatch = `{"id":"b1","name":"n","sector":"finance","modality":"text","tokens":{"count":1000,"tokenizer":"o200k_base"},` +
	`"contentDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","sizeBytes":10,"records":1,` +
	`"classification":"general","personalInfo":"none","deidentification":"none","legalBasis":"contract",` +
	`"purposes":["model-training"],"region":"CN","source":{"type":"enterprise"}}`

// FuzzWrite feeds arbitrary bytes to every write function. The contract must
// never panic, must answer either a result or a *contract.Error (no other
// error reaches a caller of a well-behaved ledger), and a refused write must
// leave the state exactly as it was.
func FuzzWrite(f *testing.F) {
	fns := []string{contract.FnCollect, contract.FnProcess, contract.FnAssess, contract.FnCirculate,
		contract.FnTrade, contract.FnTradeBulk, contract.FnAudit, contract.FnFreeze, contract.FnRetire, contract.FnRegisterParticipant}
	f.Add(uint8(0), []byte(seedBatch), []byte(nil))
	f.Add(uint8(1), []byte(`{"inputs":["b1"],"operations":["cleaning"],"tool":{"name":"t","version":"1"},"outputs":[{"name":"o","tokens":{"count":10,"tokenizer":"x"},"contentDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000002","sizeBytes":1,"records":1}]}`), []byte(nil))
	f.Add(uint8(2), []byte(`{"batchId":"b1","score":50,"method":"m","metrics":{"a":1}}`), []byte(nil))
	f.Add(uint8(3), []byte(`{"batchId":"b1","to":"ConsumerMSP","purpose":"model-training","accessMode":"api","crossBorder":{"destination":"SG"}}`), []byte(nil))
	f.Add(uint8(4), []byte(`{"tradeId":"t","batchId":"b1","seller":"ProviderMSP","buyer":"ConsumerMSP","tokens":5,"rights":"licence","purposes":["model-training"]}`), []byte(`{"unitPrice":1,"currency":"CNY","priceUnit":"1M tokens"}`))
	f.Add(uint8(5), []byte(`{"trades":[{"tradeId":"t","batchId":"b1","seller":"ProviderMSP","buyer":"ConsumerMSP","tokens":5,"rights":"licence","purposes":["model-training"]}]}`), []byte(`[{"unitPrice":1,"currency":"CNY","priceUnit":"1M tokens"}]`))
	f.Add(uint8(6), []byte(`{"batchId":"b1","scope":"s","findings":[{"rule":"TT-R01","result":"pass","evidence":["x"]}],"verdict":"compliant"}`), []byte(nil))
	f.Add(uint8(7), []byte(`{"batchId":"b1","reason":"r"}`), []byte(nil))
	f.Add(uint8(8), []byte(`{"batchId":"b1","reason":"consent-withdrawn"}`), []byte(nil))
	f.Add(uint8(0), []byte(`{"name":"\u0000","tokens":{"count":-1}}`), []byte(nil))
	f.Add(uint8(9), []byte(`[1,2,3]`), []byte(`null`))
	f.Fuzz(func(t *testing.T, which uint8, args, terms []byte) {
		l := fuzzLedger(t)
		before := l.StateDigest()
		fn := fns[int(which)%len(fns)]
		org := map[string]string{contract.FnTrade: "ExchangeMSP", contract.FnTradeBulk: "ExchangeMSP", contract.FnAssess: "ProcessorMSP",
			contract.FnAudit: "RegulatorMSP", contract.FnFreeze: "RegulatorMSP", contract.FnRegisterParticipant: "RegulatorMSP"}[fn]
		if org == "" {
			org = "ProviderMSP"
		}
		var transient map[string][]byte
		if terms != nil {
			// One salt per trade, as the app sends them: as many as the
			// terms have entries, so that trades get past the salt check.
			n := 1
			var arr []json.RawMessage
			if json.Unmarshal(terms, &arr) == nil && len(arr) > 0 {
				n = len(arr)
			}
			transient = map[string][]byte{contract.TransientTerms: terms,
				contract.TransientSalts: bytes.Repeat([]byte{0xa5}, n*contract.SaltSize)}
		}
		out, err := l.Submit(org, fn, args, transient)
		if err != nil {
			var ce *contract.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s: an error that is not a contract error: %v", fn, err)
			}
			if ce.Detail == "" {
				t.Fatalf("%s: an error without detail: %+v", fn, ce)
			}
			if after := l.StateDigest(); after != before {
				t.Fatalf("%s was refused (%v) but changed the state", fn, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%s answered invalid JSON: %q", fn, out)
		}
	})
}

// FuzzQuery feeds arbitrary bytes to every query: no panic, only contract
// errors, and never a write.
func FuzzQuery(f *testing.F) {
	fns := []string{contract.FnGetBatch, contract.FnListBatches, contract.FnHistory, contract.FnLineage,
		contract.FnImpact, contract.FnCompliance, contract.FnListTrades, contract.FnPrices, contract.FnGetEvent, contract.FnGetParticipant}
	f.Add(uint8(0), []byte(`{"id":"b1"}`))
	f.Add(uint8(1), []byte(`{"sector":"finance","pageSize":2,"pageToken":"Yi8"}`))
	f.Add(uint8(2), []byte(`{"batchId":"b1","pageToken":"aC9iMS8w"}`))
	f.Add(uint8(3), []byte(`{"batchId":"b1","direction":"both","depth":50}`))
	f.Add(uint8(6), []byte(`{"from":"2026-01-01T00:00:00Z","to":"2020-01-01T00:00:00Z"}`))
	f.Add(uint8(7), []byte(`{"interval":"window","from":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		l := fuzzLedger(t)
		before := l.StateDigest()
		fn := fns[int(which)%len(fns)]
		out, err := l.Evaluate("RegulatorMSP", fn, args)
		if err != nil {
			var ce *contract.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s: an error that is not a contract error: %v", fn, err)
			}
		} else if !json.Valid(out) {
			t.Fatalf("%s answered invalid JSON", fn)
		}
		if l.StateDigest() != before {
			t.Fatalf("query %s changed the state", fn)
		}
	})
}

// TestDeterminism replays one history on two fresh ledgers and expects the
// same state, byte for byte, and the same event payloads.
func TestDeterminism(t *testing.T) {
	run := func() (*contracttest.MemLedger, [][]byte) {
		clock := contracttest.NewClock()
		l := contracttest.NewMemLedger(clock.Now)
		contracttest.Replay(t, l, clock)
		return l, l.Events
	}
	a, ea := run()
	b, eb := run()
	if a.StateDigest() != b.StateDigest() {
		t.Fatal("two replays of the same transactions gave different state")
	}
	if len(ea) != len(eb) || len(ea) < 10 {
		t.Fatalf("event counts %d and %d", len(ea), len(eb))
	}
	for i := range ea {
		if string(ea[i]) != string(eb[i]) {
			t.Fatalf("event %d differs:\n%s\n%s", i, ea[i], eb[i])
		}
	}
}
