// Package immudb compares the embedded ledger's durable write rate with
// immudb's embedded store (github.com/codenotary/immudb/embedded/store) on
// the same write sets: the same number of keys per transaction and per
// event, of the same key and value sizes, from the same number of concurrent
// committers. It is a Go module of its own so that the product's go.mod
// does not carry immudb. See docs/benchmarks.md, "immudb comparison".
package immudb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/codenotary/immudb/embedded/logger"
	"github.com/codenotary/immudb/embedded/store"
)

// Shape is the write set the benchmarks write, measured from real
// tokentrail transactions by the embedded ledger's TestWriteSetShape, which
// writes writeset.json and fails when the ledger's write sets no longer
// match it.
type Shape struct {
	MeasuredBy string `json:"measuredBy"`
	// Single is one CollectBatch transaction (one COLLECTED event).
	Single TxShape `json:"single"`
	// Bulk is one RecordTrades transaction of EventsPerTx trades.
	Bulk BulkShape `json:"bulk"`
}

// TxShape is one transaction's write set: Keys keys (public and private)
// whose keys and values are on average KeyBytes and ValueBytes long.
type TxShape struct {
	Function   string `json:"function"`
	Keys       int    `json:"keys"`
	KeyBytes   int    `json:"keyBytes"`
	ValueBytes int    `json:"valueBytes"`
}

// BulkShape is a bulk transaction's write set: KeysPerEvent keys per event.
type BulkShape struct {
	Function     string `json:"function"`
	EventsPerTx  int    `json:"eventsPerTx"`
	KeysPerEvent int    `json:"keysPerEvent"`
	KeyBytes     int    `json:"keyBytes"`
	ValueBytes   int    `json:"valueBytes"`
}

func loadShape(b *testing.B) Shape {
	b.Helper()
	raw, err := os.ReadFile("writeset.json")
	if err != nil {
		b.Fatal(err)
	}
	var s Shape
	if err := json.Unmarshal(raw, &s); err != nil {
		b.Fatalf("writeset.json: %v", err)
	}
	if s.Single.Keys <= 0 || s.Single.KeyBytes <= 0 || s.Single.ValueBytes <= 0 ||
		s.Bulk.EventsPerTx <= 0 || s.Bulk.KeysPerEvent <= 0 || s.Bulk.KeyBytes <= 0 || s.Bulk.ValueBytes <= 0 {
		b.Fatalf("writeset.json holds no complete shape: %+v", s)
	}
	return s
}

// openStore opens a fresh store in a temporary directory with immudb's
// defaults, durable ones included (Synced: every commit is fsynced before it
// returns). Only two limits are raised so that the workload fits at all:
// the entries of one transaction (1,024 by default; a bulk transaction has
// thousands) and the committers at once (30 by default; the single-event
// benchmark has 64).
func openStore(b *testing.B, maxTxEntries, committers int) *store.ImmuStore {
	b.Helper()
	opts := store.DefaultOptions().
		WithLogger(logger.NewSimpleLogger("immudb ", io.Discard)).
		WithMaxTxEntries(max(maxTxEntries, store.DefaultMaxTxEntries)).
		WithMaxConcurrency(max(committers, store.DefaultMaxConcurrency))
	if !opts.Synced {
		b.Fatal("immudb's default options are no longer synced: the comparison would not be durable")
	}
	st, err := store.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	return st
}

// key returns a unique key of exactly n bytes for writer w, transaction i,
// entry j: a readable prefix, then padding.
func key(n int, w, i, j int64) []byte {
	k := fmt.Appendf(make([]byte, 0, n), "k/%d/%012d/%06d/", w, i, j)
	for len(k) < n {
		k = append(k, 'x')
	}
	return k[:n]
}

// values returns count pseudo-random values of n bytes (incompressible, as
// neither store compresses).
func values(count, n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, count)
	for i := range out {
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		out[i] = v
	}
	return out
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// commit writes one transaction of the given entries and waits until it is
// durable and indexed (readable), as a tokentrail Submit returns only once
// its block is durable and its state readable.
func commit(ctx context.Context, st *store.ImmuStore, keys, vals [][]byte) error {
	tx, err := st.NewWriteOnlyTx(ctx)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := tx.Set(k, nil, vals[i]); err != nil {
			tx.Cancel()
			return err
		}
	}
	_, err = tx.Commit(ctx)
	return err
}

func report(b *testing.B, elapsed, cpu time.Duration, events int) {
	b.Helper()
	b.StopTimer()
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(events), "cpu-µs/event")
}

// BenchmarkImmudbSingleEvent mirrors the embedded ledger's
// BenchmarkSubmitSingleEvent: 64 concurrent committers (parallelism 32 ×
// GOMAXPROCS 2), each op one transaction of a CollectBatch's write set.
func BenchmarkImmudbSingleEvent(b *testing.B) {
	sh := loadShape(b).Single
	const parallelism = 32
	st := openStore(b, sh.Keys, parallelism*runtime.GOMAXPROCS(0))
	vals := values(sh.Keys, sh.ValueBytes)
	ctx := context.Background()
	var n, w atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		me := w.Add(1)
		keys := make([][]byte, sh.Keys)
		for pb.Next() {
			i := n.Add(1)
			for j := range keys {
				keys[j] = key(sh.KeyBytes, me, i, int64(j))
			}
			if err := commit(ctx, st, keys, vals); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed, used := time.Since(start), cpuTime(b)-cpu
	if got := st.TxCount(); got != uint64(b.N) {
		b.Fatalf("%d transactions committed, %d submitted", got, b.N)
	}
	report(b, elapsed, used, b.N)
}

// BenchmarkImmudbBulk mirrors the embedded ledger's BenchmarkSubmitBulkTrades:
// 4 concurrent committers (parallelism 2 × GOMAXPROCS 2), each op one
// transaction of EventsPerTx events of KeysPerEvent keys each.
func BenchmarkImmudbBulk(b *testing.B) {
	sh := loadShape(b).Bulk
	entries := sh.EventsPerTx * sh.KeysPerEvent
	const parallelism = 2
	st := openStore(b, entries, parallelism*runtime.GOMAXPROCS(0))
	vals := values(entries, sh.ValueBytes)
	ctx := context.Background()
	var n, w atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		me := w.Add(1)
		keys := make([][]byte, entries)
		for pb.Next() {
			i := n.Add(1)
			for j := range keys {
				keys[j] = key(sh.KeyBytes, me, i, int64(j))
			}
			if err := commit(ctx, st, keys, vals); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed, used := time.Since(start), cpuTime(b)-cpu
	if got := st.TxCount(); got != uint64(b.N) {
		b.Fatalf("%d transactions committed, %d submitted", got, b.N)
	}
	report(b, elapsed, used, b.N*sh.EventsPerTx)
}
