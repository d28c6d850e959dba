package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Event stream defaults (docs/events.md).
const (
	// DefaultStreamHeartbeat is how often an idle stream sends a comment, so
	// that proxies and clients see the connection is alive.
	DefaultStreamHeartbeat = 15 * time.Second
	// streamRetryMillis is the reconnection delay the stream suggests.
	streamRetryMillis = 3000
	// streamWriteWait bounds one write to a stream's client.
	streamWriteWait = 30 * time.Second
	// streamKeyCheck is how often an open stream checks that its API key
	// is still valid; every event is also checked before it is sent, so a
	// revoked key's stream ends within this time and receives nothing
	// after the revocation.
	streamKeyCheck = 250 * time.Millisecond
	// streamStatusCheck is how often an open stream asks the ledger whether
	// its participant is still active: a suspended participant's streams
	// end (docs/events.md).
	streamStatusCheck = time.Second
)

// participantSuspended is the contract's status of a suspended participant.
const participantSuspended = "suspended"

// revalidator is an [Authenticator] that can check a key against the key
// store's current content, not a copy up to its recheck interval old.
type revalidator interface {
	Revalidate(key string) (auth.Identity, error)
}

// keyStillValid reports whether the stream's key still grants identity id.
// A key store that cannot be read is not taken as a revocation.
func (s *Server) keyStillValid(key string, id auth.Identity) bool {
	check := s.auth.Authenticate
	if r, ok := s.auth.(revalidator); ok {
		check = r.Revalidate
	}
	got, err := check(key)
	switch {
	case errors.Is(err, auth.ErrUnknownKey):
		return false
	case err != nil:
		return true
	}
	return got == id
}

// participantActive reports whether mspID may still read the ledger: false
// when its record says suspended or the contract refuses its reads. A
// ledger that does not answer is not taken as a suspension.
func (s *Server) participantActive(ctx context.Context, mspID string) bool {
	raw, err := s.svc.Query(ctx, mspID, contract.FnGetParticipant, contract.IDRequest{ID: mspID})
	if err != nil {
		ce, ok := service.ContractError(err)
		return !ok || ce.Kind != contract.KindForbidden
	}
	var p contract.Participant
	if json.Unmarshal(raw, &p) != nil {
		return true
	}
	return p.Status != participantSuspended
}

// lastEventIDHeader is the header an SSE client resumes with.
const lastEventIDHeader = "Last-Event-ID"

var eventTypes = []string{
	contract.EventCollected, contract.EventProcessed, contract.EventAssessed, contract.EventCirculated, contract.EventTraded,
	contract.EventAudited, contract.EventFrozen, contract.EventUnfrozen, contract.EventRetired,
}

// streams is what the server's open event streams share: their heartbeat
// and the signal that the server is shutting down.
type streams struct {
	heartbeat time.Duration
	done      chan struct{}
	once      sync.Once
}

func newStreams(heartbeat time.Duration) *streams {
	if heartbeat <= 0 {
		heartbeat = DefaultStreamHeartbeat
	}
	return &streams{heartbeat: heartbeat, done: make(chan struct{})}
}

// CloseStreams ends every open event stream and refuses new ones (503). An
// event stream never finishes by itself, so http.Server.Shutdown would wait
// for it until its deadline: register CloseStreams with
// http.Server.RegisterOnShutdown. Clients reconnect elsewhere or later with
// Last-Event-ID and lose nothing.
func (s *Server) CloseStreams() {
	s.streams.once.Do(func() { close(s.streams.done) })
}

func (s *Server) streamsClosed() bool {
	select {
	case <-s.streams.done:
		return true
	default:
		return false
	}
}

