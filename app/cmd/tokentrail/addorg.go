package main

// "tokentrail fabric add-org": a new member joins the channel of the
// development network through a channel configuration update, computed here
// with Fabric's protos rather than with configtxlator:
//
//	crypto-config  the cryptogen input for the new organisation alone
//	update         from the channel's latest configuration block, the
//	               update that adds the organisation's MSP to the
//	               Application group, signed by the admins given (at least
//	               the majority the Application Admins policy asks for),
//	               as an envelope `peer channel update -f` submits
//	record         after the update is committed: the organisation joins
//	               added-orgs.json, so network.json and the connection
//	               profiles name it
//	node-config    its tokentrail node's configuration (orgs/<MSP ID>/),
//	               and the trust anchors of every configuration renewed
//	               with its root certificate
//
// scripts/network.sh add-org NAME runs them in that order.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/tokentrail/tokentrail/app/auth"
)

// addedOrgsFile lists the members added after the genesis block, in
// DEV/added-orgs.json.
const addedOrgsFile = "added-orgs.json"

// addedOrgsFormat is the version of added-orgs.json.
const addedOrgsFormat = 1

type addedOrgs struct {
	Format        int      `json:"format"`
	Organizations []netOrg `json:"organizations"`
}

// readAddedOrgs reads DEV/added-orgs.json; none when it does not exist.
func readAddedOrgs(dev string) ([]netOrg, error) {
	path := filepath.Join(dev, addedOrgsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a addedOrgs
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a.Format != addedOrgsFormat {
		return nil, fmt.Errorf("%s has format %d; this tokentrail reads format %d", path, a.Format, addedOrgsFormat)
	}
	return a.Organizations, nil
}

// members is every channel member: those of the genesis block, then the
// ones added since.
func (l netLayout) members() ([]netOrg, error) {
	added, err := readAddedOrgs(l.Dev)
	if err != nil {
		return nil, err
	}
	return append(append([]netOrg{}, netOrgs...), added...), nil
}

// maxMembers is the most channel members the development layout has room for.
const maxMembers = 9

var orgNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// checkNewOrg checks that name can be a new member's name.
func checkNewOrg(dev, name, gateway string) error {
	if !orgNameRE.MatchString(name) {
		return fmt.Errorf("organisation name %q: use 2 to 31 lower-case letters and digits, starting with a letter (its MSP ID is the name with a capital and \"MSP\")", name)
	}
	if name == "ccaas" || name == "orderer" {
		return fmt.Errorf("organisation name %q is taken by the network's own material", name)
	}
	members, err := netLayout{Dev: dev}.members()
	if err != nil {
		return err
	}
	for _, o := range members {
		if o.Name == name {
			return fmt.Errorf("%s is already a member of the channel", mspOf(name))
		}
	}
	// On hosts each member's host has address .11 + its index, below the
	// Raft ordering host's .20.
	if len(members) >= maxMembers {
		return fmt.Errorf("the channel has %d members, the most this development network lays out", len(members))
	}
	for _, p := range netPeerOrgs {
		if p == gateway {
			return nil
		}
	}
	return fmt.Errorf("--gateway %q: a new member without a peer submits through a peer organisation's peer (one of %s)", gateway, strings.Join(netPeerOrgs, ", "))
}

func addOrgCmd(args []string, stdout, stderr io.Writer) error {
	const synopsis = "fabric add-org crypto-config|update|record|node-config [flags]"
	if len(args) == 0 {
		return usagef("usage: tokentrail %s", synopsis)
	}
	switch args[0] {
	case "crypto-config":
		return addOrgCryptoCmd(args[1:], stdout, stderr)
	case "update":
		return addOrgUpdateCmd(args[1:], stdout, stderr)
	case "record":
		return addOrgRecordCmd(args[1:], stdout, stderr)
	case "node-config":
		return addOrgNodeConfigCmd(args[1:], stdout, stderr)
	}
	return usagef("usage: tokentrail %s", synopsis)
}

// ----------------------------------------------------------- crypto-config

type cryptoOrg struct {
	Name          string         `yaml:"Name"`
	Domain        string         `yaml:"Domain"`
	EnableNodeOUs bool           `yaml:"EnableNodeOUs"`
	Template      map[string]int `yaml:"Template"`
	Users         map[string]int `yaml:"Users"`
}

func addOrgCryptoCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fabric add-org crypto-config", "fabric add-org crypto-config --dev DIR --org NAME --gateway ORG --out FILE", stderr)
	dev := fs.String("dev", "network/.dev", "the network's directory")
	org := fs.String("org", "", "the new organisation's name, lower case (research: MSP ID ResearchMSP)")
	gateway := fs.String("gateway", "provider", "the peer organisation whose peer it submits through")
	out := fs.String("out", "", "the cryptogen configuration to write")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("fabric add-org crypto-config: --out is required")
	}
	if err := checkNewOrg(*dev, *org, *gateway); err != nil {
		return usagef("fabric add-org: %v", err)
	}
	// Like the processor and the consumer: a CA, an admin and one client
	// user, no peer; NodeOUs on, so roles come from the certificates.
	doc := map[string][]cryptoOrg{"PeerOrgs": {{
		Name: title(*org), Domain: *org + "." + netDomain, EnableNodeOUs: true,
		Template: map[string]int{"Count": 0}, Users: map[string]int{"Count": 1},
	}}}
	b, err := marshalYAML("# cryptogen input for a member added to the development network;\n# written by `tokentrail fabric add-org crypto-config`.\n", doc)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", *out)
	return nil
}

