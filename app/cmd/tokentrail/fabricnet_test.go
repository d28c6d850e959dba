package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func testLayout(t *testing.T, otype string) netLayout {
	t.Helper()
	return netLayout{Dev: t.TempDir(), Channel: "tokentrail", Chaincode: "tokentrail", BasePort: 9050, OrdererType: otype}
}

// TestNetLayoutPorts pins the port arithmetic scripts/lib-network.sh
// documents, and that a network at base 9050 stays clear of the default
// network's block (7050-8999).
func TestNetLayoutPorts(t *testing.T) {
	for _, otype := range []string{ordererRaft, ordererBFT} {
		l := testLayout(t, otype)
		want := 3
		if otype == ordererBFT {
			want = 4
		}
		nodes := l.orderers()
		if len(nodes) != want {
			t.Fatalf("%s: %d orderers, want %d", otype, len(nodes), want)
		}
		for i, o := range nodes {
			if o.Port != 9050+10*i {
				t.Errorf("%s: %s at port %d, want %d", otype, o.Name, o.Port, 9050+10*i)
			}
		}
		for i, org := range netPeerOrgs {
			if p := l.peerPort(org); p != 9150+10*i {
				t.Errorf("peer of %s at %d, want %d", org, p, 9150+10*i)
			}
		}
		nf := l.networkFile(nil, netOrgs)
		var ports []string
		for _, o := range nf.Orderers {
			ports = append(ports, o.Address, o.AdminAddress, o.Operations)
		}
		for _, p := range nf.Peers {
			ports = append(ports, p.Address, p.Operations)
		}
		for _, a := range ports {
			port, err := strconv.Atoi(strings.TrimPrefix(a, "127.0.0.1:"))
			if err != nil {
				t.Fatalf("address %q", a)
			}
			if port < 9050 || port >= 9050+300 {
				t.Errorf("%s: port %d outside 9050..9349", otype, port)
			}
		}
	}
}

// TestConfigtxBFT: four consenters, each of its own member's orderer
// organisation, with its identity and TLS certificates, and SmartBFT options.
func TestConfigtxBFT(t *testing.T) {
	l := testLayout(t, ordererBFT)
	path, err := l.writeConfigtx()
	if err != nil {
		t.Fatal(err)
	}
	var got configtx
	b, _ := os.ReadFile(path)
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	p, ok := got.Profiles["TokentrailChannel"]
	if !ok {
		t.Fatalf("no profile TokentrailChannel:\n%s", b)
	}
	o := p.Orderer
	if o.OrdererType != "BFT" || o.EtcdRaft != nil || !p.Capabilities["V3_0"] || o.Policies.BlockValidation == nil {
		t.Fatalf("orderer type %q, etcdraft %v, capabilities %v", o.OrdererType, o.EtcdRaft, p.Capabilities)
	}
	if len(o.ConsenterMapping) != 4 || len(o.Organizations) != 4 {
		t.Fatalf("%d consenters, %d orderer organisations, want 4 and 4", len(o.ConsenterMapping), len(o.Organizations))
	}
	wantMSP := []string{"RegulatorOrdererMSP", "ProviderOrdererMSP", "ExchangeOrdererMSP", "AuditorOrdererMSP"}
	for i, c := range o.ConsenterMapping {
		if c.ID != i+1 || c.MSPID != wantMSP[i] || c.Port != 9050+10*i || c.Host != "127.0.0.1" {
			t.Errorf("consenter %d: %+v", i, c)
		}
		host := "orderer" + string(rune('1'+i)) + ".orderer." + netPeerOrgs[i] + ".tokentrail.test"
		if !strings.HasSuffix(c.Identity, filepath.Join(host, "msp", "signcerts", host+"-cert.pem")) ||
			!strings.HasSuffix(c.ServerTLSCert, filepath.Join(host, "tls", "server.crt")) || c.ClientTLSCert != c.ServerTLSCert {
			t.Errorf("consenter %d certificates: %+v", i, c)
		}
		org := o.Organizations[i]
		if org.ID != wantMSP[i] || len(org.OrdererEndpoints) != 1 || org.OrdererEndpoints[0] != "127.0.0.1:"+strconv.Itoa(c.Port) {
			t.Errorf("orderer organisation %d: %+v", i, org)
		}
	}
	for _, k := range []string{"RequestBatchMaxInterval", "LeaderHeartbeatTimeout", "RequestComplainTimeout", "ViewChangeTimeout"} {
		if o.SmartBFT[k] == "" {
			t.Errorf("SmartBFT option %s missing", k)
		}
	}
	if len(p.Application.Organizations) != len(netOrgs) {
		t.Errorf("%d application organisations, want %d", len(p.Application.Organizations), len(netOrgs))
	}
}

