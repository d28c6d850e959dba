package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/openlineage"
)

// MaxOpenLineageBody is the most a RunEvent may hold once decompressed, the
// same as any write's body: a gzip body (Content-Encoding: gzip, as
// OpenLineage's clients send) is read up to MaxBody bytes on the wire like
// any write, and inflated to at most this many; beyond it the request is
// answered 413 and the rest of the stream is never inflated.
const MaxOpenLineageBody = MaxBody

// runEventNotRecorded answers a RunEvent whose run state records nothing.
type runEventNotRecorded struct {
	Recorded  bool   `json:"recorded"`
	EventType string `json:"eventType"`
	Detail    string `json:"detail"`
}

// recordOpenLineage is POST /api/v1/openlineage: a pipeline's OpenLineage
// RunEvent. A COMPLETE run is recorded as a PROCESSED event submitted by the
// caller and answered like POST /api/v1/processing (201); other run states,
// and events without eventType, are answered 200 with recorded false
// (docs/openlineage.md).
func (s *Server) recordOpenLineage(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	body, err := runEventBody(c)
	if err != nil {
		return err
	}
	var ev openlineage.RunEvent
	if err := unmarshalStrict(body, &ev, false); err != nil {
		return err
	}
	res, err := s.svc.RecordRunEvent(c.Request().Context(), identityOf(c).MSPID, ev)
	if err != nil {
		return err
	}
	if !res.Recorded {
		return c.JSON(http.StatusOK, runEventNotRecorded{EventType: ev.EventType, Detail: res.Detail})
	}
	return writeResponse(c, http.StatusCreated, res.Written)
}

// runEventBody is the request's JSON body, inflated if it was sent with
// Content-Encoding gzip (at most MaxOpenLineageBody bytes).
func runEventBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return nil, statusError(http.StatusUnsupportedMediaType, "send the body as application/json")
		}
	}
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get(echo.HeaderContentEncoding))); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		return gunzip(body, MaxOpenLineageBody)
	default:
		return nil, statusError(http.StatusUnsupportedMediaType, "Content-Encoding %q is not accepted; send the body as it is or with Content-Encoding gzip", enc)
	}
}

// gunzip inflates body, refusing more than limit bytes of output, a
// damaged stream and trailing data.
func gunzip(body []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, badRequest("body", "Content-Encoding is gzip but the body is not a gzip stream")
	}
	zr.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return nil, badRequest("body", "the gzip body is damaged or truncated")
	case int64(len(out)) > limit:
		return nil, statusError(http.StatusRequestEntityTooLarge, "the gzip body inflates to more than %d bytes; send a smaller RunEvent", limit)
	}
	return out, nil
}
