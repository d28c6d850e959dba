package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MismatchKind says how a file differs from its manifest.
type MismatchKind string

// Mismatch kinds.
const (
	// Changed: the file's size or SHA-256 differs from the manifest's.
	Changed MismatchKind = "changed"
	// Missing: a file in the manifest is not there.
	Missing MismatchKind = "missing"
	// Extra: a file under the manifest's inputs is not in the manifest.
	Extra MismatchKind = "extra"
	// Miscounted: the file is unchanged but counting it again gives other
	// tokens or records than the manifest states.
	Miscounted MismatchKind = "miscounted"
)

// Mismatch is one difference between a manifest and the files.
type Mismatch struct {
	Path   string       `json:"path"`
	Kind   MismatchKind `json:"kind"`
	Detail string       `json:"detail"`
}

func (m Mismatch) String() string { return fmt.Sprintf("%-10s %s: %s", m.Kind, m.Path, m.Detail) }

// VerifyOptions configure [Verify]. The zero value recounts every file.
type VerifyOptions struct {
	// HashOnly checks sizes and hashes but does not count tokens again.
	HashOnly bool
	// Hidden also looks for extra files among hidden entries, as
	// [Options.Hidden] does for counting.
	Hidden bool
	// Exclude lists files that are never extra, such as the manifest itself.
	Exclude []string
	// Workers, Progress and Warn are as in [Options].
	Workers  int
	Progress Progress
	Warn     func(msg string)
}

// Verify checks the files under root against m: every file listed must be
// there with the same size and SHA-256 and, unless HashOnly, the same token
// and record counts under the manifest's tokenizer; every regular file under
// the manifest's inputs must be listed. It returns the differences sorted by
// path (none when the files match) and an error only when checking itself
// failed.
func Verify(ctx context.Context, m *Manifest, root string, opts VerifyOptions) ([]Mismatch, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	var counter *Counter
	if !opts.HashOnly {
		var err error
		if counter, err = NewCounter(m.Tokenizer); err != nil {
			return nil, err
		}
	}
	return verify(ctx, m, root, opts, counter)
}

func verify(ctx context.Context, m *Manifest, root string, opts VerifyOptions, counter *Counter) ([]Mismatch, error) {
	if root == "" {
		root = "."
	}
	w := walker{opts: Options{Root: root, Hidden: opts.Hidden, Exclude: opts.Exclude}, warn: opts.Warn}
	if w.warn == nil {
		w.warn = func(string) {}
	}
	if err := w.init(); err != nil {
		return nil, err
	}
	var out []Mismatch
	listed := make(map[string]bool, len(m.Files)+len(m.Skipped))

	// Entries to check: counted files, then skipped ones (hash only).
	type entry struct {
		path        string
		size        int64
		sha256      string
		tokens, rec int64
		skipped     bool
	}
	var entries []entry
	var total int64
	for _, f := range m.Files {
		entries = append(entries, entry{f.Path, f.SizeBytes, f.SHA256, f.Tokens, f.Records, false})
	}
	for _, s := range m.Skipped {
		entries = append(entries, entry{path: s.Path, size: s.SizeBytes, sha256: s.SHA256, skipped: true})
	}
	var present []int
	for i, e := range entries {
		listed[e.path] = true
		fi, err := os.Stat(filepath.Join(w.root, filepath.FromSlash(e.path))) // as Count, which follows a symlink named as a PATH
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, Mismatch{e.path, Missing, "not found"})
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			out = append(out, Mismatch{e.path, Changed, fmt.Sprintf("not a regular file (%s)", fi.Mode().Type())})
		default:
			present = append(present, i)
			total += fi.Size()
		}
	}

	if opts.Progress != nil {
		opts.Progress.Start(total)
	}
	var progress func(int64)
	if opts.Progress != nil {
		progress = opts.Progress.Add
	}
	found := make([]*Mismatch, len(present))
	err := forEach(ctx, len(present), opts.Workers, func(ctx context.Context, j int) error {
		e := entries[present[j]]
		abs := filepath.Join(w.root, filepath.FromSlash(e.path))
		var fc FileCount
		var err error
		if counter == nil || e.skipped {
			fc, err = hashFile(abs)
			if progress != nil {
				progress(fc.SizeBytes)
			}
		} else {
			f, oerr := os.Open(abs)
			if oerr != nil {
				return oerr
			}
			defer f.Close()
			fc, err = counter.Reader(ctx, f, progress)
		}
		var nt *NotTextError
		if errors.As(err, &nt) { // it was text when counted, so it changed
			found[j] = &Mismatch{e.path, Changed, fmt.Sprintf("no longer UTF-8 text (%s at byte %d)", nt.Reason, nt.Offset)}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
		switch {
		case fc.SizeBytes != e.size || fc.SHA256 != e.sha256:
			found[j] = &Mismatch{e.path, Changed, fmt.Sprintf("size %d sha256 %s, manifest says size %d sha256 %s", fc.SizeBytes, fc.SHA256, e.size, e.sha256)}
		case counter != nil && !e.skipped:
			records := fc.Lines
			if m.RecordUnit == RecordsFiles {
				records = 1
			}
			if fc.Tokens != e.tokens || records != e.rec {
				found[j] = &Mismatch{e.path, Miscounted, fmt.Sprintf("%d tokens, %d records; manifest says %d tokens, %d records", fc.Tokens, records, e.tokens, e.rec)}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		if f != nil {
			out = append(out, *f)
		}
	}

	// Extra files: walk the inputs the way Count did.
	byRel := make(map[string]target)
	for _, in := range m.Inputs {
		abs := filepath.Join(w.root, filepath.FromSlash(in))
		fi, err := os.Stat(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // its files are reported missing
		case err != nil:
			return nil, err
		case fi.IsDir():
			if err := w.walk(abs, byRel); err != nil {
				return nil, err
			}
		case fi.Mode().IsRegular() && !w.exclude[abs]:
			byRel[in] = target{}
		}
	}
	for rel := range byRel {
		if !listed[rel] {
			out = append(out, Mismatch{rel, Extra, "not in the manifest"})
		}
	}
	slices.SortFunc(out, func(a, b Mismatch) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	return out, nil
}

// hashFile returns the size and SHA-256 of a file, without counting tokens.
func hashFile(name string) (FileCount, error) {
	f, err := os.Open(name)
	if err != nil {
		return FileCount{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileCount{}, err
	}
	return FileCount{SizeBytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
