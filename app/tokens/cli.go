package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Exit codes of [Main], as for the rest of the tokentrail command.
const (
	ExitOK          = 0
	ExitFailure     = 1 // a failure at run time
	ExitUsage       = 2 // a mistake on the command line
	ExitNotVerified = 3 // files or digest do not match the manifest
)

const usage = `Usage:
  tokentrail tokens count [flags] PATH...
      Count the tokens of the text files in PATH (files or directories) and
      print the contentDigest of their manifest.
  tokentrail tokens verify [flags] MANIFEST [ROOT]
      Check the files under ROOT (default: the current directory) against
      MANIFEST ("-" reads it from stdin).

Run "tokentrail tokens count --help" or "... verify --help" for flags.
Exit codes: 0 success, 1 failure, 2 usage error, 3 files or digest do not match.
`

// CollectFields are the fields of a COLLECTED event (contract.CollectRequest)
// that a count determines; "tokens count --json" prints them.
type CollectFields struct {
	Tokens        contract.Tokens `json:"tokens"`
	ContentDigest string          `json:"contentDigest"`
	SizeBytes     int64           `json:"sizeBytes"`
	Records       int64           `json:"records"`
}

// Collect returns the fields of a COLLECTED event that describe m.
func (m *Manifest) Collect() (CollectFields, error) {
	d, err := m.Digest()
	if err != nil {
		return CollectFields{}, err
	}
	return CollectFields{
		Tokens:        contract.Tokens{Count: m.Totals.Tokens, Tokenizer: m.Tokenizer},
		ContentDigest: d,
		SizeBytes:     m.Totals.SizeBytes,
		Records:       m.Totals.Records,
	}, nil
}

// Main runs "tokentrail tokens ARGS...": the count and verify subcommands.
// isTerminal says whether stderr is a terminal; only then is a progress bar
// drawn. It returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, isTerminal bool) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	ctx := context.Background()
	var err error
	switch args[0] {
	case "count":
		err = countCmd(ctx, args[1:], stdout, stderr, isTerminal)
	case "verify":
		err = verifyCmd(ctx, args[1:], stdin, stdout, stderr, isTerminal)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	default:
		fmt.Fprintf(stderr, "tokentrail tokens: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errNotVerified):
		return ExitNotVerified
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tokentrail tokens: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "tokentrail tokens: %v\n", err)
		return ExitFailure
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

var errNotVerified = errors.New("not verified")

func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: tokentrail tokens %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments ("count data/ --json"); after "--" everything is
// positional. It returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// reporter sends warnings to stderr, above the progress bar when there is one.
type reporter struct {
	stderr io.Writer
	bar    *bar
}

func newReporter(stderr io.Writer, isTerminal bool, label string) *reporter {
	r := &reporter{stderr: stderr}
	if isTerminal {
		r.bar = newBar(stderr, label)
	}
	return r
}

func (r *reporter) warn(msg string) {
	if r.bar != nil {
		r.bar.Println("warning: " + msg)
		return
	}
	fmt.Fprintln(r.stderr, "warning: "+msg)
}

// progress returns the bar as a Progress, or nil when there is none.
func (r *reporter) progress() Progress {
	if r.bar == nil {
		return nil
	}
	return r.bar
}

func (r *reporter) finish() {
	if r.bar != nil {
		r.bar.Finish()
	}
}

func countCmd(ctx context.Context, args []string, stdout, stderr io.Writer, isTerminal bool) error {
	fs := newFlagSet("count", "count [flags] PATH...", stderr)
	var (
		opts         Options
		manifestPath string
		asJSON       bool
	)
	fs.StringVar(&opts.Tokenizer, "tokenizer", DefaultTokenizer, "tokenizer: "+strings.Join(Tokenizers(), " or "))
	fs.StringVar(&manifestPath, "manifest", "", `write the manifest to this file ("-" for stdout); its SHA-256 is the contentDigest`)
	fs.BoolVar(&asJSON, "json", false, "print the tokens, contentDigest, sizeBytes and records fields of a COLLECTED event as JSON")
	fs.StringVar(&opts.RecordUnit, "records", RecordsLines, "what a record is: lines or files")
	fs.StringVar(&opts.Root, "root", "", "directory that manifest paths are relative to (default: PATH when it is the only one and a directory, else the current directory)")
	fs.BoolVar(&opts.SkipBinary, "skip-binary", false, "leave files that are not UTF-8 text out of the count (they are listed in the manifest as skipped) instead of failing")
	fs.BoolVar(&opts.Hidden, "hidden", false, `include files and directories whose names start with "." (such as .git)`)
	fs.IntVar(&opts.Workers, "workers", 0, "files counted at once (default: the number of CPUs)")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("count needs at least one PATH")
	}
	if opts.RecordUnit != RecordsLines && opts.RecordUnit != RecordsFiles {
		return usagef("--records %q: want %s or %s", opts.RecordUnit, RecordsLines, RecordsFiles)
	}
	if asJSON && manifestPath == "-" {
		return usagef("--json and --manifest - both write to stdout; choose one")
	}
	if opts.Root == "" && len(paths) == 1 {
		if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
			opts.Root = paths[0]
		}
	}
	if manifestPath != "" && manifestPath != "-" {
		opts.Exclude = append(opts.Exclude, manifestPath)
	}
	rep := newReporter(stderr, isTerminal, "counting")
	opts.Warn, opts.Progress = rep.warn, rep.progress()
	m, err := Count(ctx, paths, opts)
	rep.finish()
	if errors.Is(err, ErrUnknownTokenizer) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	canonical, err := m.Canonical()
	if err != nil {
		return err
	}
	fields, err := m.Collect()
	if err != nil {
		return err
	}
	switch manifestPath {
	case "":
		if !asJSON {
			fmt.Fprintln(stderr, "note: no --manifest given, so the manifest behind this digest was not kept")
		}
	case "-":
		if _, err := stdout.Write(canonical); err != nil {
			return err
		}
	default:
		if err := writeFileAtomic(manifestPath, canonical); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	if fields.Tokens.Count == 0 {
		rep.warn("no tokens counted: a COLLECTED event needs tokens.count of at least 1")
	}
	out := stdout
	if manifestPath == "-" {
		out = stderr // keep stdout for the manifest
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return enc.Encode(fields)
	}
	fmt.Fprintf(out, "tokenizer      %s\n", m.Tokenizer)
	fmt.Fprintf(out, "files          %d", m.Totals.Files)
	if len(m.Skipped) > 0 {
		fmt.Fprintf(out, " (%d not text, skipped)", len(m.Skipped))
	}
	fmt.Fprintf(out, "\nsizeBytes      %d\n", m.Totals.SizeBytes)
	fmt.Fprintf(out, "tokens         %d\n", m.Totals.Tokens)
	fmt.Fprintf(out, "records        %d (%s)\n", m.Totals.Records, m.RecordUnit)
	fmt.Fprintf(out, "contentDigest  %s\n", fields.ContentDigest)
	if manifestPath != "" && manifestPath != "-" {
		fmt.Fprintf(out, "manifest       %s\n", manifestPath)
	}
	return nil
}

func verifyCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, isTerminal bool) error {
	fs := newFlagSet("verify", "verify [flags] MANIFEST [ROOT]", stderr)
	var (
		opts   VerifyOptions
		digest string
		asJSON bool
	)
	fs.BoolVar(&opts.HashOnly, "hash-only", false, "check sizes and hashes only, without counting tokens again")
	fs.BoolVar(&opts.Hidden, "hidden", false, `also look for extra files whose names start with "."`)
	fs.StringVar(&digest, "digest", "", "also require the manifest's contentDigest to be this (e.g. the one on the ledger)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.IntVar(&opts.Workers, "workers", 0, "files checked at once (default: the number of CPUs)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("verify needs MANIFEST and at most one ROOT")
	}
	root := "."
	if len(pos) == 2 {
		root = pos[1]
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(pos[0])
		opts.Exclude = append(opts.Exclude, pos[0])
	}
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return err
	}
	canonical, err := m.Canonical()
	if err != nil {
		return err
	}
	got := DigestOf(canonical)
	rep := newReporter(stderr, isTerminal, "verifying")
	if !bytes.Equal(canonical, data) {
		rep.warn("the manifest is not in canonical form; its contentDigest is that of the canonical form")
	}
	opts.Warn, opts.Progress = rep.warn, rep.progress()
	mismatches, err := Verify(ctx, m, root, opts)
	rep.finish()
	if err != nil {
		return err
	}
	digestOK := digest == "" || digest == got
	if asJSON {
		res := struct {
			ContentDigest string     `json:"contentDigest"`
			DigestMatches *bool      `json:"digestMatches,omitempty"`
			Files         int        `json:"files"`
			Mismatches    []Mismatch `json:"mismatches"`
		}{ContentDigest: got, Files: len(m.Files) + len(m.Skipped), Mismatches: mismatches}
		if digest != "" {
			res.DigestMatches = &digestOK
		}
		if res.Mismatches == nil {
			res.Mismatches = []Mismatch{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		for _, mm := range mismatches {
			fmt.Fprintln(stdout, mm)
		}
		if !digestOK {
			fmt.Fprintf(stdout, "DIGEST MISMATCH: the manifest's contentDigest is %s, not %s\n", got, digest)
		}
		what := "hashes and counts"
		if opts.HashOnly {
			what = "hashes"
		}
		if len(mismatches) == 0 && digestOK {
			fmt.Fprintf(stdout, "VERIFIED: %d files match the %s of manifest %s\n", len(m.Files)+len(m.Skipped), what, got)
		} else {
			fmt.Fprintf(stdout, "NOT VERIFIED: %d difference(s) from manifest %s\n", len(mismatches), got)
		}
	}
	if len(mismatches) > 0 || !digestOK {
		return errNotVerified
	}
	return nil
}

// writeFileAtomic writes data to name through a temporary file in the same
// directory, so a reader never sees half a manifest.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".manifest-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
