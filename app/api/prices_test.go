package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestTradePriceInput sends trades with prices and currencies the index
// cannot take, alone and in a bulk submission: each is refused with 400 (a
// rejected result in a bulk) naming the field, and nothing is written.
func TestTradePriceInput(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	trade := func(id, terms string) string {
		return fmt.Sprintf(`{"tradeId":%q,"batchId":"b1","seller":%q,"buyer":%q,"tokens":10,"rights":"licence","purposes":["model-training"],"terms":%s}`,
			id, provider, consumer, terms)
	}
	priced := func(price string) string {
		return `{"unitPrice":` + price + `,"currency":"CNY","priceUnit":"1M tokens"}`
	}
	inCurrency := func(cur string) string {
		return `{"unitPrice":12.5,"currency":"` + cur + `","priceUnit":"1M tokens"}`
	}
	cases := []struct {
		name, terms, field string
	}{
		{"huge", priced("1e305"), "terms.unitPrice"},
		{"over the maximum", priced("1000000000.5"), "terms.unitPrice"},
		{"out of float range", priced("1e400"), "terms.unitPrice"},
		{"NaN as a string", priced(`"NaN"`), "terms.unitPrice"},
		{"Infinity as a string", priced(`"Infinity"`), "terms.unitPrice"},
		{"zero", priced("0"), "terms.unitPrice"},
		{"negative", priced("-3"), "terms.unitPrice"},
		{"negative zero", priced("-0"), "terms.unitPrice"},
		{"four characters", inCurrency("XXX1"), "terms.currency"},
		{"lowercase", inCurrency("cny"), "terms.currency"},
		{"unknown code", inCurrency("ZZZ"), "terms.currency"},
		{"no-currency code", inCurrency("XXX"), "terms.currency"},
		{"withdrawn code", inCurrency("HRK"), "terms.currency"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := e.do("POST", "/api/v1/trades", exchange, trade(fmt.Sprintf("t%d", i), c.terms))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body.String())
			}
			if p := problemOf(t, rec); p.Field != c.field {
				t.Errorf("field %q, want %q (%s)", p.Field, c.field, p.Detail)
			}
			// In a bulk submission the bad trade alone is rejected, when the
			// terms decode; when they do not, the submission is refused.
			body := `{"trades":[` + trade(fmt.Sprintf("ok%d", i), priced("10")) + `,` + trade(fmt.Sprintf("bad%d", i), c.terms) + `]}`
			rec = e.do("POST", "/api/v1/trades:bulk", exchange, body)
			switch rec.Code {
			case http.StatusOK:
				var res contract.BulkTradeResult
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
					t.Fatal(err)
				}
				r := res.Results[1]
				if r.Status != contract.BulkRejected || r.Error == nil || r.Error.Kind != contract.KindInvalid || !strings.HasSuffix(r.Error.Field, c.field) {
					t.Fatalf("bulk result for the bad trade: %+v", r)
				}
				if res.Results[0].Status != contract.BulkCommitted {
					t.Fatalf("the good trade of the bulk: %+v", res.Results[0])
				}
			case http.StatusBadRequest:
				if p := problemOf(t, rec); !strings.HasSuffix(p.Field, c.field) {
					t.Errorf("bulk field %q, want …%q (%s)", p.Field, c.field, p.Detail)
				}
			default:
				t.Fatalf("bulk status %d: %s", rec.Code, rec.Body.String())
			}
		})
	}
	// Nothing of a bad trade was written: only the good halves of the bulks.
	var trades contract.Page[contract.Trade]
	e.must(http.StatusOK, "GET", "/api/v1/trades?pageSize=500", regulator, nil, &trades)
	for _, tr := range trades.Items {
		if !strings.HasPrefix(tr.TradeID, "ok") || tr.Terms == nil || tr.Terms.UnitPrice != 10 {
			t.Errorf("written: %+v", tr)
		}
	}
	var px contract.Prices
	e.must(http.StatusOK, "GET", "/api/v1/prices?interval=window", regulator, nil, &px)
	for _, b := range px.Buckets {
		if b.PriceStats == nil || b.VWAP != 10 || b.Currency != "CNY" {
			t.Errorf("price cell: %+v", b)
		}
	}
}

// TestPricesQuery checks the /prices parameters: the new intervals and the
// currency filter pass, windows are the regulator's, and bounds must be
// period starts for anyone else.
func TestPricesQuery(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/prices?interval=week", "/api/v1/prices?interval=month&currency=CNY",
		"/api/v1/prices?interval=week&from=2026-03-02T00:00:00Z&to=2026-03-16T00:00:00Z"} {
		e.must(http.StatusOK, "GET", path, consumer, nil, nil)
	}
	cases := []struct {
		path, org string
		status    int
		field     string
	}{
		{"/api/v1/prices?interval=window", consumer, 403, ""},
		{"/api/v1/prices?interval=week&from=2026-03-03T00:00:00Z", consumer, 400, "from"},
		{"/api/v1/prices?interval=month&to=2026-03-02T00:00:00Z", auditor, 400, "to"},
		{"/api/v1/prices?currency=cny", consumer, 400, "currency"},
		{"/api/v1/prices?currency=XYZ", regulator, 400, "currency"},
	}
	for _, c := range cases {
		rec := e.do("GET", c.path, c.org, nil)
		if rec.Code != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.path, rec.Code, c.status, rec.Body.String())
		}
		if p := problemOf(t, rec); p.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.path, p.Field, c.field)
		}
	}
	e.must(http.StatusOK, "GET", "/api/v1/prices?interval=window&from=2026-03-02T10:00:00Z&to=2026-03-02T10:00:01Z", regulator, nil, nil)
}
