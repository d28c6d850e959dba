package contract_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// TestPricesStoredPoints writes price points straight into the private
// collection, as earlier versions could: out-of-range and unreadable points
// are skipped (and counted for the regulator only), never a failure or an
// infinite price; points without parties (format 1) are read and count as
// nobody's.
func TestPricesStoredPoints(t *testing.T) {
	clock := contracttest.NewClock()
	l := contracttest.NewMemLedger(clock.Now)
	submit := func(org, fn string, req any) {
		t.Helper()
		b, _ := json.Marshal(req)
		if _, err := l.Submit(org, fn, b, nil); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	submit("RegulatorMSP", contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"})
	submit("RegulatorMSP", contract.FnRegisterParticipant, contract.RegisterParticipantRequest{MSPID: "ConsumerMSP", Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"})
	day := "2026-02-10T"
	put := func(id, v string) {
		l.PutPrivateRaw(contract.TermsCollection, "price/"+day+"10:00:00.000000000Z/"+id, []byte(v))
	}
	point := func(price string) string {
		return `{"sector":"healthcare","modality":"text","currency":"CNY","unitPrice":` + price + `,"tokens":1000,"quality":80,"time":"` + day + `10:00:00Z"}`
	}
	// Format 1 points, no parties: read and counted.
	put("a", point("10"))
	put("b", point("20"))
	put("c", point("30"))
	// What the index must skip.
	put("d", point("1e305"))
	put("e", point("-5"))
	put("f", point("1e400"))
	put("g", `{"sector":"healthcare","unitPrice":"NaN"}`)
	put("h", `not json`)
	put("i", `{"format":9,"sector":"healthcare","modality":"text","currency":"CNY","unitPrice":10,"tokens":1000,"quality":80,"time":"`+day+`10:00:00Z"}`)
	put("j", `{"sector":"healthcare","modality":"text","currency":"CNY","unitPrice":10,"tokens":1000,"quality":80,"time":"yesterday"}`)

	query := func(org string, req contract.PricesRequest) contract.Prices {
		t.Helper()
		b, _ := json.Marshal(req)
		out, err := l.Evaluate(org, contract.FnPrices, b)
		if err != nil {
			t.Fatalf("prices for %s: %v", org, err)
		}
		var px contract.Prices
		if err := json.Unmarshal(out, &px); err != nil {
			t.Fatal(err)
		}
		return px
	}
	px := query("RegulatorMSP", contract.PricesRequest{Interval: "window"})
	if px.Skipped != 7 || len(px.Buckets) != 1 || px.Buckets[0].Trades != 3 || px.Buckets[0].VWAP != 20 {
		t.Fatalf("regulator: %+v (%+v), want 3 points read and 7 skipped", px, px.Buckets)
	}
	// The consumer: the period is closed, the three points have no parties,
	// so they count as one unknown seller and the cell is suppressed. No
	// count of skipped points.
	clock.Advance(48 * time.Hour)
	px = query("ConsumerMSP", contract.PricesRequest{})
	if px.Skipped != 0 || len(px.Buckets) != 1 || !px.Buckets[0].Suppressed || px.Buckets[0].PriceStats != nil {
		t.Fatalf("consumer: %+v", px)
	}
}
