package api

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// storeEnv is a live server whose keys are in a key store file, as a
// server started with a data directory has them, with one key per
// organisation created the way `tokentrail keys create` does.
func storeEnv(t *testing.T) (*liveEnv, *auth.Store, map[string]auth.Key) {
	t.Helper()
	store := auth.NewStore(filepath.Join(t.TempDir(), auth.KeysFile))
	keys, recs := map[string]string{}, map[string]auth.Key{}
	for _, org := range allOrgs {
		k, rec, err := store.Create(org, "test")
		if err != nil {
			t.Fatal(err)
		}
		keys[org], recs[org] = k, rec
	}
	a, err := auth.NewAuthenticator(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newLiveEnv(t, Config{Auth: a}, 0)
	e.keys = keys
	return e, store, recs
}

// TestEventStreamEndsOnRevocation: revoking a key in the key store (what
// `tokentrail keys revoke` does) ends its open stream within a second, and
// no event committed after the revocation reaches it.
func TestEventStreamEndsOnRevocation(t *testing.T) {
	e, store, recs := storeEnv(t)
	c := e.stream(regulator, "", "")
	other := e.stream(auditor, "", "")
	e.collect("before")
	for _, s := range []*sseConn{c, other} {
		if got := s.take(t, 2); !strings.Contains(got[0].data, `"before"`) {
			t.Fatalf("first event %+v", got[0])
		}
	}

	if _, err := store.Revoke(recs[regulator].ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	// Events committed right after the revocation, while the stream may
	// still be open, must not reach it.
	e.collect("after")
	select {
	case err := <-c.done:
		if err != io.EOF {
			t.Fatalf("the stream ended with %v, want the server to end it", err)
		}
		if d := time.Since(revoked); d > time.Second {
			t.Fatalf("the stream ended %s after the revocation, want within 1 s", d)
		}
	case <-time.After(time.Second - time.Since(revoked)):
		t.Fatal("the revoked key's stream is still open a second after the revocation")
	}
	for len(c.msgs) > 0 {
		if m := <-c.msgs; strings.Contains(m.data, `"after"`) {
			t.Fatalf("an event committed after the revocation reached the revoked stream: %s", m.data)
		}
	}
	// Another key's stream goes on and sees the later events.
	if got := other.take(t, 2); !strings.Contains(got[0].data, `"after"`) {
		t.Fatalf("the other stream's next event %+v", got[0])
	}
	if _, status, _ := e.tryStream(regulator, "", ""); status != http.StatusUnauthorized {
		t.Fatalf("a new stream with the revoked key: %d, want 401", status)
	}
}

// TestEventStreamEndsOnSuspension: a participant suspended on the ledger
// has its open streams ended.
func TestEventStreamEndsOnSuspension(t *testing.T) {
	e, _, _ := storeEnv(t)
	c := e.stream(exchange, "", "")
	e.must(http.StatusOK, "POST", "/api/v1/participants/"+exchange+"/suspend", regulator, map[string]any{"reason": "investigation"}, nil)
	suspended := time.Now()
	select {
	case err := <-c.done:
		if err != io.EOF {
			t.Fatalf("the stream ended with %v, want the server to end it", err)
		}
	case <-time.After(3 * streamStatusCheck):
		t.Fatalf("the suspended participant's stream is still open %s after the suspension", time.Since(suspended))
	}
}
