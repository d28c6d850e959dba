package contract_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// keyKinds renders a write set as its keys counted by kind (a key's first
// part), public then private: "b:1 h:1 | price:1".
func keyKinds(ws contracttest.WriteSet) string {
	count := func(keys []string, strip string) string {
		n := map[string]int{}
		for _, k := range keys {
			k = strings.TrimPrefix(k, strip)
			n[k[:strings.IndexByte(k, '/')]]++
		}
		kinds := make([]string, 0, len(n))
		for k := range n {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%s:%d", k, n[k])
		}
		return strings.Join(parts, " ")
	}
	return count(ws.Public, "") + " | " + count(ws.Private, contract.TermsCollection+"/")
}

// TestKeysPerEvent pins the keys each kind of event writes, public and
// private, so that a change in the storage layout is a visible decision.
// Every key is a round trip to the peer at endorsement and a key every peer
// validates and commits on Fabric.
func TestKeysPerEvent(t *testing.T) {
	// want[0] is a ledger of the current format (3: trade chunks), want[1]
	// one bootstrapped by format 2, which keeps a key per trade.
	wants := map[string][2]string{
		"collect":                          {"b:1 c:1 ev:1 h:1 o:1 s:1 | ", "b:1 c:1 ev:1 h:1 o:1 s:1 | "},
		"process (one input, two outputs)": {"b:3 c:2 ch:2 ev:1 h:3 o:2 pa:2 s:2 | ", "b:3 c:2 ch:2 ev:1 h:3 o:2 pa:2 s:2 | "},
		"circulate":                        {"b:1 c:1 ev:1 h:1 | ", "b:1 c:1 ci:1 ev:1 h:1 | "},
		"trade":                            {"b:1 c:1 ev:1 h:1 t:1 tt:1 | price:1 terms:1", "b:1 bt:1 c:1 ev:1 h:1 t:1 tt:1 | price:1 terms:1"},
		"bulk trades (10 on one batch)":    {"b:1 ev:10 h:10 t:10 tt:1 | price:1 terms:10", "b:1 bt:10 ev:10 h:10 t:10 tt:10 | price:10 terms:10"},
	}
	for col, format := range []int{contract.FormatVersion, 2} {
		t.Run(fmt.Sprintf("format %d", format), func(t *testing.T) {
			for _, g := range keysPerEvent(t, format) {
				want := wants[g.event][col]
				t.Logf("%-34s %s", g.event, g.keys)
				if g.keys != want {
					t.Errorf("%s writes %q, want %q", g.event, g.keys, want)
				}
			}
		})
	}
}

type eventKeys struct{ event, keys string }

// keysPerEvent records one event of each kind on a ledger of the given
// format and returns the keys each wrote.
func keysPerEvent(t *testing.T, format int) []eventKeys {
	l := newPrivLedger(t)
	if format != contract.FormatVersion {
		l.SetRaw(false, "meta/format", []byte(fmt.Sprint(format)))
	}
	w := func(org, fn string, req any, transient map[string][]byte) string {
		t.Helper()
		l.must(org, fn, req, transient)
		return keyKinds(l.LastWrites)
	}
	l.must("RegulatorMSP", contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: "ProcessorMSP",
		Name: "Processor", Roles: []string{"processor"}, Region: "CN"}, nil)
	collect := contract.CollectRequest{ID: "c", Name: "c", Sector: "healthcare", Modality: "text",
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: "sha256:" + strings.Repeat("cd", 32),
		SizeBytes: 10, Records: 1, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training"}, Region: "CN",
		Source: contract.Source{Type: "enterprise"}}
	out := func(id string) contract.OutputRequest {
		return contract.OutputRequest{ID: id, Name: id, Tokens: contract.Tokens{Count: 400_000, Tokenizer: "o200k_base"},
			ContentDigest: "sha256:" + strings.Repeat("ef", 32), SizeBytes: 5, Records: 1}
	}
	const bulk = 10
	bulkReq := contract.BulkTradeRequest{}
	var bulkTerms []contract.Terms
	var bulkSalts []byte
	for i := 0; i < bulk; i++ {
		bulkReq.Trades = append(bulkReq.Trades, contract.TradeRequest{TradeID: fmt.Sprintf("bulk-%d", i), BatchID: "b",
			Seller: "ProviderMSP", Buyer: "ConsumerMSP", Tokens: 1000, Rights: "licence", Purposes: []string{"model-training"}})
		bulkTerms = append(bulkTerms, sameTerms)
		bulkSalts = append(bulkSalts, salt(100+i)...)
	}
	bt, _ := json.Marshal(bulkTerms)
	tt, _ := json.Marshal(sameTerms)
	return []eventKeys{
		{"collect", w("ProviderMSP", contract.FnCollect, collect, nil)},
		{"process (one input, two outputs)", w("ProviderMSP", contract.FnProcess, contract.ProcessRequest{Inputs: []string{"c"},
			Operations: []string{"cleaning"}, Tool: contract.Tool{Name: "cleaner", Version: "1"},
			Outputs: []contract.OutputRequest{out("c1"), out("c2")}}, nil)},
		{"circulate", w("ProviderMSP", contract.FnCirculate, contract.CirculateRequest{BatchID: "c1", To: "ProcessorMSP",
			Purpose: "model-training", AccessMode: "copy"}, nil)},
		{"trade", w("ExchangeMSP", contract.FnTrade, contract.TradeRequest{TradeID: "single", BatchID: "b", Seller: "ProviderMSP",
			Buyer: "ConsumerMSP", Tokens: 1000, Rights: "licence", Purposes: []string{"model-training"}},
			map[string][]byte{contract.TransientTerms: tt, contract.TransientSalts: salt(99)})},
		{fmt.Sprintf("bulk trades (%d on one batch)", bulk), w("ExchangeMSP", contract.FnTradeBulk, bulkReq,
			map[string][]byte{contract.TransientTerms: bt, contract.TransientSalts: bulkSalts})},
	}
}
