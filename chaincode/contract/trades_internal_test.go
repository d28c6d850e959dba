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
