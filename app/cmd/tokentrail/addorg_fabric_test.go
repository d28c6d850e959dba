package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// addedOrg is the seventh organisation TestAddOrgFabric adds.
const (
	addedOrg = "research"
	addedMSP = "ResearchMSP"
)

// networkScript runs scripts/network.sh (or TOKENTRAIL_NETWORK_SCRIPT) with
// args, from the repository the script is in.
func networkScript(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	script := os.Getenv("TOKENTRAIL_NETWORK_SCRIPT")
	if script == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		script = filepath.Join(wd, "..", "..", "..", "scripts", "network.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Dir = filepath.Dir(filepath.Dir(script))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("network.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAddOrgFabric: a seventh organisation joins the running channel
// through a configuration update (scripts/network.sh add-org: its MSP added
// to the Application group, signed by four of the six members' admins),
// the endorsement policy still refuses one organisation's endorsement, the
// regulator registers the newcomer through its node's API, and the
// newcomer's own node collects a batch that the regulator's node reads
// byte for byte alike.
func TestAddOrgFabric(t *testing.T) {
	cfg := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if cfg == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (scripts/test-fabric.sh does)")
	}
	dev := filepath.Dir(cfg)
	bin := buildBinary(t)

	raw, err := os.ReadFile(filepath.Join(dev, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nf netFile
	if err := json.Unmarshal(raw, &nf); err != nil {
		t.Fatal(err)
	}
	if _, ok := nf.Organizations[addedMSP]; ok {
		t.Logf("%s is already a member of this network (an earlier run added it)", addedMSP)
	} else {
		out := networkScript(t, 5*time.Minute, "add-org", addedOrg)
		t.Logf("add-org:\n%s", out)
	}
	// With seven members the endorsement policy still names the four
	// peer organisations: one endorsement is still invalidated.
	out := networkScript(t, 5*time.Minute, "smoke")
	if !strings.Contains(out, "ENDORSEMENT_POLICY_FAILURE") {
		t.Errorf("smoke after add-org did not see a single endorsement refused:\n%s", out)
	}

	orgsDir := filepath.Join(dev, "orgs")
	keys := map[string]string{}
	for _, msp := range []string{"RegulatorMSP", addedMSP} {
		creds, err := auth.ReadDevCredentials(filepath.Join(orgsDir, msp, auth.DevCredentialsFile))
		if err != nil {
			t.Fatalf("%s's node credentials: %v", msp, err)
		}
		keys[msp] = creds.Organizations[0].APIKey
	}
	start := func(msp string) *server {
		s := startServer(t, bin, filepath.Join(t.TempDir(), "data"), "--ledger", "fabric", "--config", filepath.Join(orgsDir, msp, "tokentrail.yaml"))
		s.keys = map[string]string{msp: keys[msp]}
		return s
	}
	reg, res := start("RegulatorMSP"), start(addedMSP)

	batch := fmt.Sprintf("research%d", time.Now().UnixNano())
	// Before the regulator registers it, the contract refuses its writes.
	var participant struct {
		Status string `json:"status"`
	}
	if code, _ := reg.call("GET", "/api/v1/participants/"+addedMSP, "RegulatorMSP", nil); code == 404 {
		code, body := res.call("POST", "/api/v1/batches", addedMSP, collectReq(batch+"-early", int(time.Now().UnixNano()%1e9)))
		if code == 201 {
			t.Fatalf("an unregistered %s collected a batch: %s", addedMSP, body)
		}
		t.Logf("unregistered %s collecting: %d %s", addedMSP, code, body)
		reg.must(201, "POST", "/api/v1/participants", "RegulatorMSP", map[string]any{
			"mspId": addedMSP, "name": "Research Institute", "roles": []string{"provider"}, "region": "CN"}, &participant)
		t.Logf("the regulator registered %s: %+v", addedMSP, participant)
	}
	eventually(t, addedMSP+" registered, as its own node reads it", func() bool {
		code, _ := res.call("GET", "/api/v1/participants/"+addedMSP, addedMSP, nil)
		return code == 200
	})

	var who struct {
		MSPID string `json:"mspId"`
	}
	res.must(200, "GET", "/api/v1/whoami", addedMSP, nil, &who)
	if who.MSPID != addedMSP {
		t.Fatalf("the new node's whoami: %+v", who)
	}

	// The newcomer transacts through its own node, endorsed by the peers of
	// two peer organisations as the policy asks.
	res.must(201, "POST", "/api/v1/batches", addedMSP, collectReq(batch, int(time.Now().UnixNano()%1e9)), nil)
	var first, second []byte
	if !eventuallyOK(30*time.Second, func() bool {
		var c1, c2 int
		c1, first = res.call("GET", "/api/v1/batches/"+batch, addedMSP, nil)
		c2, second = reg.call("GET", "/api/v1/batches/"+batch, "RegulatorMSP", nil)
		return c1 == 200 && c2 == 200 && bytes.Equal(first, second)
	}) {
		t.Fatalf("the batch does not read the same through %s's and the regulator's nodes:\n%s\n%s", addedMSP, first, second)
	}
	var b struct {
		Owner string `json:"owner"`
	}
	if err := json.Unmarshal(first, &b); err != nil || b.Owner != addedMSP {
		t.Errorf("the batch's owner: %q (%v), want %s: %s", b.Owner, err, addedMSP, first)
	}
}
