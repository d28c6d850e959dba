package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokentrail/tokentrail/app/auth"
	fabricledger "github.com/tokentrail/tokentrail/app/ledger/fabric"
	"github.com/tokentrail/tokentrail/app/receipt"
)

// fabricConfig decodes the fabric section of the --config file strictly.
func fabricConfig(cfg *auth.Config) (fabricledger.Config, error) {
	var fc fabricledger.Config
	if cfg == nil || cfg.Fabric.Kind == 0 {
		return fc, usagef("--ledger fabric needs --config with a fabric: section (see docs/fabric-network.md; scripts/network.sh up writes one)")
	}
	raw, err := yaml.Marshal(&cfg.Fabric)
	if err != nil {
		return fc, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		return fc, usagef("configuration fabric section: %v", err)
	}
	fc.Dir = cfg.Dir
	if err := fc.Check(); err != nil {
		return fc, usagef("configuration: %v", err)
	}
	return fc, nil
}

// networkFile is the part of network/.dev/network.json (written by
// scripts/network.sh up) that the development configuration is made from.
type networkFile struct {
	Channel   string `json:"channel"`
	Chaincode string `json:"chaincode"`
	// OrdererType is the channel's orderer type (etcdraft or BFT); empty in
	// files written before there was a choice, which were all Raft.
	OrdererType   string `json:"ordererType"`
	Organizations map[string]struct {
		MSPID             string `json:"mspId"`
		CertPath          string `json:"certPath"`
		KeyPath           string `json:"keyPath"`
		MSPDir            string `json:"mspDir"`
		GatewayPeer       string `json:"gatewayPeer"`
		ConnectionProfile string `json:"connectionProfile"`
	} `json:"organizations"`
	// OrdererOrganizations are every orderer organisation (four with
	// BFT ordering); OrdererAdmin, the only one in files written before
	// there could be several.
	OrdererOrganizations map[string]ordererOrgFile `json:"ordererOrganizations"`
	OrdererAdmin         ordererOrgFile            `json:"ordererAdmin"`
}

type ordererOrgFile struct {
	MSPID  string `json:"mspId"`
	MSPDir string `json:"mspDir"`
}

// fabricCmd is "tokentrail fabric dev-config": it turns the description of a
// development network into tokentrail's configuration for it, with one new
// API key per organisation, and registers the organisations on the ledger.
func fabricCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "network-files":
			return networkFilesCmd(args[1:], stdout, stderr)
		case "ccaas-connection":
			return ccaasConnectionCmd(args[1:], stdout, stderr)
		case "add-org":
			return addOrgCmd(args[1:], stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "dev-config" {
		return usagef("usage: tokentrail fabric dev-config|network-files|ccaas-connection|add-org [flags]")
	}
	fs := newFlagSet("fabric dev-config", "fabric dev-config [flags]", stderr)
	network := fs.String("network", "network/.dev/network.json", "the network description written by scripts/network.sh up")
	out := fs.String("out", "network/.dev", "directory to write tokentrail.yaml, trust-anchor.pem and dev-credentials.json to")
	register := fs.Bool("register", true, "register the organisations on the ledger (the regulator bootstraps it)")
	force := fs.Bool("force", false, "write a new configuration and new keys even if one exists")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	b, err := os.ReadFile(*network)
	if err != nil {
		return fmt.Errorf("network description: %w", err)
	}
	var nf networkFile
	if err := json.Unmarshal(b, &nf); err != nil {
		return fmt.Errorf("network description %s: %w", *network, err)
	}
	if nf.Channel == "" || nf.Chaincode == "" || len(nf.Organizations) == 0 {
		return fmt.Errorf("network description %s: channel, chaincode and organizations are required", *network)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(outDir, "tokentrail.yaml")
	credsPath := filepath.Join(outDir, auth.DevCredentialsFile)
	if _, err := os.Stat(cfgPath); err == nil && !*force {
		// Keep the keys people already use; only make sure the
		// organisations are registered.
		fmt.Fprintf(stdout, "%s exists; keeping it and its keys (--force writes new ones)\n", cfgPath)
		if !*register {
			return nil
		}
		return registerFromConfig(cfgPath, stdout, stderr, getenv)
	}

	var profile string
	devOrgs := auth.DevConsortium()
	var ids []devIdentity
	profiles := map[string]string{}
	var msps []string
	for _, o := range devOrgs {
		no, ok := nf.Organizations[o.MSPID]
		if !ok {
			return fmt.Errorf("network description %s has no organisation %s", *network, o.MSPID)
		}
		msps = append(msps, o.MSPID)
		ids = append(ids, devIdentity{MSPID: o.MSPID, Certificate: no.CertPath, PrivateKey: no.KeyPath, GatewayPeer: no.GatewayPeer})
		profiles[o.MSPID] = no.ConnectionProfile
		if o.MSPID == "RegulatorMSP" {
			profile = no.ConnectionProfile
		}
	}
	anchor, err := trustAnchor(nf, *network, msps)
	if err != nil {
		return err
	}
	anchorPath := filepath.Join(outDir, "trust-anchor.pem")
	if err := os.WriteFile(anchorPath, anchor, 0o644); err != nil {
		return err
	}

	// One new key per organisation: its hash goes into the configuration,
	// the key itself into dev-credentials.json (0600).
	var orgs []devOrg
	var creds auth.DevCredentials
	for _, o := range devOrgs {
		key, err := auth.NewKey()
		if err != nil {
			return err
		}
		orgs = append(orgs, devOrg{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region,
			APIKeys: []devAPIKey{{Label: "development network", SHA256: auth.HashKey(key)}}})
		creds.Organizations = append(creds.Organizations, auth.DevCredential{MSPID: o.MSPID, Roles: o.Roles, APIKey: key})
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].MSPID < ids[j].MSPID })
	doc := map[string]any{
		"organizations": orgs,
		"fabric":        devFabricSection(nf.Channel, nf.Chaincode, profile, ids, privateDataOrgs, anchorPath),
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	header := "# tokentrail configuration for the development Fabric network; written by\n# `tokentrail fabric dev-config`. Keys are stored as hashes; the keys\n# themselves are in dev-credentials.json.\n"
	if err := os.WriteFile(cfgPath, append([]byte(header), y...), 0o600); err != nil {
		return err
	}
	if err := auth.WriteDevCredentials(credsPath, creds); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s and %s\n", cfgPath, anchorPath, credsPath)
	orgsDir := filepath.Join(outDir, "orgs")
	if err := writeOrgConfigs(orgsDir, devOrgs, ids, profiles, nf.Channel, nf.Chaincode, anchor); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote one configuration per organisation under %s\n", orgsDir)
	if !*register {
		return nil
	}

	return registerFromConfig(cfgPath, stdout, stderr, getenv)
}

