package contract_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// layoutScenario records single and bulk trades (with a rejected trade and a
// replay inside a bulk submission) on a ledger of the given format, reads
// them back every way the contract offers, retires the batch and reads
// again; it returns every answer, in order.
func layoutScenario(t *testing.T, format int) []string {
	l := newPrivLedger(t)
	if format != contract.FormatVersion {
		l.SetRaw(false, "meta/format", []byte(fmt.Sprint(format)))
	}
	var answers []string
	l.must("RegulatorMSP", contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: "ProcessorMSP",
		Name: "Processor", Roles: []string{"processor"}, Region: "CN"}, nil)
	// Circulations, one of them for a time only: impact lists them.
	l.must("ProviderMSP", contract.FnCirculate, contract.CirculateRequest{BatchID: "b", To: "ProcessorMSP",
		Purpose: "model-training", AccessMode: "copy", ExpiresAt: "2026-03-02T00:00:00Z"}, nil)
	l.must("ProviderMSP", contract.FnCirculate, contract.CirculateRequest{BatchID: "b", To: "AuditorMSP",
		Purpose: "model-training", AccessMode: "copy"}, nil)
	for i := 0; i < 3; i++ {
		tm := sameTerms
		tm.UnitPrice = 10 + float64(i)
		if _, err := l.trade(fmt.Sprintf("single-%d", i), tm, salt(i)); err != nil {
			t.Fatal(err)
		}
	}
	bulk := func(first, n int, extra ...contract.TradeRequest) {
		req := contract.BulkTradeRequest{}
		var terms []contract.Terms
		var salts []byte
		for i := first; i < first+n; i++ {
			req.Trades = append(req.Trades, contract.TradeRequest{TradeID: fmt.Sprintf("bulk-%d", i), BatchID: "b",
				Seller: "ProviderMSP", Buyer: "ConsumerMSP", Tokens: int64(1000 + i), Rights: "licence", Purposes: []string{"model-training"}})
		}
		req.Trades = append(req.Trades, extra...)
		for i := range req.Trades {
			tm := sameTerms
			tm.UnitPrice = 20 + float64(i)
			terms = append(terms, tm)
			salts = append(salts, salt(1000+first+i)...)
		}
		tb, _ := json.Marshal(terms)
		answers = append(answers, string(l.must("ExchangeMSP", contract.FnTradeBulk, req,
			map[string][]byte{contract.TransientTerms: tb, contract.TransientSalts: salts})))
	}
	bulk(0, 9)
	// A rejected trade (unknown batch) and a replay of an earlier bulk
	// trade with other content (a conflict) ride along with new ones.
	bulk(9, 5, contract.TradeRequest{TradeID: "bad", BatchID: "nope", Seller: "ProviderMSP", Buyer: "ConsumerMSP",
		Tokens: 1, Rights: "licence", Purposes: []string{"model-training"}},
		contract.TradeRequest{TradeID: "bulk-0", BatchID: "b", Seller: "ProviderMSP", Buyer: "ConsumerMSP",
			Tokens: 5, Rights: "licence", Purposes: []string{"model-training"}})
	query := func(org, fn, args string) string {
		t.Helper()
		out, err := l.Evaluate(org, fn, []byte(args))
		if err != nil {
			t.Fatalf("%s %s as %s: %v", fn, args, org, err)
		}
		return string(out)
	}
	// pages reads a trade list four at a time, so that pages end inside
	// chunks, and returns the items.
	pages := func(org, filter string) string {
		t.Helper()
		var items []json.RawMessage
		token := ""
		for n := 0; ; n++ {
			if n > 50 {
				t.Fatal("paging does not end")
			}
			var page struct {
				Items         []json.RawMessage
				NextPageToken string
			}
			args := fmt.Sprintf(`{%s"pageSize":4,"pageToken":%q}`, filter, token)
			if err := json.Unmarshal([]byte(query(org, contract.FnListTrades, args)), &page); err != nil {
				t.Fatal(err)
			}
			items = append(items, page.Items...)
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		b, _ := json.Marshal(items)
		return string(b)
	}
	read := func() {
		for _, org := range []string{"RegulatorMSP", "ExchangeMSP", "ConsumerMSP"} {
			var one struct{ Items []json.RawMessage }
			if err := json.Unmarshal([]byte(query(org, contract.FnListTrades, `{"pageSize":100}`)), &one); err != nil {
				t.Fatal(err)
			}
			all, _ := json.Marshal(one.Items)
			answers = append(answers, byTime(t, pages(org, "")), pages(org, `"batchId":"b",`), byTime(t, string(all)))
		}
		answers = append(answers, query("RegulatorMSP", contract.FnImpact, `{"id":"b"}`),
			query("RegulatorMSP", contract.FnPrices, `{}`), query("AuditorMSP", contract.FnHistory, `{"batchId":"b","pageSize":100}`))
	}
	read()
	l.Clock.Advance(72 * time.Hour)
	answers = append(answers, query("ExchangeMSP", contract.FnPrices, `{}`), query("ConsumerMSP", contract.FnPrices, `{"interval":"month"}`))
	l.must("ProviderMSP", contract.FnRetire, contract.StatusRequest{BatchID: "b", Reason: "other"}, nil)
	read()
	for i := 0; i < 14; i++ {
		if v := l.Private(fmt.Sprintf("terms/ExchangeMSP/bulk-%d", i)); v != nil {
			t.Errorf("format %d: the terms of bulk-%d outlive the batch's retirement", format, i)
		}
	}
	return answers
}

