package consortiumtest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The checks, on made-up answers: a ledger that holds exactly what the
// clients were told passes; each kind of violation is reported.

func history(t *testing.T, evs ...contract.Event) []byte {
	t.Helper()
	for i := range evs {
		evs[i].Seq = int64(i + 1)
	}
	b, err := json.Marshal(contract.Page[contract.Event]{Items: evs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assessed(id, tx, method string) contract.Event {
	return contract.Event{EventID: id, TxID: tx, Type: contract.EventAssessed, Assessed: &contract.AssessedPayload{Method: method}}
}

func traded(id, tx, tradeID string) contract.Event {
	return contract.Event{EventID: id, TxID: tx, Type: contract.EventTraded, Traded: &contract.TradedPayload{TradeID: tradeID}}
}

// fixture is a load of four writes and the ledger as each node answers it.
func fixture(t *testing.T) (*load, func(seed, trades, collected []byte) map[string]snapshot) {
	t0 := time.Now()
	ld := &load{run: "r-p1", assessSeeds: []string{"s0"}, tradeSeeds: []string{"s1"}}
	ld.writes = []*write{
		{kind: kindAssess, batch: "s0", key: "r-p1-a00-0000", outcome: acked, txID: "tx1", eventID: "e1", statuses: []int{201}, start: t0, end: t0.Add(time.Second)},
		{kind: kindAssess, batch: "s0", key: "r-p1-a00-0001", outcome: unknown, statuses: []int{504}, start: t0, end: t0.Add(time.Second)},
		{kind: kindTrade, batch: "s1", key: "r-p1-t00-0000", outcome: acked, txID: "tx3", eventID: "e3", statuses: []int{503, 200}, start: t0, end: t0.Add(time.Second)},
		{kind: kindCollect, batch: "r-p1-c00-0000", key: "r-p1-c00-0000", outcome: acked, txID: "tx4", eventID: "e4", statuses: []int{201}, start: t0, end: t0.Add(time.Second)},
	}
	snaps := func(seed, trades, collected []byte) map[string]snapshot {
		out := map[string]snapshot{}
		for _, org := range []string{"AuditorMSP", "RegulatorMSP"} {
			out[org] = snapshot{eventsPath("s0"): seed, eventsPath("s1"): trades, eventsPath("r-p1-c00-0000"): collected}
		}
		return out
	}
	return ld, snaps
}

func TestCheckPassesAFaithfulLedger(t *testing.T) {
	ld, snaps := fixture(t)
	ld.reads = []read{{node: "AuditorMSP", batch: "s0", status: 200, events: []string{"e0"}, start: time.Now().Add(-time.Hour)}}
	v, failures := ld.check(snaps(
		history(t, contract.Event{EventID: "e0", Type: contract.EventCollected}, assessed("e1", "tx1", "r-p1-a00-0000")),
		history(t, contract.Event{EventID: "e5", Type: contract.EventCollected}, traded("e3", "tx3", "r-p1-t00-0000")),
		history(t, contract.Event{EventID: "e4", TxID: "tx4", Type: contract.EventCollected})))
	if len(failures) > 0 {
		t.Fatalf("failures on a faithful ledger: %v", failures)
	}
	if v.writes[kindAssess][acked] != 1 || v.writes[kindAssess][unknown] != 1 || v.retriedAcked != 1 || v.unknownRecorded != 0 {
		t.Errorf("verdict %s", v)
	}
}

func TestCheckReportsViolations(t *testing.T) {
	ld, snaps := fixture(t)
	ld.writes = append(ld.writes, &write{kind: kindAssess, batch: "s0", key: "r-p1-a00-0002", outcome: refused, statuses: []int{422}})
	late := time.Now().Add(time.Hour)
	ld.reads = []read{
		{node: "AuditorMSP", batch: "s0", status: 200, events: []string{"e0", "eX"}, start: late},           // not the history's start
		{node: "RegulatorMSP", batch: "s0", status: 200, events: []string{"e0"}, start: late},               // stale: e1 was acknowledged before
		{node: "RegulatorMSP", batch: "s0", status: 503, problem: "503 with Retry-After \"\"", start: late}, // a refusal without Retry-After
	}
	_, failures := ld.check(snaps(
		history(t, contract.Event{EventID: "e0", Type: contract.EventCollected},
			assessed("e1", "tx1", "r-p1-a00-0000"), assessed("e1b", "tx1b", "r-p1-a00-0000"), // acknowledged, twice
			assessed("e2", "tx2", "r-p1-a00-0001"), assessed("e2b", "tx2b", "r-p1-a00-0001"), // unknown, twice
			assessed("e6", "tx6", "r-p1-a00-0002"),  // refused, yet there
			assessed("e7", "tx7", "r-p1-a00-0099")), // never written
		history(t, traded("e3", "txOther", "r-p1-t00-0000")), // another transaction ID
		[]byte("404"))) // the acknowledged collection missing
	want := []string{
		"acknowledged assess r-p1-a00-0000 (tx tx1, attempts [201]) is on the ledger 2 times",
		"assess r-p1-a00-0001 (attempts [504]) is on the ledger 2 times",
		"refused assess r-p1-a00-0002",
		"r-p1-a00-0099 is on the ledger but was never written",
		"acknowledged trade r-p1-t00-0000 was answered with tx tx3, the ledger has tx txOther",
		"acknowledged collect r-p1-c00-0000 (tx tx4, attempts [201]) is on the ledger 0 times",
		"answered 2 events that are not the start of the 7 the history holds",
		"503 with Retry-After",
	}
	all := strings.Join(failures, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no failure says %q; failures:\n%s", w, all)
		}
	}
	v, _ := ld.check(snaps(history(t, contract.Event{EventID: "e0"}, assessed("e1", "tx1", "r-p1-a00-0000")), history(t), history(t)))
	if v.staleReads["RegulatorMSP"] != 1 || v.staleReads["AuditorMSP"] != 0 {
		t.Errorf("stale reads %v, want one through RegulatorMSP", v.staleReads)
	}
}
