package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokentrail/tokentrail/app/ledger"
)

func TestGate(t *testing.T) {
	g := newGate("write", 2, 1, time.Hour)
	ctx := context.Background()
	if !g.acquire(ctx, 1) || !g.acquire(ctx, 1) {
		t.Fatal("two units of two refused")
	}
	got := make(chan bool, 1)
	go func() { got <- g.acquire(ctx, 1) }() // waits in line
	waitFor(t, func() bool { _, q := g.inUse(); return q == 1 })
	if g.acquire(ctx, 1) {
		t.Fatal("a request beyond the slots and the line was admitted")
	}
	g.release(1)
	if !<-got {
		t.Fatal("the waiting request was refused after a slot freed")
	}
	if used, q := g.inUse(); used != 2 || q != 0 {
		t.Fatalf("in use %d, waiting %d; want 2, 0", used, q)
	}

	// A weight over the capacity takes the whole gate rather than never.
	g.release(2)
	if !g.acquire(ctx, 5) {
		t.Fatal("a request heavier than the gate was refused on an empty gate")
	}
	g.release(5)
	if used, _ := g.inUse(); used != 0 {
		t.Fatalf("in use %d after every release", used)
	}

	// The wait is bounded, and so is a cancelled request's.
	short := newGate("read", 1, 5, 20*time.Millisecond)
	short.acquire(ctx, 1)
	if short.acquire(ctx, 1) {
		t.Fatal("admitted while the only slot is held")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	long := newGate("read", 1, 5, time.Hour)
	long.acquire(ctx, 1)
	if long.acquire(cctx, 1) {
		t.Fatal("a cancelled request was admitted")
	}
	if _, q := long.inUse(); q != 0 {
		t.Fatalf("%d left in line after giving up", q)
	}
}

// TestGateFairUnderLoad lets many goroutines through a small gate and checks
// that it never holds more than its capacity and ends empty.
func TestGateFairUnderLoad(t *testing.T) {
	g := newGate("write", 3, 1000, time.Minute)
	var mu sync.Mutex
	cur, peak := int64(0), int64(0)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(1 + i%2)
			if !g.acquire(context.Background(), n) {
				t.Error("refused with room in line")
				return
			}
			mu.Lock()
			cur += n
			peak = max(peak, cur)
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			cur -= n
			mu.Unlock()
			g.release(n)
		}()
	}
	wg.Wait()
	if peak > 3 {
		t.Fatalf("%d units held at once through a gate of 3", peak)
	}
	if used, q := g.inUse(); used != 0 || q != 0 {
		t.Fatalf("in use %d, waiting %d after all left", used, q)
	}
}

// slowLedger holds every Submit until release is closed.
type slowLedger struct {
	*memLedger
	entered chan struct{}
	release chan struct{}
}

func (l *slowLedger) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	l.entered <- struct{}{}
	<-l.release
	return l.memLedger.Submit(ctx, org, fn, args, transient)
}

// TestWritesBeyondTheLimitAnswer503 fills the one write slot with a write
// the ledger holds: the next write is answered 503 with Retry-After at once
// and never reaches the ledger, reads go on, and once the slot frees writes
// are taken again.
func TestWritesBeyondTheLimitAnswer503(t *testing.T) {
	e := newEnv(t)
	e.collected("b")
	slow := &slowLedger{memLedger: e.led, entered: make(chan struct{}, 10), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Ledger: slow, Auth: e.srv.auth, MaxInflightWrites: 1, MaxQueuedWrites: -1, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv

	held := make(chan *httptest.ResponseRecorder, 1)
	go func() { held <- e.do("POST", "/api/v1/batches/b/freeze", regulator, map[string]any{"reason": "held"}) }()
	<-slow.entered
	submits := e.led.submits.Load()

	start := time.Now()
	rec := e.do("POST", "/api/v1/batches", provider, collectBody("refused"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("a write beyond the limit: %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the refusal took %v", waited)
	}
	if p := problemOf(t, rec); !strings.Contains(p.Detail, "concurrent writes") {
		t.Errorf("detail %q does not say why", p.Detail)
	}
	if e.led.submits.Load() != submits {
		t.Error("the refused write reached the ledger")
	}
	// A bulk request is refused too; reads have their own slots.
	if rec := e.do("POST", "/api/v1/trades:bulk", exchange, map[string]any{"trades": []any{tradeBodyFor("x", "b", 1)}}); rec.Code != 503 {
		t.Errorf("bulk beyond the limit: %d", rec.Code)
	}
	e.must(200, "GET", "/api/v1/batches/b", regulator, nil, nil)

	close(slow.release)
	if rec := <-held; rec.Code != 200 {
		t.Fatalf("the held write: %d %s", rec.Code, rec.Body.String())
	}
	e.must(201, "POST", "/api/v1/batches", provider, collectBody("taken"), nil)
	if m := e.do("GET", "/metrics", "", nil).Body.String(); !strings.Contains(m, `tokentrail_http_busy_total{kind="write"} 2`) {
		t.Errorf("metrics lack two refused writes")
	}
}

// TestReadsBeyondTheLimitAnswer503 does the same for reads, with a line of
// one: the second read waits its turn, the third is refused.
func TestReadsBeyondTheLimitAnswer503(t *testing.T) {
	e := newEnv(t)
	hold := &holdingEvaluate{memLedger: e.led, entered: make(chan struct{}, 10), release: make(chan struct{})}
	srv, err := New(Config{Ledger: hold, Auth: e.srv.auth, MaxInflightReads: 1, MaxQueuedReads: 1, QueueWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	answers := make(chan int, 2)
	for range 2 {
		go func() { answers <- e.do("GET", "/api/v1/batches", regulator, nil).Code }()
	}
	<-hold.entered // one read runs, the other waits for it
	waitFor(t, func() bool { _, q := srv.reads.inUse(); return q == 1 })
	rec := e.do("GET", "/api/v1/participants", consumer, nil)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a read beyond the limit: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	problemOf(t, rec)
	close(hold.release)
	for range 2 {
		if code := <-answers; code != 200 {
			t.Fatalf("an admitted read: %d", code)
		}
	}
}

type holdingEvaluate struct {
	*memLedger
	entered chan struct{}
	release chan struct{}
}

func (l *holdingEvaluate) Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error) {
	l.entered <- struct{}{}
	<-l.release
	return l.memLedger.Evaluate(ctx, org, fn, args)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
