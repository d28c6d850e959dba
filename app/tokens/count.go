package tokens

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Options configure [Count]. The zero value counts with [DefaultTokenizer],
// one record per line, paths relative to the current directory.
type Options struct {
	Tokenizer  string // o200k_base (default) or cl100k_base
	RecordUnit string // RecordsLines (default) or RecordsFiles
	// Root is the directory manifest paths are relative to; "" means the
	// current directory. Every counted path must lie under it.
	Root string
	// SkipBinary leaves files that are not UTF-8 text out of the count and
	// lists them under [Manifest.Skipped]; otherwise such a file fails the
	// count with a [*NotTextError].
	SkipBinary bool
	// Hidden includes files and directories whose names start with "." when
	// walking directories. Paths given explicitly are always included.
	Hidden bool
	// Exclude lists files never to count, such as the manifest being written.
	Exclude []string
	// Workers is how many files are counted at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when not nil, is told the total size before counting starts
	// and then the number of bytes read as they are read, from several
	// goroutines at once.
	Progress Progress
	// Warn, when not nil, receives notices that do not stop the count:
	// skipped symlinks and special files, skipped binary files, hard cuts.
	Warn func(msg string)

	counter *Counter // tests set this to lower chunk sizes
}

// Progress receives progress reports. Implementations must be safe for
// concurrent use.
type Progress interface {
	Start(totalBytes int64)
	Add(bytes int64)
}

// Count counts the regular files under paths (files, or directories walked
// recursively) and returns their manifest. Symlinks and special files found
// while walking are skipped with a warning; hidden entries are skipped unless
// [Options.Hidden]. The result does not depend on Workers or on the order of
// paths.
func Count(ctx context.Context, paths []string, opts Options) (*Manifest, error) {
	counter := opts.counter
	if counter == nil {
		var err error
		if counter, err = NewCounter(opts.Tokenizer); err != nil {
			return nil, err
		}
	}
	unit := opts.RecordUnit
	if unit == "" {
		unit = RecordsLines
	}
	if unit != RecordsLines && unit != RecordsFiles {
		return nil, fmt.Errorf("record unit %q: want %s or %s", unit, RecordsLines, RecordsFiles)
	}
	if len(paths) == 0 {
		return nil, ErrNoFiles
	}
	w := walker{opts: opts, warn: opts.Warn}
	if w.warn == nil {
		w.warn = func(string) {}
	}
	if err := w.init(); err != nil {
		return nil, err
	}
	inputs, files, err := w.collect(paths)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, ErrNoFiles
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	if opts.Progress != nil {
		opts.Progress.Start(total)
	}
	results, err := countFiles(ctx, counter, files, opts)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Version: ManifestVersion, Tokenizer: counter.Name(), RecordUnit: unit, Inputs: inputs, Files: []File{}}
	for i, r := range results {
		f := files[i]
		if r.notText != nil {
			m.Skipped = append(m.Skipped, Skipped{Path: f.rel, SizeBytes: r.fc.SizeBytes, SHA256: r.fc.SHA256, Reason: fmt.Sprintf("%s at byte %d", r.notText.Reason, r.notText.Offset)})
			w.warn(fmt.Sprintf("skipped %s", r.notText.Error()))
			continue
		}
		if r.fc.HardCuts > 0 {
			w.warn(fmt.Sprintf("%s: %d cut(s) in runs of over %d bytes without a safe boundary; its count may differ slightly from counting it whole", f.rel, r.fc.HardCuts, counter.maxChunk))
		}
		records := r.fc.Lines
		if unit == RecordsFiles {
			records = 1
		}
		m.Files = append(m.Files, File{Path: f.rel, SizeBytes: r.fc.SizeBytes, SHA256: r.fc.SHA256, Tokens: r.fc.Tokens, Records: records})
		m.Totals.Files++
		m.Totals.SizeBytes += r.fc.SizeBytes
		m.Totals.Tokens += r.fc.Tokens
		m.Totals.Records += records
	}
	if err := m.check(); err != nil { // a bug if it fails: Count must produce valid manifests
		return nil, fmt.Errorf("count produced an inconsistent manifest: %w", err)
	}
	return m, nil
}

