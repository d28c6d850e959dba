package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// openFabric opens the ledger of the network that TOKENTRAIL_FABRIC_CONFIG
// configures (scripts/test-fabric.sh sets it), or skips without one.
func openFabric(t *testing.T) *Ledger {
	t.Helper()
	return openConfig(t, fabricConfig(t))
}

var errEnough = errors.New("enough")

// collectN records n batches as the provider, concurrently so that some
// share a block, and returns their transaction IDs.
func collectN(t *testing.T, l *Ledger, prefix string, n int) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	txs := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%s-%d", prefix, i)
			req := contract.CollectRequest{ID: id, Name: "events " + id, Sector: "science", Modality: "text",
				Tokens: contract.Tokens{Count: 1000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", time.Now().UnixNano()+int64(i)),
				SizeBytes: 4000, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
				LegalBasis: "contract", Purposes: []string{"research"}, Region: "CN", Source: contract.Source{Type: "synthetic"}}
			b, _ := json.Marshal(req)
			res, err := l.Submit(context.Background(), "ProviderMSP", contract.FnCollect, b, nil)
			if err != nil {
				errs <- fmt.Errorf("collect %s: %w", id, err)
				return
			}
			mu.Lock()
			txs[res.TxID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return txs
}

// TestEventsFabricResume reads the chaincode events of a real network,
// stops after a few, records more, resumes from the position after the last
// one read, and checks that the two feeds together are exactly what one
// uninterrupted feed over the same range delivers: nothing lost, nothing
// repeated, in commit order. Other writers may share the network; their
// transactions are part of both sequences alike.
func TestEventsFabricResume(t *testing.T) {
	l := openFabric(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := ledger.Position{Block: info.Height}
	prefix := fmt.Sprintf("ev%d", time.Now().UnixNano())
	first := collectN(t, l, prefix+"-a", 6)

	var part1 []ledger.Committed
	seen := 0
	err = l.Events(ctx, start, func(c ledger.Committed) error {
		part1 = append(part1, c)
		if first[c.TxID] {
			seen++
		}
		if seen == 3 { // disconnect mid-way through our writes
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("first feed: %v after %d events", err, len(part1))
	}

	second := collectN(t, l, prefix+"-b", 3)
	want := map[string]bool{}
	for tx := range first {
		want[tx] = true
	}
	for tx := range second {
		want[tx] = true
	}
	last := part1[len(part1)-1].Position
	resume := ledger.Position{Block: last.Block, Tx: last.Tx + 1}
	var part2 []ledger.Committed
	remaining := len(want) - seen
	err = l.Events(ctx, resume, func(c ledger.Committed) error {
		part2 = append(part2, c)
		if want[c.TxID] {
			remaining--
		}
		if remaining == 0 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("resumed feed: %v after %d events, %d of ours missing", err, len(part2), remaining)
	}
	got := append(append([]ledger.Committed{}, part1...), part2...)
	end := got[len(got)-1].Position

	var whole []ledger.Committed
	err = l.Events(ctx, start, func(c ledger.Committed) error {
		whole = append(whole, c)
		if c.Position == end {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("reference feed: %v after %d events", err, len(whole))
	}
	if len(whole) != len(got) {
		t.Fatalf("the interrupted feeds delivered %d events, one uninterrupted feed %d", len(got), len(whole))
	}
	ours := 0
	txSeen := map[string]bool{}
	for i := range whole {
		if got[i].TxID != whole[i].TxID || got[i].Position != whole[i].Position || string(got[i].Payload) != string(whole[i].Payload) {
			t.Fatalf("event %d: interrupted feeds gave %s at %+v, uninterrupted %s at %+v", i, got[i].TxID, got[i].Position, whole[i].TxID, whole[i].Position)
		}
		if i > 0 && !whole[i-1].Position.Before(whole[i].Position) {
			t.Fatalf("event %d at %+v does not follow %+v", i, whole[i].Position, whole[i-1].Position)
		}
		if txSeen[whole[i].TxID] {
			t.Fatalf("tx %s delivered twice", whole[i].TxID)
		}
		txSeen[whole[i].TxID] = true
		if want[whole[i].TxID] {
			ours++
		}
	}
	if ours != len(want) {
		t.Fatalf("%d of our %d transactions delivered", ours, len(want))
	}
	t.Logf("%d events from block %d to %+v; resumed at %+v", len(whole), start.Block, end, resume)
}
