package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// testChannelConfig is a channel configuration shaped like the development
// network's: an Application group with policies, values and n members.
func testChannelConfig(t *testing.T, n int, rule common.ImplicitMetaPolicy_Rule) *common.Config {
	t.Helper()
	meta, err := proto.Marshal(&common.ImplicitMetaPolicy{SubPolicy: "Admins", Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	app := &common.ConfigGroup{Version: 3, ModPolicy: "Admins",
		Groups: map[string]*common.ConfigGroup{},
		Policies: map[string]*common.ConfigPolicy{
			"Admins":               {Version: 0, ModPolicy: "Admins", Policy: &common.Policy{Type: int32(common.Policy_IMPLICIT_META), Value: meta}},
			"Readers":              {Version: 1, ModPolicy: "Admins", Policy: &common.Policy{Type: int32(common.Policy_IMPLICIT_META)}},
			"LifecycleEndorsement": {Version: 2, ModPolicy: "Admins", Policy: &common.Policy{Type: int32(common.Policy_SIGNATURE)}},
		},
		Values: map[string]*common.ConfigValue{"Capabilities": {Version: 4, ModPolicy: "Admins", Value: []byte("x")}},
	}
	for i := 0; i < n; i++ {
		app.Groups[mspOf(netOrgs[i%len(netOrgs)].Name)+strings.Repeat("X", i/len(netOrgs))] = &common.ConfigGroup{Version: uint64(i)}
	}
	return &common.Config{Sequence: 9, ChannelGroup: &common.ConfigGroup{Version: 7,
		Groups: map[string]*common.ConfigGroup{"Application": app, "Orderer": {Version: 1}}}}
}

func TestAddOrgUpdateKeepsTheApplicationGroup(t *testing.T) {
	cfg := testChannelConfig(t, 6, common.ImplicitMetaPolicy_MAJORITY)
	newGroup := &common.ConfigGroup{ModPolicy: "Admins"}
	u, err := addOrgUpdate(cfg, "tokentrail", "ResearchMSP", newGroup)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg.ChannelGroup.Groups["Application"]
	if u.ChannelId != "tokentrail" || u.ReadSet.Version != 7 || u.WriteSet.Version != 7 {
		t.Errorf("channel %q, root versions %d/%d", u.ChannelId, u.ReadSet.Version, u.WriteSet.Version)
	}
	if _, ok := u.WriteSet.Groups["Orderer"]; ok {
		t.Error("the update touches the Orderer group")
	}
	r, w := u.ReadSet.Groups["Application"], u.WriteSet.Groups["Application"]
	if r.Version != app.Version || w.Version != app.Version+1 || w.ModPolicy != "Admins" {
		t.Errorf("Application versions read %d write %d (current %d), mod policy %q", r.Version, w.Version, app.Version, w.ModPolicy)
	}
	// Everything the group keeps is named at its current version on both
	// sides: a policy or value left out would be deleted.
	for name, p := range app.Policies {
		if r.Policies[name].GetVersion() != p.Version || w.Policies[name] == nil || w.Policies[name].Version != p.Version || w.Policies[name].Policy != nil {
			t.Errorf("policy %s: read %v write %v, want version %d only", name, r.Policies[name], w.Policies[name], p.Version)
		}
	}
	for name, v := range app.Values {
		if r.Values[name].GetVersion() != v.Version || w.Values[name] == nil || w.Values[name].Version != v.Version || w.Values[name].Value != nil {
			t.Errorf("value %s: read %v write %v", name, r.Values[name], w.Values[name])
		}
	}
	for name, g := range app.Groups {
		if r.Groups[name].GetVersion() != g.Version || w.Groups[name].GetVersion() != g.Version {
			t.Errorf("member %s: read %v write %v, want version %d", name, r.Groups[name], w.Groups[name], g.Version)
		}
	}
	if len(w.Groups) != 7 || w.Groups["ResearchMSP"] != newGroup || r.Groups["ResearchMSP"] != nil {
		t.Errorf("write set members %d, new member %v, read set has it: %v", len(w.Groups), w.Groups["ResearchMSP"], r.Groups["ResearchMSP"] != nil)
	}
	if _, err := addOrgUpdate(cfg, "tokentrail", "ProviderMSP", newGroup); err == nil || !strings.Contains(err.Error(), "already a member") {
		t.Errorf("adding an existing member: %v", err)
	}
}

func TestAdminsNeeded(t *testing.T) {
	for _, c := range []struct {
		members int
		rule    common.ImplicitMetaPolicy_Rule
		want    int
	}{
		{6, common.ImplicitMetaPolicy_MAJORITY, 4},
		{7, common.ImplicitMetaPolicy_MAJORITY, 4},
		{8, common.ImplicitMetaPolicy_MAJORITY, 5},
		{6, common.ImplicitMetaPolicy_ANY, 1},
		{6, common.ImplicitMetaPolicy_ALL, 6},
	} {
		got, err := adminsNeeded(testChannelConfig(t, c.members, c.rule))
		if err != nil || got != c.want {
			t.Errorf("%d members, %s: %d, %v; want %d", c.members, c.rule, got, err, c.want)
		}
	}
}

// testAdminMSP writes an admin's MSP directory (signcerts, keystore) and
// returns it with the admin's key.
func testAdminMSP(t *testing.T, dir, cn string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	msp := filepath.Join(dir, cn)
	for _, d := range []string{"signcerts", "keystore"} {
		if err := os.MkdirAll(filepath.Join(msp, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(msp, "signcerts", cn+"-cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(msp, "keystore", "priv_sk"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return msp, key
}

func TestSignConfigUpdate(t *testing.T) {
	dir := t.TempDir()
	var signers []configSigner
	keys := map[string]*ecdsa.PrivateKey{}
	for _, o := range []string{"regulator", "provider", "exchange", "auditor"} {
		msp, key := testAdminMSP(t, dir, o)
		signers = append(signers, configSigner{mspOf(o), msp})
		keys[mspOf(o)] = key
	}
	u, err := addOrgUpdate(testChannelConfig(t, 6, common.ImplicitMetaPolicy_MAJORITY), "tokentrail", "ResearchMSP", &common.ConfigGroup{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signConfigUpdate(u, "tokentrail", signers[:3], 4); err == nil || !strings.Contains(err.Error(), "needs 4") {
		t.Errorf("three signatures where four are needed: %v", err)
	}
	if _, err := signConfigUpdate(u, "tokentrail", append(signers[:3:3], signers[0]), 4); err == nil || !strings.Contains(err.Error(), "two signers") {
		t.Errorf("one organisation signing twice: %v", err)
	}
	env, err := signConfigUpdate(u, "tokentrail", signers, 4)
	if err != nil {
		t.Fatal(err)
	}
	var pl common.Payload
	if err := proto.Unmarshal(env.Payload, &pl); err != nil {
		t.Fatal(err)
	}
	var ch common.ChannelHeader
	if err := proto.Unmarshal(pl.Header.ChannelHeader, &ch); err != nil || ch.ChannelId != "tokentrail" || common.HeaderType(ch.Type) != common.HeaderType_CONFIG_UPDATE {
		t.Fatalf("channel header %+v (%v)", &ch, err)
	}
	var cue common.ConfigUpdateEnvelope
	if err := proto.Unmarshal(pl.Data, &cue); err != nil {
		t.Fatal(err)
	}
	if len(cue.Signatures) != 4 {
		t.Fatalf("%d signatures", len(cue.Signatures))
	}
	// Each signature is its admin's, over its header and the update.
	for _, s := range cue.Signatures {
		var sh common.SignatureHeader
		var id mspproto.SerializedIdentity
		if err := proto.Unmarshal(s.SignatureHeader, &sh); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(sh.Creator, &id); err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(append(append([]byte{}, s.SignatureHeader...), cue.ConfigUpdate...))
		if !ecdsa.VerifyASN1(&keys[id.Mspid].PublicKey, digest[:], s.Signature) {
			t.Errorf("%s's signature does not verify", id.Mspid)
		}
		digest[0] ^= 1
		if ecdsa.VerifyASN1(&keys[id.Mspid].PublicKey, digest[:], s.Signature) {
			t.Errorf("%s's signature verifies over other data", id.Mspid)
		}
	}
}

func TestAddedOrgsInNetworkFiles(t *testing.T) {
	dev := t.TempDir()
	l := netLayout{Dev: dev, Channel: "tokentrail", Chaincode: "tokentrail", BasePort: 7050, OrdererType: ordererRaft}
	if err := checkNewOrg(dev, "research", "provider"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ name, gw, want string }{
		{"provider", "provider", "already a member"},
		{"Research", "provider", "lower-case"},
		{"research", "processor", "peer organisation"},
	} {
		if err := checkNewOrg(dev, bad.name, bad.gw); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s through %s: %v, want %q", bad.name, bad.gw, err, bad.want)
		}
	}
	var out strings.Builder
	if err := addOrgRecordCmd([]string{"--dev", dev, "--org", "research", "--gateway", "exchange"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if err := checkNewOrg(dev, "research", "provider"); err == nil || !strings.Contains(err.Error(), "already a member") {
		t.Errorf("recorded twice: %v", err)
	}
	if _, err := l.writeAppFiles(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dev, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nf netFile
	if err := json.Unmarshal(raw, &nf); err != nil {
		t.Fatal(err)
	}
	r, ok := nf.Organizations["ResearchMSP"]
	if !ok || r.HasPeer || r.GatewayPeer != "peer0.exchange.tokentrail.test" || len(nf.Organizations) != 7 {
		t.Errorf("network.json organisations: %d, ResearchMSP %+v", len(nf.Organizations), r)
	}
	if _, err := os.Stat(filepath.Join(dev, "connection-research.yaml")); err != nil {
		t.Error(err)
	}
	// The genesis configuration is not touched by a later member.
	if got := len(l.configtx().Profiles["TokentrailChannel"].Application.Organizations); got != 6 {
		t.Errorf("configtx names %d members, want the genesis block's 6", got)
	}
	// A list of another format is refused, naming both.
	if err := os.WriteFile(filepath.Join(dev, addedOrgsFile), []byte(`{"format": 2, "organizations": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.writeAppFiles(); err == nil || !strings.Contains(err.Error(), "format 2") || !strings.Contains(err.Error(), "format 1") {
		t.Errorf("format 2: %v", err)
	}
}