// ------------------------------------------------------------------ update

// signerFlag collects repeated --signer MSPID=ADMIN_MSP_DIR flags.
type signerFlag []configSigner

type configSigner struct{ MSPID, Dir string }

func (s *signerFlag) String() string { return fmt.Sprint(*s) }
func (s *signerFlag) Set(v string) error {
	msp, dir, ok := strings.Cut(v, "=")
	if !ok || msp == "" || dir == "" {
		return fmt.Errorf("%q: want MSPID=ADMIN_MSP_DIR", v)
	}
	*s = append(*s, configSigner{msp, dir})
	return nil
}

func addOrgUpdateCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fabric add-org update", "fabric add-org update --dev DIR --org NAME --channel C --config-block FILE --signer MSPID=DIR... --out FILE", stderr)
	dev := fs.String("dev", "network/.dev", "the network's directory (the new organisation's MSP is under crypto/peerOrganizations)")
	org := fs.String("org", "", "the new organisation's name, lower case")
	channel := fs.String("channel", "tokentrail", "the channel")
	block := fs.String("config-block", "", "the channel's latest configuration block (peer channel fetch config)")
	out := fs.String("out", "", "the signed update envelope to write (for peer channel update -f)")
	ifAbsent := fs.Bool("if-absent", false, "when the block already has the organisation, write nothing and exit 0 (resuming an interrupted add-org)")
	var signers signerFlag
	fs.Var(&signers, "signer", "MSPID=ADMIN_MSP_DIR of an admin who signs the update (repeat; at least the majority of the Application members)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *block == "" || *out == "" || *org == "" {
		return usagef("fabric add-org update: --org, --config-block and --out are required")
	}
	if !orgNameRE.MatchString(*org) {
		return usagef("fabric add-org update: bad organisation name %q", *org)
	}
	raw, err := os.ReadFile(*block)
	if err != nil {
		return fmt.Errorf("configuration block: %w", err)
	}
	cfg, err := configFromBlock(raw)
	if err != nil {
		return fmt.Errorf("configuration block %s: %w", *block, err)
	}
	mspID := mspOf(*org)
	group, err := memberGroup(mspID, filepath.Join(*dev, "crypto", "peerOrganizations", *org+"."+netDomain, "msp"))
	if err != nil {
		return err
	}
	if _, ok := cfg.ChannelGroup.Groups["Application"].Groups[mspID]; ok && *ifAbsent {
		fmt.Fprintf(stdout, "%s is already a member of channel %s (its latest configuration block says so); nothing to submit\n", mspID, *channel)
		return nil
	}
	update, err := addOrgUpdate(cfg, *channel, mspID, group)
	if err != nil {
		return err
	}
	need, err := adminsNeeded(cfg)
	if err != nil {
		return err
	}
	env, err := signConfigUpdate(update, *channel, signers, need)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, b, 0o644); err != nil {
		return err
	}
	var who []string
	for _, s := range signers {
		who = append(who, s.MSPID)
	}
	fmt.Fprintf(stdout, "wrote %s: adds %s to channel %s, signed by %s (the Application Admins policy needs %d)\n",
		*out, mspID, *channel, strings.Join(who, ", "), need)
	return nil
}