// target is a file to count.
type target struct {
	abs, rel string
	size     int64
}

type walker struct {
	opts    Options
	warn    func(string)
	root    string          // absolute
	exclude map[string]bool // absolute paths
}

func (w *walker) init() error {
	root := w.opts.Root
	if root == "" {
		root = "."
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	w.root = abs
	w.exclude = make(map[string]bool)
	for _, e := range w.opts.Exclude {
		if a, err := filepath.Abs(e); err == nil {
			w.exclude[a] = true
		}
	}
	return nil
}

// rel returns abs relative to the root, '/'-separated.
func (w *walker) rel(abs string) (string, error) {
	r, err := filepath.Rel(w.root, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %s is not under %s", ErrOutsideRoot, abs, w.root)
	}
	r = filepath.ToSlash(r)
	if !cleanRel(r) {
		return "", fmt.Errorf("%s: the path cannot be recorded in a manifest (not UTF-8, or holds a backslash)", r)
	}
	return r, nil
}

// collect resolves paths into sorted unique inputs and files.
func (w *walker) collect(paths []string) ([]string, []target, error) {
	byRel := make(map[string]target)
	var inputs []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		rel, err := w.rel(abs)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, rel)
		fi, err := os.Stat(abs) // an explicit path may be a symlink
		if err != nil {
			return nil, nil, err
		}
		switch {
		case fi.Mode().IsRegular():
			if !w.exclude[abs] {
				byRel[rel] = target{abs: abs, rel: rel, size: fi.Size()}
			}
		case fi.IsDir():
			if err := w.walk(abs, byRel); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("%s: not a regular file or directory", p)
		}
	}
	slices.Sort(inputs)
	inputs = slices.Compact(inputs)
	files := make([]target, 0, len(byRel))
	for _, t := range byRel {
		files = append(files, t)
	}
	slices.SortFunc(files, func(a, b target) int { return strings.Compare(a.rel, b.rel) })
	return inputs, files, nil
}

// walk adds the regular files under dir to byRel.
func (w *walker) walk(dir string, byRel map[string]target) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && !w.opts.Hidden && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := w.rel(p)
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			w.warn(fmt.Sprintf("skipped %s: not a regular file (%s)", rel, d.Type()))
			return nil
		}
		if w.exclude[p] {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		byRel[rel] = target{abs: p, rel: rel, size: fi.Size()}
		return nil
	})
}

type result struct {
	fc      FileCount
	notText *NotTextError
}

// countFiles counts files with a pool of workers; results[i] is files[i].
func countFiles(ctx context.Context, counter *Counter, files []target, opts Options) ([]result, error) {
	var progress func(int64)
	if opts.Progress != nil {
		progress = opts.Progress.Add
	}
	results := make([]result, len(files))
	err := forEach(ctx, len(files), opts.Workers, func(ctx context.Context, i int) error {
		var err error
		results[i], err = countFile(ctx, counter, files[i], opts.SkipBinary, progress)
		return err
	})
	return results, err
}

// forEach calls fn for 0 <= i < n on up to workers goroutines (0 means
// GOMAXPROCS). It stops at the first error and returns it.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if errs[i] = fn(ctx, i); errs[i] != nil {
					cancel()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	// Report the first real failure, not the cancellations it caused.
	var canceled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			canceled = err
		default:
			return err
		}
	}
	if canceled != nil {
		return canceled
	}
	return ctx.Err()
}

func countFile(ctx context.Context, counter *Counter, t target, skipBinary bool, progress func(int64)) (result, error) {
	f, err := os.Open(t.abs)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	fc, err := counter.Reader(ctx, f, progress)
	var nt *NotTextError
	if errors.As(err, &nt) {
		nt.Path = t.rel
		if !skipBinary {
			return result{}, nt
		}
		// Hash the whole file so that the manifest pins it all the same.
		if fc, err = hashFile(t.abs); err != nil {
			return result{}, err
		}
		return result{fc: fc, notText: nt}, nil
	}
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", t.rel, err)
	}
	return result{fc: fc}, nil
}
