package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/status"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The tampered-endorser fixture: scripts/network.sh deploy-tampered ORG
// deploys chaincode tamperedChaincode with tokentrail's endorsement policy
// (any two of the four peer organisations) and collections, where ORG's peer
// runs chaincode/fabric/testdata/tampered-cc (batch token counts x10) and
// the other three the real server.
const (
	tamperedChaincode = "tokentrail-tamper"
	tamperedOrg       = "provider"
	tamperedMSP       = "ProviderMSP"
)

// deployTampered runs scripts/network.sh deploy-tampered (or the script
// TOKENTRAIL_NETWORK_SCRIPT names, for a network made elsewhere); it does
// nothing when the definition is already committed.
func deployTampered(t *testing.T) {
	t.Helper()
	script := os.Getenv("TOKENTRAIL_NETWORK_SCRIPT")
	if script == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		script = filepath.Join(root, "scripts", "network.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "deploy-tampered", tamperedOrg)
	cmd.Dir = filepath.Dir(filepath.Dir(script))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s deploy-tampered %s: %v\n%s", script, tamperedOrg, err, out)
	}
	t.Logf("deploy-tampered:\n%s", strings.TrimSpace(string(out)))
}

// TestTamperedEndorserFabric is the consortium trust test for a dishonest
// peer: the provider's peer runs a chaincode that inflates the token count
// of every batch it writes. The provider's client then collects batches
// through its own gateway, naming the endorsers:
//
//	(a) the tampered peer alone: the orderer takes the transaction, but every
//	    peer marks it ENDORSEMENT_POLICY_FAILURE (one endorsement of the two
//	    the policy asks for), so nothing of it reaches state;
//	(b) the tampered peer and an honest one: the two results differ, the
//	    gateway refuses to assemble a transaction, nothing is submitted;
//	(c) two honest peers: commits, with the declared count, on every peer.
//
// Every peer, the tampered one included, is then asked for each batch.
func TestTamperedEndorserFabric(t *testing.T) {
	cfg := fabricConfig(t)
	n := readNetwork(t)
	deployTampered(t)
	cfg.Chaincode = tamperedChaincode

	ids := map[string]IdentityConfig{}
	for _, id := range cfg.Identities {
		ids[id.MSPID] = id
	}
	prov, reg := ids[tamperedMSP], ids["RegulatorMSP"]
	if prov.MSPID == "" || reg.MSPID == "" {
		t.Fatalf("the configuration lacks the provider's or the regulator's identity: %+v", cfg.Identities)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The chaincode's namespace starts empty: the regulator bootstraps it
	// and registers the provider. Neither writes a batch, so whichever
	// peers the gateway picks agree. On a second run both exist already.
	l := openConfig(t, cfg)
	setup := func(org, fn string, req any) {
		b, _ := json.Marshal(req)
		_, err := l.Submit(ctx, org, fn, b, nil)
		var cerr *contract.Error
		if err != nil && !(errors.As(err, &cerr) && cerr.Kind == contract.KindConflict) {
			t.Fatalf("%s on %s: %v", fn, tamperedChaincode, err)
		}
	}
	setup("RegulatorMSP", contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"})
	setup("RegulatorMSP", contract.FnRegisterParticipant, contract.RegisterParticipantRequest{
		MSPID: tamperedMSP, Name: "Provider", Roles: []string{contract.RoleProvider}, Region: "CN"})

	c := forgedGateway(t, cfg, prov.GatewayPeer, tamperedMSP, prov.Certificate, prov.PrivateKey)
	prefix := fmt.Sprintf("tamper%d-", time.Now().UnixNano())
	collect := func(id string, orgs ...string) error {
		_, err := c.SubmitWithContext(ctx, contract.FnCollect, client.WithBytesArguments(trustCollect(id)),
			client.WithEndorsingOrganizations(orgs...))
		return err
	}

	// (a) The tampered peer alone.
	alone := prefix + "alone"
	err := collect(alone, tamperedMSP)
	var ce *client.CommitError
	if !errors.As(err, &ce) || ce.Code != peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Errorf("(a) endorsed by %s alone: %v, want a commit error ENDORSEMENT_POLICY_FAILURE", tamperedMSP, err)
	} else {
		t.Logf("(a) endorsed by %s alone: transaction %s ordered, invalid: %s", tamperedMSP, ce.TransactionID, ce.Code)
	}

	// (b) The tampered peer with an honest one.
	mixed := prefix + "mixed"
	err = collect(mixed, tamperedMSP, "RegulatorMSP")
	var ee *client.EndorseError
	if !errors.As(err, &ee) {
		t.Errorf("(b) endorsed by %s and RegulatorMSP: %v, want an endorsement error", tamperedMSP, err)
	} else if !mentions(err, "do not match") {
		t.Errorf("(b) endorsed by %s and RegulatorMSP: refused, but not for mismatched results: %v", tamperedMSP, err)
	} else {
		t.Logf("(b) endorsed by %s and RegulatorMSP: refused: %v", tamperedMSP, details(err))
	}

	// (c) The control: two honest peers, the same client and gateway.
	honest := prefix + "honest"
	if err := collect(honest, "RegulatorMSP", "ExchangeMSP"); err != nil {
		t.Fatalf("(c) endorsed by RegulatorMSP and ExchangeMSP: %v", err)
	}

	// Each peer answers for itself (its own chaincode server, the tampered
	// one included). Once a peer has the control batch it has processed
	// the blocks before it, which hold (a)'s invalid transaction.
	rc := forgedGateway(t, cfg, reg.GatewayPeer, "RegulatorMSP", reg.Certificate, reg.PrivateKey)
	getOn := func(msp, id string) (contract.Batch, error) {
		b, _ := json.Marshal(contract.IDRequest{ID: id})
		res, err := rc.EvaluateWithContext(ctx, contract.FnGetBatch, client.WithBytesArguments(b), client.WithEndorsingOrganizations(msp))
		if err != nil {
			if cerr, ok := contractError(err); ok {
				return contract.Batch{}, cerr
			}
			return contract.Batch{}, err
		}
		var batch contract.Batch
		return batch, json.Unmarshal(res, &batch)
	}
	for _, name := range n.peerNames() {
		msp := n.Peers[name].MSPID
		var got contract.Batch
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err = getOn(msp, honest)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("(c) on %s: %v", name, err)
			continue
		}
		if got.Tokens.Count != 1000 {
			t.Errorf("(c) on %s: %d tokens, want the declared 1000", name, got.Tokens.Count)
		}
		for _, id := range []string{alone, mixed} {
			if _, err := getOn(msp, id); !errors.Is(err, contract.ErrNotFound) {
				t.Errorf("%s on %s: %v, want not found", id, name, err)
			}
		}
	}
}

// details is a gateway error's text with the peers' details.
func details(err error) string {
	parts := []string{err.Error()}
	for _, d := range status.Convert(err).Details() {
		if m, ok := d.(interface{ GetMessage() string }); ok {
			parts = append(parts, m.GetMessage())
		}
	}
	return strings.Join(parts, "; ")
}

func mentions(err error, s string) bool { return strings.Contains(details(err), s) }
