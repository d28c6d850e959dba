package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokentrail/tokentrail/app/api"
	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	fabricledger "github.com/tokentrail/tokentrail/app/ledger/fabric"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/app/web"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// serveConfig is everything serve is configured with.
type serveConfig struct {
	addr, data, ledgerKind, config string
	tlsCert, tlsKey                string
	logLevel, logFormat            string
	metrics                        bool
	rateLimit                      string
	rateBurst                      int
	requestTimeout                 time.Duration
	shutdownTimeout                time.Duration
	bulkChunk                      int
	// Admission limits: concurrent and queued requests (see api.Config).
	maxInflightWrites, maxQueuedWrites int
	maxInflightReads, maxQueuedReads   int
	queueWait                          time.Duration
}

// Rate limits used when --rate-limit is "auto".
const (
	autoRateLimit = 50  // requests per second per key, with --config
	autoRateBurst = 100 // burst, with --config
)

func parseServe(args []string, stderr io.Writer, getenv func(string) string) (serveConfig, error) {
	var c serveConfig
	fs := newFlagSet("serve", "serve [flags]", stderr)
	fs.StringVar(&c.addr, "addr", envDefault(getenv, "TOKENTRAIL_ADDR", "127.0.0.1:8080"),
		"address to listen on, host:port (port 0 picks a free one; the ready log line names it) [TOKENTRAIL_ADDR]")
	fs.StringVar(&c.data, "data", envDefault(getenv, "TOKENTRAIL_DATA", "./data"),
		"data directory: the embedded ledger, keys.json and dev-credentials.json [TOKENTRAIL_DATA]")
	fs.StringVar(&c.ledgerKind, "ledger", envDefault(getenv, "TOKENTRAIL_LEDGER", "embedded"),
		"ledger to run on: embedded or fabric [TOKENTRAIL_LEDGER]")
	fs.StringVar(&c.config, "config", envDefault(getenv, "TOKENTRAIL_CONFIG", ""),
		"YAML file of the organisations and their API keys; without it a development consortium is created [TOKENTRAIL_CONFIG]")
	fs.StringVar(&c.tlsCert, "tls-cert", envDefault(getenv, "TOKENTRAIL_TLS_CERT", ""),
		"PEM certificate (chain) to serve HTTPS with; needs --tls-key [TOKENTRAIL_TLS_CERT]")
	fs.StringVar(&c.tlsKey, "tls-key", envDefault(getenv, "TOKENTRAIL_TLS_KEY", ""),
		"PEM private key of --tls-cert [TOKENTRAIL_TLS_KEY]")
	fs.StringVar(&c.logLevel, "log-level", envDefault(getenv, "TOKENTRAIL_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error [TOKENTRAIL_LOG_LEVEL]")
	fs.StringVar(&c.logFormat, "log-format", envDefault(getenv, "TOKENTRAIL_LOG_FORMAT", "json"),
		"log format on stderr: json or text [TOKENTRAIL_LOG_FORMAT]")
	metricsDef, err := strconv.ParseBool(envDefault(getenv, "TOKENTRAIL_METRICS", "true"))
	if err != nil {
		return c, usagef("TOKENTRAIL_METRICS must be true or false")
	}
	fs.BoolVar(&c.metrics, "metrics", metricsDef, "serve Prometheus metrics at /metrics [TOKENTRAIL_METRICS]")
	fs.StringVar(&c.rateLimit, "rate-limit", envDefault(getenv, "TOKENTRAIL_RATE_LIMIT", "auto"),
		fmt.Sprintf("requests per second each API key may make: a number, 0 for no limit, or auto (no limit for the development consortium, %d with --config) [TOKENTRAIL_RATE_LIMIT]", autoRateLimit))
	burstDef, err := strconv.Atoi(envDefault(getenv, "TOKENTRAIL_RATE_BURST", "0"))
	if err != nil {
		return c, usagef("TOKENTRAIL_RATE_BURST must be a whole number")
	}
	fs.IntVar(&c.rateBurst, "rate-burst", burstDef, "requests a key may make at once above its rate (0: twice the rate) [TOKENTRAIL_RATE_BURST]")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 30*time.Second, "longest time one API request may take")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, longest wait for in-flight requests to finish")
	fs.IntVar(&c.bulkChunk, "bulk-chunk", service.DefaultChunkSize, "trades per ledger transaction in bulk requests")
	limits := []struct {
		v         *int
		name, env string
		def       int
		usage     string
	}{
		{&c.maxInflightWrites, "max-inflight-writes", "TOKENTRAIL_MAX_INFLIGHT_WRITES", api.DefaultMaxInflightWrites,
			"write requests served at once (a bulk request counts as 8)"},
		{&c.maxQueuedWrites, "max-queued-writes", "TOKENTRAIL_MAX_QUEUED_WRITES", api.DefaultMaxQueuedWrites,
			"write requests waiting for a turn; past this a write is answered 503 with Retry-After at once (0: none waits)"},
		{&c.maxInflightReads, "max-inflight-reads", "TOKENTRAIL_MAX_INFLIGHT_READS", api.DefaultMaxInflightReads,
			"read requests served at once"},
		{&c.maxQueuedReads, "max-queued-reads", "TOKENTRAIL_MAX_QUEUED_READS", api.DefaultMaxQueuedReads,
			"read requests waiting for a turn; past this a read is answered 503 with Retry-After at once (0: none waits)"},
	}
	for _, l := range limits {
		def, err := strconv.Atoi(envDefault(getenv, l.env, strconv.Itoa(l.def)))
		if err != nil {
			return c, usagef("%s must be a whole number", l.env)
		}
		fs.IntVar(l.v, l.name, def, l.usage+" ["+l.env+"]")
	}
	waitDef, err := time.ParseDuration(envDefault(getenv, "TOKENTRAIL_QUEUE_WAIT", api.DefaultQueueWait.String()))
	if err != nil {
		return c, usagef("TOKENTRAIL_QUEUE_WAIT must be a duration such as 2s")
	}
	fs.DurationVar(&c.queueWait, "queue-wait", waitDef, "longest a queued request waits for a turn before it is answered 503 [TOKENTRAIL_QUEUE_WAIT]")
	if err := parse(fs, args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, usagef("serve takes no arguments, got %q", fs.Arg(0))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, usagef("--tls-cert and --tls-key go together")
	}
	if c.requestTimeout <= 0 || c.shutdownTimeout <= 0 {
		return c, usagef("--request-timeout and --shutdown-timeout must be positive")
	}
	if c.bulkChunk < 1 || c.bulkChunk > contract.MaxBulkTrades {
		return c, usagef("--bulk-chunk must be from 1 to %d", contract.MaxBulkTrades)
	}
	if c.maxInflightWrites < 1 || c.maxInflightReads < 1 || c.maxQueuedWrites < 0 || c.maxQueuedReads < 0 || c.queueWait <= 0 {
		return c, usagef("--max-inflight-writes and --max-inflight-reads must be at least 1, --max-queued-writes and --max-queued-reads not negative, --queue-wait positive")
	}
	return c, nil
}

