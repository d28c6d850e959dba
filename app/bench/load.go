package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// checkLoopbackURL accepts http(s) URLs whose host is a loopback IP or
// "localhost".
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--url must be http:// or https://, got %q", raw)
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--url %s is not a loopback address: the load generator only talks to 127.0.0.1, ::1 or localhost", raw)
}

// loopbackOnly refuses any connection to an address that is not loopback,
// whatever a name resolved to.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// client talks to the API: one transport, connections kept alive and reused.
type client struct {
	base    string
	keys    map[string]string // MSP ID → API key
	hc      *http.Client
	tr      *http.Transport
	timeout time.Duration
}

func newClient(c Config) (*client, error) {
	b, err := os.ReadFile(c.Keys)
	if err != nil {
		return nil, fmt.Errorf("--keys: %w", err)
	}
	var creds auth.DevCredentials
	if err := json.Unmarshal(b, &creds); err != nil {
		return nil, fmt.Errorf("--keys %s: %w", c.Keys, err)
	}
	keys := map[string]string{}
	for _, o := range creds.Organizations {
		keys[o.MSPID] = o.APIKey
	}
	for _, org := range []string{orgRegulator, orgProvider, orgExchange, orgAuditor} {
		if keys[org] == "" {
			return nil, fmt.Errorf("--keys %s has no key for %s", c.Keys, org)
		}
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        2 * MaxClients,
		MaxIdleConnsPerHost: 2 * MaxClients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &client{base: strings.TrimSuffix(c.URL, "/"), keys: keys, tr: tr,
		hc: &http.Client{Transport: tr, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}, timeout: c.Timeout}, nil
}

func (cl *client) close() { cl.tr.CloseIdleConnections() }

// do sends one request as org and returns the status and the body.
func (cl *client) do(ctx context.Context, method, path, org string, body []byte) (int, []byte, error) {
	return cl.doInto(ctx, method, path, org, body, new(bytes.Buffer))
}

// doInto is do reading the answer into buf, whose bytes it returns: they
// are valid until buf is used again. A worker that reuses one buffer does
// not allocate and copy its way up to each answer's size (100 KB for a
// history page) on every request, which cost the load generator, and so
// the server it shares the cores with, CPU.
func (cl *client) doInto(ctx context.Context, method, path, org string, body []byte, buf *bytes.Buffer) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.keys[org])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), err
}

// mustDo sends a set-up request and fails unless it answers 2xx.
func (cl *client) mustDo(ctx context.Context, method, path, org string, body any) ([]byte, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	st, out, err := cl.do(ctx, method, path, org, b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if st/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, st, truncate(out, 400))
	}
	return out, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// op is one request of a scenario.
type op struct {
	method, path, org string
	body              []byte
	// replay is the ledger transactions the request makes, for the ceiling.
	replay []*replayTx
}

// scenario builds each worker's requests and reads their answers.
type scenario struct {
	// setup runs before the clock starts (creating the batches the
	// requests act on, for example).
	setup func(ctx context.Context, cl *client, workers int) error
	// next returns worker w's n-th request (n from 0).
	next func(w, n int) op
	// answered reads a 2xx answer and returns the lifecycle events it
	// committed (0 for reads).
	answered func(w int, o op, body []byte) int
	// check validates one answer before the clock starts (reads).
	check func(body []byte) error
	// write: requests are writes (events/s and the ceiling apply).
	write bool
	// setupTxs are the ledger transactions setup made, for the ceiling.
	setupTxs []committed
}

// sample is one answered request.
type sample struct {
	lat    time.Duration
	status int // 0: transport error
}

// committed is an answered write, kept for the ceiling.
type committed struct {
	replay []*replayTx
	body   []byte
}

