package consortiumtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// EnvAddedOrg names the environment variable that holds the MSP ID of a
// member added to the consortium after it came up (scripts/network.sh
// add-org, which scripts/test-consortium.sh runs after the other tests).
const EnvAddedOrg = "TOKENTRAIL_ADDED_MSP"

// TestAddOrgConsortium: a member added to the running consortium has a host
// of its own with its own node; the regulator registers it through the
// regulator's node; it collects a batch through its own node, across the
// hosts' links, and the regulator's and the auditor's nodes read the batch
// byte for byte as the newcomer's does.
func TestAddOrgConsortium(t *testing.T) {
	c := agConsortium(t)
	msp := os.Getenv(EnvAddedOrg)
	if msp == "" {
		t.Skipf("no member added: %s names one after scripts/network.sh add-org (scripts/test-consortium.sh sets it)", EnvAddedOrg)
	}
	h, ok := c.Host(msp)
	if !ok || h.Node.URL == "" {
		t.Fatalf("consortium.json has no host with a node for %s: %+v", msp, h)
	}
	for _, other := range c.Hosts {
		if other.MSPID != msp && other.Address == h.Address {
			t.Fatalf("%s's host shares address %s with %s's", msp, h.Address, other.MSPID)
		}
	}
	node := func(m string) agNode {
		hh, ok := c.Host(m)
		if !ok || hh.Node.URL == "" {
			t.Fatalf("no node of %s", m)
		}
		return agNode{msp: m, url: hh.Node.URL, key: agKey(t, hh.Node.Credentials, m)}
	}
	added, reg, aud := node(msp), node("RegulatorMSP"), node("AuditorMSP")

	stamp := time.Now().UnixNano()
	batch := fmt.Sprintf("added%d", stamp)
	collect := func(id string) map[string]any {
		return map[string]any{
			"id": id, "name": "batch " + id, "sector": "science", "modality": "text",
			"tokens":        map[string]any{"count": 1_500_000, "tokenizer": "o200k_base"},
			"contentDigest": fmt.Sprintf("sha256:%064x", stamp%1_000_000_007+int64(len(id))),
			"sizeBytes":     6_000_000, "records": 20_000, "classification": "general", "personalInfo": "none",
			"deidentification": "none", "legalBasis": "contract", "purposes": []string{"research"},
			"region": "CN", "source": map[string]any{"type": "enterprise", "region": "CN"},
		}
	}
	if code, _ := reg.call(t, "GET", "/api/v1/participants/"+msp, reg.key, nil); code == 404 {
		if code, b := added.call(t, "POST", "/api/v1/batches", added.key, collect(batch+"-early")); code == 201 {
			t.Fatalf("an unregistered %s collected a batch: %s", msp, b)
		}
		reg.must(t, 201, "POST", "/api/v1/participants", map[string]any{
			"mspId": msp, "name": "Research Institute", "roles": []string{"provider"}, "region": "CN"})
	}
	if !agEventually(60*time.Second, func() bool {
		code, _ := added.call(t, "GET", "/api/v1/whoami", added.key, nil)
		return code == 200
	}) {
		t.Fatalf("%s's node does not see it registered within 60 s", msp)
	}
	added.must(t, 201, "POST", "/api/v1/batches", collect(batch))
	var last map[string][]byte
	if !agEventually(60*time.Second, func() bool {
		last = map[string][]byte{}
		var first []byte
		for _, n := range []agNode{added, reg, aud} {
			code, b := n.call(t, "GET", "/api/v1/batches/"+batch, n.key, nil)
			if code != 200 {
				return false
			}
			last[n.msp] = b
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the batch does not read the same through %s's, the regulator's and the auditor's nodes: %s", msp, last)
	}
	var b struct {
		Owner string `json:"owner"`
	}
	if err := json.Unmarshal(last[msp], &b); err != nil || b.Owner != msp {
		t.Errorf("the batch's owner: %q (%v), want %s", b.Owner, err, msp)
	}
}