func newLogger(c serveConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usagef("--log-level must be debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.logFormat {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, usagef("--log-format must be json or text")
	}
	return slog.New(api.LogHandler(h)), nil
}

// backend is a ledger the server runs on: what the API uses, and Close.
type backend interface {
	service.Ledger
	Close() error
}

// openLedger builds the ledger named by kind. It is the one place that knows
// the ledger implementations.
func openLedger(kind, dataDir string, cfg *auth.Config, log *slog.Logger) (backend, error) {
	switch kind {
	case ledger.KindEmbedded:
		l, err := embedded.Open(embedded.Config{Dir: filepath.Join(dataDir, "ledger"), Logger: log.With("component", "ledger")})
		if errors.Is(err, embedded.ErrLocked) {
			return nil, fmt.Errorf("the data directory %s is in use by another tokentrail process: stop it, or give another --data", dataDir)
		}
		return l, err
	case ledger.KindFabric:
		fc, err := fabricConfig(cfg)
		if err != nil {
			return nil, err
		}
		return fabricledger.Open(fc, log.With("component", "ledger"))
	}
	return nil, usagef("--ledger must be embedded or fabric, not %q", kind)
}

func serve(args []string, stderr io.Writer, getenv func(string) string) error {
	c, err := parseServe(args, stderr, getenv)
	if err != nil {
		return err
	}
	logger, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	// Read the configuration before touching the data directory, so a
	// mistake in it changes nothing.
	var cfg *auth.Config
	var cfgKeys []auth.Key
	if c.config != "" {
		if cfg, cfgKeys, err = auth.LoadConfig(c.config, getenv); err != nil {
			return &usageError{err.Error()}
		}
	}
	rate, burst, err := rateLimit(c, cfg != nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	l, err := openLedger(c.ledgerKind, c.data, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Close(); err != nil {
			logger.Error("closing the ledger", "err", err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	store := auth.NewStore(filepath.Join(c.data, auth.KeysFile))
	if cfg != nil && c.ledgerKind == ledger.KindFabric && !registersConsortium(cfg) {
		// An organisation's own node cannot sign as the regulator; the
		// regulator's node registers the consortium.
		logger.Info("this node has no signing identity of the regulator; registering the organisations is left to the regulator's node")
	} else if cfg != nil {
		err = registerConfigured(ctx, l, cfg, logger)
	} else {
		err = ensureDevConsortium(ctx, l, store, c.data, logger)
	}
	if err != nil {
		return err
	}
	authn, err := auth.NewAuthenticator(store, cfgKeys)
	if err != nil {
		return err
	}

	var reg *prometheus.Registry
	if c.metrics {
		reg = prometheus.NewRegistry()
	}
	srv, err := api.New(api.Config{Ledger: l, Auth: authn, Logger: logger, Registry: reg,
		RequestTimeout: c.requestTimeout, RateLimit: rate, RateBurst: burst, ChunkSize: c.bulkChunk,
		MaxInflightWrites: c.maxInflightWrites, MaxQueuedWrites: noneIfZero(c.maxQueuedWrites),
		MaxInflightReads: c.maxInflightReads, MaxQueuedReads: noneIfZero(c.maxQueuedReads), QueueWait: c.queueWait,
		Console: web.Handler()})
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.requestTimeout + 30*time.Second,
		WriteTimeout:      c.requestTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Event streams never finish by themselves: end them when shutting down.
	hs.RegisterOnShutdown(srv.CloseStreams)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	scheme := "http"
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			ln.Close()
			return usagef("TLS certificate and key: %v", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	info, err := l.Info(ctx)
	if err != nil {
		ln.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	logger.Info("tokentrail ready", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String(),
		"ledger", info.Kind, "height", info.Height, "data", c.data, "metrics", c.metrics, "rateLimit", rate,
		"maxInflightWrites", c.maxInflightWrites, "maxQueuedWrites", c.maxQueuedWrites,
		"maxInflightReads", c.maxInflightReads, "maxQueuedReads", c.maxQueuedReads, "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the default way
	logger.Info("shutting down: finishing in-flight requests", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: requests still running after %s: %w", c.shutdownTimeout, err)
	}
	logger.Info("stopped")
	return nil
}

// noneIfZero maps a queue bound of 0 ("none waits") to api.Config's
// spelling of it (negative; zero there means the default).
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func rateLimit(c serveConfig, configured bool) (float64, int, error) {
	var rate float64
	burst := c.rateBurst
	switch c.rateLimit {
	case "auto":
		if configured {
			rate = autoRateLimit
			if burst == 0 {
				burst = autoRateBurst
			}
		}
	default:
		r, err := strconv.ParseFloat(c.rateLimit, 64)
		if err != nil || r < 0 {
			return 0, 0, usagef("--rate-limit must be auto, 0 or a positive number of requests per second")
		}
		rate = r
	}
	if burst < 0 {
		return 0, 0, usagef("--rate-burst must not be negative")
	}
	if rate > 0 && burst == 0 {
		burst = max(1, int(2*rate))
	}
	return rate, burst, nil
}

// registerConfigured registers the configured organisations that the ledger
// does not know yet (the regulator bootstraps an empty ledger).
func registerConfigured(ctx context.Context, l service.Ledger, cfg *auth.Config, log *slog.Logger) error {
	reg := cfg.Regulator()
	var others []contract.RegisterParticipantRequest
	for _, o := range cfg.Organizations {
		if o.MSPID != reg.MSPID {
			others = append(others, registration(o))
		}
	}
	n, err := service.New(l, log).EnsureParticipants(ctx, registration(reg), others)
	if err != nil {
		return fmt.Errorf("registering the configured organisations: %w", err)
	}
	if n > 0 {
		log.Info("registered configured organisations on the ledger", "count", n)
	}
	return nil
}

func registration(o auth.Organization) contract.RegisterParticipantRequest {
	return contract.RegisterParticipantRequest{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region}
}

// ensureDevConsortium creates the development consortium on the first start
// without configuration: it registers the six organisations, stores their
// keys' hashes and writes the keys to dev-credentials.json (0600). Later
// starts only make sure the organisations are registered.
func ensureDevConsortium(ctx context.Context, l service.Ledger, store *auth.Store, dataDir string, log *slog.Logger) error {
	orgs := auth.DevConsortium()
	var others []contract.RegisterParticipantRequest
	for _, o := range orgs[1:] {
		others = append(others, registration(o))
	}
	if _, err := service.New(l, log).EnsureParticipants(ctx, registration(orgs[0]), others); err != nil {
		return fmt.Errorf("registering the development consortium: %w", err)
	}
	credsPath := filepath.Join(dataDir, auth.DevCredentialsFile)
	exists, err := auth.HasDevCredentials(credsPath)
	if err != nil {
		return err
	}
	if exists {
		log.Info("development consortium: credentials are in " + credsPath)
		return nil
	}
	var creds auth.DevCredentials
	for _, o := range orgs {
		key, _, err := store.Create(o.MSPID, "development consortium")
		if err != nil {
			return err
		}
		creds.Organizations = append(creds.Organizations, auth.DevCredential{MSPID: o.MSPID, Roles: o.Roles, APIKey: key})
	}
	if err := auth.WriteDevCredentials(credsPath, creds); err != nil {
		return err
	}
	log.Info("development consortium created: six organisations registered, one API key each written to "+credsPath+" (mode 0600)",
		"organisations", len(orgs))
	return nil
}

// slogWriter sends the http.Server's own error log to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("http server", "msg", string(p))
	return len(p), nil
}
