package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// Roles a participant may hold (the contract's names).
var knownRoles = []string{"regulator", "provider", "processor", "exchange", "consumer", "auditor"}

// Organization is one organisation of the consortium as configured: who it is
// on the ledger and which keys act for it.
type Organization struct {
	MSPID  string   `yaml:"mspId" json:"mspId"`
	Name   string   `yaml:"name" json:"name"`
	Roles  []string `yaml:"roles" json:"roles"`
	Region string   `yaml:"region" json:"region"`
	// APIKeys are the keys that act for this organisation.
	APIKeys []ConfigKey `yaml:"apiKeys" json:"-"`
}

// ConfigKey is a key in the configuration: its SHA-256 hash (as printed by
// `tokentrail keys hash`), or the name of an environment variable that holds
// the key itself. Plaintext keys are never written in the file.
type ConfigKey struct {
	Label  string `yaml:"label"`
	SHA256 string `yaml:"sha256"`
	Env    string `yaml:"env"`
}

// Config is the --config file.
type Config struct {
	Organizations []Organization `yaml:"organizations"`
	// Fabric is the ledger section for --ledger fabric, kept as YAML for
	// main to decode into the Fabric ledger's own configuration.
	Fabric yaml.Node `yaml:"fabric"`
	// Dir is the directory of the file, against which the Fabric section's
	// relative paths are resolved.
	Dir string `yaml:"-"`
}

// Regulator returns the organisation holding the regulator role.
func (c *Config) Regulator() Organization {
	for _, o := range c.Organizations {
		if slices.Contains(o.Roles, "regulator") {
			return o
		}
	}
	return Organization{}
}

// LoadConfig reads and checks a YAML configuration. Unknown keys are errors,
// so a misspelt setting is not silently ignored. getenv resolves keys given
// by environment variable (os.Getenv in production).
func LoadConfig(path string, getenv func(string) string) (*Config, []Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	c.Dir = filepath.Dir(path)
	keys, err := c.check(getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	return &c, keys, nil
}

// check validates the configuration and returns the keys it grants.
func (c *Config) check(getenv func(string) string) ([]Key, error) {
	if len(c.Organizations) == 0 {
		return nil, errors.New("organizations: at least one organisation is needed")
	}
	seen := map[string]bool{}
	seenKey := map[string]string{}
	regulators := 0
	var keys []Key
	for i, o := range c.Organizations {
		at := fmt.Sprintf("organizations[%d]", i)
		if !ValidMSPID(o.MSPID) {
			return nil, fmt.Errorf("%s.mspId: %q is not a valid MSP ID", at, o.MSPID)
		}
		if seen[o.MSPID] {
			return nil, fmt.Errorf("%s.mspId: %s appears twice", at, o.MSPID)
		}
		seen[o.MSPID] = true
		if o.Name == "" {
			return nil, fmt.Errorf("%s.name: required", at)
		}
		if o.Region == "" {
			return nil, fmt.Errorf("%s.region: required (ISO 3166 code, e.g. CN)", at)
		}
		if len(o.Roles) == 0 {
			return nil, fmt.Errorf("%s.roles: at least one of %v", at, knownRoles)
		}
		for _, r := range o.Roles {
			if !slices.Contains(knownRoles, r) {
				return nil, fmt.Errorf("%s.roles: unknown role %q (one of %v)", at, r, knownRoles)
			}
			if r == "regulator" {
				regulators++
			}
		}
		for j, k := range o.APIKeys {
			kat := fmt.Sprintf("%s.apiKeys[%d]", at, j)
			var hash string
			switch {
			case k.SHA256 != "" && k.Env != "":
				return nil, fmt.Errorf("%s: give sha256 or env, not both", kat)
			case k.SHA256 != "":
				if !ValidHash(k.SHA256) {
					return nil, fmt.Errorf("%s.sha256: must be \"sha256:\" and 64 lower-case hex digits (see `tokentrail keys hash`)", kat)
				}
				hash = k.SHA256
			case k.Env != "":
				v := getenv(k.Env)
				if v == "" {
					return nil, fmt.Errorf("%s.env: environment variable %s is empty", kat, k.Env)
				}
				if !WellFormed(v) {
					return nil, fmt.Errorf("%s.env: %s does not hold a tokentrail key (tt_ and 43 base64url characters)", kat, k.Env)
				}
				hash = HashKey(v)
			default:
				return nil, fmt.Errorf("%s: give sha256 or env", kat)
			}
			if other, dup := seenKey[hash]; dup {
				return nil, fmt.Errorf("%s: the same key is also given for %s", kat, other)
			}
			seenKey[hash] = o.MSPID
			keys = append(keys, Key{ID: KeyID(hash), Hash: hash, MSPID: o.MSPID, Label: k.Label, Source: "config"})
		}
	}
	if regulators != 1 {
		return nil, fmt.Errorf("organizations: exactly one organisation must hold the regulator role, found %d", regulators)
	}
	return keys, nil
}

// DevCredentialsFile is the name of the development consortium's credentials
// in the data directory.
const DevCredentialsFile = "dev-credentials.json"

// DevConsortium is the development consortium of the API contract: one
// organisation per role.
func DevConsortium() []Organization {
	return []Organization{
		{MSPID: "RegulatorMSP", Name: "Development Regulator", Roles: []string{"regulator"}, Region: "CN"},
		{MSPID: "ProviderMSP", Name: "Development Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: "ProcessorMSP", Name: "Development Processor", Roles: []string{"processor"}, Region: "CN"},
		{MSPID: "ExchangeMSP", Name: "Development Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: "ConsumerMSP", Name: "Development Consumer", Roles: []string{"consumer"}, Region: "CN"},
		{MSPID: "AuditorMSP", Name: "Development Auditor", Roles: []string{"auditor"}, Region: "CN"},
	}
}

// DevCredential is one organisation's entry in dev-credentials.json.
type DevCredential struct {
	MSPID  string   `json:"mspId"`
	Roles  []string `json:"roles"`
	APIKey string   `json:"apiKey"`
}

// DevCredentials is the content of dev-credentials.json.
type DevCredentials struct {
	Organizations []DevCredential `json:"organizations"`
}

// HasDevCredentials reports whether path exists.
func HasDevCredentials(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// WriteDevCredentials writes creds to path with mode 0600.
func WriteDevCredentials(path string, creds DevCredentials) error {
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// ReadDevCredentials reads dev-credentials.json.
func ReadDevCredentials(path string) (DevCredentials, error) {
	var c DevCredentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
