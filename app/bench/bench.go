// Package bench is tokentrail's load generator: `tokentrail bench` drives
// the HTTP API of a running server on loopback with N concurrent clients in
// a closed loop (each client sends its next request when the previous one is
// answered) and reports the achieved rate, latency percentiles and errors
// by status. It also measures the ceilings the HTTP figures are compared
// with: the embedded store's raw durable write rate for the very writes a
// run committed ([Ceiling]), and the committed rate of a one-key-per-
// transaction chaincode on Fabric (scenario onekey).
//
// Every run is bounded: by --duration, by --requests, or both, each with a
// hard maximum, and only loopback addresses are accepted.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Hard limits of one run.
const (
	MaxClients     = 512
	MaxDuration    = 10 * time.Minute
	MaxRequests    = 2_000_000
	MaxPreload     = 2_000_000 // events
	defaultTimeout = 2 * time.Minute
)

// Scenarios.
const (
	ScCollect    = "collect"     // POST /batches: one COLLECTED event per request
	ScCirculate  = "circulate"   // POST /batches/{id}/circulations: one CIRCULATED event
	ScTrade      = "trade"       // POST /trades: one TRADED event
	ScBulk       = "bulk"        // POST /trades:bulk with --bulk-size trades
	ScHistory    = "history"     // GET /batches/{hist}/events?pageSize=100
	ScLineage    = "lineage"     // GET /batches/{chain-20}/lineage?direction=up&depth=20
	ScImpact     = "impact"      // GET /batches/{chain-0}/impact
	ScCompliance = "compliance"  // GET /batches/{chain-20}/compliance
	ScTradesPage = "trades-page" // GET /trades?batchId={fill}&pageSize=100, following nextPageToken
	ScPreload    = "preload"     // build the read fixture through the API
	ScOneKey     = "onekey"      // Fabric: Put(key, value) on the onekey chaincode through fabric-gateway
)

var scenarios = []string{ScCollect, ScCirculate, ScTrade, ScBulk, ScHistory, ScLineage, ScImpact,
	ScCompliance, ScTradesPage, ScPreload, ScOneKey}

