// Package consortiumtest holds the tests of the multi-host consortium
// (scripts/network.sh up --hosts, run by scripts/test-consortium.sh) and the
// description of that network they read: network/.dev/consortium.json,
// written in Go by `tokentrail fabric network-files` when the network is
// made with hosts. Nothing in the product depends on this package.
package consortiumtest

import (
	"encoding/json"
	"fmt"
	"os"
)

// EnvFile names the environment variable that points the tests at a
// consortium's description; without it the tests skip.
const EnvFile = "TOKENTRAIL_CONSORTIUM_JSON"

// Consortium describes a network made by `scripts/network.sh up --hosts`:
// one Linux network namespace per organisation, each attached by a veth
// pair to a bridge inside the hub namespace, where a Toxiproxy server
// carries every connection between hosts.
type Consortium struct {
	// Dev is the network's working directory (network/.dev).
	Dev string `json:"dev"`
	// Script is the network script, for `kill`, `start`, `partition` and `heal`.
	Script      string `json:"script"`
	OrdererType string `json:"ordererType"` // "bft" or "raft"
	Channel     string `json:"channel"`
	Hub         Hub    `json:"hub"`
	Hosts       []Host `json:"hosts"`
	// Proxies lists every Toxiproxy proxy: the address other hosts use for a
	// node (Listen, in the hub) and where the node really listens (Upstream).
	Proxies []Proxy `json:"proxies"`
}

// Hub is the namespace that holds the bridge and the Toxiproxy server; the
// consortium tests run inside it.
type Hub struct {
	Namespace string `json:"namespace"`
	Bridge    string `json:"bridge"`
	Address   string `json:"address"`
	// HostName is the hub's name in every host's hosts file.
	HostName string `json:"hostName"`
	// ToxiproxyAPI is the base URL of the Toxiproxy server's HTTP API, as
	// reached from inside the hub namespace.
	ToxiproxyAPI string `json:"toxiproxyAPI"`
}

// Host is one organisation's host.
type Host struct {
	Org       string `json:"org"`   // "provider"
	MSPID     string `json:"mspId"` // "ProviderMSP"
	Namespace string `json:"namespace"`
	Address   string `json:"address"`
	// HostName is the host's name (host.<org>.tokentrail.test), which every
	// namespace's hosts file resolves to Address and every certificate of
	// the host's nodes names.
	HostName string `json:"hostName"`
	// Link is the hub side of the host's veth pair: setting it down (inside
	// the hub namespace) cuts the host off from every other host.
	Link string `json:"link"`
	// Node is the organisation's tokentrail node; zero on the Raft ordering
	// organisation's host ("orderer", OrdererMSP), which runs only orderers.
	Node Node `json:"node"`
	// Peer is the process name of the host's peer (as `network.sh status`
	// prints it), empty when the organisation runs none.
	Peer string `json:"peer,omitempty"`
	// Orderers are the process names of the orderers the host runs.
	Orderers []string `json:"orderers,omitempty"`
	// Chaincode is the process name of the host's chaincode server, if any.
	Chaincode string `json:"chaincode,omitempty"`
	// TLSRootCert is the organisation's TLS CA certificate (PEM), which the
	// TLS certificates of the host's peer or orderers chain to.
	TLSRootCert string `json:"tlsRootCert,omitempty"`
}

// Node is an organisation's tokentrail node.
type Node struct {
	Name string `json:"name"` // process name for network.sh kill/start: "node.provider"
	URL  string `json:"url"`  // base URL, reachable from the hub namespace
	// Config is the node's own configuration; Credentials its API key
	// (auth.DevCredentials), 0600.
	Config      string `json:"config"`
	Credentials string `json:"credentials"`
}

// Proxy is one Toxiproxy proxy.
type Proxy struct {
	Name     string `json:"name"` // the node it fronts, e.g. "peer0.provider.tokentrail.test"
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

// Load reads a consortium description.
func Load(path string) (*Consortium, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Consortium
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Hosts) == 0 {
		return nil, fmt.Errorf("%s names no hosts", path)
	}
	return &c, nil
}

// Host returns the host of the organisation with the given MSP ID.
func (c *Consortium) Host(mspID string) (Host, bool) {
	for _, h := range c.Hosts {
		if h.MSPID == mspID {
			return h, true
		}
	}
	return Host{}, false
}
