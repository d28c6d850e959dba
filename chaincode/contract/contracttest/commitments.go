package contracttest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Scenarios of salted private values (docs/data-model.md, "Private values").
func init() {
	scenarios = append(scenarios,
		scenario{"salts are required, one of 32 bytes per trade", func(t *testing.T, h *harness) {
			h.setup()
			h.collect(h.batchReq("b"))
			h.assess("b", 90)
			req := h.tradeReq("t", "b")
			for _, c := range []struct {
				name  string
				salts any // nil: no salts entry
				want  string
			}{
				{"missing", nil, "is required"},
				{"short", bytes.Repeat([]byte{7}, 16), "not 16"},
				{"long", bytes.Repeat([]byte{7}, 64), "not 64"},
				{"zero", make([]byte, 32), "all zeros"},
			} {
				tm := map[string]any{contract.TransientTerms: terms(3)}
				if c.salts != nil {
					tm[contract.TransientSalts] = c.salts
				} else {
					tm[contract.TransientSalts] = []byte(nil)
				}
				_, err := h.submit(exchange, contract.FnTrade, req, tm)
				e := h.wantErr(err, contract.KindInvalid, "")
				if e.Field != "salts" || !strings.Contains(e.Detail, c.want) {
					t.Fatalf("%s: got field %q detail %q, want salts: ...%s", c.name, e.Field, e.Detail, c.want)
				}
			}
			// A bulk submission needs one salt per trade.
			trades := []contract.TradeRequest{h.tradeReq("t1", "b"), h.tradeReq("t2", "b")}
			_, err := h.submit(exchange, contract.FnTradeBulk, contract.BulkTradeRequest{Trades: trades},
				map[string]any{contract.TransientTerms: []contract.Terms{terms(1), terms(2)}, contract.TransientSalts: h.salts(1)})
			if e := h.wantErr(err, contract.KindInvalid, ""); e.Field != "salts" {
				t.Fatalf("bulk with one salt for two trades: field %q: %s", e.Field, e.Detail)
			}
			// Nothing was written by any of them.
			if v := h.batch(provider, "b").Version; v != 2 {
				t.Fatalf("refused trades wrote: batch version %d, want 2", v)
			}
			var page contract.Page[contract.Trade]
			h.mustQuery(regulator, contract.FnListTrades, contract.ListTradesRequest{BatchID: "b"}, &page)
			if len(page.Items) != 0 {
				t.Fatalf("refused trades were recorded: %+v", page.Items)
			}
		}},
		scenario{"a replay with a new salt is a replay; terms are shown without their salt", func(t *testing.T, h *harness) {
			h.setup()
			h.collect(h.batchReq("b"))
			h.assess("b", 90)
			first := h.write(exchange, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(3), contract.TransientSalts: h.salts(1)})
			again := h.write(exchange, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(3), contract.TransientSalts: h.salts(1)})
			if !again.Replayed || again.Event.EventID != first.Event.EventID {
				t.Fatalf("the same trade with a new salt must be a replay: %+v", again)
			}
			_, err := h.submit(exchange, contract.FnTrade, h.tradeReq("t", "b"), map[string]any{contract.TransientTerms: terms(4), contract.TransientSalts: h.salts(1)})
			h.wantErr(err, contract.KindConflict, contract.RuleIdempotency)
			for _, org := range []string{regulator, exchange} {
				args, _ := json.Marshal(contract.ListTradesRequest{BatchID: "b"})
				raw, err := h.l.Evaluate(org, contract.FnListTrades, args)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(raw, []byte("salt")) {
					t.Fatalf("%s's trades answer carries the salt: %s", org, raw)
				}
				var page contract.Page[contract.Trade]
				if err := json.Unmarshal(raw, &page); err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != 1 || page.Items[0].Terms == nil || *page.Items[0].Terms != terms(3) {
					t.Fatalf("%s sees %s, want the trade with terms %+v", org, raw, terms(3))
				}
			}
		}},
		scenario{"readable events follow batch visibility", func(t *testing.T, h *harness) {
			h.setup()
			h.collect(h.batchReq("mine"))
			h.collect(h.batchReq("other"))
			h.assess("mine", 90)
			h.assess("other", 90)
			mine := h.write(exchange, contract.FnTrade, h.tradeReq("t1", "mine"), map[string]any{contract.TransientTerms: terms(1)})
			otherReq := h.tradeReq("t2", "other")
			otherReq.Buyer = foreign
			other := h.write(exchange, contract.FnTrade, otherReq, map[string]any{contract.TransientTerms: terms(2)})
			ids := []string{other.Event.EventID, mine.Event.EventID, "no-such-event", mine.Event.EventID}
			for _, c := range []struct {
				org      string
				readsAll bool
				want     []string
			}{
				{regulator, true, []string{other.Event.EventID, mine.Event.EventID}},
				{auditor, true, []string{other.Event.EventID, mine.Event.EventID}},
				{exchange, true, []string{other.Event.EventID, mine.Event.EventID}},
				{consumer, false, []string{mine.Event.EventID}},
				{foreign, false, []string{other.Event.EventID}},
				{processor, false, []string{}},
			} {
				var got contract.ReadableEvents
				h.mustQuery(c.org, contract.FnReadableEvents, contract.ReadableEventsRequest{EventIDs: ids}, &got)
				if got.ReadsAll != c.readsAll || strings.Join(got.Readable, ",") != strings.Join(c.want, ",") {
					t.Fatalf("%s: got %+v, want readsAll %v and %v", c.org, got, c.readsAll, c.want)
				}
			}
			err := h.query(consumer, contract.FnReadableEvents, contract.ReadableEventsRequest{EventIDs: []string{"a/b"}}, new(contract.ReadableEvents))
			if e := h.wantErr(err, contract.KindInvalid, ""); e.Field != "eventIds[0]" {
				t.Fatalf("field %q", e.Field)
			}
		}},
	)
}
