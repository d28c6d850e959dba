package contract

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestEncodeTradeRecord(t *testing.T) {
	tr := Trade{TradeID: "t-<1>&", Exchange: "ExchangeMSP", BatchID: "b\u00e9", Seller: "ProviderMSP", Buyer: "ConsumerMSP",
		Tokens: 1_000_000, Rights: "usage", Purposes: []string{"model-training", "evaluation"}, EventID: "e", TxID: "x",
		Timestamp: "2026-11-27T00:00:00Z", Digest: "sha256:00"}
	for _, seq := range []int64{1, 42, 1 << 40} {
		trb, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tradeRecord{Trade: tr, Seq: seq})
		if got := encodeTradeRecord(trb, seq); !bytes.Equal(got, want) {
			t.Fatalf("seq %d:\n got %s\nwant %s", seq, got, want)
		}
	}
}

func TestCurrencyListSortedAndUnique(t *testing.T) {
	for i := 1; i < len(currencies); i++ {
		if currencies[i-1] >= currencies[i] {
			t.Fatalf("currencies not sorted and unique at %s, %s", currencies[i-1], currencies[i])
		}
	}
	for _, c := range []string{"CNY", "USD", "EUR", "ZWG", "XOF"} {
		if err := checkCurrency("c", c); err != nil {
			t.Errorf("%s refused: %v", c, err)
		}
	}
	for _, c := range []string{"XXX", "XAU", "cny", "ZZZ", "HRK", "CN", "XXX1"} {
		if err := checkCurrency("c", c); err == nil {
			t.Errorf("%s accepted", c)
		}
	}
}

// TestSavedBatchReadBack: a batch saved by a transaction is encoded lazily
// (txn.unencoded), yet reading its key back within the transaction gives
// the last saved state, and a later put of the key wins over the pending
// encoding.
func TestSavedBatchReadBack(t *testing.T) {
	tx := &txn{writes: map[string][]byte{}, batches: map[string]*Batch{}, unencoded: map[string]bool{},
		nowStr: "2026-12-07T00:00:00Z"} // no State: a read reaching it would panic
	b := &Batch{ID: "b1", Owner: "ProviderMSP", Sector: "finance"}
	if err := tx.saveBatch(nil, b); err != nil {
		t.Fatal(err)
	}
	b2 := *b
	b2.Name = "renamed"
	if err := tx.saveBatch(b, &b2); err != nil {
		t.Fatal(err)
	}
	got, err := tx.get(kBatch + "b1")
	want, _ := json.Marshal(&b2)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %s, %v; want %s", got, err, want)
	}
	if err := tx.saveBatch(&b2, &b2); err != nil {
		t.Fatal(err)
	}
	tx.put(kBatch+"b1", []byte("put"))
	if got, _ := tx.get(kBatch + "b1"); string(got) != "put" {
		t.Fatalf("a put after a save read back %s", got)
	}
}
