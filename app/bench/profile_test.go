package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// Drivers for profiling the app under the load generator, in one process
// (server and clients both show in the profile; focus on app/api,
// app/service, app/ledger and chaincode/contract to see the server's share):
//
//	go test ./app/bench -run '^$' -bench HTTPCollect -benchtime 20000x -cpuprofile cpu.out -memprofile mem.out
//	go tool pprof -top -focus 'app/(api|service|ledger)|chaincode' app/bench.test cpu.out
//
// TOKENTRAIL_BENCH_CLIENTS sets the clients (default 64). The read drivers
// preload TOKENTRAIL_BENCH_EVENTS events first (default 20,000), untimed.

func benchClients() int {
	if n, err := strconv.Atoi(os.Getenv("TOKENTRAIL_BENCH_CLIENTS")); err == nil && n > 0 {
		return n
	}
	return 64
}

func benchHTTP(b *testing.B, scenario string, preloadEvents int) {
	url, keys := testServer(b)
	base := Config{URL: url, Keys: keys, Clients: benchClients(), BulkSize: 1000, BulkChunk: 250, Prefix: "pl",
		Events: 1, ValueSize: 1, Timeout: time.Minute}
	if preloadEvents > 0 {
		c := base
		c.Scenario, c.Events, c.Clients = ScPreload, preloadEvents, 4
		if err := c.validate(); err != nil {
			b.Fatal(err)
		}
		if _, err := Run(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	c := base
	c.Scenario, c.Requests = scenario, b.N
	if err := c.validate(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := Run(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if len(res.Errors) != 0 {
		b.Fatalf("errors: %v", res.Errors)
	}
	b.ReportMetric(res.RequestsPerS, "req/s")
	if res.EventsPerS > 0 {
		b.ReportMetric(res.EventsPerS, "events/s")
	}
	b.ReportMetric(res.LatencyMS.P50, "p50-ms")
	b.ReportMetric(res.LatencyMS.P99, "p99-ms")
}

func BenchmarkHTTPCollect(b *testing.B) { benchHTTP(b, ScCollect, 0) }
func BenchmarkHTTPTrade(b *testing.B)   { benchHTTP(b, ScTrade, 0) }
func BenchmarkHTTPBulk(b *testing.B)    { benchHTTP(b, ScBulk, 0) }
func BenchmarkHTTPHistory(b *testing.B) { benchHTTP(b, ScHistory, preloadEvents()) }
func BenchmarkHTTPLineage(b *testing.B) { benchHTTP(b, ScLineage, preloadEvents()) }

func preloadEvents() int {
	if n, err := strconv.Atoi(os.Getenv("TOKENTRAIL_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 20_000
}
