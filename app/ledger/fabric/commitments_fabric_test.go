package fabric

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// hashedWrites returns the hashed private writes (key hash → value hash) of
// the collection in the receipt's own transaction, read from the block the
// receipt carries, as any channel member reads it from its peer.
func hashedWrites(t *testing.T, raw []byte) map[[32]byte][]byte {
	t.Helper()
	var r receipt.Receipt
	if err := json.Unmarshal(raw, &r); err != nil || r.Fabric == nil {
		t.Fatalf("receipt: %v", err)
	}
	un := func(what string, b []byte, m proto.Message) {
		t.Helper()
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var env common.Envelope
	un("envelope", r.Fabric.Data[r.Fabric.TxIndex], &env)
	var pl common.Payload
	un("payload", env.Payload, &pl)
	var tx peer.Transaction
	un("transaction", pl.Data, &tx)
	var cap peer.ChaincodeActionPayload
	un("action payload", tx.Actions[0].Payload, &cap)
	var prp peer.ProposalResponsePayload
	un("proposal response", cap.Action.ProposalResponsePayload, &prp)
	var act peer.ChaincodeAction
	un("chaincode action", prp.Extension, &act)
	var rws rwset.TxReadWriteSet
	un("rwset", act.Results, &rws)
	out := map[[32]byte][]byte{}
	for _, ns := range rws.NsRwset {
		for _, c := range ns.CollectionHashedRwset {
			if c.CollectionName != contract.TermsCollection {
				continue
			}
			var h kvrwset.HashedRWSet
			un("hashed rwset", c.HashedRwset, &h)
			for _, w := range h.HashedWrites {
				var k [32]byte
				copy(k[:], w.KeyHash)
				out[k] = w.ValueHash
			}
		}
	}
	return out
}

// TestFabricCommitments: a channel member reads the block of a trade and
// enumerates prices against the hashed private write set; nothing confirms,
// while the same enumeration recovers the price of an unsalted value. Two
// trades with identical terms commit to unrelated hashes.
func TestFabricCommitments(t *testing.T) {
	cfg := fabricConfig(t)
	l := openConfig(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := fmt.Sprintf("cm%d", time.Now().UnixNano())
	batch := run + "-b"
	if err := collectBatch(ctx, l, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := assessBatch(ctx, l, "AuditorMSP", batch, "commitments test", 80); err != nil {
		t.Fatal(err)
	}
	svc := service.New(l, nil)
	terms := contract.Terms{UnitPrice: 12.34, Currency: "CNY", PriceUnit: "1M tokens"} // no settlementRef
	var writes []map[[32]byte][]byte
	var events []*contract.Event
	for i := range 2 {
		w, err := svc.Trade(ctx, "ExchangeMSP", contract.TradeRequest{TradeID: fmt.Sprintf("%s-t%d", run, i), BatchID: batch,
			Seller: "ProviderMSP", Buyer: "ConsumerMSP", Tokens: 10_000, Rights: "licence", Purposes: []string{"research"}}, terms)
		if err != nil {
			t.Fatal(err)
		}
		if w.Receipt == nil {
			t.Fatalf("trade %d has no receipt: %s", i, w.ReceiptWithheld)
		}
		writes = append(writes, hashedWrites(t, w.Receipt.Bytes()))
		events = append(events, w.Event)
	}
	for i, ws := range writes {
		if len(ws) != 2 {
			t.Fatalf("trade %d: %d hashed private writes, want terms and price point", i, len(ws))
		}
		// The keys are public: SHA-256 of terms/<exchange>/<tradeId>.
		if _, ok := ws[sha256.Sum256([]byte(fmt.Sprintf("terms/ExchangeMSP/%s-t%d", run, i)))]; !ok {
			t.Fatalf("trade %d: the terms key hash is not SHA-256 of its key", i)
		}
	}
	seen := map[string]bool{}
	for _, ws := range writes {
		for _, v := range ws {
			if seen[string(v)] {
				t.Fatal("two trades with identical terms share a private value hash")
			}
			seen[string(v)] = true
		}
	}

	// The attacker's candidates: the unsalted shapes of format version 1,
	// everything public but the price.
	type v1Point struct {
		Sector    string  `json:"sector"`
		Modality  string  `json:"modality"`
		Currency  string  `json:"currency"`
		UnitPrice float64 `json:"unitPrice"`
		Tokens    int64   `json:"tokens"`
		Quality   float64 `json:"quality"`
		Time      string  `json:"time"`
	}
	enumerate := func(targets map[string]bool, ev *contract.Event) int {
		for cents := 0; cents <= 20_000; cents++ {
			tm := terms
			tm.UnitPrice = float64(cents) / 100
			a, _ := json.Marshal(tm)
			b, _ := json.Marshal(v1Point{"science", "text", "CNY", tm.UnitPrice, 10_000, 80, ev.Timestamp})
			for _, c := range [][]byte{a, b} {
				if sum := sha256.Sum256(c); targets[string(sum[:])] {
					return cents
				}
			}
		}
		return -1
	}
	unsalted, _ := json.Marshal(terms)
	sum := sha256.Sum256(unsalted)
	if got := enumerate(map[string]bool{string(sum[:]): true}, events[0]); got != 1234 {
		t.Fatalf("the enumeration fails even against an unsalted value (found %d): it proves nothing", got)
	}
	if got := enumerate(seen, events[0]); got >= 0 {
		t.Fatalf("a channel member confirmed the price %d cents from the block", got)
	}
	if got := enumerate(seen, events[1]); got >= 0 {
		t.Fatalf("a channel member confirmed the price %d cents from the block", got)
	}

	// Receipts by role: those who read every batch get the whole block and
	// it verifies; the processor, who may not read the batch, is refused
	// with the reason; the buyer gets it only when its block holds nothing
	// else it may not read.
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"RegulatorMSP", "ExchangeMSP", "AuditorMSP", "ProcessorMSP", "ConsumerMSP", "ProviderMSP"} {
		raw, err := svc.Receipt(ctx, org, events[0].EventID)
		var ce *contract.Error
		if ce2, ok := service.ContractError(err); ok && ce2.Kind == contract.KindNotFound {
			// An event of a batch the caller may not read is answered as
			// missing (the access policy), which only the processor is here.
			if org != "ProcessorMSP" {
				t.Fatalf("%s was told the event is missing: %v", org, err)
			}
			t.Logf("%s: %s", org, ce2.Detail)
			continue
		}
		switch {
		case err == nil:
			if org == "ProcessorMSP" {
				t.Fatalf("the processor, who may not read the batch, got its receipt")
			}
			if _, err := receipt.Verify(raw, []byte(info.TrustAnchor)); err != nil {
				t.Fatalf("%s's receipt does not verify: %v", org, err)
			}
		case errors.As(err, &ce) && ce.Kind == contract.KindForbidden:
			if org == "RegulatorMSP" || org == "ExchangeMSP" || org == "AuditorMSP" {
				t.Fatalf("%s was refused: %v", org, err)
			}
			if org != "ProcessorMSP" && !strings.Contains(ce.Detail, "whole block") {
				t.Fatalf("%s refused without the reason: %v", org, err)
			}
			t.Logf("%s: %s", org, ce.Detail)
		default:
			if ce2, ok := service.ContractError(err); ok && ce2.Kind == contract.KindForbidden {
				if org == "RegulatorMSP" || org == "ExchangeMSP" || org == "AuditorMSP" {
					t.Fatalf("%s was refused: %v", org, err)
				}
				t.Logf("%s: %s", org, ce2.Detail)
				continue
			}
			t.Fatalf("%s: %v", org, err)
		}
	}

	// A bulk transaction with a trade the consumer may not read: its block
	// is refused to the consumer, and given to the regulator.
	other := run + "-other"
	if err := collectBatch(ctx, l, other); err != nil {
		t.Fatal(err)
	}
	if _, err := assessBatch(ctx, l, "AuditorMSP", other, "commitments test", 80); err != nil {
		t.Fatal(err)
	}
	tr := func(id, b, buyer string) contract.TradeRequest {
		return contract.TradeRequest{TradeID: id, BatchID: b, Seller: "ProviderMSP", Buyer: buyer, Tokens: 10_000, Rights: "licence", Purposes: []string{"research"}}
	}
	bulk, err := svc.TradeBulk(ctx, "ExchangeMSP", []contract.TradeRequest{tr(run+"-b1", batch, "ConsumerMSP"), tr(run+"-b2", other, "ProcessorMSP")},
		[]contract.Terms{terms, terms})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range bulk.Results {
		if it.Status != contract.BulkCommitted {
			t.Fatalf("bulk: %+v", bulk.Results)
		}
	}
	if _, err := svc.Receipt(ctx, "ConsumerMSP", bulk.Results[0].EventID); err == nil {
		t.Fatal("the consumer got a Fabric receipt whose block holds a trade of a batch it may not read")
	} else if ce, ok := service.ContractError(err); !ok || ce.Kind != contract.KindForbidden {
		t.Fatalf("consumer: %v", err)
	}
	raw, err := svc.Receipt(ctx, "RegulatorMSP", bulk.Results[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := receipt.Verify(raw, []byte(info.TrustAnchor)); err != nil || len(p.Events) != 2 {
		t.Fatalf("regulator's bulk receipt: %v", err)
	}
}
