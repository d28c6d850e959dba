package main

// The multi-host profile of the development network (scripts/network.sh up
// --hosts): each organisation's processes run in a Linux network namespace
// of their own, a "host" with its own address in a private /24, attached by
// a veth pair to a bridge in a hub namespace. A Toxiproxy server in the hub
// fronts every node that other hosts dial, so that latency, bandwidth limits,
// resets and partitions can be put on any link.
//
// Names resolve through a hosts file per namespace (ip netns exec mounts
// /etc/netns/<namespace>/hosts over /etc/hosts): a host resolves the names of
// its own nodes to 127.0.0.1 and every other node's name to the hub, where
// the node's proxy listens on the node's own port. Every endpoint in the
// channel configuration and the connection profiles is therefore a name, and
// every certificate names its node, its host and its host's address.
//
// This file writes, for one such network: the cryptogen input with those
// names (crypto-config.yaml), the hosts files, the Toxiproxy configuration,
// the list of namespaces and links the script makes and removes
// (hosts.txt), and network/.dev/consortium.json, which the consortium tests
// read (app/consortiumtest).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// netHosts places a network on hosts.
type netHosts struct {
	// Prefix starts the name of every namespace and link the script makes
	// ("tt": tt-hub, tt-provider, bridge ttbr0), so that they are
	// recognisable and two networks on one machine need not clash.
	Prefix string
	// Subnet is the private /24 the hosts live in, as its first three
	// octets ("10.77.0"): the hub is .1, the organisations' hosts .11 up.
	Subnet string
	// Script is scripts/network.sh, for consortium.json.
	Script string
}

// netHost is one organisation's host.
type netHost struct {
	Org       string // "provider"; "orderer" for the Raft ordering organisation
	MSPID     string
	Namespace string
	Link      string // the hub side of the veth pair, inside the hub namespace
	Address   string
	Name      string // its host name: host.provider.tokentrail.test
	NodeIndex int    // index in netOrgs (its tokentrail node's port); -1: no node
}

const (
	hubHostName       = "hub." + netDomain
	toxiproxyAPIPort  = 8474
	hostsNodePortBase = 300 // a host's tokentrail node listens at base+300+k
)