// runHTTP runs a closed loop of c.Clients workers until the duration or the
// request count is reached.
func runHTTP(ctx context.Context, c Config, cl *client) (*Result, error) {
	sc, err := newScenario(c)
	if err != nil {
		return nil, err
	}
	if sc.setup != nil {
		fmt.Fprintf(c.Progress, "bench: %s: setting up for %d clients\n", c.Scenario, c.Clients)
		if err := sc.setup(ctx, cl, c.Clients); err != nil {
			return nil, fmt.Errorf("set-up: %w", err)
		}
	}
	if sc.check != nil {
		o := sc.next(0, 0)
		st, body, err := cl.do(ctx, o.method, o.path, o.org, o.body)
		if err != nil {
			return nil, err
		}
		if st != 200 {
			return nil, fmt.Errorf("%s %s: %d %s (was the ledger preloaded with --prefix %s?)", o.method, o.path, st, truncate(body, 300), c.Prefix)
		}
		if err := sc.check(body); err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.method, o.path, err)
		}
	}
	res := newResult(c)
	rss := startRSS(c)
	load0 := loadAvg()

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if c.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, c.Duration)
	}
	defer cancel()
	var issued atomic.Int64
	var events atomic.Int64
	samples := make([][]sample, c.Clients)
	kept := make([][]committed, c.Clients)
	blocks := make([]map[uint64]bool, c.Clients)
	for w := range blocks {
		blocks[w] = map[uint64]bool{}
	}
	var wg sync.WaitGroup
	fmt.Fprintf(c.Progress, "bench: %s: %d clients, duration %v, requests %d\n", c.Scenario, c.Clients, c.Duration, c.Requests)
	start := time.Now()
	for w := 0; w < c.Clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Answers are read into one buffer per worker, except when the
			// ceiling replay keeps them.
			var reused bytes.Buffer
			keep := c.Ceiling && sc.write
			for n := 0; ; n++ {
				if runCtx.Err() != nil {
					return
				}
				if c.Requests > 0 && issued.Add(1) > int64(c.Requests) {
					return
				}
				o := sc.next(w, n)
				t0 := time.Now()
				buf := &reused
				if keep {
					buf = new(bytes.Buffer)
				}
				st, body, err := cl.doInto(runCtx, o.method, o.path, o.org, o.body, buf)
				lat := time.Since(t0)
				if err != nil {
					if runCtx.Err() != nil {
						return // cut off by the end of the run: not a sample
					}
					st = 0
				}
				samples[w] = append(samples[w], sample{lat, st})
				if st/100 == 2 {
					events.Add(int64(sc.answered(w, o, body)))
					if sc.write && len(o.replay) == 1 {
						if b, ok := blockNumber(body); ok {
							blocks[w][b] = true
						}
					}
					if c.Ceiling && o.replay != nil {
						kept[w] = append(kept[w], committed{o.replay, body})
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.finish(samples, elapsed, events.Load(), sc.write)
	seen := map[uint64]bool{}
	for _, m := range blocks {
		for b := range m {
			seen[b] = true
		}
	}
	if len(seen) > 0 {
		res.TxPerBlock = float64(res.OK) / float64(len(seen))
	}
	res.RSS = rss.stop()
	res.Machine.LoadBefore, res.Machine.LoadAfter = load0, loadAvg()
	if c.Ceiling && sc.write {
		var all []committed
		for _, k := range kept {
			all = append(all, k...)
		}
		fmt.Fprintf(c.Progress, "bench: ceiling: replaying %d committed transactions into bbolt\n", len(all))
		cr, err := Ceiling(ctx, c, cl, sc.setupTxs, all)
		if err != nil {
			return nil, fmt.Errorf("ceiling: %w", err)
		}
		cr.Ratio = res.EventsPerS / cr.RawEventsPerS
		res.Ceiling = cr
	}
	return res, nil
}

// Result is what a run reports.
type Result struct {
	Scenario     string         `json:"scenario"`
	Label        string         `json:"label,omitempty"`
	URL          string         `json:"url,omitempty"`
	Clients      int            `json:"clients"`
	Started      time.Time      `json:"started"`
	Seconds      float64        `json:"seconds"`
	Requests     int            `json:"requests"`
	OK           int            `json:"ok"`
	Errors       map[string]int `json:"errors"` // by status ("transport" for no answer)
	RequestsPerS float64        `json:"requestsPerS"`
	Events       int64          `json:"events,omitempty"`
	EventsPerS   float64        `json:"eventsPerS,omitempty"`
	// TxPerBlock: single-event writes per block, from the receipts' block numbers.
	TxPerBlock float64        `json:"txPerBlock,omitempty"`
	LatencyMS  Latency        `json:"latencyMs"`
	Ceiling    *CeilingResult `json:"ceiling,omitempty"`
	Preload    *PreloadResult `json:"preload,omitempty"`
	RSS        []RSS          `json:"rss,omitempty"`
	Machine    Machine        `json:"machine"`
}

// Latency percentiles of the answered requests (2xx and errors alike), in ms.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpuModel"`
	GoVersion  string `json:"goVersion"`
	LoadBefore string `json:"loadBefore"` // /proc/loadavg
	LoadAfter  string `json:"loadAfter"`
}

func newResult(c Config) *Result {
	return &Result{Scenario: c.Scenario, Label: c.Label, URL: c.URL, Clients: c.Clients, Started: time.Now().UTC(),
		Errors: map[string]int{}, Machine: Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GoVersion: runtime.Version()}}
}

