package fabric

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// Config says how to reach a Fabric network and act on it as each
// organisation. Paths are resolved against Dir, the directory of the file
// the configuration came from.
type Config struct {
	Dir       string `yaml:"-"`
	Channel   string `yaml:"channel"`
	Chaincode string `yaml:"chaincode"`
	// ConnectionProfile is a standard Fabric connection profile (YAML or
	// JSON) naming the peers, their addresses and TLS root certificates.
	ConnectionProfile string `yaml:"connectionProfile"`
	// Identities are the organisations the app submits as, one signing
	// identity each.
	Identities []IdentityConfig `yaml:"identities"`
	// PrivateDataOrganizations hold the trade-terms collection: writes that
	// touch it are endorsed by their peers, and queries that read it are
	// evaluated on them.
	PrivateDataOrganizations []string `yaml:"privateDataOrganizations"`
	// TrustAnchor is a PEM file of the channel organisations' root
	// certificates, each labelled with its MSP ID (see receipt.FabricTrustAnchor).
	TrustAnchor string `yaml:"trustAnchor"`
	// CommitTimeout bounds one wait for a commit status before the same
	// transaction is submitted again.
	CommitTimeout Duration `yaml:"commitTimeout"`
	// SubmitDeadline bounds the whole of one write, resubmissions included.
	SubmitDeadline Duration `yaml:"submitDeadline"`
}

// IdentityConfig is one organisation's signing identity and the peer it
// talks to.
type IdentityConfig struct {
	MSPID       string `yaml:"mspId"`
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"privateKey"`
	// GatewayPeer names a peer of the connection profile.
	GatewayPeer string `yaml:"gatewayPeer"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a duration such as "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Check validates the configuration and fills in defaults.
func (c *Config) Check() error {
	switch {
	case c.Channel == "":
		return errors.New("fabric.channel is required")
	case c.Chaincode == "":
		return errors.New("fabric.chaincode is required")
	case c.ConnectionProfile == "":
		return errors.New("fabric.connectionProfile is required")
	case len(c.Identities) == 0:
		return errors.New("fabric.identities needs at least one organisation")
	case c.TrustAnchor == "":
		return errors.New("fabric.trustAnchor is required (the channel organisations' root certificates)")
	}
	seen := map[string]bool{}
	for i, id := range c.Identities {
		switch {
		case id.MSPID == "":
			return fmt.Errorf("fabric.identities[%d].mspId is required", i)
		case seen[id.MSPID]:
			return fmt.Errorf("fabric.identities[%d]: %s appears twice", i, id.MSPID)
		case id.Certificate == "" || id.PrivateKey == "":
			return fmt.Errorf("fabric.identities[%d] (%s): certificate and privateKey are required", i, id.MSPID)
		case id.GatewayPeer == "":
			return fmt.Errorf("fabric.identities[%d] (%s): gatewayPeer is required", i, id.MSPID)
		}
		seen[id.MSPID] = true
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = Duration(15 * time.Second)
	}
	if c.SubmitDeadline == 0 {
		c.SubmitDeadline = Duration(2 * time.Minute)
	}
	return nil
}

func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// profile is the part of a connection profile tokentrail reads.
type profile struct {
	Name          string                 `yaml:"name"`
	Organizations map[string]profileOrg  `yaml:"organizations"`
	Peers         map[string]profilePeer `yaml:"peers"`
	Rest          map[string]yaml.Node   `yaml:",inline"`
}

type profileOrg struct {
	MSPID string   `yaml:"mspid"`
	Peers []string `yaml:"peers"`
}

type profilePeer struct {
	URL        string         `yaml:"url"`
	TLSCACerts pemOrPath      `yaml:"tlsCACerts"`
	GRPC       map[string]any `yaml:"grpcOptions"`
}

type pemOrPath struct {
	PEM  string `yaml:"pem"`
	Path string `yaml:"path"`
}

// peerEndpoint is a peer as tokentrail dials it.
type peerEndpoint struct {
	Name string
	// MSPID is the organisation the profile lists the peer under, or empty.
	MSPID      string
	Address    string
	TLS        bool
	RootPEM    []byte
	ServerName string
}

// loadProfile reads a connection profile (YAML or JSON, which YAML reads)
// and returns its peers by name. Relative paths are resolved against the
// profile's directory.
func loadProfile(path string) (map[string]peerEndpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("connection profile: %w", err)
	}
	var p profile
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("connection profile %s: %w", path, err)
	}
	if len(p.Peers) == 0 {
		return nil, fmt.Errorf("connection profile %s names no peers", path)
	}
	dir := filepath.Dir(path)
	out := map[string]peerEndpoint{}
	for name, peer := range p.Peers {
		u, err := url.Parse(peer.URL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("connection profile %s: peer %s: url %q is not grpc(s)://host:port", path, name, peer.URL)
		}
		ep := peerEndpoint{Name: name, Address: u.Host, TLS: u.Scheme == "grpcs"}
		switch {
		case peer.TLSCACerts.PEM != "":
			ep.RootPEM = []byte(peer.TLSCACerts.PEM)
		case peer.TLSCACerts.Path != "":
			pp := peer.TLSCACerts.Path
			if !filepath.IsAbs(pp) {
				pp = filepath.Join(dir, pp)
			}
			if ep.RootPEM, err = os.ReadFile(pp); err != nil {
				return nil, fmt.Errorf("connection profile %s: peer %s: TLS root: %w", path, name, err)
			}
		}
		if ep.TLS && len(ep.RootPEM) == 0 {
			return nil, fmt.Errorf("connection profile %s: peer %s uses grpcs but has no tlsCACerts", path, name)
		}
		for _, k := range []string{"ssl-target-name-override", "hostnameOverride"} {
			if s, ok := peer.GRPC[k].(string); ok && s != "" {
				ep.ServerName = s
			}
		}
		out[name] = ep
	}
	for _, org := range p.Organizations {
		for _, name := range org.Peers {
			if ep, ok := out[name]; ok && org.MSPID != "" {
				ep.MSPID = org.MSPID
				out[name] = ep
			}
		}
	}
	return out, nil
}
