// Package api is tokentrail's HTTP interface: an Echo server with the routes
// of docs/api.md, one central error handler that answers problem+json,
// and the middleware every request passes (request ID, access log and
// metrics, panic recovery, timeout, body limit, API-key authentication and
// per-key rate limiting). Handlers bind and check the request, make one call
// into [service.Service] and write its answer.
package api

import (
	"cmp"
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the embedded OpenAPI 3 document of the API.
func OpenAPI() []byte { return openAPIDocument }

// Config is what a [Server] is built from; main fills it in.
type Config struct {
	// Ledger is the ledger the server submits to and queries.
	Ledger service.Ledger
	// Auth resolves API keys.
	Auth Authenticator
	// Logger receives structured logs; requests are logged with their ID.
	Logger *slog.Logger
	// Registry, when set, receives the metrics and is served at /metrics.
	Registry *prometheus.Registry
	// RequestTimeout bounds every API request (default 30 s).
	RequestTimeout time.Duration
	// RateLimit is the number of requests per second one API key may make
	// (0: unlimited), with bursts of up to RateBurst.
	RateLimit float64
	RateBurst int
	// ChunkSize is the number of trades per ledger transaction in bulk
	// requests (default [service.DefaultChunkSize]).
	ChunkSize int
	// StreamHeartbeat is how often an idle event stream sends a comment
	// (default [DefaultStreamHeartbeat]).
	StreamHeartbeat time.Duration
	// LineageNamespace is the OpenLineage namespace of the ledger's batches
	// (default "tokentrail://" and the ledger's kind).
	LineageNamespace string
	// MaxInflightWrites bounds the write requests served at once and
	// MaxQueuedWrites those waiting for a turn, each for at most QueueWait;
	// a bulk request counts as several writes. A write finding both full is
	// answered 503 with Retry-After at once. MaxInflightReads and
	// MaxQueuedReads do the same for reads. Zero means the default
	// ([DefaultMaxInflightWrites] and the like); a negative queue bound
	// means no request waits.
	MaxInflightWrites, MaxQueuedWrites int
	MaxInflightReads, MaxQueuedReads   int
	QueueWait                          time.Duration
	// BodyReadTimeout bounds the time a write's body may take to arrive
	// after its headers (default [BodyReadTimeout]); BulkBodyReadTimeout
	// does so for bulk trades (default [BulkBodyReadTimeout]). The body is
	// read before the request takes a write slot.
	BodyReadTimeout, BulkBodyReadTimeout time.Duration
	// Console, when set, is served at / and /assets/* without a key: the web
	// console's static files (package web), which sign in client-side.
	Console http.Handler
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	e       *echo.Echo
	svc     *service.Service
	auth    Authenticator
	log     *slog.Logger
	metrics *Metrics
	limiter *rateLimiter
	writes  *gate // concurrent write requests
	reads   *gate // concurrent read requests
	streams *streams
	roles   roleCache // the pre-admission role check's cache
}

// New builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	s := &Server{auth: cfg.Auth, log: cfg.Logger, streams: newStreams(cfg.StreamHeartbeat)}
	l := cfg.Ledger
	if cfg.Registry != nil {
		m, err := NewMetrics(cfg.Registry)
		if err != nil {
			return nil, err
		}
		s.metrics = m
		l = instrumented{Ledger: l, m: m}
	}
	s.svc = service.New(l, cfg.Logger, service.WithChunkSize(cfg.ChunkSize), service.WithLineageNamespace(cfg.LineageNamespace))
	if cfg.RateLimit > 0 {
		s.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	if err := s.setupAdmission(cfg); err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(requestID, s.observe, s.recoverer)
	s.e = e
	s.routes(cfg)
	return s, nil
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// Echo returns the underlying Echo instance (for its route table).
func (s *Server) Echo() *echo.Echo { return s.e }

// methodLabel bounds the method label: clients may send any token as method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// observe logs the request and records its metrics once the response is
// written (errors are turned into problems here, so the status is final).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		route, method, status := routeOf(c), methodLabel(c.Request().Method), c.Response().Status
		s.metrics.observeRequest(route, method, status, d)
		attrs := []any{"method", method, "route", route, "status", status,
			"durationMs", float64(d.Microseconds()) / 1000, "bytes", c.Response().Size}
		if id := identityOf(c); id.MSPID != "" {
			attrs = append(attrs, "org", id.MSPID, "keyId", id.KeyID)
		}
		s.log.InfoContext(c.Request().Context(), "request", attrs...)
		return nil
	}
}

