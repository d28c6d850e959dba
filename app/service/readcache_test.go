package service

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func TestReadableCacheSharesOneEvaluation(t *testing.T) {
	c := newReadableCache()
	var asked atomic.Int32
	release := make(chan struct{})
	ask := func() (any, error) {
		asked.Add(1)
		<-release
		return &contract.ReadableEvents{Readable: []string{"e1"}}, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.get(context.Background(), "ProviderMSP", "fabric-block/7", ask)
			if rd, _ := v.(*contract.ReadableEvents); err != nil || rd == nil || len(rd.Readable) != 1 {
				t.Errorf("got %v, %v", v, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := asked.Load(); n != 1 {
		t.Fatalf("20 receipts of one block asked %d times, want once", n)
	}
	// Another caller, or another block, asks again.
	if _, err := c.get(context.Background(), "ConsumerMSP", "fabric-block/7", ask); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(context.Background(), "ProviderMSP", "fabric-block/8", ask); err != nil {
		t.Fatal(err)
	}
	if n := asked.Load(); n != 3 {
		t.Fatalf("asked %d times, want 3", n)
	}
}

func TestReadableCacheExpiresAndKeepsNoError(t *testing.T) {
	c := newReadableCache()
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	calls := 0
	fail := true
	ask := func() (any, error) {
		calls++
		if fail {
			return nil, errors.New("peer down")
		}
		return "", nil
	}
	if _, err := c.get(context.Background(), "AuditorMSP", "b", ask); err == nil {
		t.Fatal("the error was not returned")
	}
	fail = false
	if _, err := c.get(context.Background(), "AuditorMSP", "b", ask); err != nil || calls != 2 {
		t.Fatalf("an error was kept: calls %d, err %v", calls, err)
	}
	c.markReadsAll("AuditorMSP")
	if !c.readsAll("AuditorMSP") || c.readsAll("ConsumerMSP") {
		t.Fatal("readsAll is not remembered for the caller it was marked for")
	}
	now = now.Add(readableTTL)
	if c.readsAll("AuditorMSP") {
		t.Fatal("readsAll outlived its TTL")
	}
	if _, err := c.get(context.Background(), "AuditorMSP", "b", ask); err != nil || calls != 3 {
		t.Fatalf("an expired answer was reused: calls %d", calls)
	}
}