// configFromBlock returns the channel configuration a configuration block
// carries.
func configFromBlock(raw []byte) (*common.Config, error) {
	var blk common.Block
	if err := proto.Unmarshal(raw, &blk); err != nil {
		return nil, fmt.Errorf("not a block: %w", err)
	}
	if blk.GetData() == nil || len(blk.Data.Data) != 1 {
		return nil, errors.New("not a configuration block (it must hold exactly one envelope)")
	}
	var env common.Envelope
	if err := proto.Unmarshal(blk.Data.Data[0], &env); err != nil {
		return nil, err
	}
	var pl common.Payload
	if err := proto.Unmarshal(env.Payload, &pl); err != nil {
		return nil, err
	}
	var ch common.ChannelHeader
	if err := proto.Unmarshal(pl.GetHeader().GetChannelHeader(), &ch); err != nil {
		return nil, err
	}
	if common.HeaderType(ch.Type) != common.HeaderType_CONFIG {
		return nil, fmt.Errorf("block %d is not a configuration block (its transaction is of type %s)", blk.GetHeader().GetNumber(), common.HeaderType(ch.Type))
	}
	var ce common.ConfigEnvelope
	if err := proto.Unmarshal(pl.Data, &ce); err != nil {
		return nil, err
	}
	if ce.Config.GetChannelGroup().GetGroups()["Application"] == nil {
		return nil, errors.New("the configuration has no Application group")
	}
	return ce.Config, nil
}

// adminsNeeded is how many member admins must sign a change of the
// Application group: its Admins policy, when it is an ImplicitMeta rule
// over the members' Admins (the development network's MAJORITY Admins).
func adminsNeeded(cfg *common.Config) (int, error) {
	app := cfg.ChannelGroup.Groups["Application"]
	n := len(app.Groups)
	p := app.Policies["Admins"].GetPolicy()
	if p == nil || common.Policy_PolicyType(p.Type) != common.Policy_IMPLICIT_META {
		return 0, errors.New("the Application Admins policy is not an ImplicitMeta rule; this command only counts those")
	}
	var im common.ImplicitMetaPolicy
	if err := proto.Unmarshal(p.Value, &im); err != nil {
		return 0, err
	}
	if im.SubPolicy != "Admins" {
		return 0, fmt.Errorf("the Application Admins policy is over the members' %s policies, not their Admins", im.SubPolicy)
	}
	switch im.Rule {
	case common.ImplicitMetaPolicy_ANY:
		return 1, nil
	case common.ImplicitMetaPolicy_ALL:
		return n, nil
	default:
		return n/2 + 1, nil
	}
}

