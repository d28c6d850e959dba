package service

import (
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Who may have a Fabric receipt, for a caller who does not read every
// batch: only a block every entry of which is known to disclose nothing the
// caller may not read.
func TestFabricWithheld(t *testing.T) {
	const cc = "tokentrail"
	mine := receipt.DisclosedTx{Readable: true, TxID: "t1", Chaincode: cc, Function: contract.FnTrade, EventIDs: []string{"e1"}}
	readable := []string{"e1", "e2", "e3"}
	for _, c := range []struct {
		name    string
		entries []receipt.DisclosedTx
		why     string // "" when the receipt may be given
	}{
		{"own transaction alone", []receipt.DisclosedTx{mine}, ""},
		{"with a participant write", []receipt.DisclosedTx{mine, {Index: 1, Readable: true, TxID: "p", Chaincode: cc, Function: contract.FnRegisterParticipant}}, ""},
		{"bulk, every trade readable and recorded", []receipt.DisclosedTx{{Readable: true, TxID: "b", Chaincode: cc, Function: contract.FnTradeBulk, EventIDs: []string{"e2", "e3"}, Trades: 2}}, ""},
		{"another buyer's trade", []receipt.DisclosedTx{mine, {Index: 1, Readable: true, TxID: "tx-other-77", Chaincode: cc, Function: contract.FnTrade, EventIDs: []string{"ev-secret-99"}}}, "an event of a batch the caller may not read"},
		{"bulk with a rejected trade", []receipt.DisclosedTx{{Readable: true, TxID: "tx-bulk-55", Chaincode: cc, Function: contract.FnTradeBulk, EventIDs: []string{"e2"}, Trades: 7}}, "some of whose trades were not recorded"},
		{"a replay, which records no event", []receipt.DisclosedTx{mine, {Index: 1, Readable: true, TxID: "tx-replay-33", Chaincode: cc, Function: contract.FnTrade}}, "recorded no event"},
		{"an unreadable entry", []receipt.DisclosedTx{mine, {Index: 1}}, "not of this chaincode"},
		{"another chaincode", []receipt.DisclosedTx{mine, {Index: 1, Readable: true, Chaincode: "other", Function: "x", EventIDs: []string{"e2"}}}, "not of this chaincode"},
	} {
		why := fabricWithheld(c.entries, readable, cc)
		if (why == "") != (c.why == "") || !strings.Contains(why, c.why) {
			t.Errorf("%s: %q, want %q", c.name, why, c.why)
		}
		// The refusal goes to a caller who may not read the other entries:
		// it names none of their transactions or events, nor their counts.
		for _, secret := range []string{"tx-other-77", "ev-secret-99", "tx-bulk-55", "tx-replay-33", "7", "entry 1"} {
			if strings.Contains(why, secret) {
				t.Errorf("%s: the refusal %q tells the caller %q", c.name, why, secret)
			}
		}
	}
}
