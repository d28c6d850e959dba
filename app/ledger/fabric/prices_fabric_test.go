package fabric

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestPricesFabricDifferencing runs the windows attack on a real network:
// trades of varied prices land, and the attacker (an auditor, party to none
// of them) bisects windows until each holds one trade. The regulator, who
// may ask for windows, recovers every price that way, so the attack works;
// the auditor is refused windows and sub-period bounds, and is not shown
// the day while it is open. Prices are evaluated on a tradeTerms peer: the
// regulator's answer holds the prices.
func TestPricesFabricDifferencing(t *testing.T) {
	l := openFabric(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := fmt.Sprintf("px%d", time.Now().UnixNano())
	batch := run + "-b"
	req := contract.CollectRequest{ID: batch, Name: "price test " + batch, Sector: "transport", Modality: "text",
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", time.Now().UnixNano()),
		SizeBytes: 4000, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"research"}, Region: "CN", Source: contract.Source{Type: "synthetic"}}
	b, _ := json.Marshal(req)
	if _, err := l.Submit(ctx, "ProviderMSP", contract.FnCollect, b, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := assessBatch(ctx, l, "AuditorMSP", batch, "price test", 80); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	prices := map[string]float64{}
	for i, price := range []float64{11.25, 17.5, 23.75, 31.1} {
		id := fmt.Sprintf("%s-t%d", run, i)
		tr, _ := json.Marshal(contract.TradeRequest{TradeID: id, BatchID: batch, Seller: "ProviderMSP", Buyer: "ConsumerMSP",
			Tokens: int64(10_000 + 1_000*i), Rights: "licence", Purposes: []string{"research"}})
		terms, _ := json.Marshal(contract.Terms{UnitPrice: price, Currency: "CNY", PriceUnit: "1M tokens"})
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Submit(ctx, "ExchangeMSP", contract.FnTrade, tr, map[string][]byte{contract.TransientTerms: terms, contract.TransientSalts: salt}); err != nil {
			t.Fatalf("trade %d: %v", i, err)
		}
		prices[id] = price
	}
	end := time.Now().Add(time.Second)

	ask := func(org string, r contract.PricesRequest) (contract.Prices, error) {
		var px contract.Prices
		b, _ := json.Marshal(r)
		raw, err := l.Evaluate(ctx, org, contract.FnPrices, b)
		if err == nil {
			err = json.Unmarshal(raw, &px)
		}
		return px, err
	}
	// bisect splits a window until it holds one trade of the sector.
	var bisect func(org string, from, to time.Time, depth int) ([]float64, error)
	bisect = func(org string, from, to time.Time, depth int) ([]float64, error) {
		px, err := ask(org, contract.PricesRequest{Sector: "transport", Interval: "window",
			From: from.UTC().Format(time.RFC3339Nano), To: to.UTC().Format(time.RFC3339Nano)})
		if err != nil {
			return nil, err
		}
		var out []float64
		for _, c := range px.Buckets {
			if c.PriceStats == nil {
				continue
			}
			if c.Trades == 1 {
				out = append(out, c.VWAP)
				continue
			}
			if depth == 0 {
				continue
			}
			mid := from.Add(to.Sub(from) / 2)
			for _, half := range [][2]time.Time{{from, mid}, {mid, to}} {
				got, err := bisect(org, half[0], half[1], depth-1)
				if err != nil {
					return nil, err
				}
				out = append(out, got...)
			}
		}
		return out, nil
	}
	recovered := func(got []float64) int {
		n := 0
		for _, p := range prices {
			for _, g := range got {
				if math.Abs(g-p) <= 0.01*p {
					n++
					break
				}
			}
		}
		return n
	}
	got, err := bisect("RegulatorMSP", start, end, 40)
	if err != nil {
		t.Fatal(err)
	}
	if n := recovered(got); n != len(prices) {
		t.Fatalf("the windows attack recovered %d of %d prices from the regulator's view (%v): the attack or the routing is broken", n, len(prices), got)
	}

	_, err = bisect("AuditorMSP", start, end, 40)
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Kind != contract.KindForbidden {
		t.Fatalf("the auditor's window: %v, want forbidden", err)
	}
	_, err = ask("AuditorMSP", contract.PricesRequest{Interval: "day", From: start.UTC().Format(time.RFC3339Nano)})
	if !errors.As(err, &ce) || ce.Kind != contract.KindInvalid || ce.Field != "from" {
		t.Fatalf("the auditor's sub-day bound: %v, want invalid from", err)
	}
	su := start.UTC()
	day := time.Date(su.Year(), su.Month(), su.Day(), 0, 0, 0, 0, time.UTC)
	if start.UTC().Day() != end.UTC().Day() {
		t.Skip("the trades straddle midnight UTC; the open-day check needs one day")
	}
	for _, org := range []string{"AuditorMSP", "ConsumerMSP"} {
		px, err := ask(org, contract.PricesRequest{Sector: "transport"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range px.Buckets {
			if c.Start == day.Format(time.RFC3339) {
				t.Fatalf("%s is shown the open day: %+v", org, c)
			}
		}
	}
}
