package main

// The files that describe the development Fabric network of
// scripts/network.sh: the channel configuration that configtxgen reads
// (configtx.yaml), the description tokentrail and the tests read
// (network.json), one connection profile per organisation, and the
// connection details of a chaincode served as a service. They are written
// here, with real YAML and JSON encoders, rather than by the script with
// printf and sed, which cannot escape a value.
//
// The layout (organisations, node names, ports, the cryptogen directory
// tree) is the one scripts/lib-network.sh documents; TestNetLayoutPorts
// pins the port arithmetic both sides share.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const netDomain = "tokentrail.test"

// Orderer types, as configtxgen spells them.
const (
	ordererRaft = "etcdraft"
	ordererBFT  = "BFT"
)

// netOrg is a channel member.
type netOrg struct {
	Name    string // lower case: regulator
	Gateway string // the organisation whose peer it submits through
}

// The channel members, in the order the script lists them. Members without a
// peer submit through another organisation's peer.
var netOrgs = []netOrg{
	{"regulator", "regulator"}, {"provider", "provider"}, {"exchange", "exchange"},
	{"auditor", "auditor"}, {"processor", "provider"}, {"consumer", "exchange"},
}

// netPeerOrgs are the members that run a peer, in port order.
var netPeerOrgs = []string{"regulator", "provider", "exchange", "auditor"}

// netLayout is one development network: where its files are, its first
// port, its orderer type.
type netLayout struct {
	Dev         string // network/.dev, absolute
	Channel     string
	Chaincode   string
	BasePort    int
	OrdererType string // ordererRaft or ordererBFT
	// BatchTimeout and MaxMessageCount cut blocks on Raft (zero: the
	// defaults, defaultBatchTimeout and defaultMaxMessageCount).
	BatchTimeout    time.Duration
	MaxMessageCount int
	// Hosts places the network on hosts (scripts/network.sh up --hosts;
	// hostsnet.go); nil: every node on 127.0.0.1.
	Hosts *netHosts
}

// The block-cutting defaults, chosen by measurement (docs/benchmarks.md,
// "Block cutting on Raft").
const (
	defaultBatchTimeout    = 100 * time.Millisecond
	defaultMaxMessageCount = 100
)

func (l netLayout) batchTimeout() time.Duration {
	if l.BatchTimeout > 0 {
		return l.BatchTimeout
	}
	return defaultBatchTimeout
}

func (l netLayout) maxMessageCount() int {
	if l.MaxMessageCount > 0 {
		return l.MaxMessageCount
	}
	return defaultMaxMessageCount
}

