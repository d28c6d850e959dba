package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the admission limits (see [Config] and docs/operations.md).
const (
	DefaultMaxInflightWrites = 128
	DefaultMaxQueuedWrites   = 512
	DefaultMaxInflightReads  = 256
	DefaultMaxQueuedReads    = 1024
	DefaultQueueWait         = 2 * time.Second
)

// bulkWeight is how many write slots one bulk request takes: its body limit
// is eight times a single write's, so memory stays bounded by the slots.
const bulkWeight = MaxBulkBody / MaxBody

// busyRetryAfter is the Retry-After (seconds) of an answer refused for want
// of a slot: slots free within milliseconds to seconds.
const busyRetryAfter = 1

// gate is a weighted semaphore with a bounded wait list: at most capacity
// units run at once, at most maxQueued requests wait for units, in arrival
// order, and none waits longer than wait. Whatever finds both full is
// refused at once, so no request piles up behind a slow ledger.
type gate struct {
	name      string // "write" or "read", for messages
	capacity  int64
	maxQueued int
	wait      time.Duration

	mu      sync.Mutex
	used    int64
	waiters []*waiter // FIFO
}

type waiter struct {
	n     int64
	ready chan struct{} // closed when the units are granted
}

func newGate(name string, capacity, maxQueued int, wait time.Duration) *gate {
	return &gate{name: name, capacity: int64(capacity), maxQueued: maxQueued, wait: wait}
}

// acquire takes n units (at most the capacity), waiting in line when there
// is room in the line. It reports false when the request must be refused:
// the line is full, the wait ran out, or ctx ended while waiting.
func (g *gate) acquire(ctx context.Context, n int64) bool {
	n = min(n, g.capacity)
	g.mu.Lock()
	if len(g.waiters) == 0 && g.used+n <= g.capacity {
		g.used += n
		g.mu.Unlock()
		return true
	}
	if len(g.waiters) >= g.maxQueued {
		g.mu.Unlock()
		return false
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.ready: // granted while giving up: give the units back
		g.used -= w.n
	default:
		for i, x := range g.waiters {
			if x == w {
				g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
				break
			}
		}
	}
	g.grant()
	return false
}

// release gives back n units taken by acquire.
func (g *gate) release(n int64) {
	n = min(n, g.capacity)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.used -= n
	g.grant()
}

// grant hands free units to the waiters at the head of the line. g.mu is held.
func (g *gate) grant() {
	for len(g.waiters) > 0 {
		w := g.waiters[0]
		if g.used+w.n > g.capacity {
			return
		}
		g.used += w.n
		g.waiters = g.waiters[1:]
		close(w.ready)
	}
}

// inUse returns the units taken and the requests waiting.
func (g *gate) inUse() (int64, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used, len(g.waiters)
}

// admit holds n units of g while the request runs, or answers 503 with
// Retry-After at once when g refuses it.
func (s *Server) admit(g *gate, n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !g.acquire(c.Request().Context(), n) {
				s.metrics.observeBusy(g.name)
				c.Response().Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
				return statusError(http.StatusServiceUnavailable,
					"the server is at its limit of concurrent %ss; retry after the time in Retry-After", g.name)
			}
			defer g.release(n)
			return next(c)
		}
	}
}

// setupAdmission builds the server's write and read gates from cfg and, when
// cfg has a registry, exports how full they are.
func (s *Server) setupAdmission(cfg Config) error {
	orDefault := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	wait := cfg.QueueWait
	if wait <= 0 {
		wait = DefaultQueueWait
	}
	s.writes = newGate("write", max(1, orDefault(cfg.MaxInflightWrites, DefaultMaxInflightWrites)),
		orDefault(cfg.MaxQueuedWrites, DefaultMaxQueuedWrites), wait)
	s.reads = newGate("read", max(1, orDefault(cfg.MaxInflightReads, DefaultMaxInflightReads)),
		orDefault(cfg.MaxQueuedReads, DefaultMaxQueuedReads), wait)
	if cfg.Registry == nil {
		return nil
	}
	for _, g := range []*gate{s.writes, s.reads} {
		inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokentrail_http_inflight_units", ConstLabels: prometheus.Labels{"kind": g.name},
			Help: "Slots of concurrent requests in use, by kind (a bulk write takes several).",
		}, func() float64 { n, _ := g.inUse(); return float64(n) })
		queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokentrail_http_queued_requests", ConstLabels: prometheus.Labels{"kind": g.name},
			Help: "Requests waiting for a slot, by kind.",
		}, func() float64 { _, n := g.inUse(); return float64(n) })
		for _, c := range []prometheus.Collector{inflight, queued} {
			if err := cfg.Registry.Register(c); err != nil {
				return err
			}
		}
	}
	return nil
}