// byTime sorts a list of trades by time, then event ID: the time index
// gives a transaction's trades (which share its time) in event ID order
// with a key per trade, and in the order of the submission in a chunk.
func byTime(t *testing.T, list string) string {
	var items []contract.Trade
	if err := json.Unmarshal([]byte(list), &items); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Timestamp != items[j].Timestamp {
			return items[i].Timestamp < items[j].Timestamp
		}
		return items[i].EventID < items[j].EventID
	})
	b, _ := json.Marshal(items)
	return string(b)
}

// A ledger in trade chunks without trade and circulation indexes (format 3)
// and one with a key per trade (format 2) give the same answers to every query, page by page, before and after
// the batch's retirement purges its terms.
func TestChunkLayoutReadsAsKeyPerTrade(t *testing.T) {
	chunked, perKey := layoutScenario(t, contract.FormatVersion), layoutScenario(t, 2)
	if len(chunked) != len(perKey) {
		t.Fatalf("%d answers against %d", len(chunked), len(perKey))
	}
	for i := range chunked {
		if a, b := chunked[i], perKey[i]; a != b {
			d := 0
			for d < len(a) && d < len(b) && a[d] == b[d] {
				d++
			}
			from := max(0, d-200)
			t.Errorf("answer %d differs at byte %d:\nchunks:    …%s\nkey/trade: …%s", i, d, a[from:min(len(a), d+200)], b[from:min(len(b), d+200)])
		}
	}
	if !strings.Contains(strings.Join(chunked, ""), `"circulations":[{`) {
		t.Error("impact lists no circulation: the scenario compares none")
	}
	if !strings.Contains(chunked[len(chunked)/2], `"unitPrice"`) && !strings.Contains(strings.Join(chunked, ""), `"terms"`) {
		t.Error("no answer shows terms: the scenario reads nothing private")
	}
}

// A chunk of a format this contract does not know is never read as another:
// the trade list refuses it, naming both formats; the price index skips it
// and counts it in the regulator's skipped.
func TestUnknownChunkFormatRefused(t *testing.T) {
	l := newPrivLedger(t)
	if _, err := l.trade("t1", sameTerms, salt(1)); err != nil {
		t.Fatal(err)
	}
	pk := l.priceKeys()
	if len(pk) != 1 {
		t.Fatalf("price chunks %v", pk)
	}
	tk := "tt/" + strings.TrimPrefix(pk[0], "price/")
	if l.Public(tk) == nil {
		t.Fatalf("no trade chunk at %s", tk)
	}
	newer := func(v []byte) []byte { return []byte(strings.Replace(string(v), `{"format":3,`, `{"format":4,`, 1)) }
	l.SetRaw(false, tk, newer(l.Public(tk)))
	l.SetRaw(true, pk[0], newer(l.Private(pk[0])))
	_, err := l.Evaluate("RegulatorMSP", contract.FnListTrades, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "format 4") || !strings.Contains(err.Error(), "format 3") {
		t.Fatalf("a trade chunk of format 4: %v", err)
	}
	out, err := l.Evaluate("RegulatorMSP", contract.FnPrices, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var p contract.Prices
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if p.Skipped != 1 || len(p.Buckets) != 0 {
		t.Fatalf("a price chunk of format 4: %s", out)
	}
	// The batch's own list reads the trade records, which are unchanged.
	if _, err := l.Evaluate("RegulatorMSP", contract.FnListTrades, []byte(`{"batchId":"b"}`)); err != nil {
		t.Fatal(err)
	}
}
