package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// TestOrgNodesFabric runs one tokentrail node per organisation, each with
// only its own configuration (network/.dev/orgs/<MSP ID>/, written by
// `tokentrail fabric dev-config`), against the development network. A batch
// collected through the provider's node, assessed through the auditor's and
// traded through the exchange's reads the same through every node that may
// read it, and each node refuses the other organisations' keys.
func TestOrgNodesFabric(t *testing.T) {
	cfg := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if cfg == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (scripts/test-fabric.sh does)")
	}
	orgsDir := filepath.Join(filepath.Dir(cfg), "orgs")
	bin := buildBinary(t)
	members := []string{"ProviderMSP", "ExchangeMSP", "RegulatorMSP", "AuditorMSP"}
	allKeys := map[string]string{}
	for _, msp := range members {
		creds, err := auth.ReadDevCredentials(filepath.Join(orgsDir, msp, auth.DevCredentialsFile))
		if err != nil {
			t.Fatalf("%s's node credentials: %v", msp, err)
		}
		if len(creds.Organizations) != 1 || creds.Organizations[0].MSPID != msp {
			t.Fatalf("%s's node credentials hold %+v", msp, creds.Organizations)
		}
		allKeys[msp] = creds.Organizations[0].APIKey
	}
	// The shared development configuration's keys, which no organisation's
	// own node may accept either.
	shared, err := auth.ReadDevCredentials(filepath.Join(filepath.Dir(cfg), auth.DevCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*server{}
	for _, msp := range members {
		s := startServer(t, bin, filepath.Join(t.TempDir(), "data"), "--ledger", "fabric", "--config", filepath.Join(orgsDir, msp, "tokentrail.yaml"))
		s.keys = map[string]string{}
		for k, v := range allKeys {
			s.keys[k] = v
		}
		for _, c := range shared.Organizations {
			s.keys["shared-"+c.MSPID] = c.APIKey
		}
		nodes[msp] = s
		if msp != "RegulatorMSP" && !s.logContains("registering the organisations is left to the regulator's node") {
			t.Errorf("%s's node did not say it leaves registration to the regulator's:\n%s", msp, s.logs.String())
		}
	}

	// Each node knows its own organisation's key only.
	for msp, s := range nodes {
		var who struct {
			MSPID string `json:"mspId"`
		}
		s.must(200, "GET", "/api/v1/whoami", msp, nil, &who)
		if who.MSPID != msp {
			t.Errorf("%s's node: whoami %+v", msp, who)
		}
		for other := range s.keys {
			if other == msp {
				continue
			}
			if code, body := s.call("GET", "/api/v1/batches", other, nil); code != 401 {
				t.Errorf("%s's node answered %s's key with %d, want 401: %s", msp, other, code, body)
			}
		}
	}

	prefix := fmt.Sprintf("orgn%d-", time.Now().UnixNano())
	batch := prefix + "b"
	prov, exch, aud := nodes["ProviderMSP"], nodes["ExchangeMSP"], nodes["AuditorMSP"]
	prov.must(201, "POST", "/api/v1/batches", "ProviderMSP", collectReq(batch, int(time.Now().UnixNano()%1e9)), nil)
	// A node cannot act as another organisation: the provider's node has
	// no key of the exchange to present, so the trade is refused before
	// anything reaches the ledger.
	if code, body := prov.call("POST", "/api/v1/trades", "ExchangeMSP", tradeReq(prefix+"T-0", batch, 20)); code != 401 {
		t.Errorf("a trade through the provider's node with the exchange's key: %d, want 401: %s", code, body)
	}
	eventually(t, "the batch on the auditor's node", func() bool {
		code, _ := aud.call("GET", "/api/v1/batches/"+batch, "AuditorMSP", nil)
		return code == 200
	})
	aud.must(201, "POST", "/api/v1/batches/"+batch+"/assessments", "AuditorMSP", map[string]any{"score": 88, "method": "review"}, nil)
	eventually(t, "the assessment on the exchange's node", func() bool {
		_, b := exch.call("GET", "/api/v1/batches/"+batch+"/events", "ExchangeMSP", nil)
		return bytes.Contains(b, []byte("ASSESSED"))
	})
	exch.must(201, "POST", "/api/v1/trades", "ExchangeMSP", tradeReq(prefix+"T-1", batch, 20), nil)

	same := func(path string, readers []string) {
		t.Helper()
		var first []byte
		var last map[string][]byte
		ok := eventuallyOK(30*time.Second, func() bool {
			last = map[string][]byte{}
			first = nil
			for _, msp := range readers {
				code, b := nodes[msp].call("GET", path, msp, nil)
				if code != 200 {
					return false
				}
				last[msp] = b
				if first == nil {
					first = b
				} else if !bytes.Equal(first, b) {
					return false
				}
			}
			return bytes.Contains(first, []byte(batch))
		})
		if !ok {
			for msp, b := range last {
				t.Errorf("GET %s through %s's node: %s", path, msp, b)
			}
			t.Fatalf("GET %s does not read the same through the nodes of %v", path, readers)
		}
	}
	all := []string{"ProviderMSP", "ExchangeMSP", "RegulatorMSP", "AuditorMSP"}
	same("/api/v1/batches/"+batch, all)
	same("/api/v1/batches/"+batch+"/events", all)
	// The trade terms are private to the exchange and the regulator: those
	// two read the trade alike; the seller reads the same trade without them.
	same("/api/v1/trades?batchId="+batch, []string{"ExchangeMSP", "RegulatorMSP"})
	_, full := exch.call("GET", "/api/v1/trades?batchId="+batch, "ExchangeMSP", nil)
	code, b := prov.call("GET", "/api/v1/trades?batchId="+batch, "ProviderMSP", nil)
	if code != 200 || !bytes.Contains(b, []byte(prefix+"T-1")) {
		t.Fatalf("the seller reads the trade through its node: %d %s", code, b)
	}
	if withoutTerms(t, full) != withoutTerms(t, b) || bytes.Contains(b, []byte(`"terms"`)) {
		t.Errorf("the seller's node reads the trade otherwise than the exchange's (terms aside):\n%s\n%s", b, full)
	}
	if bytes.Contains(b, []byte(prefix+"T-0")) {
		t.Errorf("the refused trade is on the ledger: %s", b)
	}
}

// withoutTerms is a trade list's JSON with each trade's terms dropped.
func withoutTerms(t *testing.T, raw []byte) string {
	t.Helper()
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for _, it := range page.Items {
		delete(it, "terms")
	}
	b, _ := json.Marshal(page.Items)
	return string(b)
}

func eventuallyOK(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	if !eventuallyOK(30*time.Second, f) {
		t.Fatalf("%s: not within 30 s", what)
	}
}
