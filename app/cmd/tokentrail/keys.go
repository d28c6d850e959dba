package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

const keysUsage = `Usage:
  tokentrail keys create --org MSPID [--label TEXT] [--data DIR] [--no-store]
  tokentrail keys list [--data DIR] [--json]
  tokentrail keys revoke [--data DIR] KEY_ID
  tokentrail keys hash < key
  tokentrail keys dev-env [--data DIR]

Keys are stored hashed in DIR/keys.json (mode 0600); a running server picks up
created and revoked keys within a second. A key is printed once, on stdout.
dev-env prints the development consortium's keys as shell exports
(REGULATOR_KEY, PROVIDER_KEY, ...) for eval "$(tokentrail keys dev-env)".
`

func keys(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usagef("keys needs a subcommand\n\n%s", keysUsage)
	}
	switch args[0] {
	case "create":
		return keysCreate(args[1:], stdout, stderr, getenv)
	case "list":
		return keysList(args[1:], stdout, stderr, getenv)
	case "revoke":
		return keysRevoke(args[1:], stdout, stderr, getenv)
	case "hash":
		return keysHash(args[1:], stdin, stdout, stderr)
	case "dev-env":
		return keysDevEnv(args[1:], stdout, stderr, getenv)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	return usagef("unknown keys subcommand %q\n\n%s", args[0], keysUsage)
}

// dataFlag is the --data flag of the keys subcommands.
func dataFlag(getenv func(string) string) (def, help string) {
	return envDefault(getenv, "TOKENTRAIL_DATA", "./data"), "data directory holding keys.json [TOKENTRAIL_DATA]"
}

func keysCreate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("keys create", "keys create --org MSPID [flags]", stderr)
	var data, org, label string
	var noStore bool
	def, help := dataFlag(getenv)
	fs.StringVar(&data, "data", def, help)
	fs.StringVar(&org, "org", "", "MSP ID of the organisation the key acts for (required)")
	fs.StringVar(&label, "label", "", "a note on what the key is for, shown by keys list")
	fs.BoolVar(&noStore, "no-store", false, "do not store the key; print it and its hash for a --config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if org == "" || fs.NArg() > 0 {
		return usagef("keys create needs --org MSPID and no arguments")
	}
	if !auth.ValidMSPID(org) {
		return usagef("--org %q is not an MSP ID (letters, digits, '.' and '-')", org)
	}
	if noStore {
		key, err := auth.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		fmt.Fprintf(stderr, "not stored; for the configuration of %s:\n  apiKeys:\n    - sha256: %q\n", org, auth.HashKey(key))
		return nil
	}
	key, rec, err := auth.NewStore(filepath.Join(data, auth.KeysFile)).Create(org, label)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	fmt.Fprintf(stderr, "key %s for %s stored in %s; it is shown only this once\n", rec.ID, org, filepath.Join(data, auth.KeysFile))
	return nil
}

func keysList(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("keys list", "keys list [flags]", stderr)
	var data string
	var asJSON bool
	def, help := dataFlag(getenv)
	fs.StringVar(&data, "data", def, help)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("keys list takes no arguments")
	}
	list, err := auth.NewStore(filepath.Join(data, auth.KeysFile)).List()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []auth.Key{}
		}
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tORGANISATION\tLABEL\tCREATED\tSTATUS")
	for _, k := range list {
		status := "active"
		if !k.Active() {
			status = "revoked " + k.Revoked.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.MSPID, k.Label, k.Created.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func keysRevoke(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("keys revoke", "keys revoke [flags] KEY_ID", stderr)
	var data string
	def, help := dataFlag(getenv)
	fs.StringVar(&data, "data", def, help)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("keys revoke needs one KEY_ID (see keys list)")
	}
	k, err := auth.NewStore(filepath.Join(data, auth.KeysFile)).Revoke(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s) at %s\n", k.ID, k.MSPID, k.Revoked.Format(time.RFC3339))
	return nil
}

func keysHash(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys hash", "keys hash < key", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	key := strings.TrimSpace(line)
	if !auth.WellFormed(key) {
		return usagef("stdin does not hold a tokentrail key (tt_ and 43 base64url characters)")
	}
	fmt.Fprintln(stdout, auth.HashKey(key))
	return nil
}

// keysDevEnv prints the development consortium's keys from
// dev-credentials.json as shell exports, one per organisation: the MSP ID
// without its "MSP" suffix, upper-cased, and "_KEY" (ExchangeMSP → EXCHANGE_KEY).
func keysDevEnv(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("keys dev-env", "keys dev-env [flags]", stderr)
	var data string
	def, _ := dataFlag(getenv)
	fs.StringVar(&data, "data", def, "data directory holding dev-credentials.json [TOKENTRAIL_DATA]")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("keys dev-env takes no arguments")
	}
	creds, err := auth.ReadDevCredentials(filepath.Join(data, auth.DevCredentialsFile))
	if err != nil {
		return fmt.Errorf("development credentials (start tokentrail serve without --config first): %w", err)
	}
	for _, o := range creds.Organizations {
		if !auth.ValidMSPID(o.MSPID) || !auth.WellFormed(o.APIKey) {
			return fmt.Errorf("%s holds a malformed entry", auth.DevCredentialsFile)
		}
		name := strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(o.MSPID, "MSP"), "-", "_"))
		name = strings.ReplaceAll(name, ".", "_")
		fmt.Fprintf(stdout, "export %s_KEY=%s\n", name, o.APIKey)
	}
	return nil
}
