package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/reference.manifest.json")

// writeTree creates files (path → content, '/'-separated) under a new
// temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		name := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var sampleTree = map[string]string{
	"b.txt":            "second file\nwith two lines\n",
	"a/one.txt":        "你好，世界！\n北京市海淀区\n",
	"a/deeper/two.md":  "# Title\n\nSome text.",
	".git/config":      "[core]\n",
	"a/.hidden":        "secret\n",
	"a/deeper/3-z.txt": "",
}

func TestCountManifest(t *testing.T) {
	dir := writeTree(t, sampleTree)
	m, err := Count(context.Background(), []string{dir}, Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
		sum := sha256.Sum256([]byte(sampleTree[f.Path]))
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.SizeBytes != int64(len(sampleTree[f.Path])) {
			t.Errorf("%s: size %d sha256 %s", f.Path, f.SizeBytes, f.SHA256)
		}
	}
	if got, want := strings.Join(paths, ","), "a/deeper/3-z.txt,a/deeper/two.md,a/one.txt,b.txt"; got != want {
		t.Errorf("files %s, want %s (sorted, hidden skipped)", got, want)
	}
	if m.Version != 1 || m.Tokenizer != O200kBase || m.RecordUnit != RecordsLines || strings.Join(m.Inputs, ",") != "." {
		t.Errorf("header %+v", m)
	}
	wantRecords := map[string]int64{"a/deeper/3-z.txt": 0, "a/deeper/two.md": 3, "a/one.txt": 2, "b.txt": 2}
	for _, f := range m.Files {
		if f.Records != wantRecords[f.Path] {
			t.Errorf("%s: %d records, want %d", f.Path, f.Records, wantRecords[f.Path])
		}
	}
	if m.Totals.Files != 4 || m.Totals.Records != 7 {
		t.Errorf("totals %+v", m.Totals)
	}

	// The same files give the same bytes whatever the workers, the order
	// of the paths or the directory they were counted from.
	canonical, _ := m.Canonical()
	other, err := Count(context.Background(), []string{filepath.Join(dir, "b.txt"), filepath.Join(dir, "a")},
		Options{Root: dir, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	other.Inputs = []string{"."} // the only difference: what was asked for
	if b, _ := other.Canonical(); !bytes.Equal(b, canonical) {
		t.Errorf("counting again gave\n%s\nwant\n%s", b, canonical)
	}

	// Hidden entries when asked for; record unit files.
	all, err := Count(context.Background(), []string{dir}, Options{Root: dir, Hidden: true, RecordUnit: RecordsFiles, Tokenizer: Cl100kBase})
	if err != nil {
		t.Fatal(err)
	}
	if all.Totals.Files != 6 || all.Totals.Records != 6 || all.Tokenizer != Cl100kBase {
		t.Errorf("with hidden files, by file: %+v", all.Totals)
	}
}

func TestDigestIsSHA256OfCanonicalBytes(t *testing.T) {
	m, err := Count(context.Background(), []string{"testdata/reference"}, Options{Root: "testdata/reference"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	d, _ := m.Digest()
	if d != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s is not the SHA-256 of the canonical bytes", d)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 1 || bytes.Contains(b, []byte(": ")) {
		t.Errorf("not compact JSON with one final newline: %s", b)
	}
	// Golden file: the manifest format is a published contract; a change
	// to these bytes changes every digest. Regenerate only on purpose.
	if *update {
		if err := os.WriteFile("testdata/reference.manifest.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile("testdata/reference.manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, golden) {
		t.Errorf("canonical manifest changed:\n%s\nwant\n%s", b, golden)
	}
	back, err := ParseManifest(golden)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Canonical(); !bytes.Equal(again, golden) {
		t.Errorf("parse and re-encode changed the bytes")
	}
}

func TestParseManifestRejects(t *testing.T) {
	golden, err := os.ReadFile("testdata/reference.manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(golden)
	for name, doc := range map[string]string{
		"unknown field":   strings.Replace(s, `"version":1,`, `"version":1,"extra":true,`, 1),
		"wrong version":   strings.Replace(s, `"version":1,`, `"version":2,`, 1),
		"unknown tokenzr": strings.Replace(s, `"o200k_base"`, `"gpt2"`, 1),
		"totals":          strings.Replace(s, `"totals":{"files":8`, `"totals":{"files":9`, 1),
		"escaping path":   strings.Replace(s, `"path":"en/add.py"`, `"path":"../add.py"`, 1),
		"unsorted":        strings.Replace(s, `"path":"en/add.py"`, `"path":"zz.py"`, 1),
		"bad hash":        strings.Replace(s, `"sha256":"`, `"sha256":"X`, 1),
		"trailing data":   s + "{}",
	} {
		if doc == s {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := ParseManifest([]byte(doc)); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("%s: err = %v, want ErrInvalidManifest", name, err)
		}
	}
}

func TestCountErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{"ok.txt": "text\n", "bin/blob.dat": "PK\x03\x04\x00\x00binary"})
	ctx := context.Background()
	_, err := Count(ctx, []string{dir}, Options{Root: dir})
	var nt *NotTextError
	if !errors.As(err, &nt) || nt.Path != "bin/blob.dat" || nt.Reason != "NUL byte" {
		t.Fatalf("binary file: err = %v", err)
	}
	m, err := Count(ctx, []string{dir}, Options{Root: dir, SkipBinary: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 1 || len(m.Skipped) != 1 || m.Skipped[0].Path != "bin/blob.dat" || m.Skipped[0].SizeBytes != 12 || m.Skipped[0].Reason != "NUL byte at byte 4" {
		t.Errorf("skip binary: files %+v skipped %+v", m.Files, m.Skipped)
	}
	if _, err := Count(ctx, []string{dir}, Options{Root: filepath.Join(dir, "bin")}); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("outside root: err = %v", err)
	}
	if _, err := Count(ctx, []string{dir}, Options{Root: dir, Tokenizer: "gpt2"}); !errors.Is(err, ErrUnknownTokenizer) {
		t.Errorf("tokenizer: err = %v", err)
	}
	empty := t.TempDir()
	if _, err := Count(ctx, []string{empty}, Options{Root: empty}); !errors.Is(err, ErrNoFiles) {
		t.Errorf("empty: err = %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Count(ctx, []string{dir}, Options{Root: dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	for _, hashOnly := range []bool{false, true} {
		dir := writeTree(t, sampleTree)
		m, err := Count(ctx, []string{dir}, Options{Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		verify := func() []Mismatch {
			t.Helper()
			mm, err := Verify(ctx, m, dir, VerifyOptions{HashOnly: hashOnly})
			if err != nil {
				t.Fatal(err)
			}
			return mm
		}
		if mm := verify(); len(mm) != 0 {
			t.Fatalf("unchanged files: %v", mm)
		}

		// One byte changed, same size.
		name := filepath.Join(dir, "b.txt")
		b, _ := os.ReadFile(name)
		b[3] ^= 0x20
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mm := verify()
		if len(mm) != 1 || mm[0].Path != "b.txt" || mm[0].Kind != Changed {
			t.Fatalf("one byte changed: %v", mm)
		}

		// Missing and extra files; hidden ones are not extra.
		os.Remove(filepath.Join(dir, "a/one.txt"))
		os.WriteFile(filepath.Join(dir, "a/new.txt"), []byte("new\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "a/.new"), []byte("hidden\n"), 0o644)
		var got []string
		for _, x := range verify() {
			got = append(got, string(x.Kind)+" "+x.Path)
		}
		if s, want := strings.Join(got, ","), "extra a/new.txt,missing a/one.txt,changed b.txt"; s != want {
			t.Errorf("mismatches %s, want %s", s, want)
		}
	}
}

// A manifest whose hashes are right but whose counts are not is caught by a
// recount, not by hashes alone.
func TestVerifyRecounts(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, sampleTree)
	m, err := Count(ctx, []string{dir}, Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	m.Files[1].Tokens += 1000
	m.Totals.Tokens += 1000
	mm, err := Verify(ctx, m, dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mm) != 1 || mm[0].Kind != Miscounted || mm[0].Path != m.Files[1].Path {
		t.Errorf("inflated count: %v", mm)
	}
	if mm, _ := Verify(ctx, m, dir, VerifyOptions{HashOnly: true}); len(mm) != 0 {
		t.Errorf("hash only: %v", mm)
	}
	m.Totals.Tokens++
	if _, err := Verify(ctx, m, dir, VerifyOptions{}); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("inconsistent totals: err = %v", err)
	}
}

func TestVerifySkipped(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, map[string]string{"ok.txt": "text\n", "blob.bin": "\x00\x01\x02"})
	m, err := Count(ctx, []string{dir}, Options{Root: dir, SkipBinary: true})
	if err != nil {
		t.Fatal(err)
	}
	if mm, err := Verify(ctx, m, dir, VerifyOptions{}); err != nil || len(mm) != 0 {
		t.Fatalf("unchanged: %v %v", mm, err)
	}
	os.WriteFile(filepath.Join(dir, "blob.bin"), []byte("\x00\x01\x03"), 0o644)
	if mm, _ := Verify(ctx, m, dir, VerifyOptions{}); len(mm) != 1 || mm[0].Kind != Changed || mm[0].Path != "blob.bin" {
		t.Errorf("changed skipped file: %v", mm)
	}
}
