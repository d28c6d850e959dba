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
