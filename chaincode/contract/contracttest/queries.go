package contracttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func queriesScenario(t *testing.T, h *harness) {
	h.setup()
	// raw → clean → labelled, plus a second raw batch merged in at the end.
	h.collect(h.batchReq("raw"))
	h.collect(h.batchReq("raw2"))
	h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "raw", To: processor, Purpose: "model-training", AccessMode: "copy"}, nil)
	h.write(provider, contract.FnCirculate, contract.CirculateRequest{BatchID: "raw2", To: processor, Purpose: "model-training", AccessMode: "copy"}, nil)
	h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"raw"}, Operations: []string{"cleaning"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("clean", 900_000)}}, nil)
	h.write(processor, contract.FnProcess, contract.ProcessRequest{Inputs: []string{"clean", "raw2"}, Operations: []string{"labeling", "merge"}, Tool: tool(), Outputs: []contract.OutputRequest{h.output("labelled", 1_800_000)}}, nil)
	h.assess("labelled", 90)
	for i := 0; i < 4; i++ {
		if _, err := h.trade(h.tradeReq(fmt.Sprintf("t%d", i), "labelled"), terms(float64(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	h.write(provider, contract.FnCirculate, circ("labelled"), nil)

	// History, paged two at a time, in seq order without gaps.
	var seqs []int64
	token := ""
	for {
		var page contract.Page[contract.Event]
		h.mustQuery(regulator, contract.FnHistory, contract.HistoryRequest{BatchID: "labelled", PageRequest: contract.PageRequest{PageSize: 2, PageToken: token}}, &page)
		for _, e := range page.Items {
			seqs = append(seqs, e.Seq)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if len(seqs) != 7 {
		t.Fatalf("history of labelled: %v, want seq 1..7", seqs)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("history seqs %v are not gap-free from 1", seqs)
		}
	}
	// The page is written around the stored events rather than through
	// json.Marshal: it must be the very bytes json.Marshal would give.
	args, _ := json.Marshal(contract.HistoryRequest{BatchID: "labelled", PageRequest: contract.PageRequest{PageSize: 3}})
	raw, err := h.l.Evaluate(regulator, contract.FnHistory, args)
	if err != nil {
		t.Fatal(err)
	}
	var rawPage contract.Page[json.RawMessage]
	if err := json.Unmarshal(raw, &rawPage); err != nil {
		t.Fatalf("history page is not JSON: %v: %s", err, raw)
	}
	if again, _ := json.Marshal(rawPage); !bytes.Equal(again, raw) || len(rawPage.Items) != 3 || rawPage.NextPageToken == "" {
		t.Fatalf("history page bytes differ from json.Marshal of the page:\n got %s\nwant %s", raw, again)
	}
	var bad contract.Page[contract.Event]
	err = h.query(regulator, contract.FnHistory, contract.HistoryRequest{BatchID: "labelled", PageRequest: contract.PageRequest{PageToken: "YiJ4"}}, &bad)
	if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "pageToken" {
		t.Fatalf("crafted page token: %+v", ce)
	}

	// Lineage up from labelled reaches both raw batches; down from raw reaches labelled.
	var up contract.Lineage
	h.mustQuery(regulator, contract.FnLineage, contract.LineageRequest{BatchID: "labelled", Direction: "up"}, &up)
	if ids := nodeIDs(up); !sameSet(ids, []string{"labelled", "clean", "raw", "raw2"}) || len(up.Edges) != 3 {
		t.Fatalf("lineage up: nodes %v edges %v", ids, up.Edges)
	}
	var down contract.Lineage
	h.mustQuery(regulator, contract.FnLineage, contract.LineageRequest{BatchID: "raw", Direction: "down", Depth: 1}, &down)
	if ids := nodeIDs(down); !sameSet(ids, []string{"raw", "clean"}) || !down.Truncated {
		t.Fatalf("lineage down depth 1: nodes %v truncated %v", ids, down.Truncated)
	}
	var tooDeep contract.Lineage
	err = h.query(regulator, contract.FnLineage, contract.LineageRequest{BatchID: "raw", Depth: 51}, &tooDeep)
	h.wantErr(err, contract.KindInvalid, "")

	// Impact of raw: itself, clean, labelled, with the consumer among the holders.
	var imp contract.Impact
	h.mustQuery(regulator, contract.FnImpact, contract.IDRequest{ID: "raw"}, &imp)
	if len(imp.Batches) != 3 || imp.TradeCount != 4 || imp.CirculationCount != 2 || !contains(imp.Holders, consumer) {
		t.Fatalf("impact: %d batches, %d trades, %d circulations, holders %v", len(imp.Batches), imp.TradeCount, imp.CirculationCount, imp.Holders)
	}
	err = h.query(consumer, contract.FnImpact, contract.IDRequest{ID: "raw"}, &imp)
	h.wantErr(err, contract.KindForbidden, contract.RuleRole)

	// Compliance: every rule passes or does not apply, with evidence.
	var rep contract.Compliance
	h.mustQuery(auditor, contract.FnCompliance, contract.IDRequest{ID: "labelled"}, &rep)
	if !rep.Compliant || len(rep.Results) != 14 || !sameSet(rep.Ancestors, []string{"clean", "raw", "raw2"}) {
		t.Fatalf("compliance: %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Result == contract.ResultPass && len(r.Evidence) == 0 {
			t.Errorf("%s passed without evidence", r.Rule)
		}
	}

	// Terms are for the regulator and the recording exchange only.
	var trades contract.Page[contract.Trade]
	h.mustQuery(auditor, contract.FnListTrades, contract.ListTradesRequest{BatchID: "labelled"}, &trades)
	if len(trades.Items) != 4 || trades.Items[0].Terms != nil {
		t.Fatalf("auditor's trades: %+v", trades.Items)
	}
	trades = contract.Page[contract.Trade]{}
	h.mustQuery(regulator, contract.FnListTrades, contract.ListTradesRequest{}, &trades)
	if len(trades.Items) != 4 || trades.Items[0].Terms == nil || trades.Items[0].Terms.UnitPrice != 10 {
		t.Fatalf("regulator's trades: %+v", trades.Items)
	}
	// The consumer sees the batches it holds, and no others.
	var mine contract.Page[contract.Batch]
	h.mustQuery(consumer, contract.FnListBatches, contract.ListBatchesRequest{}, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != "labelled" {
		t.Fatalf("consumer's batches: %v", mine.Items)
	}
	var b contract.Batch
	err = h.query(consumer, contract.FnGetBatch, contract.IDRequest{ID: "raw"}, &b)
	h.wantErr(err, contract.KindNotFound, "")

	// Prices. The day is still open: nobody but the regulator sees it yet.
	var px contract.Prices
	h.mustQuery(consumer, contract.FnPrices, contract.PricesRequest{Sector: "healthcare"}, &px)
	if len(px.Buckets) != 0 {
		t.Fatalf("prices of an open day: %+v", px)
	}
	rare := h.batchReq("rare")
	rare.Sector = "finance"
	h.collect(rare)
	h.assess("rare", 50)
	if _, err := h.trade(h.tradeReq("r1", "rare"), terms(99)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(24 * time.Hour)
	// The consumer bought every trade: it knows all their prices, so both
	// cells are shown to it. One cell of 4 trades, VWAP of 10..13 at equal
	// volume = 11.5.
	px = contract.Prices{}
	h.mustQuery(consumer, contract.FnPrices, contract.PricesRequest{Sector: "healthcare"}, &px)
	if len(px.Buckets) != 1 || px.Buckets[0].PriceStats == nil || px.Buckets[0].Trades != 4 || px.Buckets[0].VWAP != 11.5 || px.Buckets[0].QualityAdjusted != 12.777778 {
		t.Fatalf("prices: %+v", px)
	}
	px = contract.Prices{}
	h.mustQuery(consumer, contract.FnPrices, contract.PricesRequest{}, &px)
	if px.Withheld != 0 || len(px.Buckets) != 2 {
		t.Fatalf("daily prices for the buyer of every trade: %+v, want both cells", px)
	}
	// A participant party to none of them: one seller, so both cells are
	// suppressed, and carry no numbers.
	px = contract.Prices{}
	h.mustQuery(foreign, contract.FnPrices, contract.PricesRequest{}, &px)
	if px.Withheld != 2 || len(px.Buckets) != 2 || !px.Buckets[0].Suppressed || px.Buckets[0].PriceStats != nil || px.Buckets[1].PriceStats != nil {
		t.Fatalf("daily prices for an outsider: %+v, want both cells suppressed", px)
	}
	err = h.query(foreign, contract.FnPrices, contract.PricesRequest{Interval: "window"}, &px)
	h.wantErr(err, contract.KindForbidden, contract.RuleRole)
	err = h.query(foreign, contract.FnPrices, contract.PricesRequest{From: "2026-03-01T09:00:00Z"}, &px)
	if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "from" {
		t.Fatalf("sub-period bound: %+v", ce)
	}
	px = contract.Prices{}
	h.mustQuery(regulator, contract.FnPrices, contract.PricesRequest{}, &px)
	if px.Withheld != 0 || len(px.Buckets) != 2 || px.Buckets[1].PriceStats == nil {
		t.Fatalf("daily prices for the regulator: %+v, want both cells", px)
	}
	px = contract.Prices{}
	h.mustQuery(regulator, contract.FnPrices, contract.PricesRequest{Modality: "text", Interval: "window", From: "2026-03-01T09:00:00Z", To: "2026-03-01T10:00:00Z"}, &px)
	if len(px.Buckets) != 2 || px.Buckets[0].Trades+px.Buckets[1].Trades != 5 {
		t.Fatalf("the regulator's window: %+v", px)
	}

	// Retiring purges the private terms.
	h.write(regulator, contract.FnRetire, contract.StatusRequest{BatchID: "labelled", Reason: "other"}, nil)
	trades = contract.Page[contract.Trade]{}
	h.mustQuery(regulator, contract.FnListTrades, contract.ListTradesRequest{BatchID: "labelled"}, &trades)
	if len(trades.Items) != 4 || trades.Items[0].Terms != nil {
		t.Fatalf("terms survived retirement: %+v", trades.Items[0])
	}

	// Event lookup by ID.
	var ref contract.EventRef
	h.mustQuery(regulator, contract.FnGetEvent, contract.IDRequest{ID: trades.Items[0].EventID}, &ref)
	if ref.TxID != trades.Items[0].TxID || ref.Event.Type != contract.EventTraded {
		t.Fatalf("event ref: %+v", ref)
	}
}

func nodeIDs(l contract.Lineage) []string {
	var ids []string
	for _, n := range l.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !contains(b, v) {
			return false
		}
	}
	return true
}
