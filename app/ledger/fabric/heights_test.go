package fabric

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestHeightsHungPeer: a peer whose block stream is open but silent (a hung
// or cut-off peer keeps its connection) holds up one write for the patience,
// not every write after it; once it holds as many blocks as the others,
// writes wait for it again.
func TestHeightsHungPeer(t *testing.T) {
	l := &Ledger{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		byPeer: []*orgGateway{{peer: "a"}, {peer: "b"}, {peer: "hung"}}}
	h := newHeights(l)
	h.patience = 200 * time.Millisecond
	h.start.Do(func() {}) // the streams are played by hand
	for _, p := range []string{"a", "b", "hung"} {
		h.set(p, 10, false)
	}
	wait := func(block uint64) time.Duration {
		t0 := time.Now()
		h.wait(context.Background(), block)
		return time.Since(t0)
	}

	// Block 10 reaches a and b only: the first write waits the patience.
	h.set("a", 11, false)
	h.set("b", 11, false)
	if d := wait(10); d < h.patience {
		t.Fatalf("the first write waited %v for the hung peer, want the patience %v", d, h.patience)
	}
	// The next ones do not wait for it.
	h.set("a", 12, false)
	h.set("b", 12, false)
	if d := wait(11); d >= h.patience {
		t.Fatalf("a later write waited %v for a peer already found lagging", d)
	}
	// Half-way is not caught up.
	h.set("hung", 11, false)
	if d := wait(11); d >= h.patience {
		t.Fatalf("a write waited %v for a peer still behind the others", d)
	}
	// Caught up: writes wait for it again, and it answers.
	h.set("hung", 12, false)
	done := make(chan time.Duration)
	go func() { done <- wait(12) }()
	time.Sleep(50 * time.Millisecond)
	h.set("a", 13, false)
	h.set("b", 13, false)
	select {
	case d := <-done:
		t.Fatalf("a write returned after %v without the caught-up peer holding its block", d)
	case <-time.After(50 * time.Millisecond):
	}
	h.set("hung", 13, false)
	if d := <-done; d >= h.patience {
		t.Fatalf("a write waited %v for a caught-up peer that holds its block", d)
	}

	// A caller's own deadline marks no one lagging.
	h.set("a", 14, false)
	h.set("b", 14, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	h.wait(ctx, 13)
	h.mu.Lock()
	lag := h.lagging["hung"]
	h.mu.Unlock()
	if lag {
		t.Fatal("a write whose caller gave up marked the peer lagging")
	}
}
