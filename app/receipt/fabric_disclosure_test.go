package receipt

import (
	"reflect"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// FabricDisclosure names, for every data entry of the block, the function,
// its events and, for bulk trades, how many trades the request submitted.
func TestFabricDisclosure(t *testing.T) {
	n := newTestNet(t)
	bulk, bulkID := n.envelope(t, testTx{creator: n.client, endorsers: n.peers, function: contract.FnTradeBulk,
		eventName: contract.EventName, events: twoEvents, txTime: testTxTime,
		request: []byte(`{"trades":[{"tradeId":"x"},{"tradeId":"y"},{"tradeId":"z"}]}`)})
	proc, procID := n.envelope(t, n.tx(n.peers))
	block := n.block(t, 9, testPrevHash[:], [][]byte{bulk, []byte("not an envelope"), proc}, []byte{0, 0, 0})
	b, err := ParseFabricBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Receipt(testChannel, procID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FabricDisclosure(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []DisclosedTx{
		{Index: 0, Readable: true, TxID: bulkID, Chaincode: testChaincode, Function: contract.FnTradeBulk,
			EventIDs: []string{bulkID + "-0", bulkID + "-1"}, Trades: 3},
		{Index: 1},
		{Index: 2, Readable: true, TxID: procID, Chaincode: testChaincode, Function: contract.FnProcess,
			EventIDs: []string{procID + "-0", procID + "-1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("disclosure:\n got %+v\nwant %+v", got, want)
	}
	if _, err := (&Receipt{Kind: KindEmbedded}).Withhold(func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Withhold(func(string) bool { return false }); err != ErrCannotWithhold {
		t.Fatalf("withholding events of a Fabric receipt: %v", err)
	}
}