// addOrgUpdate is the configuration update that adds group as member
// mspID of the Application group. The read set names the Application group
// and each current member at their versions (the update is refused if any
// changed meanwhile); the write set raises the Application group's version
// and holds the new member whole.
func addOrgUpdate(cfg *common.Config, channel, mspID string, group *common.ConfigGroup) (*common.ConfigUpdate, error) {
	root := cfg.ChannelGroup
	app := root.Groups["Application"]
	if _, ok := app.Groups[mspID]; ok {
		return nil, fmt.Errorf("%s is already a member of channel %s", mspID, channel)
	}
	// A group whose version rises holds exactly what its write set lists:
	// every policy, value and member it keeps is named at its current
	// version (in the read set too), or the update would delete it.
	same := func() *common.ConfigGroup {
		g := &common.ConfigGroup{Version: app.Version, Groups: map[string]*common.ConfigGroup{},
			Policies: map[string]*common.ConfigPolicy{}, Values: map[string]*common.ConfigValue{}}
		for name, m := range app.Groups {
			g.Groups[name] = &common.ConfigGroup{Version: m.Version}
		}
		for name, p := range app.Policies {
			g.Policies[name] = &common.ConfigPolicy{Version: p.Version}
		}
		for name, v := range app.Values {
			g.Values[name] = &common.ConfigValue{Version: v.Version}
		}
		return g
	}
	readApp, writeApp := same(), same()
	writeApp.Version = app.Version + 1
	writeApp.ModPolicy = app.ModPolicy
	writeApp.Groups[mspID] = group
	read := &common.ConfigGroup{Version: root.Version, Groups: map[string]*common.ConfigGroup{"Application": readApp}}
	write := &common.ConfigGroup{Version: root.Version, Groups: map[string]*common.ConfigGroup{"Application": writeApp}}
	return &common.ConfigUpdate{ChannelId: channel, ReadSet: read, WriteSet: write}, nil
}

