package main

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak is the soak run of `make soak` (scripts/soak.sh), never part of
// `make test`: it runs only when TOKENTRAIL_SOAK is set. It starts the binary
// on a fresh data directory, measures its capacity for single collections
// with 64 clients in a closed loop for TOKENTRAIL_SOAK_PROBE (default 1m),
// then offers half that rate in an open loop — 80 % collections, 20 % reads
// of a batch's history and of the batch list — for TOKENTRAIL_SOAK_DURATION
// (default 30m), sampling latency percentiles, errors and the server's RSS
// every minute. The summary, a Markdown table, goes to the log and to
// TOKENTRAIL_SOAK_OUT when set.
//
// It fails only on functional grounds: an answer other than 200/201 (a 503
// at half capacity is a failure too), the server dying, or its anonymous
// memory (heap and stacks) still growing over the last third of the run
// (more than a quarter; a leak).
func TestSoak(t *testing.T) {
	if os.Getenv("TOKENTRAIL_SOAK") == "" {
		t.Skip("the soak run takes 30 minutes and more: run it with make soak")
	}
	duration := envDuration(t, "TOKENTRAIL_SOAK_DURATION", 30*time.Minute)
	probe := envDuration(t, "TOKENTRAIL_SOAK_PROBE", time.Minute)
	interval := envDuration(t, "TOKENTRAIL_SOAK_INTERVAL", time.Minute)
	s := startServer(t, buildBinary(t), t.TempDir(), "--log-level", "info")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	pid := s.cmd.Process.Pid
	var seq atomic.Int64
	collect := func() answer {
		return s.send(client, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(fmt.Sprintf("soak-%d", seq.Add(1))))
	}
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect("soak-hist"), nil)
	// mixed sends the nth request of the mix.
	mixed := func(n int64) answer {
		switch n % 10 {
		case 0:
			return s.send(client, "GET", "/api/v1/batches/soak-hist/events?pageSize=100", "RegulatorMSP", nil)
		case 5:
			return s.send(client, "GET", "/api/v1/batches?pageSize=50", "AuditorMSP", nil)
		}
		return collect()
	}

	// Capacity: the same mix from 64 clients in a closed loop.
	var done, issued atomic.Int64
	stop := time.Now().Add(probe)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if a := mixed(issued.Add(1)); a.status == 200 || a.status == 201 {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	capacity := float64(done.Load()) / probe.Seconds()
	if kb, err := rssKiB(pid); err == nil {
		t.Logf("RSS after the probe: %d MiB", kb>>10)
	}
	rate := capacity / 2
	t.Logf("capacity %.0f requests/s of the mix with 64 clients; soaking at %.0f requests/s for %v", capacity, rate, duration)
	if rate < 1 {
		t.Fatalf("capacity %.1f/s: too low to soak", capacity)
	}

	// The soak: open loop at rate, at most 512 requests outstanding.
	type sample struct {
		at                      time.Duration
		sent, ok, failed, drops int
		p50, p99, max           time.Duration
		rssMiB, anonMiB         int64
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		ok, fail  int
		failures  = map[string]int{}
		samples   []sample
	)
	slots := make(chan struct{}, 512)
	start := time.Now()
	end := start.Add(duration)
	next := start.Add(interval)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var sent, drops int
	for now := range tick.C {
		if now.After(end) {
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			drops++
			continue
		}
		sent++
		n := int64(sent)
		go func() {
			defer func() { <-slots }()
			a := mixed(n)
			mu.Lock()
			defer mu.Unlock()
			if a.status == 200 || a.status == 201 {
				ok++
				latencies = append(latencies, a.took)
				return
			}
			fail++
			failures[fmt.Sprintf("%d %v", a.status, a.err)]++
		}()
		if now.After(next) {
			next = next.Add(interval)
			kb, err := rssKiB(pid)
			if err != nil {
				t.Fatalf("the server is gone: %v\n%s", err, s.logs.String())
			}
			anon, err := anonKiB(pid)
			if err != nil {
				t.Fatalf("the server is gone: %v\n%s", err, s.logs.String())
			}
			mu.Lock()
			slices.Sort(latencies)
			smp := sample{at: now.Sub(start).Round(time.Second), sent: sent, ok: ok, failed: fail, drops: drops,
				p50: pct(latencies, 50), p99: pct(latencies, 99), rssMiB: kb >> 10, anonMiB: anon >> 10}
			if len(latencies) > 0 {
				smp.max = latencies[len(latencies)-1]
			}
			latencies, ok, fail, sent, drops = latencies[:0], 0, 0, 0, 0
			mu.Unlock()
			samples = append(samples, smp)
			t.Logf("%v: sent %d, ok %d, failed %d, dropped %d, p50 %v, p99 %v, max %v, RSS %d MiB (anonymous %d MiB)",
				smp.at, smp.sent, smp.ok, smp.failed, smp.drops, smp.p50, smp.p99, smp.max, smp.rssMiB, smp.anonMiB)
		}
	}
	for range cap(slots) { // wait for what is outstanding
		slots <- struct{}{}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Mix: 80 %% POST /batches, 10 %% GET a batch's history, 10 %% GET the batch list (pageSize 50). "+
		"Capacity (64 clients, closed loop, %v): %.0f requests/s. Offered: %.0f requests/s, open loop, for %v.\n\n", probe, capacity, rate, duration)
	b.WriteString("| minute | sent | ok | failed | dropped by the client | p50 | p99 | max | server RSS (anonymous) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, smp := range samples {
		fmt.Fprintf(&b, "| %v | %d | %d | %d | %d | %v | %v | %v | %d (%d) MiB |\n", smp.at, smp.sent, smp.ok, smp.failed, smp.drops,
			smp.p50.Round(100*time.Microsecond), smp.p99.Round(100*time.Microsecond), smp.max.Round(time.Millisecond), smp.rssMiB, smp.anonMiB)
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "\nFailures: %v\n", failures)
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("TOKENTRAIL_SOAK_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	total := 0
	for _, smp := range samples {
		total += smp.failed
	}
	if total > 0 {
		t.Errorf("%d requests failed at half capacity: %v", total, failures)
	}
	// A leak shows in the heap, not in VmRSS: that also counts the pages of
	// the ledger's bbolt file the kernel keeps mapped, which grow with the
	// file and are dropped at each remap. The heap grows with the ledger
	// too, by bbolt's map of free pages, until that settles; a leak keeps
	// growing with the requests. So the last third of the run must not add
	// more than a quarter to the anonymous memory.
	if n := len(samples); n >= 3 {
		at, last := samples[n-1-n/3], samples[n-1]
		if 4*last.anonMiB > 5*at.anonMiB {
			t.Errorf("the server's anonymous memory grew from %d MiB at %v to %d MiB at %v: still growing",
				at.anonMiB, at.at, last.anonMiB, last.at)
		}
	}
	if code, _ := s.call("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz after the soak: %d", code)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(p)/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		if n, err2 := strconv.Atoi(v); err2 == nil && n > 0 {
			return time.Duration(n) * time.Minute
		}
		t.Fatalf("%s=%q: not a duration", name, v)
	}
	return d
}