// eventStream is GET /api/v1/events/stream: committed lifecycle events the
// caller may read, as Server-Sent Events (docs/events.md).
func (s *Server) eventStream(c echo.Context) error {
	q, err := newQuery(c, "type", "batchId", "lastEventId")
	if err != nil {
		return err
	}
	var f service.StreamFilter
	if v := q.str("type"); v != "" {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !slices.Contains(eventTypes, t) {
				return badRequest("type", "must be a comma-separated list of event types: %s", strings.Join(eventTypes, ", "))
			}
			if !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	if f.BatchID, err = q.idParam("batchId"); err != nil {
		return err
	}
	// The header wins: an EventSource that was started with ?lastEventId=
	// keeps that URL and sends its newer position in the header.
	field, raw := lastEventIDHeader, c.Request().Header.Get(lastEventIDHeader)
	if raw == "" {
		field, raw = "lastEventId", q.str("lastEventId")
	}
	var after *service.Cursor
	if raw != "" {
		cur, err := service.ParseCursor(raw)
		if err != nil {
			return badRequest(field, "is not a cursor of this stream: send the id of the last event received, unchanged, or 0 for the beginning of the ledger")
		}
		after = &cur
	}
	if s.streamsClosed() {
		return statusError(http.StatusServiceUnavailable, "the server is shutting down; reconnect with Last-Event-ID")
	}

	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	id := identityOf(c)
	caller := id.MSPID
	key := bearerKey(c)
	st, err := s.svc.OpenStream(ctx, caller, after, f)
	if errors.Is(err, service.ErrCursorAhead) {
		return badRequest(field, "names a place the ledger has not reached; send the id of an event this stream delivered")
	}
	if err != nil {
		return err
	}

	w := c.Response()
	// The server's write timeout would cut the stream: each write moves the
	// deadline instead. (Not every ResponseWriter supports deadlines.)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	from := "now"
	if after != nil {
		from = after.String()
	}
	send := func(text string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteWait))
		if _, err := w.Write([]byte(text)); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	if err := send(fmt.Sprintf("retry: %d\n: tokentrail events after %s\n\n", streamRetryMillis, from)); err != nil {
		return nil
	}

	events := make(chan service.StreamEvent)
	ended := make(chan error, 1)
	go func() {
		ended <- st.Run(ctx, func(ev service.StreamEvent) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	stop := func() {
		cancel()
		<-ended
	}
	tick := time.NewTicker(s.streams.heartbeat)
	defer tick.Stop()
	keyTick := time.NewTicker(streamKeyCheck)
	defer keyTick.Stop()
	statusTick := time.NewTicker(streamStatusCheck)
	defer statusTick.Stop()
	revoked := func() error {
		s.log.InfoContext(ctx, "event stream ended: its API key was revoked", "org", caller, "keyId", id.KeyID)
		_ = send(": the API key was revoked\n\n")
		stop()
		return nil
	}
	for {
		select {
		case ev := <-events:
			if !s.keyStillValid(key, id) {
				return revoked()
			}
			if err := send(formatEvent(ev)); err != nil {
				stop()
				return nil
			}
		case <-tick.C:
			if err := send(": heartbeat\n\n"); err != nil {
				stop()
				return nil
			}
		case <-keyTick.C:
			if !s.keyStillValid(key, id) {
				return revoked()
			}
		case <-statusTick.C:
			if !s.participantActive(ctx, caller) {
				s.log.InfoContext(ctx, "event stream ended: its participant is suspended", "org", caller)
				_ = send(": the participant is suspended\n\n")
				stop()
				return nil
			}
		case err := <-ended:
			if ctx.Err() == nil {
				// The ledger failed or closed; the client reconnects and
				// resumes from its last event.
				s.log.WarnContext(ctx, "event stream ended by the ledger", "org", caller, "err", err)
				_ = send(": the ledger feed ended; reconnect with Last-Event-ID\n\n")
			}
			return nil
		case <-ctx.Done():
			stop()
			return nil
		case <-s.streams.done:
			_ = send(": the server is shutting down; reconnect with Last-Event-ID\n\n")
			stop()
			return nil
		}
	}
}

// formatEvent writes one event as an SSE message. The data is the event's
// JSON on one line.
func formatEvent(ev service.StreamEvent) string {
	data := []byte(ev.Data)
	if bytes.ContainsAny(data, "\r\n") {
		var b bytes.Buffer
		if json.Compact(&b, data) == nil {
			data = b.Bytes()
		}
	}
	return "id: " + ev.Cursor.String() + "\nevent: " + ev.Type + "\ndata: " + string(data) + "\n\n"
}