// Config is one run's configuration, from flags.
type Config struct {
	URL      string
	Keys     string // dev-credentials.json
	Scenario string
	Clients  int
	Duration time.Duration
	Requests int
	JSON     bool
	Label    string

	Prefix    string // names of the preloaded fixture's batches
	Events    int    // preload: events to reach
	BulkSize  int    // trades per bulk request
	BulkChunk int    // trades per ledger transaction (the server's --bulk-chunk)

	// Ceiling: after a write run on the embedded ledger, replay what it
	// committed into a fresh bbolt file in CeilingDir (see [Ceiling]).
	Ceiling    bool
	CeilingDir string
	// WriteSetCommitment, when set, opens the ledger's write-set
	// commitments for the ceiling's check that its replay wrote exactly
	// what the run did: given a transaction ID and the plain digest of a
	// replayed write set, it returns the commitment the node would record
	// ([embedded.Ledger.WriteSetCommitment]; in-process only, for the salts
	// are the node's secret). Without it the write sets of blocks of header
	// version 2 are counted as unchecked.
	WriteSetCommitment func(txID string, digest [32]byte) string

	// onekey
	Network   string // network.json
	Org       string // submitting organisation
	Chaincode string
	ValueSize int

	RSS      []string // name=pid
	RSSDir   string   // directory of "<pid> <exe>" files (network/.dev/run)
	Timeout  time.Duration
	Progress io.Writer
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const usage = `tokentrail bench — load the HTTP API of a server on loopback and report rate and latency

Usage:
  tokentrail bench --url http://127.0.0.1:8080 --keys DATA/dev-credentials.json --scenario S [flags]
  tokentrail bench --scenario onekey --network network/.dev/network.json [flags]

Scenarios: ` + "collect circulate trade bulk history lineage impact compliance trades-page preload onekey" + `
A run ends after --duration or --requests, whichever comes first (at least one is needed).
Flags:
`

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	var rss multiFlag
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "base URL of the server (loopback only)")
	fs.StringVar(&c.Keys, "keys", "./data/dev-credentials.json", "dev-credentials.json holding one API key per organisation")
	fs.StringVar(&c.Scenario, "scenario", "", "what to run: "+strings.Join(scenarios, ", "))
	fs.IntVar(&c.Clients, "clients", 16, fmt.Sprintf("concurrent clients (at most %d)", MaxClients))
	fs.DurationVar(&c.Duration, "duration", 0, fmt.Sprintf("how long to run (at most %v)", MaxDuration))
	fs.IntVar(&c.Requests, "requests", 0, fmt.Sprintf("how many requests to send (at most %d)", MaxRequests))
	fs.BoolVar(&c.JSON, "json", false, "print the result as JSON")
	fs.StringVar(&c.Label, "label", "", "free text carried into the result (e.g. the ledger kind)")
	fs.StringVar(&c.Prefix, "prefix", "pl", "ID prefix of the preloaded fixture's batches (preload and the read scenarios)")
	fs.IntVar(&c.Events, "events", 1_000_000, fmt.Sprintf("preload: events the ledger should hold at least (at most %d)", MaxPreload))
	fs.IntVar(&c.BulkSize, "bulk-size", 1000, "trades per bulk request (1 to 1000)")
	fs.IntVar(&c.BulkChunk, "bulk-chunk", 250, "trades per ledger transaction, as the server's --bulk-chunk (for the ceiling's replay)")
	fs.BoolVar(&c.Ceiling, "ceiling", false, "after a write run on the embedded ledger, measure the raw bbolt rate of the same writes in the same blocks")
	fs.StringVar(&c.CeilingDir, "ceiling-dir", os.TempDir(), "directory for the ceiling's scratch bbolt file (removed afterwards); put it on the ledger's disk")
	fs.StringVar(&c.Network, "network", "network/.dev/network.json", "onekey: the development network's network.json")
	fs.StringVar(&c.Org, "org", "ProviderMSP", "onekey: organisation that signs the transactions")
	fs.StringVar(&c.Chaincode, "chaincode", "onekey", "onekey: chaincode name")
	fs.IntVar(&c.ValueSize, "value-size", 100, "onekey: bytes per value")
	fs.Var(&rss, "rss", "NAME=PID of a process whose resident memory to sample at rest and during the run (repeatable)")
	fs.StringVar(&c.RSSDir, "rss-pids", "", "directory of PID files ('<pid> <exe>', as network/.dev/run holds) whose processes to sample as well")
	fs.DurationVar(&c.Timeout, "timeout", defaultTimeout, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.RSS = rss
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	known := false
	for _, s := range scenarios {
		known = known || s == c.Scenario
	}
	switch {
	case !known:
		return fmt.Errorf("--scenario must be one of %s", strings.Join(scenarios, ", "))
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("--clients must be from 1 to %d", MaxClients)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("--duration must be at most %v", MaxDuration)
	case c.Requests < 0 || c.Requests > MaxRequests:
		return fmt.Errorf("--requests must be at most %d", MaxRequests)
	case c.Scenario != ScPreload && c.Duration == 0 && c.Requests == 0:
		return errors.New("give --duration or --requests (or both): every run is bounded")
	case c.Events < 1 || c.Events > MaxPreload:
		return fmt.Errorf("--events must be from 1 to %d", MaxPreload)
	case c.BulkSize < 1 || c.BulkSize > 1000:
		return errors.New("--bulk-size must be from 1 to 1000")
	case c.BulkChunk < 1 || c.BulkChunk > 1000:
		return errors.New("--bulk-chunk must be from 1 to 1000")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	case c.ValueSize < 1 || c.ValueSize > 1<<20:
		return errors.New("--value-size must be from 1 to 1 MiB")
	}
	if c.Scenario == ScPreload && c.Duration == 0 {
		c.Duration = MaxDuration
	}
	if c.Scenario != ScOneKey {
		if err := checkLoopbackURL(c.URL); err != nil {
			return err
		}
	}
	return nil
}

// Main runs `tokentrail bench` and returns its exit code: 0 when the run
// completed (errors counted in the result), 1 when it could not run, 2 on a
// usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tokentrail bench:", err)
		return 2
	}
	c.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, c)
	if err != nil {
		fmt.Fprintln(stderr, "tokentrail bench:", err)
		return 1
	}
	if c.JSON {
		res.WriteText(stderr) // for a person watching; stdout stays JSON
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "tokentrail bench:", err)
			return 1
		}
	} else {
		res.WriteText(stdout)
	}
	return 0
}

// Run executes the configured scenario.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Scenario == ScOneKey {
		return runOneKey(ctx, c)
	}
	cl, err := newClient(c)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	if c.Scenario == ScPreload {
		return preload(ctx, c, cl)
	}
	return runHTTP(ctx, c, cl)
}