func (s *Server) routes(cfg Config) {
	e := s.e
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if cfg.Registry != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	}
	e.GET("/api/v1/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
	})

	// The web console: static files outside /api/v1, no key needed.
	if cfg.Console != nil {
		console := echo.WrapHandler(cfg.Console)
		e.GET("/", console)
		e.GET("/assets/*", console)
	}

	// Middleware is attached per route rather than to a group: an Echo group
	// with middleware registers a catch-all that would answer 404 where the
	// path exists but the method does not (405).
	// Every request holds a read or write slot while it runs (see
	// admission.go); a bulk request holds several. A write is authenticated,
	// checked against the roles that may call its route at all, and its
	// body read (under a deadline, body.go) before it asks for a slot, so a
	// slow or unauthorised client never holds one.
	guard := []echo.MiddlewareFunc{timeout(cfg.RequestTimeout), s.authenticate, s.rateLimit}
	get := func(path string, h echo.HandlerFunc) {
		mw := append(append([]echo.MiddlewareFunc{}, guard...), s.admit(s.reads, 1))
		e.Add(http.MethodGet, "/api/v1"+path, h, mw...)
	}
	// post registers a write; roles, when given, are those that may call it.
	post := func(path string, h echo.HandlerFunc, roles ...string) {
		limit, deadline, weight := int64(MaxBody), cmp.Or(cfg.BodyReadTimeout, BodyReadTimeout), int64(1)
		if path == `/trades\:bulk` {
			limit, deadline, weight = MaxBulkBody, cmp.Or(cfg.BulkBodyReadTimeout, BulkBodyReadTimeout), bulkWeight
		}
		mw := append([]echo.MiddlewareFunc{closeUnread}, guard...)
		if len(roles) > 0 {
			mw = append(mw, s.mayCall(roles...))
		}
		mw = append(mw, readBodyFirst(limit, deadline), s.admit(s.writes, weight))
		e.Add(http.MethodPost, "/api/v1"+path, h, mw...)
	}
	const (
		regulator = contract.RoleRegulator
		provider  = contract.RoleProvider
		processor = contract.RoleProcessor
		exchange  = contract.RoleExchange
		auditor   = contract.RoleAuditor
	)

	post("/participants", s.registerParticipant, regulator)
	post("/participants/:mspId/suspend", s.suspendParticipant, regulator)
	post("/batches", s.collect, provider)
	post("/processing", s.process) // also the owner of the inputs
	post("/batches/:id/assessments", s.assess, processor, auditor, exchange)
	post("/batches/:id/circulations", s.circulate) // any holder (TT-R08)
	post("/trades", s.trade, exchange)
	post(`/trades\:bulk`, s.tradeBulk, exchange)
	post("/batches/:id/audits", s.audit, auditor)
	post("/batches/:id/freeze", s.freeze, regulator)
	post("/batches/:id/unfreeze", s.unfreeze, regulator)
	post("/batches/:id/retire", s.retire) // the regulator or the owner
	post("/openlineage", s.recordOpenLineage)

	get("/whoami", s.whoami)
	get("/participants", s.listParticipants)
	get("/participants/:mspId", s.getParticipant)
	get("/batches", s.listBatches)
	get("/batches/:id", s.getBatch)
	get("/batches/:id/events", s.history)
	get("/batches/:id/lineage", s.lineage)
	get("/batches/:id/impact", s.impact)
	get("/batches/:id/compliance", s.compliance)
	get("/trades", s.listTrades)
	get("/prices", s.prices)
	get("/events/:eventId/receipt", s.receipt)
	get("/ledger", s.ledgerInfo)
	// An event stream outlives any request timeout: it ends when the client
	// goes or the server shuts down (CloseStreams).
	e.GET("/api/v1/events/stream", s.eventStream, s.authenticate, s.rateLimit)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		return statusError(http.StatusServiceUnavailable, "the ledger is not ready")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