func (r *Result) finish(samples [][]sample, elapsed time.Duration, events int64, write bool) {
	var lat []time.Duration
	for _, ss := range samples {
		for _, s := range ss {
			lat = append(lat, s.lat)
			if s.status/100 == 2 {
				r.OK++
			} else if s.status == 0 {
				r.Errors["transport"]++
			} else {
				r.Errors[strconv.Itoa(s.status)]++
			}
		}
	}
	r.Requests = len(lat)
	r.Seconds = elapsed.Seconds()
	r.RequestsPerS = float64(r.OK) / r.Seconds
	if write {
		r.Events = events
		r.EventsPerS = float64(events) / r.Seconds
	}
	r.LatencyMS = percentiles(lat)
}

// percentiles returns nearest-rank percentiles of lat, in milliseconds.
func percentiles(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Latency{P50: ms(rank(0.50)), P95: ms(rank(0.95)), P99: ms(rank(0.99)), Max: ms(lat[len(lat)-1]),
		Mean: ms(sum / time.Duration(len(lat)))}
}

// WriteText prints the result for a person.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "scenario %s %s: %d clients, %.1f s, load %s → %s\n", r.Scenario, r.Label, r.Clients, r.Seconds, r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Fprintf(w, "  requests %d, ok %d, errors %v\n", r.Requests, r.OK, r.Errors)
	fmt.Fprintf(w, "  rate %.1f ok requests/s", r.RequestsPerS)
	if r.EventsPerS > 0 {
		fmt.Fprintf(w, ", %.1f committed events/s (%d events)", r.EventsPerS, r.Events)
	}
	fmt.Fprintln(w)
	l := r.LatencyMS
	fmt.Fprintf(w, "  latency ms: p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  mean %.2f\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
	if r.TxPerBlock > 0 {
		fmt.Fprintf(w, "  %.1f transactions per block\n", r.TxPerBlock)
	}
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "  ceiling (%s): %d tx in %d blocks (%.1f tx/block, %d write sets exact, %d with salts of their own, %d unchecked (committed with the node's salts), %d failed), raw %.1f events/s; ratio %.2f\n",
			c.Kind, c.Transactions, c.Blocks, c.TxPerBlock, c.ExactWriteSets, c.SaltedWriteSets, c.UncheckedWriteSets, c.Failures, c.RawEventsPerS, c.Ratio)
	}
	if p := r.Preload; p != nil {
		fmt.Fprintf(w, "  preload: %d events (%d trades in %d bulk requests) in %.1f s; ledger height %d\n",
			p.Events, p.Trades, p.BulkRequests, p.Seconds, p.Height)
	}
	for _, s := range r.RSS {
		fmt.Fprintf(w, "  rss %-32s rest %6.1f MB (anon %6.1f)  under load mean %6.1f max %6.1f MB (anon max %6.1f)  cpu %6.1f s\n",
			s.Name, s.RestMB, s.RestAnonMB, s.LoadMeanMB, s.LoadMaxMB, s.MaxAnonMB, s.CPUSeconds)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// blockNumber finds the receipt's block number in a write's answer without
// decoding it.
func blockNumber(body []byte) (uint64, bool) {
	const k = `"blockNumber":`
	i := bytes.Index(body, []byte(k))
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(k):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n, err == nil
}
