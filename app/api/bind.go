package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/chaincode/contract/strictjson"
)

// Paging bounds (api.md).
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	maxPageToken    = 512
)

// decodeBody reads the request body as one JSON value into v, strictly:
// keys given twice in one object or in another case than the field's,
// unknown fields, wrong types, trailing data and other media types are
// refused with a message that names what to fix. Nothing the client sent is
// quoted except field names, and the answer is JSON-encoded.
func decodeBody(c echo.Context, v any) error { return decodeJSON(c, v, true) }

// decodeJSON is decodeBody, refusing unknown fields only when strict: bodies
// in another project's format (OpenLineage events) may carry fields this API
// does not read. Duplicate and wrong-case keys are refused either way.
func decodeJSON(c echo.Context, v any, strict bool) error {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return statusError(http.StatusUnsupportedMediaType, "send the body as application/json")
		}
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, v, strict)
}

// unmarshalStrict decodes body, one JSON value, into v with the rules of
// decodeJSON.
func unmarshalStrict(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("body", "the request body is empty; send a JSON object")
	}
	if err := strictjson.Check(body, v, !strict); err != nil {
		var ke *strictjson.Error
		if errors.As(err, &ke) {
			return badRequest(ke.Path, "%s; the fields of this request are listed in /api/v1/openapi.json", ke.Error())
		}
		return badRequest("body", "the body is not valid JSON for this request")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("body", "unexpected data after the JSON object; send exactly one object")
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("body", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("body", "the JSON body ends too early; it is truncated or a bracket is missing")
	case errors.As(err, &se):
		return badRequest("body", "malformed JSON near byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return badRequest(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	return badRequest("body", "the body is not valid JSON for this request")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	}
	return "object"
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// pathID returns the path parameter name after checking it is a valid batch
// or event ID.
func pathID(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if !idPattern.MatchString(v) {
		return "", badRequest(name, "must be 1 to 128 of the characters A-Z a-z 0-9 . _ : -")
	}
	return v, nil
}

// pathMSPID returns the path parameter name after checking it is an MSP ID.
func pathMSPID(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if !auth.ValidMSPID(v) {
		return "", badRequest(name, "must be an MSP ID: a letter or digit, then up to 63 letters, digits, '.' or '-'")
	}
	return v, nil
}

// query checks the query string against the parameters a route takes, so a
// misspelt filter is refused rather than silently ignored.
type query struct {
	c       echo.Context
	allowed []string
}

func newQuery(c echo.Context, allowed ...string) (query, error) {
	q := query{c: c, allowed: allowed}
	for name, vs := range c.QueryParams() {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return q, badRequest(safeName(name), "this route takes no query parameters")
			}
			return q, badRequest(safeName(name), "unknown query parameter; this route takes %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return q, badRequest(name, "give this parameter once")
		}
	}
	return q, nil
}

// safeName bounds a client-supplied parameter name before it goes into a
// problem (where it is JSON-encoded).
func safeName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func (q query) str(name string) string { return q.c.QueryParam(name) }

// enum returns the parameter, which must be empty or one of values.
func (q query) enum(name string, values ...string) (string, error) {
	v := q.c.QueryParam(name)
	if v != "" && !slices.Contains(values, v) {
		return "", badRequest(name, "must be one of %s", strings.Join(values, ", "))
	}
	return v, nil
}

// intIn returns the parameter as an integer in [lo, hi], or def when absent.
func (q query) intIn(name string, def, lo, hi int) (int, error) {
	v := q.c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(name, "must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// time returns the parameter after checking it is an RFC 3339 time.
func (q query) time(name string) (string, error) {
	v := q.c.QueryParam(name)
	if v == "" {
		return "", nil
	}
	if _, err := time.Parse(time.RFC3339, v); err != nil {
		return "", badRequest(name, "must be an RFC 3339 time such as 2026-03-01T00:00:00Z")
	}
	return v, nil
}

// idParam returns an optional ID filter.
func (q query) idParam(name string) (string, error) {
	v := q.c.QueryParam(name)
	if v != "" && !idPattern.MatchString(v) {
		return "", badRequest(name, "must be 1 to 128 of the characters A-Z a-z 0-9 . _ : -")
	}
	return v, nil
}

// mspParam returns an optional MSP ID filter.
func (q query) mspParam(name string) (string, error) {
	v := q.c.QueryParam(name)
	if v != "" && !auth.ValidMSPID(v) {
		return "", badRequest(name, "must be an MSP ID")
	}
	return v, nil
}

var pageTokenPattern = regexp.MustCompile(`^[A-Za-z0-9._~:=+/-]*$`)

// page returns pageSize and pageToken. Page tokens are opaque tokens the
// server handed out; anything that cannot be one is refused here, and a
// token the ledger does not recognise is refused by the contract.
func (q query) page() (int, string, error) {
	size, err := q.intIn("pageSize", DefaultPageSize, 1, MaxPageSize)
	if err != nil {
		return 0, "", err
	}
	tok := q.c.QueryParam("pageToken")
	if len(tok) > maxPageToken || !pageTokenPattern.MatchString(tok) {
		return 0, "", badRequest("pageToken", "is not a page token from this API; pass nextPageToken of the previous page unchanged")
	}
	return size, tok, nil
}

// errMissing is the error for a required body field the API itself checks.
func errMissing(field string) error {
	return badRequest(field, "required")
}
