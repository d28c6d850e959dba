// Command tokentrail runs the tokentrail ledger's HTTP API and manages its
// API keys and receipts:
//
//	tokentrail serve                     run the API (embedded ledger by default)
//	tokentrail keys create|list|revoke   manage API keys in the data directory
//	tokentrail keys hash                 hash a key for the --config file
//	tokentrail verify --trust ANCHOR.pem receipt.json
//	tokentrail tokens count|verify       count tokens of files, check a manifest
//	tokentrail version
//
// Exit codes: 0 success, 1 failure at run time, 2 usage or configuration
// error, 3 a receipt that does not verify. Errors go to stderr.
//
// main is the only place where things are wired together: it turns flags and
// environment variables into configuration and passes it down.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/mattn/go-isatty"

	"github.com/tokentrail/tokentrail/app/bench"
	"github.com/tokentrail/tokentrail/app/tokens"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitUnproven = 3
)

// usageError is a mistake in the command line or configuration (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

const usage = `tokentrail — lifecycle audit and compliance ledger for AI-training token batches

Usage:
  tokentrail serve [flags]                       run the HTTP API
  tokentrail keys create --org MSPID [flags]     create an API key (shown once)
  tokentrail keys list [flags]                   list API keys (never the keys themselves)
  tokentrail keys revoke [flags] KEY_ID          revoke an API key
  tokentrail keys hash < key                     print the hash of a key, for --config files
  tokentrail verify --trust ANCHOR.pem RECEIPT   verify a receipt offline
  tokentrail fabric dev-config [flags]           configure tokentrail for the development Fabric network
  tokentrail fabric network-files configtx|app   write the development network's configtx.yaml, or network.json and connection profiles
  tokentrail fabric ccaas-connection [flags]     write connection.json of a chaincode-as-a-service package
  tokentrail tokens count PATH...                count tokens, write a manifest and its digest
  tokentrail tokens verify MANIFEST [ROOT]       re-check files against a manifest
  tokentrail bench --scenario S [flags]          load a server on loopback; report rate and latency
  tokentrail version                             print the version

Run "tokentrail COMMAND --help" for a command's flags.
Exit codes: 0 success, 1 failure, 2 usage or configuration error, 3 receipt not verified.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		var stopPprof func()
		if _, stopPprof, err = startPprof(getenv, stderr); err == nil {
			err = serve(args[1:], stderr, getenv)
			stopPprof()
		}
	case "keys":
		err = keys(args[1:], stdin, stdout, stderr, getenv)
	case "verify":
		err = verify(args[1:], stdout, stderr)
	case "fabric":
		err = fabricCmd(args[1:], stdout, stderr, getenv)
	case "tokens":
		return tokens.Main(args[1:], stdin, stdout, stderr, isTerminal(stderr))
	case "bench":
		return bench.Main(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usagef("unknown command %q\n\n%s", args[0], usage)
	}
	return exitCode(err, stderr)
}

// errHelp is returned after a command printed its --help.
var errHelp = errors.New("help shown")

// errUnproven is returned by verify when the receipt does not hold.
var errUnproven = errors.New("receipt not verified")

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errUnproven):
		return exitUnproven
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "tokentrail:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "tokentrail:", err)
		return exitFailure
	}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return fmt.Sprintf("tokentrail %s %s", v, bi.GoVersion)
	}
	return "tokentrail " + v
}

// isTerminal reports whether w is a terminal, so progress is drawn only for
// a person watching.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