// TestConfigtxRaft: the Raft channel is what the template used to render:
// three consenters of OrdererMSP.
func TestConfigtxRaft(t *testing.T) {
	l := testLayout(t, ordererRaft)
	c := l.configtx().Profiles["TokentrailChannel"]
	o := c.Orderer
	if o.OrdererType != "etcdraft" || o.EtcdRaft == nil || len(o.EtcdRaft.Consenters) != 3 || o.ConsenterMapping != nil || o.SmartBFT != nil {
		t.Fatalf("raft orderer: %+v", o)
	}
	if len(o.Organizations) != 1 || o.Organizations[0].ID != "OrdererMSP" || len(o.Organizations[0].OrdererEndpoints) != 3 {
		t.Fatalf("orderer organisations: %+v", o.Organizations)
	}
	if got := c.Application.Policies.LifecycleEndorsement.Rule; got != "AND('RegulatorMSP.peer', OutOf(2, 'ProviderMSP.peer', 'ExchangeMSP.peer', 'AuditorMSP.peer'))" {
		t.Errorf("lifecycle endorsement %q", got)
	}
	if o.BatchTimeout != "100ms" || o.BatchSize.MaxMessageCount != 100 {
		t.Errorf("default block cutting: %s, %d", o.BatchTimeout, o.BatchSize.MaxMessageCount)
	}
	l.BatchTimeout, l.MaxMessageCount = 250*time.Millisecond, 500
	if o := l.configtx().Profiles["TokentrailChannel"].Orderer; o.BatchTimeout != "250ms" || o.BatchSize.MaxMessageCount != 500 {
		t.Errorf("block cutting as given: %s, %d", o.BatchTimeout, o.BatchSize.MaxMessageCount)
	}
}