// trustAnchor is the channel's trust anchor for receipts: the root
// certificates of every orderer organisation and of the members msps, and
// the consensus, from a network description (network names it in errors).
func trustAnchor(nf networkFile, network string, msps []string) ([]byte, error) {
	roots := map[string][][]byte{}
	addRoots := func(msp, dir string) error {
		files, err := filepath.Glob(filepath.Join(dir, "cacerts", "*.pem"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("%s: no root certificates in %s/cacerts", msp, dir)
		}
		for _, f := range files {
			pem, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			roots[msp] = append(roots[msp], pem)
		}
		return nil
	}
	ordererOrgs := nf.OrdererOrganizations
	if len(ordererOrgs) == 0 && nf.OrdererAdmin.MSPDir != "" {
		ordererOrgs = map[string]ordererOrgFile{nf.OrdererAdmin.MSPID: nf.OrdererAdmin}
	}
	for _, msp := range sortedKeys(ordererOrgs) {
		o := ordererOrgs[msp]
		if o.MSPID != msp {
			return nil, fmt.Errorf("network description %s: orderer organisation %s has mspId %q", network, msp, o.MSPID)
		}
		if err := addRoots(o.MSPID, o.MSPDir); err != nil {
			return nil, err
		}
	}
	for _, msp := range msps {
		no, ok := nf.Organizations[msp]
		if !ok {
			return nil, fmt.Errorf("network description %s has no organisation %s", network, msp)
		}
		if err := addRoots(msp, no.MSPDir); err != nil {
			return nil, err
		}
	}
	// The anchor names the orderer organisations and the consensus, so that
	// a receipt of a BFT-signed block needs a quorum of them.
	ordering := receipt.FabricOrdering{Consensus: receipt.OrderingRaft, MSPIDs: sortedKeys(ordererOrgs)}
	switch nf.OrdererType {
	case ordererBFT:
		ordering.Consensus = receipt.OrderingBFT
	case "", ordererRaft:
	default:
		return nil, fmt.Errorf("network description %s: orderer type %q, want %s or %s", network, nf.OrdererType, ordererRaft, ordererBFT)
	}
	return receipt.FabricTrustAnchorOrdering(roots, ordering)
}

// registerFromConfig registers the organisations of a configuration on its
// Fabric network, as serve would on start.
func registerFromConfig(cfgPath string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, _, err := auth.LoadConfig(cfgPath, getenv)
	if err != nil {
		return err
	}
	fc, err := fabricConfig(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l, err := fabricledger.Open(fc, log)
	if err != nil {
		return err
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The first transactions after the network comes up can fail while
	// gossip settles; retry for a while.
	for attempt := 1; ; attempt++ {
		err = registerConfigured(ctx, l, cfg, log)
		if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || attempt == 10 {
			break
		}
		log.Warn("registering the organisations failed; retrying", "attempt", attempt, "err", err)
		time.Sleep(3 * time.Second)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "registered the development consortium on the network")
	return nil
}

// devIdentity is one organisation's signing identity in a configuration.
type devIdentity struct {
	MSPID       string `yaml:"mspId"`
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"privateKey"`
	GatewayPeer string `yaml:"gatewayPeer"`
}

type devAPIKey struct {
	Label  string `yaml:"label"`
	SHA256 string `yaml:"sha256"`
}

type devOrg struct {
	MSPID   string      `yaml:"mspId"`
	Name    string      `yaml:"name"`
	Roles   []string    `yaml:"roles"`
	Region  string      `yaml:"region"`
	APIKeys []devAPIKey `yaml:"apiKeys"`
}

// privateDataOrgs hold the trade-terms collection on the development network.
var privateDataOrgs = []string{"ExchangeMSP", "RegulatorMSP"}

// writeOrgConfigs writes, for each organisation, the configuration of a
// tokentrail node that organisation runs itself: dir/<MSP ID>/tokentrail.yaml
// with only its own signing identity, only its own API key (a new one, whose
// key is in the directory's dev-credentials.json), its own connection profile
// and a copy of the channel's trust anchor. The other organisations appear
// by name, roles and region only, so that the node can tell who they are;
// it holds no key of theirs, so it can neither authenticate a request as
// one of them nor sign a transaction as one of them.
func writeOrgConfigs(dir string, orgs []auth.Organization, ids []devIdentity, profiles map[string]string, channel, chaincode string, anchor []byte) error {
	idOf := map[string]devIdentity{}
	for _, id := range ids {
		idOf[id.MSPID] = id
	}
	for _, me := range orgs {
		id, ok := idOf[me.MSPID]
		if !ok || profiles[me.MSPID] == "" {
			return fmt.Errorf("organisation %s has no signing identity or connection profile in the network description", me.MSPID)
		}
		if err := writeOrgConfig(filepath.Join(dir, me.MSPID), orgs, me, id, profiles[me.MSPID], channel, chaincode, anchor); err != nil {
			return err
		}
	}
	return nil
}

// writeOrgConfig writes one organisation's node configuration into odir
// (see writeOrgConfigs): me among the members orgs, signing as id.
func writeOrgConfig(odir string, orgs []auth.Organization, me auth.Organization, id devIdentity, profile, channel, chaincode string, anchor []byte) error {
	if err := os.MkdirAll(odir, 0o700); err != nil {
		return err
	}
	key, err := auth.NewKey()
	if err != nil {
		return err
	}
	var members []devOrg
	for _, o := range orgs {
		m := devOrg{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region, APIKeys: []devAPIKey{}}
		if o.MSPID == me.MSPID {
			m.APIKeys = []devAPIKey{{Label: "own node, development network", SHA256: auth.HashKey(key)}}
		}
		members = append(members, m)
	}
	anchorPath := filepath.Join(odir, "trust-anchor.pem")
	if err := writeFileAtomic(anchorPath, anchor, 0o644); err != nil {
		return err
	}
	doc := map[string]any{
		"organizations": members,
		"fabric":        devFabricSection(channel, chaincode, profile, []devIdentity{id}, privateDataOrgs, anchorPath),
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# tokentrail configuration of %s's own node on the development Fabric\n"+
		"# network; written by `tokentrail fabric dev-config` (or `add-org node-config`).\n"+
		"# It holds only %s's signing identity and API key (its hash; the key is in\n"+
		"# dev-credentials.json).\n", me.MSPID, me.MSPID)
	if err := writeFileAtomic(filepath.Join(odir, "tokentrail.yaml"), append([]byte(header), y...), 0o600); err != nil {
		return err
	}
	creds := auth.DevCredentials{Organizations: []auth.DevCredential{{MSPID: me.MSPID, Roles: me.Roles, APIKey: key}}}
	return auth.WriteDevCredentials(filepath.Join(odir, auth.DevCredentialsFile), creds)
}

// registersConsortium reports whether a node with this configuration
// registers the configured organisations on start: only one that can sign
// as the regulator can. An organisation's own node leaves it to the
// regulator's.
func registersConsortium(cfg *auth.Config) bool {
	fc, err := fabricConfig(cfg)
	if err != nil {
		return true // the error is reported where the ledger is opened
	}
	reg := cfg.Regulator().MSPID
	for _, id := range fc.Identities {
		if id.MSPID == reg {
			return true
		}
	}
	return false
}

// devFabricSection is the fabric section of a development configuration,
// the shared one and each organisation's own node's alike.
func devFabricSection(channel, chaincode, profile string, ids []devIdentity, privateDataOrgs []string, anchorPath string) map[string]any {
	return map[string]any{
		"channel":                  channel,
		"chaincode":                chaincode,
		"connectionProfile":        profile,
		"identities":               ids,
		"privateDataOrganizations": privateDataOrgs,
		"trustAnchor":              anchorPath,
		"commitTimeout":            "15s",
		"submitDeadline":           "2m",
	}
}
