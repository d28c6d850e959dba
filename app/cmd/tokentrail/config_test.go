package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokentrail/tokentrail/app/auth"
)

// TestServeWithConfig starts serve with --config: the configured
// organisations are registered, their keys (by hash and by environment
// variable) work, and no development consortium is created.
func TestServeWithConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	regKey, _ := auth.NewKey()
	exKey, _ := auth.NewKey()
	cfg := fmt.Sprintf(`organizations:
  - mspId: NDAMSP
    name: National Data Administration
    roles: [regulator]
    region: CN
    apiKeys:
      - sha256: %q
  - mspId: ShanghaiExchangeMSP
    name: Shanghai Data Exchange
    roles: [exchange]
    region: CN-SH
    apiKeys:
      - env: TT_TEST_EXCHANGE_KEY
`, auth.HashKey(regKey))
	cfgPath := filepath.Join(dir, "tokentrail.yaml")
	writeFile(t, cfgPath, []byte(cfg))
	t.Setenv("TT_TEST_EXCHANGE_KEY", exKey)
	data := filepath.Join(dir, "data")
	s := startServer(t, bin, data, "--config", cfgPath)
	s.keys = map[string]string{"NDAMSP": regKey, "ShanghaiExchangeMSP": exKey}
	if _, err := os.Stat(filepath.Join(data, auth.DevCredentialsFile)); !os.IsNotExist(err) {
		t.Fatalf("dev-credentials.json exists with --config: %v", err)
	}
	if s.logContains("development consortium") {
		t.Fatal("the log mentions a development consortium with --config")
	}
	body := s.must(200, "GET", "/api/v1/participants", "ShanghaiExchangeMSP", nil, nil)
	if !bytes.Contains(body, []byte(`"NDAMSP"`)) || !bytes.Contains(body, []byte(`"ShanghaiExchangeMSP"`)) || bytes.Contains(body, []byte("ProviderMSP")) {
		t.Fatalf("participants: %s", body)
	}
	s.must(201, "POST", "/api/v1/participants", "NDAMSP", map[string]any{"mspId": "LabMSP", "name": "Lab", "roles": []string{"provider"}, "region": "CN"}, nil)
	if code, _ := s.call("POST", "/api/v1/participants", "ShanghaiExchangeMSP", map[string]any{"mspId": "XMSP", "name": "X", "roles": []string{"provider"}, "region": "CN"}); code != 403 {
		t.Fatalf("the exchange registering a participant: %d", code)
	}
}

// TestUsageErrors checks that mistakes exit 2 with a message that says what
// to fix, and change nothing.
func TestUsageErrors(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	writeFile(t, badCfg, []byte("organizations:\n  - mspId: A\n    name: A\n    roles: [wizard]\n    region: CN\n"))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"serve", "--no-such-flag"}, "no-such-flag"},
		{[]string{"serve", "--ledger", "fabric", "--data", filepath.Join(dir, "d1")}, "needs --config with a fabric: section"},
		{[]string{"serve", "--ledger", "paper", "--data", filepath.Join(dir, "d1")}, "embedded or fabric"},
		{[]string{"serve", "--tls-cert", "x.pem", "--data", filepath.Join(dir, "d1")}, "--tls-key"},
		{[]string{"serve", "--config", badCfg, "--data", filepath.Join(dir, "d2")}, "unknown role"},
		{[]string{"serve", "--rate-limit", "fast", "--data", filepath.Join(dir, "d1")}, "--rate-limit"},
		{[]string{"verify", "receipt.json"}, "--trust"},
		{[]string{"keys", "revoke"}, "KEY_ID"},
	} {
		cmd := exec.Command(bin, c.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("tokentrail %v: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, stderr.String(), c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "d2")); !os.IsNotExist(err) {
		t.Errorf("a bad configuration created the data directory")
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TOKENTRAIL_DATA") || !strings.Contains(string(out), "-tls-cert") {
		t.Errorf("serve --help: %v\n%s", err, out)
	}
}

// TestShutdownFinishesInFlightWrites sends writes and SIGTERM while they run:
// every write the server answered is on the ledger after a restart.
func TestShutdownFinishesInFlightWrites(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, bin, data)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = s.callNoFatal("POST", "/api/v1/batches", "ProviderMSP", collectReq(fmt.Sprintf("inflight-%d", i), 100+i))
		}()
	}
	sleep()
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.logs.String())
	}
	wg.Wait()
	keys := s.keys
	s = startServer(t, bin, data)
	s.keys = keys
	answered := 0
	for i, code := range codes {
		if code != 201 {
			continue // refused or cut off before it was accepted: not acknowledged
		}
		answered++
		s.must(200, "GET", fmt.Sprintf("/api/v1/batches/inflight-%d", i), "RegulatorMSP", nil, nil)
	}
	if answered == 0 {
		t.Fatalf("no write was answered: %v", codes)
	}
}
