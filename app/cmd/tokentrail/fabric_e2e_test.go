package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/receipt"
)

// TestEndToEndFabric runs the same lifecycle as TestEndToEnd against a real
// Fabric network: the one `scripts/network.sh up` starts, configured by
// `tokentrail fabric dev-config`. `make test` brings the network up and sets
// TOKENTRAIL_FABRIC_CONFIG to its configuration; without it there is no
// network to test against and the test says so.
func TestEndToEndFabric(t *testing.T) {
	cfg := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if cfg == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (make test-fabric does)")
	}
	creds, err := auth.ReadDevCredentials(filepath.Join(filepath.Dir(cfg), auth.DevCredentialsFile))
	if err != nil {
		t.Fatalf("the network's dev-credentials.json: %v", err)
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, bin, data, "--ledger", "fabric", "--config", cfg)
	s.keys = map[string]string{}
	for _, o := range creds.Organizations {
		s.keys[o.MSPID] = o.APIKey
	}
	if s.logContains("development consortium created") {
		t.Fatal("a development consortium was created on Fabric")
	}
	if _, err := os.Stat(filepath.Join(data, auth.DevCredentialsFile)); err == nil {
		t.Fatal("serve with --config wrote dev-credentials.json")
	}
	var info struct {
		Kind        string
		TrustAnchor string
	}
	s.must(200, "GET", "/api/v1/ledger", "AuditorMSP", nil, &info)
	if info.Kind != "fabric" {
		t.Fatalf("ledger info: %+v", info)
	}
	// The anchor holds every orderer organisation's roots: OrdererMSP with
	// Raft, the four members' orderer organisations with BFT.
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nf netFile
	if err := json.Unmarshal(raw, &nf); err != nil {
		t.Fatal(err)
	}
	if len(nf.OrdererOrganizations) == 0 {
		t.Fatal("network.json names no orderer organisation")
	}
	for msp := range nf.OrdererOrganizations {
		if !bytes.Contains([]byte(info.TrustAnchor), []byte("MSP-ID: "+msp+"\n")) {
			t.Errorf("the trust anchor lacks orderer organisation %s:\n%s", msp, info.TrustAnchor)
		}
	}
	// It marks exactly those as the orderers, with the channel's consensus,
	// so that a BFT-signed block needs a quorum of them.
	_, ordering, err := receipt.ParseFabricTrustAnchorOrdering([]byte(info.TrustAnchor))
	if err != nil {
		t.Fatal(err)
	}
	wantConsensus := receipt.OrderingRaft
	if nf.OrdererType == ordererBFT {
		wantConsensus = receipt.OrderingBFT
	}
	if ordering.Consensus != wantConsensus || strings.Join(ordering.MSPIDs, ",") != strings.Join(sortedKeys(nf.OrdererOrganizations), ",") {
		t.Errorf("the trust anchor names orderers %+v, want %s %v", ordering, wantConsensus, sortedKeys(nf.OrdererOrganizations))
	}

	// The network outlives a test run, so IDs are new each time.
	prefix := fmt.Sprintf("fab%d-", time.Now().UnixNano())
	run := lifecycle(t, s, bin, prefix)

	// Every peer holds the same history: the regulator's, the exchange's and
	// the auditor's peers each answer their organisation's reads.
	for _, id := range run.batches {
		path := "/api/v1/batches/" + id + "/events"
		reg := s.must(200, "GET", path, "RegulatorMSP", nil, nil)
		for _, org := range []string{"AuditorMSP", "ExchangeMSP"} {
			if other := s.must(200, "GET", path, org, nil, nil); !bytes.Equal(reg, other) {
				t.Errorf("history of %s differs between the regulator's and %s's peers:\n%s\n%s", id, org, reg, other)
			}
		}
	}

	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.logs.String())
	}
	s = startServer(t, bin, data, "--ledger", "fabric", "--config", cfg)
	s.keys = map[string]string{}
	for _, o := range creds.Organizations {
		s.keys[o.MSPID] = o.APIKey
	}
	run.sameAfterRestart(t, s)
}
