package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

	"github.com/tokentrail/tokentrail/app/auth"
)

// fakeNetwork writes a network description like scripts/network.sh's, with
// a root certificate per organisation and distinct (fake) key files, and
// returns its path.
func fakeNetwork(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caPEM := func(cn string) []byte {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	mspDir := func(name string) string {
		d := filepath.Join(dir, name, "msp")
		if err := os.MkdirAll(filepath.Join(d, "cacerts"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cacerts", "ca.pem"), caPEM(name), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	orgs := map[string]any{}
	for _, o := range auth.DevConsortium() {
		d := mspDir(o.MSPID)
		orgs[o.MSPID] = map[string]string{
			"mspId": o.MSPID, "mspDir": d,
			"certPath":          filepath.Join(dir, o.MSPID, "user", "cert.pem"),
			"keyPath":           filepath.Join(dir, o.MSPID, "user", "priv_sk"),
			"gatewayPeer":       "peer0." + strings.ToLower(strings.TrimSuffix(o.MSPID, "MSP")) + ".example",
			"connectionProfile": filepath.Join(dir, "connection-"+o.MSPID+".yaml"),
		}
	}
	nf := map[string]any{
		"channel": "tokentrail", "chaincode": "tokentrail", "ordererType": "etcdraft",
		"organizations":        orgs,
		"ordererOrganizations": map[string]any{"OrdererMSP": map[string]string{"mspId": "OrdererMSP", "mspDir": mspDir("OrdererMSP")}},
	}
	b, err := json.Marshal(nf)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "network.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOrgConfigs: dev-config also writes one configuration per
// organisation holding only that organisation's signing identity, its own
// API key and its own connection profile. No other organisation's key
// file, certificate, API key or key hash is in it, its keys act only for
// its organisation, and only the regulator's node registers the consortium.
func TestOrgConfigs(t *testing.T) {
	network := fakeNetwork(t)
	out := t.TempDir()
	var so, se bytes.Buffer
	if err := fabricCmd([]string{"dev-config", "--network", network, "--out", out, "--register=false"}, &so, &se, os.Getenv); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	var nf networkFile
	raw, _ := os.ReadFile(network)
	if err := json.Unmarshal(raw, &nf); err != nil {
		t.Fatal(err)
	}
	// Every secret or per-organisation item in play: the shared
	// configuration's key hashes and keys, and each per-org file's own.
	allCreds, err := auth.ReadDevCredentials(filepath.Join(out, auth.DevCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]string{} // MSP ID -> strings only its node may hold
	for _, c := range allCreds.Organizations {
		secrets[c.MSPID] = append(secrets[c.MSPID], c.APIKey, auth.HashKey(c.APIKey))
	}
	orgKey := map[string]string{}
	for _, o := range auth.DevConsortium() {
		creds, err := auth.ReadDevCredentials(filepath.Join(out, "orgs", o.MSPID, auth.DevCredentialsFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(creds.Organizations) != 1 || creds.Organizations[0].MSPID != o.MSPID || !auth.WellFormed(creds.Organizations[0].APIKey) {
			t.Fatalf("%s: credentials %+v, want exactly its own key", o.MSPID, creds)
		}
		k := creds.Organizations[0].APIKey
		orgKey[o.MSPID] = k
		no := nf.Organizations[o.MSPID]
		secrets[o.MSPID] = append(secrets[o.MSPID], k, auth.HashKey(k), no.KeyPath, no.CertPath, no.ConnectionProfile)
	}
	for _, o := range auth.DevConsortium() {
		odir := filepath.Join(out, "orgs", o.MSPID)
		path := filepath.Join(odir, "tokentrail.yaml")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
		}
		text, _ := os.ReadFile(path)
		credText, _ := os.ReadFile(filepath.Join(odir, auth.DevCredentialsFile))
		for other, ss := range secrets {
			for _, s := range ss {
				if other == o.MSPID {
					continue
				}
				if bytes.Contains(text, []byte(s)) || bytes.Contains(credText, []byte(s)) {
					t.Errorf("%s's node files hold %s's %q", o.MSPID, other, s)
				}
			}
		}
		if !bytes.Contains(text, []byte(auth.HashKey(orgKey[o.MSPID]))) || !bytes.Contains(text, []byte(nf.Organizations[o.MSPID].KeyPath)) {
			t.Errorf("%s's configuration lacks its own key hash or signing key", o.MSPID)
		}
		cfg, keys, err := auth.LoadConfig(path, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%s: %v", o.MSPID, err)
		}
		if len(keys) != 1 || keys[0].MSPID != o.MSPID || keys[0].Hash != auth.HashKey(orgKey[o.MSPID]) {
			t.Errorf("%s: the configuration grants %+v, want only its own key", o.MSPID, keys)
		}
		// The node authenticates its own key and no other organisation's.
		authn, err := auth.NewAuthenticator(auth.NewStore(filepath.Join(t.TempDir(), auth.KeysFile)), keys)
		if err != nil {
			t.Fatal(err)
		}
		for other, k := range orgKey {
			id, err := authn.Authenticate(k)
			if other == o.MSPID && (err != nil || id.MSPID != o.MSPID) {
				t.Errorf("%s's node: its own key: %+v, %v", o.MSPID, id, err)
			}
			if other != o.MSPID && err == nil {
				t.Errorf("%s's node accepted %s's key as %s", o.MSPID, other, id.MSPID)
			}
		}
		for _, c := range allCreds.Organizations {
			if id, err := authn.Authenticate(c.APIKey); err == nil {
				t.Errorf("%s's node accepted the shared configuration's key of %s as %s", o.MSPID, c.MSPID, id.MSPID)
			}
		}
		fc, err := fabricConfig(cfg)
		if err != nil {
			t.Fatalf("%s: %v", o.MSPID, err)
		}
		if len(fc.Identities) != 1 || fc.Identities[0].MSPID != o.MSPID || fc.Identities[0].PrivateKey != nf.Organizations[o.MSPID].KeyPath {
			t.Errorf("%s: identities %+v, want only its own", o.MSPID, fc.Identities)
		}
		if fc.ConnectionProfile != nf.Organizations[o.MSPID].ConnectionProfile {
			t.Errorf("%s: connection profile %s, want its own", o.MSPID, fc.ConnectionProfile)
		}
		anchor, _ := os.ReadFile(filepath.Join(out, "trust-anchor.pem"))
		if own, err := os.ReadFile(fc.TrustAnchor); err != nil || !bytes.Equal(own, anchor) {
			t.Errorf("%s: trust anchor %s differs from the channel's (%v)", o.MSPID, fc.TrustAnchor, err)
		}
		if len(cfg.Organizations) != len(auth.DevConsortium()) {
			t.Errorf("%s: %d organisations named, want %d", o.MSPID, len(cfg.Organizations), len(auth.DevConsortium()))
		}
		if got, want := registersConsortium(cfg), o.MSPID == "RegulatorMSP"; got != want {
			t.Errorf("%s's node registers the consortium: %v, want %v", o.MSPID, got, want)
		}
	}
}
