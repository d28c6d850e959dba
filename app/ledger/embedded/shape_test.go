package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// The immudb comparison (bench/immudb, a module of its own) writes the
// write sets of real tokentrail transactions: their key counts and key and
// value sizes, as measured here and kept in its writeset.json.
var updateWriteSet = flag.Bool("update-writeset", false, "rewrite bench/immudb/writeset.json from the measured write sets")

const writeSetShapeFile = "../../../bench/immudb/writeset.json"

// writeSetShape mirrors bench/immudb's Shape.
type writeSetShape struct {
	MeasuredBy string `json:"measuredBy"`
	Single     struct {
		Function   string `json:"function"`
		Keys       int    `json:"keys"`
		KeyBytes   int    `json:"keyBytes"`
		ValueBytes int    `json:"valueBytes"`
	} `json:"single"`
	Bulk struct {
		Function     string `json:"function"`
		EventsPerTx  int    `json:"eventsPerTx"`
		KeysPerEvent int    `json:"keysPerEvent"`
		KeyBytes     int    `json:"keyBytes"`
		ValueBytes   int    `json:"valueBytes"`
	} `json:"bulk"`
}

// sizes counts the keys of a write set, public and private, and the bytes
// of their keys and values (a private key counts its collection too, as the
// store files it under it).
func sizes(t appliedTx) (keys, keyBytes, valueBytes int) {
	for k, v := range t.puts {
		keys, keyBytes, valueBytes = keys+1, keyBytes+len(k), valueBytes+len(v)
	}
	for c, kv := range t.privPuts {
		for k, v := range kv {
			keys, keyBytes, valueBytes = keys+1, keyBytes+len(c)+1+len(k), valueBytes+len(v)
		}
	}
	return
}

func ratio(a, b int) int { return int(math.Round(float64(a) / float64(b))) }

// TestWriteSetShape measures the write sets of a CollectBatch and of a bulk
// RecordTrades of the in-process benchmark's size, and checks that
// bench/immudb/writeset.json holds them (go test -run TestWriteSetShape
// -update-writeset rewrites it).
func TestWriteSetShape(t *testing.T) {
	// A fixed clock and transaction IDs: timestamps and the event IDs drawn
	// from transaction IDs change in length otherwise, and the averages with
	// them.
	l := openTest(t, Config{Clock: contracttest.NewClock().Now, TxIDs: counterTxIDs("shape")})
	setupConsortium(t, l)
	var got []appliedTx
	l.onBlock = func(_ uint64, _ []byte, txs []appliedTx) { got = append(got, txs...) }

	submit(t, l, orgProvider, contract.FnCollect, collectReq("shape-1", 1), nil)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("shape-2", 2), nil)
	req := contract.BulkTradeRequest{Trades: make([]contract.TradeRequest, bulkSize)}
	prices := make([]float64, bulkSize)
	for j := range req.Trades {
		req.Trades[j] = tradeReq(fmt.Sprintf("shape-t-%d", j), "shape-1")
		prices[j] = float64(10 + j%7)
	}
	out, err := l.Submit(context.Background(), orgExchange, contract.FnTradeBulk, mustJSON(t, req), termsJSON(t, prices...))
	if err != nil {
		t.Fatal(err)
	}
	var br contract.BulkTradeResult
	if err := json.Unmarshal(out.Payload, &br); err != nil {
		t.Fatal(err)
	}
	for _, r := range br.Results {
		if r.Status != contract.BulkCommitted {
			t.Fatalf("trade %s: %s", r.TradeID, r.Status)
		}
	}
	if len(got) != 3 || len(br.Results) != bulkSize {
		t.Fatalf("%d transactions recorded (want 3), %d trades answered (want %d)", len(got), len(br.Results), bulkSize)
	}

	var s writeSetShape
	s.MeasuredBy = "TestWriteSetShape in app/ledger/embedded: the write sets (public and private keys) of a CollectBatch and of a bulk RecordTrades of contract.MaxBulkTrades trades"
	k, kb, vb := sizes(got[1]) // the second collect: the first also registers the provider's first batch
	s.Single.Function, s.Single.Keys, s.Single.KeyBytes, s.Single.ValueBytes = contract.FnCollect, k, ratio(kb, k), ratio(vb, k)
	t.Logf("CollectBatch: %d keys, %d key bytes, %d value bytes", k, kb, vb)
	k, kb, vb = sizes(got[2])
	t.Logf("RecordTrades of %d: %d keys, %d key bytes, %d value bytes", bulkSize, k, kb, vb)
	s.Bulk.Function, s.Bulk.EventsPerTx = contract.FnTradeBulk, bulkSize
	s.Bulk.KeysPerEvent, s.Bulk.KeyBytes, s.Bulk.ValueBytes = ratio(k, bulkSize), ratio(kb, k), ratio(vb, k)
	t.Logf("measured: %+v", s)

	want, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.FromSlash(writeSetShapeFile)
	if *updateWriteSet {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s no longer matches the ledger's write sets: it holds\n%s\nthe ledger writes\n%s\nrun go test ./app/ledger/embedded -run TestWriteSetShape -update-writeset and rerun the comparison", writeSetShapeFile, have, want)
	}
}
