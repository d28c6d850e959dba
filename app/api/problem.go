package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// ProblemContentType is the media type of every error answer (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypeBase prefixes the problem type URIs; docs/api.md lists them.
const problemTypeBase = "urn:tokentrail:problem:"

// retryAfterSeconds is what a 503 asks clients to wait.
const retryAfterSeconds = 5

// Problem is an RFC 9457 problem detail. Rule names the violated compliance
// rule and Field the offending request field, when there is one.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Rule      string `json:"rule,omitempty"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// requestError is an error the API layer itself raises about a request:
// it is the client's to fix, so its detail is shown.
type requestError struct {
	status int
	field  string
	detail string
}

func (e *requestError) Error() string {
	if e.field != "" {
		return e.field + ": " + e.detail
	}
	return e.detail
}

// badRequest says what to fix in field.
func badRequest(field, format string, a ...any) error {
	return &requestError{status: http.StatusBadRequest, field: field, detail: fmt.Sprintf(format, a...)}
}

func statusError(status int, format string, a ...any) error {
	return &requestError{status: status, detail: fmt.Sprintf(format, a...)}
}

// problem types by status, with their titles.
var problemTypes = map[int][2]string{
	http.StatusBadRequest:            {"invalid-request", "The request is malformed or invalid"},
	http.StatusUnauthorized:          {"unauthenticated", "A valid API key is required"},
	http.StatusForbidden:             {"forbidden", "The caller's role does not allow this"},
	http.StatusNotFound:              {"not-found", "Not found"},
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method not allowed"},
	http.StatusConflict:              {"conflict", "Conflict with the recorded state"},
	http.StatusRequestTimeout:        {"body-timeout", "The request body did not arrive in time"},
	http.StatusRequestEntityTooLarge: {"body-too-large", "Request body too large"},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported media type"},
	http.StatusUnprocessableEntity:   {"rule-violation", "A compliance rule refused the request"},
	http.StatusTooManyRequests:       {"rate-limited", "Too many requests"},
	http.StatusInternalServerError:   {"internal", "Internal server error"},
	http.StatusServiceUnavailable:    {"ledger-unavailable", "The ledger is unavailable"},
	http.StatusGatewayTimeout:        {"timeout", "The request timed out"},
}

func newProblem(status int, detail string) Problem {
	t, ok := problemTypes[status]
	if !ok {
		t = [2]string{"error", http.StatusText(status)}
	}
	return Problem{Type: problemTypeBase + t[0], Title: t[1], Status: status, Detail: detail}
}

// kindStatus maps the contract's error kinds to HTTP statuses.
var kindStatus = map[contract.Kind]int{
	contract.KindInvalid:   http.StatusBadRequest,
	contract.KindNotFound:  http.StatusNotFound,
	contract.KindConflict:  http.StatusConflict,
	contract.KindForbidden: http.StatusForbidden,
	contract.KindRule:      http.StatusUnprocessableEntity,
}

// toProblem maps any error a handler returns to the problem the client sees
// and reports whether it is the server's fault (to be logged as an error).
// Only the detail of errors meant for the client is shown; anything else
// gets a fixed message.
func toProblem(err error) (Problem, bool) {
	var re *requestError
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		p := newProblem(re.status, re.detail)
		p.Field = re.field
		return p, false
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)), false
	case errors.Is(err, ledger.ErrUnavailable):
		return newProblem(http.StatusServiceUnavailable, "the ledger cannot be reached; retry after the time in Retry-After"), true
	case errors.Is(err, ledger.ErrTxNotFound):
		return newProblem(http.StatusNotFound, "the ledger holds no such transaction"), false
	case errors.Is(err, auth.ErrUnknownKey):
		return newProblem(http.StatusUnauthorized, "the API key is unknown or revoked"), false
	case errors.Is(err, context.DeadlineExceeded):
		return newProblem(http.StatusGatewayTimeout, "the ledger did not answer in time; a write may or may not have been recorded (retrying a trade is safe)"), true
	case errors.Is(err, context.Canceled):
		return newProblem(http.StatusServiceUnavailable, "the request was cancelled"), false
	case errors.As(err, &he):
		return echoProblem(he), he.Code >= 500
	}
	if ce, ok := service.ContractError(err); ok {
		status, known := kindStatus[ce.Kind]
		if !known {
			return newProblem(http.StatusInternalServerError, "internal error"), true
		}
		p := newProblem(status, ce.Detail)
		p.Rule, p.Field = ce.Rule, ce.Field
		if ce.Kind == contract.KindForbidden && p.Rule == "" {
			p.Rule = contract.RuleRole
		}
		return p, false
	}
	return newProblem(http.StatusInternalServerError, "internal error; the server log has the details under this request's ID"), true
}

// echoProblem turns the router's and middleware's own errors into problems
// with fixed texts: their messages may quote the request.
func echoProblem(he *echo.HTTPError) Problem {
	switch he.Code {
	case http.StatusNotFound:
		return newProblem(he.Code, "no such route; the API is described at /api/v1/openapi.json")
	case http.StatusMethodNotAllowed:
		return newProblem(he.Code, "this route does not accept that method; the Allow header lists the ones it does")
	case http.StatusRequestEntityTooLarge:
		return newProblem(he.Code, "the request body is too large")
	case http.StatusUnauthorized:
		return newProblem(he.Code, "send Authorization: Bearer <API key>")
	}
	if he.Code >= 400 && he.Code < 500 {
		return newProblem(he.Code, http.StatusText(he.Code))
	}
	return newProblem(http.StatusInternalServerError, "internal error")
}

// errorHandler is the one place where errors become responses.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		s.logFor(c).WarnContext(c.Request().Context(), "error after response was sent", "err", err)
		return
	}
	if errors.Is(err, echo.ErrNotFound) || errors.Is(err, echo.ErrMethodNotAllowed) {
		c.Set(unmatchedKey, true) // the router's own answer: no route to label
	}
	p, serverFault := toProblem(err)
	p.RequestID = requestIDOf(c)
	log := s.logFor(c)
	ctx := c.Request().Context()
	if serverFault {
		log.ErrorContext(ctx, "request failed", "status", p.Status, "err", err)
	} else {
		log.DebugContext(ctx, "request refused", "status", p.Status, "err", err)
	}
	h := c.Response().Header()
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		}
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tokentrail"`)
	}
	if err := writeProblem(c, p); err != nil {
		log.WarnContext(ctx, "writing error response", "err", err)
	}
}

func writeProblem(c echo.Context, p Problem) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(p.Status)
	}
	return c.Blob(p.Status, ProblemContentType, b)
}

// logFor returns the request's logger.
func (s *Server) logFor(c echo.Context) *slog.Logger {
	return s.log
}
