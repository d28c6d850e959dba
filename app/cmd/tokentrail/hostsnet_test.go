package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tokentrail/tokentrail/app/consortiumtest"
)

func hostsLayout(t *testing.T, otype string) netLayout {
	t.Helper()
	l := testLayout(t, otype)
	l.Hosts = &netHosts{Prefix: "tt", Subnet: "10.77.0", Script: "/repo/scripts/network.sh"}
	return l
}

// TestHostsConsortiumFile: consortium.json decodes into the consortium
// tests' type with no field left over, names one host per member (and the
// Raft ordering organisation's), every name under the prefix and short
// enough for a link, every address in the subnet and distinct, and a proxy
// on the hub for every orderer, peer and node, whose upstream is the host
// that runs it.
func TestHostsConsortiumFile(t *testing.T) {
	for _, otype := range []string{ordererBFT, ordererRaft} {
		l := hostsLayout(t, otype)
		if _, err := l.writeHostsFiles(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(l.Dev, "consortium.json"))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var c consortiumtest.Consortium
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: consortium.json does not decode into consortiumtest.Consortium: %v", otype, err)
		}
		wantHosts := len(netOrgs)
		if otype == ordererRaft {
			wantHosts++
		}
		if len(c.Hosts) != wantHosts || c.Hub.Namespace != "tt-hub" || c.Hub.Address != "10.77.0.1" || c.Hub.Bridge != "ttbr0" {
			t.Fatalf("%s: hub %+v, %d hosts", otype, c.Hub, len(c.Hosts))
		}
		addrs := map[string]bool{c.Hub.Address: true}
		hostOfAddr := map[string]consortiumtest.Host{}
		for _, h := range c.Hosts {
			if !strings.HasPrefix(h.Namespace, "tt-") || !strings.HasPrefix(h.Link, "tt-") || len(h.Link) > 15 {
				t.Errorf("%s: host %s: namespace %q, link %q", otype, h.Org, h.Namespace, h.Link)
			}
			if !strings.HasPrefix(h.Address, "10.77.0.") || addrs[h.Address] {
				t.Errorf("%s: host %s: address %s outside the subnet or taken", otype, h.Org, h.Address)
			}
			addrs[h.Address] = true
			hostOfAddr[h.Address] = h
			if h.Org != "orderer" && (h.Node.Name != "node."+h.Org || !strings.HasPrefix(h.Node.URL, "http://"+h.Address+":") ||
				h.Node.Config != filepath.Join(l.Dev, "orgs", h.MSPID, "tokentrail.yaml")) {
				t.Errorf("%s: host %s: node %+v", otype, h.Org, h.Node)
			}
		}
		if otype == ordererBFT {
			for _, org := range netPeerOrgs {
				h, _ := c.Host(mspOf(org))
				if h.Peer != peerName(org) || len(h.Orderers) != 1 || h.Chaincode != "cc-tokentrail."+org {
					t.Errorf("BFT: host %s runs peer %q, orderers %v, chaincode %q", org, h.Peer, h.Orderers, h.Chaincode)
				}
			}
		} else if h, _ := c.Host("OrdererMSP"); len(h.Orderers) != 3 || h.Peer != "" {
			t.Errorf("Raft: the ordering host runs %v, peer %q", h.Orderers, h.Peer)
		}
		names := map[string]bool{}
		for _, p := range c.Proxies {
			names[p.Name] = true
			lh, _, err := net.SplitHostPort(p.Listen)
			uh, _, err2 := net.SplitHostPort(p.Upstream)
			if err != nil || err2 != nil || lh != c.Hub.Address {
				t.Errorf("%s: proxy %+v does not listen on the hub", otype, p)
				continue
			}
			h, ok := hostOfAddr[uh]
			if !ok {
				t.Errorf("%s: proxy %s: upstream %s is no host", otype, p.Name, p.Upstream)
				continue
			}
			owns := p.Name == "node."+h.Org || p.Name == h.Peer
			for _, o := range h.Orderers {
				owns = owns || strings.HasPrefix(p.Name, o+".")
			}
			if !owns {
				t.Errorf("%s: proxy %s points at host %s, which does not run it", otype, p.Name, h.Org)
			}
		}
		for _, o := range l.orderers() {
			if !names[o.Host] {
				t.Errorf("%s: no proxy for %s", otype, o.Host)
			}
		}
		for _, org := range netPeerOrgs {
			if !names[peerName(org)] {
				t.Errorf("%s: no proxy for %s", otype, peerName(org))
			}
		}
	}
}

