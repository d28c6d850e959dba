package contracttest

import (
	"fmt"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Replay submits a fixed, representative history — every event type,
// lineage three levels deep, trades single and bulk — to l. Two ledgers fed
// the same history with the same clock must end in byte-identical state.
func Replay(t *testing.T, l Ledger, clock *Clock) {
	t.Helper()
	h := newHarness(t, l, clock)
	h.setup()
	for i := 0; i < 3; i++ {
		h.collect(h.batchReq(fmt.Sprintf("raw-%d", i)))
		h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: fmt.Sprintf("raw-%d", i), To: processor, Purpose: "model-training", AccessMode: "copy"}, nil)
	}
	h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"raw-0", "raw-1"}, Operations: []string{"cleaning", "merge"}, Tool: tool(),
		Outputs: []contract.OutputRequest{h.output("", 1_500_000), h.output("split-b", 400_000)}}, nil)
	h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"split-b", "raw-2"}, Operations: []string{"labeling"}, Tool: tool(),
		Outputs: []contract.OutputRequest{h.output("labelled", 1_400_000)}}, nil)
	h.assess("labelled", 88)
	var trades []contract.TradeRequest
	var tms []contract.Terms
	for i := 0; i < 5; i++ {
		trades = append(trades, h.tradeReq(fmt.Sprintf("bulk-%d", i), "labelled"))
		tms = append(tms, terms(float64(20+i)))
	}
	if _, err := h.submit(exchange, contract.FnTradeBulk, contract.BulkTradeRequest{Trades: trades}, map[string]any{contract.TransientTerms: tms}); err != nil {
		t.Fatal(err)
	}
	own := h.tradeReq("own", "labelled")
	own.Rights = "ownership"
	if _, err := h.trade(own, terms(30)); err != nil {
		t.Fatal(err)
	}
	h.write(auditor, contract.FnAudit, contract.AuditRequest{BatchID: "labelled", Scope: "full", Verdict: "compliant",
		Findings: []contract.Finding{{Rule: "TT-R01", Result: "pass", Evidence: []string{"tx"}}}}, nil)
	h.write(regulator, contract.FnFreeze, contract.StatusRequest{BatchID: "raw-2", Reason: "review"}, nil)
	h.write(regulator, contract.FnUnfreeze, contract.StatusRequest{BatchID: "raw-2", Reason: "cleared"}, nil)
	h.write(provider, contract.FnRetire, contract.StatusRequest{BatchID: "raw-0", Reason: "consent-withdrawn"}, nil)
}
