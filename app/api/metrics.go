package api

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/service"
)

// Metrics are the server's Prometheus metrics, registered on a registry of
// the caller's (never the global default one).
type Metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	commit       *prometheus.HistogramVec
	submits      *prometheus.CounterVec
	height       prometheus.Gauge
	bulkRejected prometheus.Counter
	busy         *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them, with the Go runtime and
// process collectors, on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokentrail_http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokentrail_http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokentrail_ledger_commit_duration_seconds",
			Help:    "Time from submitting a write to the ledger until it is committed, by contract function.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"fn"}),
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokentrail_ledger_submits_total",
			Help: "Writes submitted to the ledger by contract function and outcome (committed, refused by the contract, error).",
		}, []string{"fn", "outcome"}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokentrail_ledger_block_height",
			Help: "Height of the ledger (number of blocks) as last seen by this server.",
		}),
		bulkRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokentrail_bulk_trades_rejected_total",
			Help: "Trades of bulk requests that were not recorded.",
		}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokentrail_http_busy_total",
			Help: "Requests answered 503 at once because the server's concurrent reads or writes (kind) and their queue were full.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.commit, m.submits, m.height, m.bulkRejected, m.busy,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, s).Inc()
	m.latency.WithLabelValues(route, method, s).Observe(d.Seconds())
}

func (m *Metrics) observeBusy(kind string) {
	if m == nil {
		return
	}
	m.busy.WithLabelValues(kind).Inc()
}

// instrumented wraps a ledger to time commits and follow the block height.
type instrumented struct {
	service.Ledger
	m *Metrics
}

func (l instrumented) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	start := time.Now()
	res, err := l.Ledger.Submit(ctx, org, fn, args, transient)
	switch {
	case err == nil:
		l.m.commit.WithLabelValues(fn).Observe(time.Since(start).Seconds())
		l.m.submits.WithLabelValues(fn, "committed").Inc()
		l.m.height.Set(float64(res.Block + 1))
	default:
		outcome := "error"
		if _, ok := service.ContractError(err); ok {
			outcome = "refused"
		}
		l.m.submits.WithLabelValues(fn, outcome).Inc()
	}
	return res, err
}

func (l instrumented) Info(ctx context.Context) (ledger.Info, error) {
	info, err := l.Ledger.Info(ctx)
	if err == nil {
		l.m.height.Set(float64(info.Height))
	}
	return info, err
}