// memberGroup is the configuration group of a member without a peer, as
// the genesis block has the processor's and the consumer's: its MSP from
// the cryptogen MSP directory, Readers and Writers its admins and clients,
// Admins its admins, Endorsement its peers (it has none, so it never
// endorses).
func memberGroup(mspID, dir string) (*common.ConfigGroup, error) {
	mspConf, err := fabricMSPConfig(mspID, dir)
	if err != nil {
		return nil, err
	}
	inner, err := proto.Marshal(mspConf)
	if err != nil {
		return nil, err
	}
	value, err := proto.Marshal(&mspproto.MSPConfig{Type: 0, Config: inner})
	if err != nil {
		return nil, err
	}
	pol := func(roles ...mspproto.MSPRole_MSPRoleType) (*common.ConfigPolicy, error) {
		env, err := anyOfRoles(mspID, roles...)
		if err != nil {
			return nil, err
		}
		b, err := proto.Marshal(env)
		if err != nil {
			return nil, err
		}
		return &common.ConfigPolicy{ModPolicy: "Admins",
			Policy: &common.Policy{Type: int32(common.Policy_SIGNATURE), Value: b}}, nil
	}
	g := &common.ConfigGroup{
		ModPolicy: "Admins",
		Values:    map[string]*common.ConfigValue{"MSP": {ModPolicy: "Admins", Value: value}},
		Policies:  map[string]*common.ConfigPolicy{},
	}
	for name, roles := range map[string][]mspproto.MSPRole_MSPRoleType{
		"Readers":     {mspproto.MSPRole_ADMIN, mspproto.MSPRole_CLIENT},
		"Writers":     {mspproto.MSPRole_ADMIN, mspproto.MSPRole_CLIENT},
		"Admins":      {mspproto.MSPRole_ADMIN},
		"Endorsement": {mspproto.MSPRole_PEER},
	} {
		if g.Policies[name], err = pol(roles...); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// anyOfRoles is the signature policy OR('<msp>.<role>', ...).
func anyOfRoles(mspID string, roles ...mspproto.MSPRole_MSPRoleType) (*common.SignaturePolicyEnvelope, error) {
	env := &common.SignaturePolicyEnvelope{Version: 0}
	var rules []*common.SignaturePolicy
	for i, r := range roles {
		p, err := proto.Marshal(&mspproto.MSPRole{MspIdentifier: mspID, Role: r})
		if err != nil {
			return nil, err
		}
		env.Identities = append(env.Identities, &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: p})
		rules = append(rules, &common.SignaturePolicy{Type: &common.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	env.Rule = &common.SignaturePolicy{Type: &common.SignaturePolicy_NOutOf_{NOutOf: &common.SignaturePolicy_NOutOf{N: 1, Rules: rules}}}
	return env, nil
}

// mspNodeOUs is the NodeOUs part of a cryptogen MSP's config.yaml.
type mspNodeOUs struct {
	NodeOUs struct {
		Enable              bool    `yaml:"Enable"`
		ClientOUIdentifier  ouIdent `yaml:"ClientOUIdentifier"`
		PeerOUIdentifier    ouIdent `yaml:"PeerOUIdentifier"`
		AdminOUIdentifier   ouIdent `yaml:"AdminOUIdentifier"`
		OrdererOUIdentifier ouIdent `yaml:"OrdererOUIdentifier"`
	} `yaml:"NodeOUs"`
}

type ouIdent struct {
	Certificate                  string `yaml:"Certificate"`
	OrganizationalUnitIdentifier string `yaml:"OrganizationalUnitIdentifier"`
}

// fabricMSPConfig reads a verifying MSP (no signing identity) from an MSP
// directory as cryptogen lays it out: cacerts, intermediatecerts,
// admincerts, tlscacerts, tlsintermediatecerts, config.yaml with NodeOUs.
func fabricMSPConfig(mspID, dir string) (*mspproto.FabricMSPConfig, error) {
	pems := func(sub string, required bool) ([][]byte, error) {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.pem"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if required && len(files) == 0 {
			return nil, fmt.Errorf("%s: no certificate in %s/%s", mspID, dir, sub)
		}
		var out [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	c := &mspproto.FabricMSPConfig{Name: mspID,
		CryptoConfig: &mspproto.FabricCryptoConfig{SignatureHashFamily: "SHA2", IdentityIdentifierHashFunction: "SHA256"}}
	var err error
	if c.RootCerts, err = pems("cacerts", true); err != nil {
		return nil, err
	}
	if c.IntermediateCerts, err = pems("intermediatecerts", false); err != nil {
		return nil, err
	}
	if c.Admins, err = pems("admincerts", false); err != nil {
		return nil, err
	}
	if c.TlsRootCerts, err = pems("tlscacerts", true); err != nil {
		return nil, err
	}
	if c.TlsIntermediateCerts, err = pems("tlsintermediatecerts", false); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (the MSP must enable NodeOUs, as cryptogen's EnableNodeOUs does)", mspID, err)
	}
	var ous mspNodeOUs
	if err := yaml.Unmarshal(raw, &ous); err != nil {
		return nil, fmt.Errorf("%s/config.yaml: %w", dir, err)
	}
	if !ous.NodeOUs.Enable {
		return nil, fmt.Errorf("%s/config.yaml: NodeOUs are not enabled; the channel's policies name roles (admin, client, peer) that only NodeOUs give", dir)
	}
	ou := func(o ouIdent) (*mspproto.FabricOUIdentifier, error) {
		if o.OrganizationalUnitIdentifier == "" {
			return nil, nil
		}
		id := &mspproto.FabricOUIdentifier{OrganizationalUnitIdentifier: o.OrganizationalUnitIdentifier}
		if o.Certificate != "" {
			b, err := os.ReadFile(filepath.Join(dir, o.Certificate))
			if err != nil {
				return nil, fmt.Errorf("%s/config.yaml: %w", dir, err)
			}
			id.Certificate = b
		}
		return id, nil
	}
	n := &mspproto.FabricNodeOUs{Enable: true}
	if n.ClientOuIdentifier, err = ou(ous.NodeOUs.ClientOUIdentifier); err != nil {
		return nil, err
	}
	if n.PeerOuIdentifier, err = ou(ous.NodeOUs.PeerOUIdentifier); err != nil {
		return nil, err
	}
	if n.AdminOuIdentifier, err = ou(ous.NodeOUs.AdminOUIdentifier); err != nil {
		return nil, err
	}
	if n.OrdererOuIdentifier, err = ou(ous.NodeOUs.OrdererOUIdentifier); err != nil {
		return nil, err
	}
	c.FabricNodeOus = n
	return c, nil
}

// adminSigner is an admin's signing identity from its MSP directory.
type adminSigner struct {
	mspID   string
	creator []byte // serialized identity
	sign    identity.Sign
}

func loadAdmin(s configSigner) (*adminSigner, error) {
	certs, _ := filepath.Glob(filepath.Join(s.Dir, "signcerts", "*.pem"))
	keys, _ := filepath.Glob(filepath.Join(s.Dir, "keystore", "*"))
	if len(certs) != 1 || len(keys) != 1 {
		return nil, fmt.Errorf("signer %s: %s must hold one certificate in signcerts and one key in keystore", s.MSPID, s.Dir)
	}
	certPEM, err := os.ReadFile(certs[0])
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keys[0])
	if err != nil {
		return nil, err
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.MSPID, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.MSPID, err)
	}
	creator, err := proto.Marshal(&mspproto.SerializedIdentity{Mspid: s.MSPID, IdBytes: certPEM})
	if err != nil {
		return nil, err
	}
	return &adminSigner{mspID: s.MSPID, creator: creator, sign: sign}, nil
}

func (a *adminSigner) signatureHeader() ([]byte, error) {
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return proto.Marshal(&common.SignatureHeader{Creator: a.creator, Nonce: nonce})
}

func (a *adminSigner) signData(parts ...[]byte) ([]byte, error) {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return a.sign(h.Sum(nil))
}

// signConfigUpdate signs update by each signer (one per organisation, at
// least need of them) and wraps it in an envelope signed by the first.
func signConfigUpdate(update *common.ConfigUpdate, channel string, signers []configSigner, need int) (*common.Envelope, error) {
	seen := map[string]bool{}
	for _, s := range signers {
		if seen[s.MSPID] {
			return nil, fmt.Errorf("two signers of %s: each organisation's admin signs once", s.MSPID)
		}
		seen[s.MSPID] = true
	}
	if len(signers) < need {
		return nil, fmt.Errorf("%d admin signatures given, the channel's Application Admins policy needs %d (a majority of its members): add --signer MSPID=ADMIN_MSP_DIR", len(signers), need)
	}
	ub, err := proto.Marshal(update)
	if err != nil {
		return nil, err
	}
	cue := &common.ConfigUpdateEnvelope{ConfigUpdate: ub}
	var first *adminSigner
	for _, s := range signers {
		a, err := loadAdmin(s)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = a
		}
		sh, err := a.signatureHeader()
		if err != nil {
			return nil, err
		}
		sig, err := a.signData(sh, ub)
		if err != nil {
			return nil, err
		}
		cue.Signatures = append(cue.Signatures, &common.ConfigSignature{SignatureHeader: sh, Signature: sig})
	}
	data, err := proto.Marshal(cue)
	if err != nil {
		return nil, err
	}
	ch, err := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_CONFIG_UPDATE), ChannelId: channel})
	if err != nil {
		return nil, err
	}
	sh, err := first.signatureHeader()
	if err != nil {
		return nil, err
	}
	pl, err := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: ch, SignatureHeader: sh}, Data: data})
	if err != nil {
		return nil, err
	}
	sig, err := first.signData(pl)
	if err != nil {
		return nil, err
	}
	return &common.Envelope{Payload: pl, Signature: sig}, nil
}