var (
	hostsPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,3}$`)
)

func (h netHosts) check() error {
	if !hostsPrefixRE.MatchString(h.Prefix) {
		return fmt.Errorf("--hosts-prefix %q: one to four lower-case letters or digits, starting with a letter (namespace and link names must stay under 16 characters)", h.Prefix)
	}
	a, err := netip.ParseAddr(h.Subnet + ".0")
	if err != nil || !a.Is4() || strings.Count(h.Subnet, ".") != 2 {
		return fmt.Errorf("--hosts-subnet %q: the first three octets of an IPv4 /24, such as 10.77.0", h.Subnet)
	}
	if !a.IsPrivate() {
		return fmt.Errorf("--hosts-subnet %q: not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); the hosts' addresses must exist only inside the namespaces", h.Subnet)
	}
	if h.Script == "" || !filepath.IsAbs(h.Script) {
		return fmt.Errorf("--script %q: the network script's absolute path", h.Script)
	}
	return nil
}

func (h netHosts) hubNamespace() string { return h.Prefix + "-hub" }
func (h netHosts) bridge() string       { return h.Prefix + "br0" }
func (h netHosts) hubAddress() string   { return h.Subnet + ".1" }

// hosts are the hosts of a network: one per channel member, and with Raft
// one more for the ordering organisation, which runs the three orderers.
func (l netLayout) hosts() []netHost {
	h := *l.Hosts
	var out []netHost
	for i, o := range netOrgs {
		out = append(out, netHost{
			Org: o.Name, MSPID: mspOf(o.Name), Namespace: h.Prefix + "-" + o.Name, Link: h.Prefix + "-" + o.Name,
			Address: h.Subnet + "." + strconv.Itoa(11+i), Name: "host." + o.Name + "." + netDomain, NodeIndex: i,
		})
	}
	if l.OrdererType == ordererRaft {
		out = append(out, netHost{
			Org: "orderer", MSPID: "OrdererMSP", Namespace: h.Prefix + "-orderer", Link: h.Prefix + "-orderer",
			Address: h.Subnet + ".20", Name: "host.orderer." + netDomain, NodeIndex: -1,
		})
	}
	return out
}

func (l netLayout) hostOf(org string) netHost {
	for _, h := range l.hosts() {
		if h.Org == org {
			return h
		}
	}
	panic("no host for " + org)
}

// ordererHostOrg is the host an orderer runs on: its operator's with BFT,
// the ordering organisation's with Raft.
func (o netOrderer) hostOrg() string {
	if o.Operator != "" {
		return o.Operator
	}
	return "orderer"
}

// peerHost and ordererHost are the host part of the endpoints other nodes
// and clients dial: the node's name on hosts, 127.0.0.1 on one machine.
func (l netLayout) peerHost(org string) string {
	if l.Hosts != nil {
		return peerName(org)
	}
	return "127.0.0.1"
}

func (l netLayout) ordererHost(o netOrderer) string {
	if l.Hosts != nil {
		return o.Host
	}
	return "127.0.0.1"
}

func (l netLayout) nodePort(h netHost) int { return l.BasePort + hostsNodePortBase + h.NodeIndex }

// ------------------------------------------------------------ the proxies

// hostsProxy is one Toxiproxy proxy, as its server's -config file holds it.
type hostsProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

// proxies front every port one host dials on another: each orderer's and
// each peer's gRPC port (orderers' cluster traffic shares it) and each
// tokentrail node's API. A proxy listens on the hub's address at the port of
// the node it fronts.
func (l netLayout) proxies() []hostsProxy {
	hub := l.Hosts.hubAddress()
	var out []hostsProxy
	add := func(name, host string, port int) {
		out = append(out, hostsProxy{Name: name, Listen: fmt.Sprintf("%s:%d", hub, port),
			Upstream: fmt.Sprintf("%s:%d", host, port), Enabled: true})
	}
	for _, o := range l.orderers() {
		add(o.Host, l.hostOf(o.hostOrg()).Address, o.Port)
	}
	for _, org := range netPeerOrgs {
		add(peerName(org), l.hostOf(org).Address, l.peerPort(org))
	}
	for _, h := range l.hosts() {
		if h.NodeIndex >= 0 {
			add("node."+h.Org, h.Address, l.nodePort(h))
		}
	}
	return out
}

// ------------------------------------------------------------- hosts files

// hostsFile is /etc/hosts as seen inside one namespace (the hub's when
// host is nil): its own nodes on loopback, every other node at the hub's
// proxy for it, and every host and the hub by its own address.
func (l netLayout) hostsFile(self *netHost) []byte {
	var b strings.Builder
	ns := l.Hosts.hubNamespace()
	if self != nil {
		ns = self.Namespace
	}
	fmt.Fprintf(&b, "# /etc/hosts inside network namespace %s; written by\n# `tokentrail fabric network-files hosts`: do not edit.\n", ns)
	b.WriteString("127.0.0.1\tlocalhost\n")
	fmt.Fprintf(&b, "%s\t%s\n", l.Hosts.hubAddress(), hubHostName)
	for _, h := range l.hosts() {
		fmt.Fprintf(&b, "%s\t%s\n", h.Address, h.Name)
	}
	node := func(name, org string) {
		addr := l.Hosts.hubAddress()
		if self != nil && self.Org == org {
			addr = "127.0.0.1"
		}
		fmt.Fprintf(&b, "%s\t%s\n", addr, name)
	}
	for _, o := range l.orderers() {
		node(o.Host, o.hostOrg())
	}
	for _, org := range netPeerOrgs {
		node(peerName(org), org)
	}
	return []byte(b.String())
}

// ------------------------------------------------------------ crypto-config

type cgSpec struct {
	Hostname string   `yaml:"Hostname"`
	SANS     []string `yaml:"SANS,omitempty"`
}

type cgCount struct {
	Count int `yaml:"Count"`
}

type cgOrg struct {
	Name          string   `yaml:"Name"`
	Domain        string   `yaml:"Domain"`
	EnableNodeOUs bool     `yaml:"EnableNodeOUs"`
	Specs         []cgSpec `yaml:"Specs,omitempty"`
	Template      *cgCount `yaml:"Template,omitempty"`
	Users         *cgCount `yaml:"Users,omitempty"`
}

type cryptoConfig struct {
	OrdererOrgs []cgOrg `yaml:"OrdererOrgs"`
	PeerOrgs    []cgOrg `yaml:"PeerOrgs"`
}

// cryptoConfig is cryptogen's input for a network on hosts: the layout of
// network/crypto-config.yaml, with every node's certificate naming, besides
// the node itself (cryptogen adds that), its host's name and address and
// loopback, where the host's own clients (the script's CLI calls) dial it.
// Both orderer types' organisations are generated, as for one machine.
func (l netLayout) cryptoConfig() cryptoConfig {
	sans := func(hostOrg string) []string {
		out := []string{"localhost", "127.0.0.1"}
		for _, h := range l.hostsAll() {
			if h.Org == hostOrg {
				out = append(out, h.Name, h.Address)
			}
		}
		return out
	}
	var cc cryptoConfig
	raft := netLayout{Dev: l.Dev, BasePort: l.BasePort, OrdererType: ordererRaft}
	var specs []cgSpec
	for _, o := range raft.orderers() {
		specs = append(specs, cgSpec{Hostname: o.Name, SANS: sans("orderer")})
	}
	cc.OrdererOrgs = append(cc.OrdererOrgs, cgOrg{Name: "Orderer", Domain: "orderer." + netDomain, EnableNodeOUs: true, Specs: specs})
	bft := netLayout{Dev: l.Dev, BasePort: l.BasePort, OrdererType: ordererBFT}
	for _, o := range bft.orderers() {
		cc.OrdererOrgs = append(cc.OrdererOrgs, cgOrg{Name: title(o.Operator) + "Orderer", Domain: o.domain(), EnableNodeOUs: true,
			Specs: []cgSpec{{Hostname: o.Name, SANS: sans(o.Operator)}}})
	}
	for _, o := range netOrgs {
		org := cgOrg{Name: title(o.Name), Domain: o.Name + "." + netDomain, EnableNodeOUs: true, Users: &cgCount{1}}
		if o.Gateway == o.Name {
			org.Specs = []cgSpec{{Hostname: "peer0", SANS: sans(o.Name)}}
		} else {
			org.Template = &cgCount{0}
		}
		cc.PeerOrgs = append(cc.PeerOrgs, org)
	}
	// The chaincode servers' TLS: each host's peer dials its own host's
	// server on loopback.
	cc.PeerOrgs = append(cc.PeerOrgs, cgOrg{Name: "Chaincode", Domain: "ccaas." + netDomain, EnableNodeOUs: true,
		Specs: []cgSpec{{Hostname: "server", SANS: []string{"localhost", "127.0.0.1"}}}, Users: &cgCount{1}})
	return cc
}

// hostsAll are the hosts of both orderer types (the Raft ordering host
// included), for certificates generated before the type matters.
func (l netLayout) hostsAll() []netHost {
	r := l
	r.OrdererType = ordererRaft
	return r.hosts()
}

// ---------------------------------------------------------- consortium.json

// The types below are app/consortiumtest.Consortium's JSON (the product
// does not import the test package); TestHostsConsortiumFile decodes the
// written file into that type, unknown fields refused.
type csHub struct {
	Namespace    string `json:"namespace"`
	Bridge       string `json:"bridge"`
	Address      string `json:"address"`
	HostName     string `json:"hostName"`
	ToxiproxyAPI string `json:"toxiproxyAPI"`
}

type csNode struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	Config      string `json:"config"`
	Credentials string `json:"credentials"`
}

type csHost struct {
	Org       string   `json:"org"`
	MSPID     string   `json:"mspId"`
	Namespace string   `json:"namespace"`
	Address   string   `json:"address"`
	HostName  string   `json:"hostName"`
	Link      string   `json:"link"`
	Node      *csNode  `json:"node,omitempty"`
	Peer      string   `json:"peer,omitempty"`
	Orderers  []string `json:"orderers,omitempty"`
	Chaincode string   `json:"chaincode,omitempty"`
	// TLSRootCert is the organisation's TLS CA, which its nodes' server
	// certificates chain to.
	TLSRootCert string `json:"tlsRootCert,omitempty"`
}

type csProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

type consortiumFile struct {
	Dev         string    `json:"dev"`
	Script      string    `json:"script"`
	OrdererType string    `json:"ordererType"`
	Channel     string    `json:"channel"`
	Hub         csHub     `json:"hub"`
	Hosts       []csHost  `json:"hosts"`
	Proxies     []csProxy `json:"proxies"`
}

func (l netLayout) consortium() consortiumFile {
	h := *l.Hosts
	otype := "raft"
	if l.OrdererType == ordererBFT {
		otype = "bft"
	}
	cf := consortiumFile{
		Dev: l.Dev, Script: h.Script, OrdererType: otype, Channel: l.Channel,
		Hub: csHub{Namespace: h.hubNamespace(), Bridge: h.bridge(), Address: h.hubAddress(), HostName: hubHostName,
			ToxiproxyAPI: fmt.Sprintf("http://127.0.0.1:%d", toxiproxyAPIPort)},
	}
	for _, host := range l.hosts() {
		ch := csHost{Org: host.Org, MSPID: host.MSPID, Namespace: host.Namespace, Address: host.Address,
			HostName: host.Name, Link: host.Link}
		if host.NodeIndex >= 0 {
			dir := filepath.Join(l.Dev, "orgs", host.MSPID)
			ch.Node = &csNode{Name: "node." + host.Org, URL: fmt.Sprintf("http://%s:%d", host.Address, l.nodePort(host)),
				Config: filepath.Join(dir, "tokentrail.yaml"), Credentials: filepath.Join(dir, "dev-credentials.json")}
			ch.TLSRootCert = filepath.Join(l.orgDir(host.Org), "tlsca", "tlsca."+host.Org+"."+netDomain+"-cert.pem")
		}
		if l.peerIndex(host.Org) >= 0 {
			ch.Peer = peerName(host.Org)
			ch.Chaincode = "cc-" + l.Chaincode + "." + host.Org
		}
		for _, o := range l.orderers() {
			if o.hostOrg() == host.Org {
				ch.Orderers = append(ch.Orderers, o.Name)
			}
		}
		if host.Org == "orderer" {
			ch.TLSRootCert = l.orderers()[0].tlsCA()
		}
		cf.Hosts = append(cf.Hosts, ch)
	}
	for _, p := range l.proxies() {
		cf.Proxies = append(cf.Proxies, csProxy{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream})
	}
	return cf
}

// ---------------------------------------------------------------- hosts.txt

// hostsList is what the script makes and, on down and clean, removes: one
// record a line, fields separated by spaces (no field can hold one).
//
//	hub NAMESPACE BRIDGE ADDRESS
//	host ORG NAMESPACE LINK ADDRESS NODEPORT   (NODEPORT 0: no tokentrail node)
func (l netLayout) hostsList() []byte {
	h := *l.Hosts
	var b strings.Builder
	b.WriteString("# The namespaces and links of this network on hosts; written by\n# `tokentrail fabric network-files hosts`, read by scripts/network.sh.\n")
	fmt.Fprintf(&b, "hub %s %s %s\n", h.hubNamespace(), h.bridge(), h.hubAddress())
	for _, host := range l.hosts() {
		port := 0
		if host.NodeIndex >= 0 {
			port = l.nodePort(host)
		}
		fmt.Fprintf(&b, "host %s %s %s %s %d\n", host.Org, host.Namespace, host.Link, host.Address, port)
	}
	return []byte(b.String())
}

// writeHostsFiles writes DEV/hosts/{hosts.txt,toxiproxy.json,consortium
// files}, DEV/hosts/etc/<namespace>/hosts and DEV/consortium.json.
func (l netLayout) writeHostsFiles() ([]string, error) {
	dir := filepath.Join(l.Dev, "hosts")
	var written []string
	write := func(path string, b []byte, mode os.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFileAtomic(path, b, mode); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	if err := write(filepath.Join(dir, "hosts.txt"), l.hostsList(), 0o644); err != nil {
		return nil, err
	}
	px, err := marshalJSON(l.proxies())
	if err != nil {
		return nil, err
	}
	if err := write(filepath.Join(dir, "toxiproxy.json"), px, 0o644); err != nil {
		return nil, err
	}
	if err := write(filepath.Join(dir, "etc", l.Hosts.hubNamespace(), "hosts"), l.hostsFile(nil), 0o644); err != nil {
		return nil, err
	}
	for _, h := range l.hosts() {
		if err := write(filepath.Join(dir, "etc", h.Namespace, "hosts"), l.hostsFile(&h), 0o644); err != nil {
			return nil, err
		}
	}
	cc, err := marshalYAML("# cryptogen input for the development network on hosts; written by\n# `tokentrail fabric network-files hosts`: do not edit.\n", l.cryptoConfig())
	if err != nil {
		return nil, err
	}
	if err := write(filepath.Join(l.Dev, "config", "crypto-config.yaml"), cc, 0o644); err != nil {
		return nil, err
	}
	cs, err := marshalJSON(l.consortium())
	if err != nil {
		return nil, err
	}
	if err := write(filepath.Join(l.Dev, "consortium.json"), cs, 0o644); err != nil {
		return nil, err
	}
	return written, nil
}
