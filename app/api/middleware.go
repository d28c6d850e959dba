package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/auth"
)

// Body limits.
const (
	MaxBody     = 1 << 20 // 1 MiB
	MaxBulkBody = 8 << 20 // 8 MiB
)

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-ID"

type ctxKey int

const (
	requestIDKey ctxKey = iota
)

// echo context keys.
const (
	identityKey = "tokentrail.identity"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID gives every request an ID: the client's X-Request-ID when it is
// a plain token, otherwise a new UUID. The ID is echoed in the response, put
// in the request's context (for logs) and in every problem.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(RequestIDHeader)
		if !requestIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(RequestIDHeader, id)
		c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), requestIDKey, id)))
		return next(c)
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Request().Context().Value(requestIDKey).(string)
	return id
}

// LogHandler wraps h so every record logged with a request's context carries
// that request's ID.
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey).(string); ok {
		r.AddAttrs(slog.String("requestId", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// routeOf is the route template a request matched, or "unmatched": a bounded
// label for logs and metrics.
func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" && c.Get(unmatchedKey) == nil {
		return strings.ReplaceAll(p, `\:`, ":")
	}
	return "unmatched"
}

const unmatchedKey = "tokentrail.unmatched"

// recoverer turns a panic into a 500 and logs its stack; the server lives on.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.ErrorContext(c.Request().Context(), "panic in handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errors.New("panic in handler")
			}
		}()
		return next(c)
	}
}

// timeout bounds a request's context; the ledger calls honour it.
func timeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

// bodyLimit refuses bodies over limit: at once when Content-Length says so,
// otherwise when reading crosses the limit (decoding then fails with 413).
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return statusError(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes", limit)
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			}
			return next(c)
		}
	}
}

// Authenticator resolves an API key to an identity.
type Authenticator interface {
	// Authenticate returns the identity of key, or an error wrapping
	// auth.ErrUnknownKey when the key is unknown or revoked.
	Authenticate(key string) (auth.Identity, error)
}

// authenticate requires Authorization: Bearer <key> and records the identity.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, key, ok := strings.Cut(h, " ")
		if h == "" {
			return statusError(http.StatusUnauthorized, "send Authorization: Bearer <API key>")
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			return statusError(http.StatusUnauthorized, "the Authorization header must be: Bearer <API key>")
		}
		id, err := s.auth.Authenticate(strings.TrimSpace(key))
		if errors.Is(err, auth.ErrUnknownKey) {
			return statusError(http.StatusUnauthorized, "the API key is unknown or revoked")
		}
		if err != nil {
			s.log.ErrorContext(c.Request().Context(), "key store unreadable", "err", err)
			return statusError(http.StatusServiceUnavailable, "identities cannot be checked right now; retry later")
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

// bearerKey returns the API key the request presented (authenticate has
// checked the header's form).
func bearerKey(c echo.Context) string {
	_, key, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	return strings.TrimSpace(key)
}

func identityOf(c echo.Context) auth.Identity {
	id, _ := c.Get(identityKey).(auth.Identity)
	return id
}

// rateLimiter is a token bucket per API key.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if burst < 1 {
		burst = max(1, int(perSecond))
	}
	return &rateLimiter{rate: perSecond, burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or says how long until one is there.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiter == nil {
			return next(c)
		}
		ok, wait := s.limiter.allow(identityOf(c).KeyID)
		if !ok {
			secs := max(1, int(math.Ceil(wait.Seconds())))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return statusError(http.StatusTooManyRequests, "this API key is over its rate limit; retry after %d s", secs)
		}
		return next(c)
	}
}
