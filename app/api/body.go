package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// Body read deadlines (docs/operations.md): a write's body must have arrived
// within this time of its headers, or the request is answered 408 and the
// connection closed. The body is read before the request takes a write slot
// (admission.go), so a client sending slowly holds a connection and a
// goroutine, never a slot that others' writes need. 5 s for 1 MiB is
// 200 KiB/s; 15 s for a bulk body of 8 MiB is about 550 KiB/s.
const (
	BodyReadTimeout     = 5 * time.Second
	BulkBodyReadTimeout = 15 * time.Second
)

const bodyKey = "tokentrail.body"

// readBodyFirst reads the whole request body, at most limit bytes, within
// deadline, and keeps it for the handler. It runs after authentication and
// the route's role check and before admission.
func readBodyFirst(limit int64, deadline time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return statusError(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes", limit)
			}
			if r.Body == nil || r.Body == http.NoBody {
				c.Set(bodyKey, []byte{})
				return next(c)
			}
			rc := http.NewResponseController(c.Response())
			// Servers that cannot set a deadline (tests' recorders) read
			// without one; a real connection always can.
			_ = rc.SetReadDeadline(time.Now().Add(deadline))
			b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
			_ = rc.SetReadDeadline(time.Time{})
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return err
			case errors.Is(err, os.ErrDeadlineExceeded):
				c.Response().Header().Set(echo.HeaderConnection, "close")
				return statusError(http.StatusRequestTimeout,
					"the request body did not arrive within %s; send it at once, after the headers", deadline)
			case err != nil:
				return badRequest("body", "the request body could not be read")
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			c.Set(bodyKey, b)
			return next(c)
		}
	}
}

// closeUnread closes the connection of a write refused before its body was
// read (no key, a role that may not call the route, the rate limit): the
// server would otherwise go on reading the rest of the body, at the client's
// pace, to reuse the connection.
func closeUnread(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if _, read := c.Get(bodyKey).([]byte); err != nil && !read && c.Request().ContentLength != 0 {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now())
		}
		return err
	}
}

// readBody returns the body readBodyFirst kept, or reads it (bounded by the
// route's body limit) when the route has none.
func readBody(c echo.Context) ([]byte, error) {
	if b, ok := c.Get(bodyKey).([]byte); ok {
		return b, nil
	}
	r := c.Request()
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, err
	}
	if err != nil {
		return nil, badRequest("body", "the request body could not be read")
	}
	return b, nil
}
