package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewKey(t *testing.T) {
	a, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey()
	if a == b || !WellFormed(a) || !WellFormed(b) || !strings.HasPrefix(a, KeyPrefix) {
		t.Fatalf("keys %q %q", a, b)
	}
	h := HashKey(a)
	if !ValidHash(h) || strings.Contains(h, a[3:]) || len(KeyID(h)) != 14 {
		t.Fatalf("hash %q id %q", h, KeyID(h))
	}
}

func TestStoreCreateAuthenticateRevoke(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(filepath.Join(dir, KeysFile))
	key, rec, err := s.Create("ExchangeMSP", "ops")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key store mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	raw, _ := os.ReadFile(s.Path())
	if strings.Contains(string(raw), key) || strings.Contains(string(raw), key[3:]) {
		t.Fatal("the key itself is stored")
	}
	a, err := NewAuthenticator(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.now = func() time.Time { return now }
	id, err := a.Authenticate(key)
	if err != nil || id.MSPID != "ExchangeMSP" || id.KeyID != rec.ID {
		t.Fatalf("authenticate: %+v %v", id, err)
	}
	if _, err := a.Authenticate(key[:len(key)-1] + "x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a changed key: %v", err)
	}
	// A key created and one revoked through another Store value (the CLI)
	// take effect once the recheck interval has passed.
	other := NewStore(s.Path())
	key2, _, err := other.Create("AuditorMSP", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke(rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(key2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key seen before the recheck interval: %v", err)
	}
	now = now.Add(2 * time.Second)
	if id, err := a.Authenticate(key2); err != nil || id.MSPID != "AuditorMSP" {
		t.Fatalf("new key after recheck: %+v %v", id, err)
	}
	if _, err := a.Authenticate(key); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoked key still accepted: %v", err)
	}
	keys, err := s.List()
	if err != nil || len(keys) != 2 || keys[0].Active() || !keys[1].Active() {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if _, err := s.Revoke("k_nope"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("revoking an unknown key: %v", err)
	}
	if _, _, err := s.Create("bad msp!", ""); err == nil {
		t.Fatal("an invalid MSP ID was accepted")
	}
}

func TestDamagedStore(t *testing.T) {
	p := filepath.Join(t.TempDir(), KeysFile)
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthenticator(NewStore(p), nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged store: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	k, _ := NewKey()
	k2, _ := NewKey()
	env := map[string]string{"EXCHANGE_KEY": k2}
	getenv := func(n string) string { return env[n] }
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `organizations:
  - mspId: RegulatorMSP
    name: Regulator
    roles: [regulator]
    region: CN
    apiKeys:
      - label: ops
        sha256: "` + HashKey(k) + `"
  - mspId: ExchangeMSP
    name: Exchange
    roles: [exchange]
    region: CN-SH
    apiKeys:
      - env: EXCHANGE_KEY
`
	c, keys, err := LoadConfig(write(good), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Regulator().MSPID != "RegulatorMSP" || len(keys) != 2 || keys[1].MSPID != "ExchangeMSP" || keys[1].Hash != HashKey(k2) {
		t.Fatalf("config %+v keys %+v", c, keys)
	}
	a, _ := NewAuthenticator(nil, keys)
	if id, err := a.Authenticate(k2); err != nil || id.MSPID != "ExchangeMSP" {
		t.Fatalf("configured key: %+v %v", id, err)
	}
	for name, c := range map[string]struct{ body, want string }{
		"unknown setting":  {strings.Replace(good, "region: CN-SH", "regoin: CN-SH", 1), "regoin"},
		"no regulator":     {strings.Replace(good, "[regulator]", "[auditor]", 1), "exactly one"},
		"unknown role":     {strings.Replace(good, "[exchange]", "[trader]", 1), "unknown role"},
		"bad hash":         {strings.Replace(good, HashKey(k), "sha256:abc", 1), "sha256"},
		"empty env":        {strings.Replace(good, "EXCHANGE_KEY", "MISSING_KEY", 1), "MISSING_KEY"},
		"duplicate msp":    {strings.Replace(good, "ExchangeMSP", "RegulatorMSP", 1), "twice"},
		"no organisations": {"organizations: []\n", "at least one"},
	} {
		if _, _, err := LoadConfig(write(c.body), getenv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func TestDevCredentials(t *testing.T) {
	p := filepath.Join(t.TempDir(), DevCredentialsFile)
	if ok, err := HasDevCredentials(p); ok || err != nil {
		t.Fatalf("before writing: %v %v", ok, err)
	}
	creds := DevCredentials{Organizations: []DevCredential{{MSPID: "ExchangeMSP", Roles: []string{"exchange"}, APIKey: "tt_x"}}}
	if err := WriteDevCredentials(p, creds); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	got, err := ReadDevCredentials(p)
	if err != nil || got.Organizations[0].APIKey != "tt_x" {
		t.Fatalf("read back %+v %v", got, err)
	}
	if len(DevConsortium()) != 6 {
		t.Fatal("the development consortium has six organisations")
	}
}