// TestHostsEndpointsAreNames: on hosts, no endpoint in the channel
// configuration, network.json or a connection profile is a loopback
// address; each is a node's name, which each namespace's hosts file resolves
// to loopback on the node's own host and to the hub's proxy elsewhere.
func TestHostsEndpointsAreNames(t *testing.T) {
	l := hostsLayout(t, ordererBFT)
	path, err := l.writeConfigtx()
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := os.ReadFile(path)
	if bytes.Contains(ctx, []byte("127.0.0.1")) {
		t.Errorf("configtx.yaml on hosts names 127.0.0.1:\n%s", ctx)
	}
	for _, want := range []string{"Host: orderer2.orderer.provider.tokentrail.test", "orderer3.orderer.exchange.tokentrail.test:9070", "Host: peer0.auditor.tokentrail.test"} {
		if !bytes.Contains(ctx, []byte(want)) {
			t.Errorf("configtx.yaml lacks %q", want)
		}
	}
	if _, err := l.writeAppFiles(); err != nil {
		t.Fatal(err)
	}
	cp, _ := os.ReadFile(l.connectionProfilePath("processor"))
	if bytes.Contains(cp, []byte("grpcs://127.0.0.1")) || !bytes.Contains(cp, []byte("grpcs://peer0.provider.tokentrail.test:9160")) {
		t.Errorf("the processor's connection profile:\n%s", cp)
	}
	if _, err := l.writeHostsFiles(); err != nil {
		t.Fatal(err)
	}
	hosts, _ := os.ReadFile(filepath.Join(l.Dev, "hosts", "etc", "tt-provider", "hosts"))
	for _, want := range []string{"127.0.0.1\tpeer0.provider.tokentrail.test\n", "127.0.0.1\torderer2.orderer.provider.tokentrail.test\n",
		"10.77.0.1\tpeer0.exchange.tokentrail.test\n", "10.77.0.1\torderer1.orderer.regulator.tokentrail.test\n",
		"10.77.0.12\thost.provider.tokentrail.test\n", "10.77.0.13\thost.exchange.tokentrail.test\n"} {
		if !bytes.Contains(hosts, []byte(want)) {
			t.Errorf("the provider's hosts file lacks %q:\n%s", want, hosts)
		}
	}
	hub, _ := os.ReadFile(filepath.Join(l.Dev, "hosts", "etc", "tt-hub", "hosts"))
	if bytes.Contains(hub, []byte("127.0.0.1\tpeer0")) || !bytes.Contains(hub, []byte("10.77.0.1\tpeer0.provider.tokentrail.test\n")) {
		t.Errorf("the hub's hosts file:\n%s", hub)
	}
	list, _ := os.ReadFile(filepath.Join(l.Dev, "hosts", "hosts.txt"))
	if !bytes.Contains(list, []byte("hub tt-hub ttbr0 10.77.0.1\n")) || !bytes.Contains(list, []byte("host consumer tt-consumer tt-consumer 10.77.0.16 9355\n")) {
		t.Errorf("hosts.txt:\n%s", list)
	}
}

// TestHostsCryptoConfig: every node's certificate names its host's name and
// address besides loopback; the chaincode server's, loopback only.
func TestHostsCryptoConfig(t *testing.T) {
	l := hostsLayout(t, ordererBFT)
	var cc cryptoConfig
	b, err := yaml.Marshal(l.cryptoConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cc); err != nil {
		t.Fatal(err)
	}
	sans := map[string][]string{}
	for _, o := range append(cc.OrdererOrgs, cc.PeerOrgs...) {
		for _, s := range o.Specs {
			sans[s.Hostname+"."+o.Domain] = s.SANS
		}
	}
	for name, want := range map[string][]string{
		"peer0.provider.tokentrail.test":             {"host.provider.tokentrail.test", "10.77.0.12", "127.0.0.1"},
		"orderer4.orderer.auditor.tokentrail.test":   {"host.auditor.tokentrail.test", "10.77.0.14", "localhost"},
		"orderer2.orderer.tokentrail.test":           {"host.orderer.tokentrail.test", "10.77.0.20"},
		"server.ccaas.tokentrail.test":               {"127.0.0.1"},
		"orderer1.orderer.regulator.tokentrail.test": {"host.regulator.tokentrail.test", "10.77.0.11"},
	} {
		got := strings.Join(sans[name], " ")
		for _, w := range want {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("%s: SANs %q lack %s", name, got, w)
			}
		}
	}
	if len(sans["server.ccaas.tokentrail.test"]) != 2 {
		t.Errorf("the chaincode server's SANs: %v", sans["server.ccaas.tokentrail.test"])
	}
}

// TestHostsFlags: bad hosts settings are refused with what to fix.
func TestHostsFlags(t *testing.T) {
	dev := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"hosts", "--dev", dev}, "--hosts-prefix and --hosts-subnet are required"},
		{[]string{"hosts", "--dev", dev, "--hosts-prefix", "Toolong", "--hosts-subnet", "10.77.0"}, "one to four lower-case letters"},
		{[]string{"hosts", "--dev", dev, "--hosts-prefix", "tt", "--hosts-subnet", "8.8.8"}, "not a private range"},
		{[]string{"hosts", "--dev", dev, "--hosts-prefix", "tt", "--hosts-subnet", "10.77"}, "the first three octets"},
		{[]string{"hosts", "--dev", dev, "--hosts-prefix", "tt", "--hosts-subnet", "10.77.0", "--script", "rel/network.sh"}, "absolute path"},
	} {
		var out, errb bytes.Buffer
		err := networkFilesCmd(tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	var out, errb bytes.Buffer
	if err := networkFilesCmd([]string{"hosts", "--dev", dev, "--orderer-type", "bft", "--hosts-prefix", "ab1", "--hosts-subnet", "192.168.77"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var c consortiumtest.Consortium
	b, _ := os.ReadFile(filepath.Join(dev, "consortium.json"))
	if err := json.Unmarshal(b, &c); err != nil || c.Hub.Namespace != "ab1-hub" || c.Hosts[0].Address != "192.168.77.11" ||
		c.Script != filepath.Join(filepath.Dir(filepath.Dir(dev)), "scripts", "network.sh") {
		t.Errorf("consortium.json with prefix ab1: %+v (%v)", c.Hub, err)
	}
}
