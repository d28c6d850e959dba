package tokens

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// ManifestVersion is the version of the manifest format this package writes.
const ManifestVersion = 1

// Record units: what one record is.
const (
	RecordsLines = "lines" // a line of text: '\n'-terminated, or a final unterminated line
	RecordsFiles = "files" // a whole file
)

// Manifest describes a set of text files: each file's size, SHA-256, tokens
// and records under one tokenizer. Field order is the order of the canonical
// JSON; see [Manifest.Canonical].
type Manifest struct {
	Version    int    `json:"version"`
	Tokenizer  string `json:"tokenizer"`
	RecordUnit string `json:"recordUnit"`
	// Inputs are the counted paths, relative to the root, sorted: "." for the
	// root itself. Verify looks for extra files under them.
	Inputs []string `json:"inputs"`
	// Files are sorted by Path (byte order) and unique.
	Files []File `json:"files"`
	// Skipped lists files that were not text and were left out of the count
	// (only with [Options.SkipBinary]); omitted when empty.
	Skipped []Skipped `json:"skipped,omitempty"`
	Totals  Totals    `json:"totals"`
}

// File is one counted file.
type File struct {
	Path      string `json:"path"` // relative to the root, '/'-separated
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"` // lowercase hex, as sha256sum prints it
	Tokens    int64  `json:"tokens"`
	Records   int64  `json:"records"`
}

// Skipped is a file left out of the count because it is not UTF-8 text. Its
// hash is kept so that the manifest still pins it.
type Skipped struct {
	Path      string `json:"path"`
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"`
	Reason    string `json:"reason"`
}

// Totals sums the counted files (skipped files are not included).
type Totals struct {
	Files     int64 `json:"files"`
	SizeBytes int64 `json:"sizeBytes"`
	Tokens    int64 `json:"tokens"`
	Records   int64 `json:"records"`
}

// Canonical returns the manifest's canonical bytes: compact JSON (no spaces
// or newlines between tokens), fields in the order of the Go struct, '<', '>'
// and '&' not escaped, followed by one '\n'. These are the bytes written to a
// manifest file and the bytes hashed by [Manifest.Digest], so
// `sha256sum manifest.json` prints the digest too.
func (m *Manifest) Canonical() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil { // Encode appends the '\n'
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return b.Bytes(), nil
}

// Digest returns the contentDigest of the manifest: "sha256:" followed by the
// lowercase hex SHA-256 of [Manifest.Canonical].
func (m *Manifest) Digest() (string, error) {
	b, err := m.Canonical()
	if err != nil {
		return "", err
	}
	return DigestOf(b), nil
}

// DigestOf returns "sha256:" and the lowercase hex SHA-256 of b.
func DigestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseManifest decodes and checks a manifest document: known version and
// tokenizer, no unknown fields, sorted unique clean relative paths, hex
// hashes, and totals that add up. It does not require canonical form; compare
// the document with [Manifest.Canonical] for that.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the manifest object", ErrInvalidManifest)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("version %d, want %d", m.Version, ManifestVersion)
	}
	if !slices.Contains(Tokenizers(), m.Tokenizer) {
		return fmt.Errorf("tokenizer %q", m.Tokenizer)
	}
	if m.RecordUnit != RecordsLines && m.RecordUnit != RecordsFiles {
		return fmt.Errorf("recordUnit %q", m.RecordUnit)
	}
	if len(m.Inputs) == 0 {
		return fmt.Errorf("no inputs")
	}
	for i, in := range m.Inputs {
		if !cleanRel(in) || (i > 0 && in <= m.Inputs[i-1]) {
			return fmt.Errorf("inputs: %q is not a clean relative path in sorted order", in)
		}
	}
	seen := make(map[string]bool, len(m.Files)+len(m.Skipped))
	var sum Totals
	for i, f := range m.Files {
		if err := checkEntry(f.Path, f.SHA256, f.SizeBytes, seen); err != nil {
			return err
		}
		if i > 0 && f.Path <= m.Files[i-1].Path {
			return fmt.Errorf("files: %q is out of order", f.Path)
		}
		if f.Tokens < 0 || f.Records < 0 {
			return fmt.Errorf("files: %q has negative counts", f.Path)
		}
		sum.Files++
		sum.SizeBytes += f.SizeBytes
		sum.Tokens += f.Tokens
		sum.Records += f.Records
	}
	for i, s := range m.Skipped {
		if err := checkEntry(s.Path, s.SHA256, s.SizeBytes, seen); err != nil {
			return err
		}
		if i > 0 && s.Path <= m.Skipped[i-1].Path {
			return fmt.Errorf("skipped: %q is out of order", s.Path)
		}
	}
	if sum != m.Totals {
		return fmt.Errorf("totals %+v do not match the files (%+v)", m.Totals, sum)
	}
	return nil
}

func checkEntry(p, sum string, size int64, seen map[string]bool) error {
	if !cleanRel(p) || p == "." {
		return fmt.Errorf("path %q is not a clean relative file path", p)
	}
	if seen[p] {
		return fmt.Errorf("path %q appears twice", p)
	}
	seen[p] = true
	if size < 0 {
		return fmt.Errorf("%q: negative size", p)
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || strings.ToLower(sum) != sum {
		return fmt.Errorf("%q: sha256 %q is not 64 lowercase hex digits", p, sum)
	}
	return nil
}

// cleanRel reports whether p is a clean, '/'-separated, relative path that
// stays below its root.
func cleanRel(p string) bool {
	return p != "" && utf8.ValidString(p) && path.Clean(p) == p && !path.IsAbs(p) &&
		p != ".." && !strings.HasPrefix(p, "../") && !strings.Contains(p, "\\")
}