// netOrderer is one ordering node.
type netOrderer struct {
	Name     string // orderer1..
	Operator string // the member that runs it (BFT), or "" (Raft: the ordering organisation)
	MSPID    string
	OrgDir   string // its organisation's cryptogen directory
	Host     string // its TLS host name
	Port     int
	ID       int // consenter ID (BFT)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func mspOf(org string) string { return title(org) + "MSP" }

func (l netLayout) crypto() string { return filepath.Join(l.Dev, "crypto") }

func (l netLayout) orgDir(org string) string {
	return filepath.Join(l.crypto(), "peerOrganizations", org+"."+netDomain)
}

func peerName(org string) string { return "peer0." + org + "." + netDomain }

func (l netLayout) peerDir(org string) string {
	return filepath.Join(l.orgDir(org), "peers", peerName(org))
}

func (l netLayout) userMSP(org string) string {
	return filepath.Join(l.orgDir(org), "users", "User1@"+org+"."+netDomain, "msp")
}

func (l netLayout) adminMSP(org string) string {
	return filepath.Join(l.orgDir(org), "users", "Admin@"+org+"."+netDomain, "msp")
}

func (l netLayout) peerIndex(org string) int {
	for i, o := range netPeerOrgs {
		if o == org {
			return i
		}
	}
	return -1
}

// Ports, as scripts/lib-network.sh documents them: ordererN at
// base+10*(N-1) (+1 admin, +2 operations), the peer of the k-th peer
// organisation at base+100+10*k (+1 chaincode listener, +2 operations).
func (l netLayout) peerPort(org string) int { return l.BasePort + 100 + 10*l.peerIndex(org) }

// orderers are the ordering nodes: with Raft three of one ordering
// organisation (OrdererMSP); with BFT four, each run by one of the members
// that run a peer, under an orderer organisation of its own
// (RegulatorOrdererMSP, ...), so that no one organisation orders alone.
func (l netLayout) orderers() []netOrderer {
	var out []netOrderer
	if l.OrdererType == ordererBFT {
		for i, op := range netPeerOrgs {
			domain := "orderer." + op + "." + netDomain
			name := fmt.Sprintf("orderer%d", i+1)
			out = append(out, netOrderer{
				Name: name, Operator: op, MSPID: title(op) + "OrdererMSP",
				OrgDir: filepath.Join(l.crypto(), "ordererOrganizations", domain),
				Host:   name + "." + domain, Port: l.BasePort + 10*i, ID: i + 1,
			})
		}
		return out
	}
	domain := "orderer." + netDomain
	for i := range 3 {
		name := fmt.Sprintf("orderer%d", i+1)
		out = append(out, netOrderer{
			Name: name, MSPID: "OrdererMSP",
			OrgDir: filepath.Join(l.crypto(), "ordererOrganizations", domain),
			Host:   name + "." + domain, Port: l.BasePort + 10*i,
		})
	}
	return out
}

func (o netOrderer) domain() string { return strings.TrimPrefix(o.Host, o.Name+".") }
func (o netOrderer) dir() string    { return filepath.Join(o.OrgDir, "orderers", o.Host) }
func (o netOrderer) tlsCA() string {
	return filepath.Join(o.OrgDir, "tlsca", "tlsca."+o.domain()+"-cert.pem")
}
func (o netOrderer) adminTLS() string {
	return filepath.Join(o.OrgDir, "users", "Admin@"+o.domain(), "tls")
}

// ordererOrgs are the orderer organisations, each once, in node order.
func (l netLayout) ordererOrgs() []netOrderer {
	var out []netOrderer
	seen := map[string]bool{}
	for _, o := range l.orderers() {
		if !seen[o.MSPID] {
			seen[o.MSPID] = true
			out = append(out, o)
		}
	}
	return out
}

func (l netLayout) check() error {
	switch {
	case !filepath.IsAbs(l.Dev):
		return fmt.Errorf("--dev %q must be an absolute directory", l.Dev)
	case !regexp.MustCompile(`^[a-z][a-z0-9.-]*$`).MatchString(l.Channel):
		return fmt.Errorf("--channel %q: lower-case letters, digits, dots and dashes, starting with a letter", l.Channel)
	case !regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`).MatchString(l.Chaincode):
		return fmt.Errorf("--chaincode %q: lower-case letters, digits, '_' and '-'", l.Chaincode)
	case l.BasePort < 1024 || l.BasePort > 65000:
		return fmt.Errorf("--base-port %d: between 1024 and 65000", l.BasePort)
	case l.OrdererType != ordererRaft && l.OrdererType != ordererBFT:
		return fmt.Errorf("--orderer-type %q: raft or bft", l.OrdererType)
	}
	return nil
}

// parseOrdererType accepts the script's spelling (raft, bft) and
// configtxgen's (etcdraft, BFT).
func parseOrdererType(s string) (string, error) {
	switch strings.ToLower(s) {
	case "raft", "etcdraft":
		return ordererRaft, nil
	case "bft", "smartbft":
		return ordererBFT, nil
	}
	return "", fmt.Errorf("orderer type %q: raft or bft", s)
}

// ---------------------------------------------------------- configtx.yaml

type policy struct {
	Type string `yaml:"Type"`
	Rule string `yaml:"Rule"`
}

type policies struct {
	Readers              *policy `yaml:"Readers,omitempty"`
	Writers              *policy `yaml:"Writers,omitempty"`
	Admins               *policy `yaml:"Admins,omitempty"`
	Endorsement          *policy `yaml:"Endorsement,omitempty"`
	LifecycleEndorsement *policy `yaml:"LifecycleEndorsement,omitempty"`
	BlockValidation      *policy `yaml:"BlockValidation,omitempty"`
}

func sig(rule string) *policy  { return &policy{"Signature", rule} }
func meta(rule string) *policy { return &policy{"ImplicitMeta", rule} }

type anchorPeer struct {
	Host string `yaml:"Host"`
	Port int    `yaml:"Port"`
}

type ctxOrg struct {
	Name             string       `yaml:"Name"`
	ID               string       `yaml:"ID"`
	MSPDir           string       `yaml:"MSPDir"`
	Policies         policies     `yaml:"Policies"`
	OrdererEndpoints []string     `yaml:"OrdererEndpoints,omitempty"`
	AnchorPeers      []anchorPeer `yaml:"AnchorPeers,omitempty"`
}

type raftConsenter struct {
	Host          string `yaml:"Host"`
	Port          int    `yaml:"Port"`
	ClientTLSCert string `yaml:"ClientTLSCert"`
	ServerTLSCert string `yaml:"ServerTLSCert"`
}

type bftConsenter struct {
	ID            int    `yaml:"ID"`
	Host          string `yaml:"Host"`
	Port          int    `yaml:"Port"`
	MSPID         string `yaml:"MSPID"`
	Identity      string `yaml:"Identity"`
	ClientTLSCert string `yaml:"ClientTLSCert"`
	ServerTLSCert string `yaml:"ServerTLSCert"`
}

type batchSize struct {
	MaxMessageCount   int    `yaml:"MaxMessageCount"`
	AbsoluteMaxBytes  string `yaml:"AbsoluteMaxBytes"`
	PreferredMaxBytes string `yaml:"PreferredMaxBytes"`
}

type etcdRaft struct {
	Consenters []raftConsenter `yaml:"Consenters"`
	Options    map[string]any  `yaml:"Options"`
}

type ctxOrderer struct {
	OrdererType      string            `yaml:"OrdererType"`
	BatchTimeout     string            `yaml:"BatchTimeout"`
	BatchSize        batchSize         `yaml:"BatchSize"`
	EtcdRaft         *etcdRaft         `yaml:"EtcdRaft,omitempty"`
	ConsenterMapping []bftConsenter    `yaml:"ConsenterMapping,omitempty"`
	SmartBFT         map[string]string `yaml:"SmartBFT,omitempty"`
	Organizations    []ctxOrg          `yaml:"Organizations"`
	Policies         policies          `yaml:"Policies"`
	Capabilities     map[string]bool   `yaml:"Capabilities"`
}

type ctxApplication struct {
	Organizations []ctxOrg        `yaml:"Organizations"`
	Policies      policies        `yaml:"Policies"`
	Capabilities  map[string]bool `yaml:"Capabilities"`
}

type ctxProfile struct {
	Policies     policies        `yaml:"Policies"`
	Capabilities map[string]bool `yaml:"Capabilities"`
	Orderer      ctxOrderer      `yaml:"Orderer"`
	Application  ctxApplication  `yaml:"Application"`
}

type configtx struct {
	Profiles map[string]ctxProfile `yaml:"Profiles"`
}

// smartBFTOptions are the SmartBFT timeouts of the channel. Fabric's
// defaults detect a dead leader only after a minute (LeaderHeartbeatTimeout);
// on one machine every node is close, so failures are declared sooner, and
// a lone request is cut into a block after RequestBatchMaxInterval, the
// counterpart of Raft's BatchTimeout.
var smartBFTOptions = map[string]string{
	"RequestBatchMaxCount":      "100",
	"RequestBatchMaxInterval":   "100ms",
	"RequestForwardTimeout":     "2s",
	"RequestComplainTimeout":    "8s",
	"RequestAutoRemoveTimeout":  "3m0s",
	"ViewChangeResendInterval":  "5s",
	"ViewChangeTimeout":         "20s",
	"LeaderHeartbeatTimeout":    "10s",
	"LeaderHeartbeatCount":      "10",
	"CollectTimeout":            "1s",
	"IncomingMessageBufferSize": "200",
	"RequestPoolSize":           "100000",
}

// configtx is the channel configuration configtxgen turns into the genesis
// block: profile TokentrailChannel. No system channel, no consortium: the
// block is created directly (configtxgen -outputBlock) and joined by
// orderers through the channel participation API and by peers with "peer
// channel join".
func (l netLayout) configtx() configtx {
	member := func(org string) ctxOrg {
		m := mspOf(org)
		o := ctxOrg{Name: m, ID: m, MSPDir: filepath.Join(l.orgDir(org), "msp")}
		if l.peerIndex(org) >= 0 {
			o.Policies = policies{
				Readers:     sig(fmt.Sprintf("OR('%s.admin', '%s.peer', '%s.client')", m, m, m)),
				Writers:     sig(fmt.Sprintf("OR('%s.admin', '%s.client')", m, m)),
				Admins:      sig(fmt.Sprintf("OR('%s.admin')", m)),
				Endorsement: sig(fmt.Sprintf("OR('%s.peer')", m)),
			}
			o.AnchorPeers = []anchorPeer{{Host: l.peerHost(org), Port: l.peerPort(org)}}
		} else {
			// A member without peers: its Endorsement policy names a role it
			// has no node for, so it can never endorse, only submit.
			o.Policies = policies{
				Readers:     sig(fmt.Sprintf("OR('%s.admin', '%s.client')", m, m)),
				Writers:     sig(fmt.Sprintf("OR('%s.admin', '%s.client')", m, m)),
				Admins:      sig(fmt.Sprintf("OR('%s.admin')", m)),
				Endorsement: sig(fmt.Sprintf("OR('%s.peer')", m)),
			}
		}
		return o
	}
	var app []ctxOrg
	for _, o := range netOrgs {
		app = append(app, member(o.Name))
	}

	ord := ctxOrderer{
		OrdererType: l.OrdererType,
		// A lone transaction waits at most BatchTimeout before it is cut
		// into a block; under load blocks are cut by MaxMessageCount first.
		BatchTimeout: l.batchTimeout().String(),
		BatchSize:    batchSize{MaxMessageCount: l.maxMessageCount(), AbsoluteMaxBytes: "10 MB", PreferredMaxBytes: "2 MB"},
		Policies: policies{
			Readers: meta("ANY Readers"), Writers: meta("ANY Writers"), Admins: meta("MAJORITY Admins"),
			// With BFT, configtxgen replaces this by a policy that asks for
			// a quorum of the consenters' signatures on every block.
			BlockValidation: meta("ANY Writers"),
		},
		Capabilities: map[string]bool{"V2_0": true},
	}
	nodes := l.orderers()
	for _, oo := range l.ordererOrgs() {
		m := oo.MSPID
		org := ctxOrg{Name: m, ID: m, MSPDir: filepath.Join(oo.OrgDir, "msp"), Policies: policies{
			Readers: sig(fmt.Sprintf("OR('%s.member')", m)),
			Writers: sig(fmt.Sprintf("OR('%s.member')", m)),
			Admins:  sig(fmt.Sprintf("OR('%s.admin')", m)),
		}}
		for _, n := range nodes {
			if n.MSPID == m {
				org.OrdererEndpoints = append(org.OrdererEndpoints, fmt.Sprintf("%s:%d", l.ordererHost(n), n.Port))
			}
		}
		ord.Organizations = append(ord.Organizations, org)
	}
	if l.OrdererType == ordererBFT {
		for _, n := range nodes {
			tls := filepath.Join(n.dir(), "tls", "server.crt")
			ord.ConsenterMapping = append(ord.ConsenterMapping, bftConsenter{
				ID: n.ID, Host: l.ordererHost(n), Port: n.Port, MSPID: n.MSPID,
				Identity:      filepath.Join(n.dir(), "msp", "signcerts", n.Host+"-cert.pem"),
				ClientTLSCert: tls, ServerTLSCert: tls,
			})
		}
		ord.SmartBFT = smartBFTOptions
	} else {
		r := &etcdRaft{Options: map[string]any{
			"TickInterval": "500ms", "ElectionTick": 10, "HeartbeatTick": 1,
			"MaxInflightBlocks": 5, "SnapshotIntervalSize": "16 MB",
		}}
		for _, n := range nodes {
			tls := filepath.Join(n.dir(), "tls", "server.crt")
			r.Consenters = append(r.Consenters, raftConsenter{Host: l.ordererHost(n), Port: n.Port, ClientTLSCert: tls, ServerTLSCert: tls})
		}
		ord.EtcdRaft = r
	}

	peerOrgs := make([]string, 0, len(netPeerOrgs))
	for _, o := range netPeerOrgs {
		peerOrgs = append(peerOrgs, fmt.Sprintf("'%s.peer'", mspOf(o)))
	}
	application := ctxApplication{
		Organizations: app,
		Policies: policies{
			Readers: meta("ANY Readers"), Writers: meta("ANY Writers"), Admins: meta("MAJORITY Admins"),
			// Who must approve and endorse a chaincode definition: the
			// regulator plus two of the other three organisations that run
			// peers. An ImplicitMeta MAJORITY would count all six members,
			// and the two without peers can never approve (an approval is
			// endorsed by the approving organisation's own peer).
			LifecycleEndorsement: sig(fmt.Sprintf("AND(%s, OutOf(2, %s))", peerOrgs[0], strings.Join(peerOrgs[1:], ", "))),
			// Default for chaincodes committed without their own policy:
			// any two of the four peer organisations.
			Endorsement: sig(fmt.Sprintf("OutOf(2, %s)", strings.Join(peerOrgs, ", "))),
		},
		Capabilities: map[string]bool{"V2_5": true},
	}
	return configtx{Profiles: map[string]ctxProfile{"TokentrailChannel": {
		Policies:     policies{Readers: meta("ANY Readers"), Writers: meta("ANY Writers"), Admins: meta("MAJORITY Admins")},
		Capabilities: map[string]bool{"V3_0": true},
		Orderer:      ord,
		Application:  application,
	}}}
}

// ------------------------------------------------------------ network.json

type nfChaincode struct {
	PackageID string `json:"packageId"`
	Address   string `json:"address"`
	Cmd       string `json:"cmd"`
}

type nfOrg struct {
	MSPID             string `json:"mspId"`
	Name              string `json:"name"`
	HasPeer           bool   `json:"hasPeer"`
	CertPath          string `json:"certPath"`
	KeyPath           string `json:"keyPath"`
	AdminCertPath     string `json:"adminCertPath"`
	AdminKeyPath      string `json:"adminKeyPath"`
	MSPDir            string `json:"mspDir"`
	AdminMSPDir       string `json:"adminMspDir"`
	TLSRootCertPath   string `json:"tlsRootCertPath"`
	GatewayPeer       string `json:"gatewayPeer"`
	ConnectionProfile string `json:"connectionProfile"`
}

type nfPeer struct {
	MSPID           string `json:"mspId"`
	Address         string `json:"address"`
	TLSRootCertPath string `json:"tlsRootCertPath"`
	ServerName      string `json:"serverName"`
	Operations      string `json:"operations"`
}

type nfOrderer struct {
	Address         string `json:"address"`
	AdminAddress    string `json:"adminAddress"`
	Operations      string `json:"operations"`
	TLSRootCertPath string `json:"tlsRootCertPath"`
	ServerName      string `json:"serverName"`
	MSPID           string `json:"mspId"`
	// Operator is the member that runs the node (BFT); empty for Raft,
	// where one ordering organisation runs them all.
	Operator    string `json:"operator,omitempty"`
	ConsenterID int    `json:"consenterId,omitempty"`
}

type nfOrdererOrg struct {
	MSPID             string `json:"mspId"`
	MSPDir            string `json:"mspDir"`
	Operator          string `json:"operator,omitempty"`
	TLSClientCertPath string `json:"tlsClientCertPath"`
	TLSClientKeyPath  string `json:"tlsClientKeyPath"`
	TLSRootCertPath   string `json:"tlsRootCertPath"`
}

// netFile is network/.dev/network.json.
type netFile struct {
	Channel       string                 `json:"channel"`
	Chaincode     string                 `json:"chaincode"`
	OrdererType   string                 `json:"ordererType"`
	Chaincodes    map[string]nfChaincode `json:"chaincodes"`
	Organizations map[string]nfOrg       `json:"organizations"`
	Peers         map[string]nfPeer      `json:"peers"`
	Orderers      map[string]nfOrderer   `json:"orderers"`
	// OrdererOrganizations are every orderer organisation by MSP ID;
	// OrdererAdmin is the first of them (the only one with Raft).
	OrdererOrganizations map[string]nfOrdererOrg `json:"ordererOrganizations"`
	OrdererAdmin         nfOrdererOrg            `json:"ordererAdmin"`
}

// readChaincodes reads what the script recorded of each deployed chaincode:
// network/.dev/chaincode/NAME/{definition,running_id,port,cmd}.
func (l netLayout) readChaincodes() (map[string]nfChaincode, error) {
	out := map[string]nfChaincode{}
	root := filepath.Join(l.Dev, "chaincode")
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	read := func(dir, name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "definition")); err != nil {
			continue
		}
		id, err1 := read(d, "running_id")
		port, err2 := read(d, "port")
		cmd, err3 := read(d, "cmd")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("chaincode %s: %w", filepath.Base(d), err)
		}
		if _, err := strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("chaincode %s: port %q is not a number", filepath.Base(d), port)
		}
		out[filepath.Base(d)] = nfChaincode{PackageID: id, Address: "127.0.0.1:" + port, Cmd: cmd}
	}
	return out, nil
}

func (l netLayout) connectionProfilePath(org string) string {
	return filepath.Join(l.Dev, "connection-"+org+".yaml")
}

func (l netLayout) networkFile(chaincodes map[string]nfChaincode) netFile {
	nf := netFile{
		Channel: l.Channel, Chaincode: l.Chaincode, OrdererType: l.OrdererType, Chaincodes: chaincodes,
		Organizations: map[string]nfOrg{}, Peers: map[string]nfPeer{}, Orderers: map[string]nfOrderer{},
		OrdererOrganizations: map[string]nfOrdererOrg{},
	}
	for _, o := range netOrgs {
		um, am := l.userMSP(o.Name), l.adminMSP(o.Name)
		dom := o.Name + "." + netDomain
		nf.Organizations[mspOf(o.Name)] = nfOrg{
			MSPID: mspOf(o.Name), Name: o.Name, HasPeer: o.Gateway == o.Name,
			CertPath:      filepath.Join(um, "signcerts", "User1@"+dom+"-cert.pem"),
			KeyPath:       filepath.Join(um, "keystore", "priv_sk"),
			AdminCertPath: filepath.Join(am, "signcerts", "Admin@"+dom+"-cert.pem"),
			AdminKeyPath:  filepath.Join(am, "keystore", "priv_sk"),
			MSPDir:        um, AdminMSPDir: am,
			TLSRootCertPath:   filepath.Join(l.orgDir(o.Name), "tlsca", "tlsca."+dom+"-cert.pem"),
			GatewayPeer:       peerName(o.Gateway),
			ConnectionProfile: l.connectionProfilePath(o.Name),
		}
	}
	for _, org := range netPeerOrgs {
		p := l.peerPort(org)
		nf.Peers[peerName(org)] = nfPeer{
			MSPID: mspOf(org), Address: fmt.Sprintf("%s:%d", l.peerHost(org), p),
			TLSRootCertPath: filepath.Join(l.peerDir(org), "tls", "ca.crt"),
			ServerName:      peerName(org), Operations: fmt.Sprintf("127.0.0.1:%d", p+2),
		}
	}
	for _, o := range l.orderers() {
		nf.Orderers[o.Name] = nfOrderer{
			Address: fmt.Sprintf("%s:%d", l.ordererHost(o), o.Port), AdminAddress: fmt.Sprintf("127.0.0.1:%d", o.Port+1),
			Operations: fmt.Sprintf("127.0.0.1:%d", o.Port+2), TLSRootCertPath: o.tlsCA(),
			ServerName: o.Host, MSPID: o.MSPID, Operator: o.Operator, ConsenterID: o.ID,
		}
	}
	for i, o := range l.ordererOrgs() {
		at := o.adminTLS()
		oo := nfOrdererOrg{
			MSPID: o.MSPID, MSPDir: filepath.Join(o.OrgDir, "msp"), Operator: o.Operator,
			TLSClientCertPath: filepath.Join(at, "client.crt"), TLSClientKeyPath: filepath.Join(at, "client.key"),
			TLSRootCertPath: o.tlsCA(),
		}
		nf.OrdererOrganizations[o.MSPID] = oo
		if i == 0 {
			nf.OrdererAdmin = oo
		}
	}
	return nf
}

// ---------------------------------------------------- connection profiles

type cpPath struct {
	Path string `yaml:"path"`
}

type cpOrg struct {
	MSPID                  string   `yaml:"mspid"`
	Peers                  []string `yaml:"peers"`
	CertificateAuthorities []string `yaml:"certificateAuthorities"`
	AdminPrivateKey        *cpPath  `yaml:"adminPrivateKey,omitempty"`
	SignedCert             *cpPath  `yaml:"signedCert,omitempty"`
}

type cpNode struct {
	URL         string            `yaml:"url"`
	TLSCACerts  cpPath            `yaml:"tlsCACerts"`
	GRPCOptions map[string]string `yaml:"grpcOptions"`
}

type cpChannelPeer struct {
	EndorsingPeer  bool `yaml:"endorsingPeer"`
	ChaincodeQuery bool `yaml:"chaincodeQuery"`
	LedgerQuery    bool `yaml:"ledgerQuery"`
	EventSource    bool `yaml:"eventSource"`
}

type cpChannel struct {
	Orderers []string                 `yaml:"orderers"`
	Peers    map[string]cpChannelPeer `yaml:"peers"`
}

type cpClient struct {
	Organization string `yaml:"organization"`
	Connection   struct {
		Timeout struct {
			Peer struct {
				Endorser string `yaml:"endorser"`
			} `yaml:"peer"`
		} `yaml:"timeout"`
	} `yaml:"connection"`
}

// cpExtension is ignored by SDKs; it tells tokentrail which peer to use as
// the gateway (members without a peer borrow another's) and which identity
// to sign with.
type cpExtension struct {
	MSPID       string `yaml:"mspId"`
	GatewayPeer string `yaml:"gatewayPeer"`
	CertPath    string `yaml:"certPath"`
	KeyPath     string `yaml:"keyPath"`
}

type connectionProfile struct {
	Name          string               `yaml:"name"`
	Version       string               `yaml:"version"`
	XTokentrail   cpExtension          `yaml:"x-tokentrail"`
	Client        cpClient             `yaml:"client"`
	Channels      map[string]cpChannel `yaml:"channels"`
	Organizations map[string]cpOrg     `yaml:"organizations"`
	Orderers      map[string]cpNode    `yaml:"orderers"`
	Peers         map[string]cpNode    `yaml:"peers"`
}

// connectionProfile is a standard Fabric common connection profile (as the
// Fabric SDKs read it) for one member: its own organisation, every peer of
// the channel, the orderers.
func (l netLayout) connectionProfile(nf netFile, org string) connectionProfile {
	me := nf.Organizations[mspOf(org)]
	cp := connectionProfile{
		Name: "tokentrail-" + org, Version: "1.0.0",
		XTokentrail:   cpExtension{MSPID: me.MSPID, GatewayPeer: me.GatewayPeer, CertPath: me.CertPath, KeyPath: me.KeyPath},
		Channels:      map[string]cpChannel{},
		Organizations: map[string]cpOrg{},
		Orderers:      map[string]cpNode{},
		Peers:         map[string]cpNode{},
	}
	cp.Client.Organization = title(org)
	cp.Client.Connection.Timeout.Peer.Endorser = "300"
	ch := cpChannel{Peers: map[string]cpChannelPeer{}}
	for _, o := range l.orderers() {
		ch.Orderers = append(ch.Orderers, o.Host)
		cp.Orderers[o.Host] = cpNode{
			URL: fmt.Sprintf("grpcs://%s:%d", l.ordererHost(o), o.Port), TLSCACerts: cpPath{o.tlsCA()},
			GRPCOptions: map[string]string{"ssl-target-name-override": o.Host},
		}
	}
	for _, p := range netPeerOrgs {
		name := peerName(p)
		ch.Peers[name] = cpChannelPeer{true, true, true, true}
		np := nf.Peers[name]
		cp.Peers[name] = cpNode{
			URL: "grpcs://" + np.Address, TLSCACerts: cpPath{np.TLSRootCertPath},
			GRPCOptions: map[string]string{"ssl-target-name-override": name, "hostnameOverride": name},
		}
	}
	cp.Channels[l.Channel] = ch
	for _, o := range netOrgs {
		co := cpOrg{MSPID: mspOf(o.Name), Peers: []string{}, CertificateAuthorities: []string{}}
		if o.Gateway == o.Name {
			co.Peers = []string{peerName(o.Name)}
		}
		if o.Name == org {
			no := nf.Organizations[mspOf(o.Name)]
			co.AdminPrivateKey = &cpPath{no.AdminKeyPath}
			co.SignedCert = &cpPath{no.AdminCertPath}
		}
		cp.Organizations[title(o.Name)] = co
	}
	return cp
}

// ------------------------------------------------------------- chaincode

// ccaasConnection is connection.json of a chaincode-as-a-service package:
// where the peers dial the chaincode server, with the PEM files inlined.
type ccaasConnection struct {
	Address            string `json:"address"`
	DialTimeout        string `json:"dial_timeout"`
	TLSRequired        bool   `json:"tls_required"`
	ClientAuthRequired bool   `json:"client_auth_required,omitempty"`
	ClientKey          string `json:"client_key,omitempty"`
	ClientCert         string `json:"client_cert,omitempty"`
	RootCert           string `json:"root_cert,omitempty"`
}

// ------------------------------------------------------------------ files

// writeFileAtomic writes b to path through a temporary file and a rename,
// so a reader never sees half a file.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func marshalYAML(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func marshalJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeConfigtx writes DEV/config/configtx.yaml.
func (l netLayout) writeConfigtx() (string, error) {
	b, err := marshalYAML("# configtxgen input for channel "+l.Channel+" ("+l.OrdererType+" ordering); written by\n# `tokentrail fabric network-files configtx`: do not edit.\n", l.configtx())
	if err != nil {
		return "", err
	}
	dir := filepath.Join(l.Dev, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "configtx.yaml")
	return path, writeFileAtomic(path, b, 0o644)
}

// writeAppFiles writes DEV/network.json and DEV/connection-ORG.yaml.
func (l netLayout) writeAppFiles() ([]string, error) {
	cc, err := l.readChaincodes()
	if err != nil {
		return nil, err
	}
	nf := l.networkFile(cc)
	var written []string
	for _, o := range netOrgs {
		b, err := marshalYAML("", l.connectionProfile(nf, o.Name))
		if err != nil {
			return nil, err
		}
		p := l.connectionProfilePath(o.Name)
		if err := writeFileAtomic(p, b, 0o644); err != nil {
			return nil, err
		}
		written = append(written, p)
	}
	b, err := marshalJSON(nf)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(l.Dev, "network.json")
	if err := writeFileAtomic(p, b, 0o644); err != nil {
		return nil, err
	}
	return append([]string{p}, written...), nil
}

// networkFilesCmd is "tokentrail fabric network-files configtx|app|hosts".
// With --hosts-prefix and --hosts-subnet every stage writes the files of the
// network on hosts (hostsnet.go); the hosts stage needs them.
func networkFilesCmd(args []string, stdout, stderr io.Writer) error {
	const synopsis = "fabric network-files configtx|app|hosts --dev DIR --base-port N --orderer-type raft|bft [--channel C] [--chaincode NAME] [--hosts-prefix P --hosts-subnet A.B.C --script FILE]"
	if len(args) == 0 || (args[0] != "configtx" && args[0] != "app" && args[0] != "hosts") {
		return usagef("usage: tokentrail %s", synopsis)
	}
	what := args[0]
	fs := newFlagSet("fabric network-files", synopsis, stderr)
	dev := fs.String("dev", "network/.dev", "the network's directory (scripts/network.sh: network/.dev)")
	base := fs.Int("base-port", 7050, "the network's first port")
	otype := fs.String("orderer-type", "raft", "raft or bft")
	channel := fs.String("channel", "tokentrail", "the channel")
	chaincode := fs.String("chaincode", "tokentrail", "the chaincode the app uses")
	batchTimeout := fs.Duration("batch-timeout", defaultBatchTimeout, "Raft: the longest a transaction waits to be cut into a block (1ms to 10s)")
	maxMessages := fs.Int("max-message-count", defaultMaxMessageCount, "Raft: the most transactions in a block (1 to 10000)")
	hostsPrefix := fs.String("hosts-prefix", "", "on hosts: the prefix of every namespace and link name (1 to 4 lower-case letters or digits)")
	hostsSubnet := fs.String("hosts-subnet", "", "on hosts: the private /24 of the hosts, as three octets (10.77.0)")
	script := fs.String("script", "", "on hosts: the network script's absolute path, for consortium.json (default: scripts/network.sh beside --dev's network/)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("fabric network-files: unexpected argument %q", fs.Arg(0))
	}
	if *batchTimeout < time.Millisecond || *batchTimeout > 10*time.Second {
		return usagef("--batch-timeout: %s is outside 1ms to 10s", *batchTimeout)
	}
	if *maxMessages < 1 || *maxMessages > 10000 {
		return usagef("--max-message-count: %d is outside 1 to 10000", *maxMessages)
	}
	t, err := parseOrdererType(*otype)
	if err != nil {
		return usagef("--orderer-type: %v", err)
	}
	abs, err := filepath.Abs(*dev)
	if err != nil {
		return err
	}
	l := netLayout{Dev: abs, Channel: *channel, Chaincode: *chaincode, BasePort: *base, OrdererType: t,
		BatchTimeout: *batchTimeout, MaxMessageCount: *maxMessages}
	if *hostsPrefix != "" || *hostsSubnet != "" {
		h := netHosts{Prefix: *hostsPrefix, Subnet: *hostsSubnet, Script: *script}
		if h.Script == "" {
			h.Script = filepath.Join(filepath.Dir(filepath.Dir(abs)), "scripts", "network.sh")
		}
		if err := h.check(); err != nil {
			return usagef("fabric network-files: %v", err)
		}
		l.Hosts = &h
	} else if what == "hosts" {
		return usagef("fabric network-files hosts: --hosts-prefix and --hosts-subnet are required")
	}
	if err := l.check(); err != nil {
		return usagef("fabric network-files: %v", err)
	}
	var written []string
	if what == "hosts" {
		if written, err = l.writeHostsFiles(); err != nil {
			return err
		}
	} else if what == "configtx" {
		p, err := l.writeConfigtx()
		if err != nil {
			return err
		}
		written = []string{p}
	} else if written, err = l.writeAppFiles(); err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintln(stdout, "wrote", p)
	}
	return nil
}

// ccaasConnectionCmd is "tokentrail fabric ccaas-connection": connection.json
// of a chaincode-as-a-service package, with the TLS files inlined when given.
func ccaasConnectionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fabric ccaas-connection", "fabric ccaas-connection --address HOST:PORT --out FILE [--client-cert F --client-key F --root-cert F]", stderr)
	addr := fs.String("address", "", "where peers dial the chaincode server")
	out := fs.String("out", "", "connection.json to write")
	cert := fs.String("client-cert", "", "the TLS client certificate peers present (PEM); with --client-key and --root-cert: mutual TLS")
	key := fs.String("client-key", "", "its private key (PEM)")
	root := fs.String("root-cert", "", "the CA of the chaincode server's TLS certificate (PEM)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" || *out == "" {
		return usagef("fabric ccaas-connection: --address and --out are required")
	}
	c := ccaasConnection{Address: *addr, DialTimeout: "10s"}
	tls := []*string{cert, key, root}
	n := 0
	for _, p := range tls {
		if *p != "" {
			n++
		}
	}
	switch n {
	case 0:
	case 3:
		var pems [3]string
		for i, p := range tls {
			b, err := os.ReadFile(*p)
			if err != nil {
				return fmt.Errorf("fabric ccaas-connection: %w", err)
			}
			if !bytes.Contains(b, []byte("-----BEGIN ")) {
				return fmt.Errorf("fabric ccaas-connection: %s is not PEM", *p)
			}
			pems[i] = string(b)
		}
		c.TLSRequired, c.ClientAuthRequired = true, true
		c.ClientCert, c.ClientKey, c.RootCert = pems[0], pems[1], pems[2]
	default:
		return usagef("fabric ccaas-connection: --client-cert, --client-key and --root-cert go together")
	}
	b, err := marshalJSON(c)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", *out)
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