// TestNetworkFilesEscape: a network directory whose path has quotes, a
// colon, a hash, a backslash and a newline reaches network.json and every
// connection profile unchanged, and tokentrail's own profile reader finds
// the peers in it.
func TestNetworkFilesEscape(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "we\"ird: #dir\\\nx")
	if err := os.MkdirAll(filepath.Join(dev, "chaincode", "tokentrail"), 0o755); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(dev, "chaincode", "tokentrail")
	for name, v := range map[string]string{"definition": "1 abc", "running_id": "tokentrail:ff\"00", "port": "9250", "cmd": "./chaincode/cmd/tokentrail-cc"} {
		if err := os.WriteFile(filepath.Join(cc, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A chaincode directory without a committed definition is not listed.
	if err := os.MkdirAll(filepath.Join(dev, "chaincode", "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := netLayout{Dev: dev, Channel: "tokentrail", Chaincode: "tokentrail", BasePort: 9050, OrdererType: ordererBFT}
	if _, err := l.writeAppFiles(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dev, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nf netFile
	if err := json.Unmarshal(b, &nf); err != nil {
		t.Fatal(err)
	}
	if len(nf.Chaincodes) != 1 || nf.Chaincodes["tokentrail"].PackageID != "tokentrail:ff\"00" || nf.Chaincodes["tokentrail"].Address != "127.0.0.1:9250" {
		t.Errorf("chaincodes: %+v", nf.Chaincodes)
	}
	reg := nf.Organizations["RegulatorMSP"]
	if !strings.HasPrefix(reg.CertPath, dev+string(filepath.Separator)) || reg.ConnectionProfile != filepath.Join(dev, "connection-regulator.yaml") {
		t.Errorf("regulator: %+v", reg)
	}
	if nf.OrdererType != "BFT" || len(nf.OrdererOrganizations) != 4 || nf.OrdererAdmin.MSPID != "RegulatorOrdererMSP" {
		t.Errorf("orderer organisations: %s %+v %+v", nf.OrdererType, nf.OrdererOrganizations, nf.OrdererAdmin)
	}
	if o := nf.Orderers["orderer4"]; o.Operator != "auditor" || o.ConsenterID != 4 || o.MSPID != "AuditorOrdererMSP" {
		t.Errorf("orderer4: %+v", o)
	}
	if nf.Organizations["ProcessorMSP"].HasPeer || nf.Organizations["ProcessorMSP"].GatewayPeer != "peer0.provider.tokentrail.test" {
		t.Errorf("processor: %+v", nf.Organizations["ProcessorMSP"])
	}
	for _, o := range netOrgs {
		raw, err := os.ReadFile(l.connectionProfilePath(o.Name))
		if err != nil {
			t.Fatal(err)
		}
		var cp connectionProfile
		if err := yaml.Unmarshal(raw, &cp); err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		me := cp.Organizations[title(o.Name)]
		if me.AdminPrivateKey == nil || me.AdminPrivateKey.Path != nf.Organizations[mspOf(o.Name)].AdminKeyPath {
			t.Errorf("%s: own organisation %+v", o.Name, me)
		}
		if cp.XTokentrail.CertPath != nf.Organizations[mspOf(o.Name)].CertPath {
			t.Errorf("%s: x-tokentrail certPath %q", o.Name, cp.XTokentrail.CertPath)
		}
		if len(cp.Channels["tokentrail"].Orderers) != 4 || len(cp.Peers) != 4 {
			t.Errorf("%s: channel %+v, %d peers", o.Name, cp.Channels["tokentrail"], len(cp.Peers))
		}
		for name, other := range cp.Organizations {
			if name != title(o.Name) && (other.AdminPrivateKey != nil || other.SignedCert != nil) {
				t.Errorf("%s's profile carries %s's admin key", o.Name, name)
			}
		}
		if p := cp.Peers["peer0.exchange.tokentrail.test"]; p.URL != "grpcs://127.0.0.1:9170" || p.TLSCACerts.Path != nf.Peers["peer0.exchange.tokentrail.test"].TLSRootCertPath {
			t.Errorf("%s: exchange peer %+v", o.Name, p)
		}
	}
}

func TestNetworkFilesCommand(t *testing.T) {
	dev := t.TempDir()
	var out, errb bytes.Buffer
	if err := fabricCmd([]string{"network-files", "configtx", "--dev", dev, "--base-port", "9050", "--orderer-type", "bft"}, &out, &errb, os.Getenv); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dev, "config", "configtx.yaml")); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]string{
		"orderer type": {"network-files", "app", "--dev", dev, "--orderer-type", "kafka"},
		"relative":     {"network-files", "app", "--dev", "", "--orderer-type", "raft", "--base-port", "99999"},
		"channel":      {"network-files", "app", "--dev", dev, "--channel", "Bad Channel"},
		"chaincode":    {"network-files", "app", "--dev", dev, "--chaincode", "../x"},
		"stage":        {"network-files", "genesis", "--dev", dev},
		"extra":        {"network-files", "app", "--dev", dev, "more"},
		"timeout zero": {"network-files", "configtx", "--dev", dev, "--batch-timeout", "0s"},
		"timeout long": {"network-files", "configtx", "--dev", dev, "--batch-timeout", "1m"},
		"count":        {"network-files", "configtx", "--dev", dev, "--max-message-count", "0"},
	}
	for name, args := range bad {
		err := fabricCmd(args, &out, &errb, os.Getenv)
		var u *usageError
		if err == nil || !errors.As(err, &u) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
	for in, want := range map[string]string{"raft": ordererRaft, "etcdraft": ordererRaft, "BFT": ordererBFT, "bft": ordererBFT} {
		if got, err := parseOrdererType(in); err != nil || got != want {
			t.Errorf("parseOrdererType(%q) = %q, %v", in, got, err)
		}
	}
}

// TestCCaaSConnection: the PEM files are inlined exactly (newlines and all)
// and the three TLS flags go together.
func TestCCaaSConnection(t *testing.T) {
	dir := t.TempDir()
	pem := "-----BEGIN CERTIFICATE-----\nAB\"C\\D\n-----END CERTIFICATE-----\n"
	for _, f := range []string{"c.pem", "k.pem", "r.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(pem), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "connection.json")
	var so, se bytes.Buffer
	args := []string{"ccaas-connection", "--address", "127.0.0.1:9250", "--out", out,
		"--client-cert", filepath.Join(dir, "c.pem"), "--client-key", filepath.Join(dir, "k.pem"), "--root-cert", filepath.Join(dir, "r.pem")}
	if err := fabricCmd(args, &so, &se, os.Getenv); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	var c ccaasConnection
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !c.TLSRequired || !c.ClientAuthRequired || c.ClientCert != pem || c.ClientKey != pem || c.RootCert != pem || c.Address != "127.0.0.1:9250" || c.DialTimeout != "10s" {
		t.Errorf("connection.json: %s", b)
	}
	if err := fabricCmd([]string{"ccaas-connection", "--address", "127.0.0.1:1", "--out", out}, &so, &se, os.Getenv); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out)
	if err := json.Unmarshal(b, &c); err != nil || strings.Contains(string(b), "client") {
		t.Errorf("plain connection.json: %s", b)
	}
	if err := fabricCmd(args[:7], &so, &se, os.Getenv); err == nil {
		t.Error("--client-cert alone accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fabricCmd(args, &so, &se, os.Getenv); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Errorf("a key that is not PEM: %v", err)
	}
}
