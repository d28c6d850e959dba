package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/api"
	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1", "https://[::1]:8443/", "http://127.0.0.2"} {
		if err := checkLoopbackURL(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1", "http://0.0.0.0:8080", "http://[::]:80"} {
		if err := checkLoopbackURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := loopbackOnly("tcp", "192.0.2.1:80", nil); err == nil {
		t.Error("dialer accepted 192.0.2.1")
	}
	if err := loopbackOnly("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("dialer refused 127.0.0.1: %v", err)
	}
}

func TestFlagsAreBounded(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "collect"}, // neither duration nor requests
		{"--scenario", "collect", "--duration", "11m"},
		{"--scenario", "collect", "--requests", "3000000"},
		{"--scenario", "collect", "--duration", "1s", "--clients", "0"},
		{"--scenario", "collect", "--duration", "1s", "--clients", "513"},
		{"--scenario", "nope", "--duration", "1s"},
		{"--scenario", "history", "--duration", "1s", "--url", "http://192.0.2.1:8080"},
		{"--scenario", "preload", "--events", "3000000"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	c, err := parseFlags([]string{"--scenario", "preload"}, io.Discard)
	if err != nil || c.Duration != MaxDuration {
		t.Errorf("preload without --duration: %v, duration %v; want the maximum", err, c.Duration)
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(lat)
	want := Latency{P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if (percentiles(nil) != Latency{}) {
		t.Error("percentiles of nothing is not zero")
	}
}

// keyAuth maps fixed keys to the development organisations.
type keyAuth map[string]string

func (k keyAuth) Authenticate(key string) (auth.Identity, error) {
	if msp, ok := k[key]; ok {
		return auth.Identity{MSPID: msp, KeyID: msp}, nil
	}
	return auth.Identity{}, auth.ErrUnknownKey
}

// testServer runs the API over a fresh embedded ledger with the development
// consortium on an httptest (loopback) listener and returns its URL and a
// dev-credentials.json.
func testServer(t testing.TB) (string, string) {
	url, keys, _ := testServerLedger(t)
	return url, keys
}

// testServerLedger is testServer that also returns the ledger it serves.
func testServerLedger(t testing.TB) (string, string, *embedded.Ledger) {
	t.Helper()
	dir := t.TempDir()
	l, err := embedded.Open(embedded.Config{Dir: filepath.Join(dir, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	orgs := auth.DevConsortium()
	reg := func(o auth.Organization) contract.RegisterParticipantRequest {
		return contract.RegisterParticipantRequest{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region}
	}
	var others []contract.RegisterParticipantRequest
	for _, o := range orgs[1:] {
		others = append(others, reg(o))
	}
	if _, err := service.New(l, nil).EnsureParticipants(context.Background(), reg(orgs[0]), others); err != nil {
		t.Fatal(err)
	}
	ka := keyAuth{}
	var creds auth.DevCredentials
	for _, o := range orgs {
		key := "key-" + o.MSPID
		ka[key] = o.MSPID
		creds.Organizations = append(creds.Organizations, auth.DevCredential{MSPID: o.MSPID, Roles: o.Roles, APIKey: key})
	}
	srv, err := api.New(api.Config{Ledger: l, Auth: ka})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	keys := filepath.Join(dir, "dev-credentials.json")
	b, _ := json.Marshal(creds)
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return hs.URL, keys, l
}

// TestWritesAndCeiling runs each write scenario briefly against a real
// server and checks that every request committed and that the ceiling's
// replay reproduced every write set the ledger recorded.
func TestWritesAndCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	url, keys, l := testServerLedger(t)
	for _, sc := range []struct {
		name           string
		clients, reqs  int
		wantEvents     int64
		wantCeilingTxs int
	}{
		{ScCollect, 8, 40, 40, 40},
		{ScCirculate, 4, 20, 20, 20},
		{ScTrade, 4, 20, 20, 20},
		{ScBulk, 2, 2, 2 * 300, 2 * 2}, // 300 trades in chunks of 250: 2 transactions each
	} {
		t.Run(sc.name, func(t *testing.T) {
			c := Config{URL: url, Keys: keys, Scenario: sc.name, Clients: sc.clients, Requests: sc.reqs, BulkSize: 300, BulkChunk: 250,
				Prefix: "pl", Events: 1, ValueSize: 1, Timeout: time.Minute, Ceiling: true, CeilingDir: t.TempDir(),
				WriteSetCommitment: l.WriteSetCommitment}
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != sc.reqs || len(res.Errors) != 0 || res.Events != sc.wantEvents {
				t.Fatalf("ok %d errors %v events %d; want %d ok, no errors, %d events", res.OK, res.Errors, res.Events, sc.reqs, sc.wantEvents)
			}
			cr := res.Ceiling
			// Trades' write sets carry the server's salts, which a replay
			// cannot know: every other write set must be exact.
			if cr == nil || cr.Transactions != sc.wantCeilingTxs || cr.ExactWriteSets+cr.SaltedWriteSets != cr.Transactions || cr.Failures != 0 || cr.Events != sc.wantEvents {
				t.Fatalf("ceiling %+v: want %d transactions, all write sets exact or salted, %d events", cr, sc.wantCeilingTxs, sc.wantEvents)
			}
			if salted := sc.name == "trade" || sc.name == "bulk"; salted != (cr.SaltedWriteSets == cr.Transactions) {
				t.Fatalf("ceiling %+v: only trades' write sets may differ, and all of theirs do", cr)
			}
			if cr.UncheckedWriteSets != 0 {
				t.Fatalf("ceiling %+v: write sets left unchecked though the node's commitments could be opened", cr)
			}
		})
	}
}

// TestPreloadAndReads builds a small fixture and runs every read scenario on it.
func TestPreloadAndReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	url, keys := testServer(t)
	base := Config{URL: url, Keys: keys, Clients: 2, BulkSize: 500, BulkChunk: 250, Prefix: "pl", Events: 1500, ValueSize: 1, Timeout: time.Minute}
	c := base
	c.Scenario = ScPreload
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Preload == nil || res.Preload.Events < 1500 {
		t.Fatalf("preload: %+v", res.Preload)
	}
	for _, s := range []string{ScHistory, ScLineage, ScImpact, ScCompliance, ScTradesPage} {
		c := base
		c.Scenario, c.Requests = s, 10
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), c)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if res.OK != 10 || len(res.Errors) != 0 {
			t.Errorf("%s: ok %d errors %v", s, res.OK, res.Errors)
		}
	}
}