// ------------------------------------------------------------------ record

func addOrgRecordCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fabric add-org record", "fabric add-org record --dev DIR --org NAME --gateway ORG", stderr)
	dev := fs.String("dev", "network/.dev", "the network's directory")
	org := fs.String("org", "", "the organisation the committed update added")
	gateway := fs.String("gateway", "provider", "the peer organisation whose peer it submits through")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkNewOrg(*dev, *org, *gateway); err != nil {
		return usagef("fabric add-org record: %v", err)
	}
	added, err := readAddedOrgs(*dev)
	if err != nil {
		return err
	}
	added = append(added, netOrg{Name: *org, Gateway: *gateway})
	b, err := marshalJSON(addedOrgs{Format: addedOrgsFormat, Organizations: added})
	if err != nil {
		return err
	}
	p := filepath.Join(*dev, addedOrgsFile)
	if err := writeFileAtomic(p, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s submits through %s\n", p, mspOf(*org), peerName(*gateway))
	return nil
}

// ------------------------------------------------------------- node-config

func addOrgNodeConfigCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fabric add-org node-config", "fabric add-org node-config --network FILE --org NAME --name TEXT --roles R,... --region CODE --out DIR", stderr)
	network := fs.String("network", "network/.dev/network.json", "the network description (after `network-files app` named the new member)")
	org := fs.String("org", "", "the added organisation's name, lower case")
	name := fs.String("name", "", "its display name (default: the name with a capital)")
	roles := fs.String("roles", "provider", "its roles, comma-separated, as the regulator will register them")
	region := fs.String("region", "CN", "its region")
	out := fs.String("out", "network/.dev", "the directory of the shared configuration; the node's goes to OUT/orgs/<MSP ID>")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !orgNameRE.MatchString(*org) {
		return usagef("fabric add-org node-config: bad organisation name %q", *org)
	}
	b, err := os.ReadFile(*network)
	if err != nil {
		return fmt.Errorf("network description: %w", err)
	}
	var nf networkFile
	if err := json.Unmarshal(b, &nf); err != nil {
		return fmt.Errorf("network description %s: %w", *network, err)
	}
	mspID := mspOf(*org)
	no, ok := nf.Organizations[mspID]
	if !ok {
		return fmt.Errorf("network description %s does not name %s: run `tokentrail fabric add-org record` and `network-files app` after the update commits", *network, mspID)
	}
	me := auth.Organization{MSPID: mspID, Name: *name, Region: *region}
	if me.Name == "" {
		me.Name = title(*org)
	}
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			me.Roles = append(me.Roles, r)
		}
	}
	if len(me.Roles) == 0 {
		return usagef("fabric add-org node-config: --roles names no role")
	}
	members := append(auth.DevConsortium(), me)
	var msps []string
	for _, o := range members {
		msps = append(msps, o.MSPID)
	}
	anchor, err := trustAnchor(nf, *network, msps)
	if err != nil {
		return err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	id := devIdentity{MSPID: mspID, Certificate: no.CertPath, PrivateKey: no.KeyPath, GatewayPeer: no.GatewayPeer}
	odir := filepath.Join(outDir, "orgs", mspID)
	if err := writeOrgConfig(odir, members, me, id, no.ConnectionProfile, nf.Channel, nf.Chaincode, anchor); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s's node configuration under %s\n", mspID, odir)
	// Every configuration's trust anchor now names the new member's root,
	// so each node (after a restart) verifies receipts of its transactions.
	anchors, _ := filepath.Glob(filepath.Join(outDir, "orgs", "*", "trust-anchor.pem"))
	if _, err := os.Stat(filepath.Join(outDir, "trust-anchor.pem")); err == nil {
		anchors = append(anchors, filepath.Join(outDir, "trust-anchor.pem"))
	}
	for _, p := range anchors {
		if err := writeFileAtomic(p, anchor, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "renewed %d trust anchors with %s's root certificate\n", len(anchors), mspID)
	return nil
}
