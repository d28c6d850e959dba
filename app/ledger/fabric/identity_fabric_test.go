package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// forgedGateway connects to the gateway of peerName as the identity mspID
// with the certificate certFile, signing with the private key keyFile: any
// mix of them, as an attacker holding some files would assemble.
func forgedGateway(t *testing.T, cfg Config, peerName, mspID, certFile, keyFile string) *client.Contract {
	t.Helper()
	peers, err := loadProfile(cfg.path(cfg.ConnectionProfile))
	if err != nil {
		t.Fatal(err)
	}
	ep, ok := peers[peerName]
	if !ok {
		t.Fatalf("no peer %s in the connection profile", peerName)
	}
	conn, err := dial(ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	certPEM, err := os.ReadFile(cfg.path(certFile))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.NewX509Identity(mspID, cert)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(cfg.path(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEndorseTimeout(30*time.Second), client.WithSubmitTimeout(30*time.Second), client.WithCommitStatusTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw.GetNetwork(cfg.Channel).GetContract(cfg.Chaincode)
}

func trustCollect(id string) []byte {
	b, _ := json.Marshal(contract.CollectRequest{ID: id, Name: "trust " + id, Sector: "science", Modality: "text",
		Tokens: contract.Tokens{Count: 1000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", time.Now().UnixNano()),
		SizeBytes: 4000, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"research"}, Region: "CN", Source: contract.Source{Type: "synthetic"}})
	return b
}

// TestIdentityFabric is the identity trust test: an organisation holding
// only the exchange's signing key cannot get a transaction committed as the
// provider, through any peer's gateway. It tries a creator that claims
// ProviderMSP with the exchange's certificate, and the provider's own
// (public) certificate signed with the exchange's key. The peers refuse
// both, and neither batch exists afterwards. The same hand-built path with
// the provider's real key does commit, so the refusals are the identity's.
func TestIdentityFabric(t *testing.T) {
	cfg := fabricConfig(t)
	ids := map[string]IdentityConfig{}
	for _, id := range cfg.Identities {
		ids[id.MSPID] = id
	}
	prov, exch := ids["ProviderMSP"], ids["ExchangeMSP"]
	if prov.MSPID == "" || exch.MSPID == "" {
		t.Fatalf("the configuration lacks the provider's or the exchange's identity: %+v", cfg.Identities)
	}
	n := readNetwork(t)
	prefix := fmt.Sprintf("trust%d-", time.Now().UnixNano())
	var forged []string
	for _, peerName := range n.peerNames() {
		for _, attack := range []struct{ name, cert string }{
			{"exchange-cert-as-provider", exch.Certificate},
			{"provider-cert-exchange-key", prov.Certificate},
		} {
			batch := prefix + attack.name + "-" + peerName
			forged = append(forged, batch)
			c := forgedGateway(t, cfg, peerName, "ProviderMSP", attack.cert, exch.PrivateKey)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			res, err := c.SubmitWithContext(ctx, contract.FnCollect, client.WithBytesArguments(trustCollect(batch)))
			cancel()
			if err == nil {
				t.Errorf("%s through %s: committed as ProviderMSP: %s", attack.name, peerName, res)
				continue
			}
			var ee *client.EndorseError
			if !errors.As(err, &ee) {
				t.Errorf("%s through %s: refused, but not at endorsement: %v", attack.name, peerName, err)
			}
			t.Logf("%s through %s: refused: %v", attack.name, peerName, err)
		}
	}

	// The control: the same path with the provider's own key commits.
	control := prefix + "control"
	c := forgedGateway(t, cfg, prov.GatewayPeer, "ProviderMSP", prov.Certificate, prov.PrivateKey)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.SubmitWithContext(ctx, contract.FnCollect, client.WithBytesArguments(trustCollect(control))); err != nil {
		t.Fatalf("the provider's real identity through the same path: %v", err)
	}

	// Nothing of the forgeries is on the ledger; the control is.
	l := openConfig(t, cfg)
	get := func(id string) error {
		b, _ := json.Marshal(contract.IDRequest{ID: id})
		_, err := l.Evaluate(ctx, "RegulatorMSP", contract.FnGetBatch, b)
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := get(control)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control batch: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, id := range forged {
		if err := get(id); !errors.Is(err, contract.ErrNotFound) {
			t.Errorf("forged batch %s: %v, want not found", id, err)
		}
	}
}
