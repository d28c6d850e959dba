package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/api/apitest"
	"github.com/tokentrail/tokentrail/app/auth"
)

// matrixClient is an apitest.Client over a running server.
func (s *server) matrixClient() apitest.Client {
	client := &http.Client{Timeout: 2 * time.Minute}
	return func(method, path, org string, body any) (int, []byte, error) {
		a := s.send(client, method, path, org, body)
		return a.status, a.body, a.err
	}
}

// TestAuthorizationMatrixEmbedded runs the matrix of every route × role
// against the binary on the embedded ledger.
func TestAuthorizationMatrixEmbedded(t *testing.T) {
	s := startServer(t, buildBinary(t), t.TempDir())
	apitest.AuthorizationMatrix(t, s.matrixClient(), apitest.DevOrgs())
}

// TestAuthorizationMatrixFabric runs the same matrix against the binary on a
// Fabric network: the one `make test-fabric` brings up and names in
// TOKENTRAIL_FABRIC_CONFIG, with its keys in the dev-credentials.json next
// to that configuration.
func TestAuthorizationMatrixFabric(t *testing.T) {
	cfg := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if cfg == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (make test-fabric does)")
	}
	creds, err := auth.ReadDevCredentials(filepath.Join(filepath.Dir(cfg), auth.DevCredentialsFile))
	if err != nil {
		t.Fatalf("the network's dev-credentials.json: %v", err)
	}
	s := startServer(t, buildBinary(t), filepath.Join(t.TempDir(), "data"), "--ledger", "fabric", "--config", cfg,
		"--rate-limit", "0")
	s.keys = map[string]string{}
	for _, o := range creds.Organizations {
		s.keys[o.MSPID] = o.APIKey
	}
	apitest.AuthorizationMatrix(t, s.matrixClient(), apitest.DevOrgs())
}

// TestAccessMatrixEmbedded runs the access policy's matrix (every batch
// route × role, a suspended caller and no key × relation to the batch)
// against the binary on a fresh embedded ledger, whose clock is the wall
// clock.
func TestAccessMatrixEmbedded(t *testing.T) {
	s := startServer(t, buildBinary(t), t.TempDir(), "--rate-limit", "0")
	apitest.AccessMatrix(t, s.matrixClient(), apitest.DevOrgs(), apitest.AccessOptions{Suspend: apitest.DevOrgs().Consumer})
}

// TestAccessMatrixFabric runs the access matrix against the binary on the
// Fabric network of `make test-fabric`. The network is shared with the other
// Fabric tests, so nobody is suspended: the suspended caller's column runs
// on the other ledgers only.
func TestAccessMatrixFabric(t *testing.T) {
	cfg := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if cfg == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (make test-fabric does)")
	}
	creds, err := auth.ReadDevCredentials(filepath.Join(filepath.Dir(cfg), auth.DevCredentialsFile))
	if err != nil {
		t.Fatalf("the network's dev-credentials.json: %v", err)
	}
	s := startServer(t, buildBinary(t), filepath.Join(t.TempDir(), "data"), "--ledger", "fabric", "--config", cfg,
		"--rate-limit", "0")
	s.keys = map[string]string{}
	for _, o := range creds.Organizations {
		s.keys[o.MSPID] = o.APIKey
	}
	apitest.AccessMatrix(t, s.matrixClient(), apitest.DevOrgs(), apitest.AccessOptions{ExpiryWait: 5 * time.Second})
}
