package tokens

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func runMain(t *testing.T, terminal bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runMainIn(t, "", terminal, args...)
}

func runMainIn(t *testing.T, stdin string, terminal bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errOut, terminal)
	return code, out.String(), errOut.String()
}

// "count --json" prints exactly the CollectRequest fields it determines.
func TestMainCountJSON(t *testing.T) {
	code, out, errOut := runMain(t, false, "count", "--json", "testdata/reference")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr not empty without a terminal: %q", errOut)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	if got := strings.Join(names, ","); got != "contentDigest,records,sizeBytes,tokens" {
		t.Errorf("keys %s", got)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var req contract.CollectRequest
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("not CollectRequest fields: %v", err)
	}
	golden, _ := os.ReadFile("testdata/reference.manifest.json")
	want := contract.Tokens{Count: 54, Tokenizer: O200kBase} // the reference counts of the eight files
	if req.Tokens != want || req.ContentDigest != DigestOf(golden) || req.SizeBytes != 200 || req.Records != 11 {
		t.Errorf("fields %+v", req)
	}
}

func TestMainCountVerify(t *testing.T) {
	dir := writeTree(t, sampleTree)
	manifest := filepath.Join(dir, "batch.manifest.json") // inside the counted tree: never counted itself
	code, out, errOut := runMain(t, false, "count", dir, "--manifest", manifest, "--tokenizer", "cl100k_base")
	if code != ExitOK {
		t.Fatalf("count: exit %d: %s", code, errOut)
	}
	written, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "contentDigest  "+DigestOf(written)) || !strings.Contains(out, "tokenizer      cl100k_base") {
		t.Errorf("summary:\n%s", out)
	}
	if strings.Contains(string(written), "batch.manifest.json") {
		t.Error("the manifest counted itself")
	}
	code, out, errOut = runMain(t, false, "verify", manifest, dir, "--digest", DigestOf(written))
	if code != ExitOK || !strings.HasPrefix(out, "VERIFIED: 4 files") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	// Change one byte: reported, exit 3.
	name := filepath.Join(dir, "a", "one.txt")
	b, _ := os.ReadFile(name)
	b[len(b)-2] = 'X'
	os.WriteFile(name, b, 0o644)
	code, out, _ = runMain(t, false, "verify", manifest, dir)
	if code != ExitNotVerified || !strings.Contains(out, "changed    a/one.txt: ") || !strings.Contains(out, "NOT VERIFIED: 1 difference") {
		t.Errorf("changed byte: exit %d\n%s", code, out)
	}
	code, out, _ = runMain(t, false, "verify", "--json", manifest, dir)
	var res struct {
		Mismatches []Mismatch `json:"mismatches"`
	}
	if code != ExitNotVerified || json.Unmarshal([]byte(out), &res) != nil || len(res.Mismatches) != 1 || res.Mismatches[0].Path != "a/one.txt" {
		t.Errorf("--json: exit %d\n%s", code, out)
	}

	// A different expected digest fails even when the files match it.
	os.WriteFile(name, []byte(sampleTree["a/one.txt"]), 0o644)
	code, out, _ = runMain(t, false, "verify", "--hash-only", "--digest", "sha256:"+strings.Repeat("0", 64), manifest, dir)
	if code != ExitNotVerified || !strings.Contains(out, "DIGEST MISMATCH") {
		t.Errorf("wrong digest: exit %d\n%s", code, out)
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"count"},
		{"count", "--tokenizer", "gpt2", "testdata/reference"},
		{"count", "--no-such-flag", "testdata/reference"},
		{"count", "--records", "bytes", "testdata/reference"},
		{"count", "--json", "--manifest", "-", "testdata/reference"},
		{"verify"},
		{"verify", "a", "b", "c"},
	} {
		if code, _, _ := runMain(t, false, args...); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if code, _, errOut := runMain(t, false, "count", "--help"); code != ExitOK || !strings.Contains(errOut, "-tokenizer") {
		t.Errorf("--help: exit %d %q", code, errOut)
	}
	if code, _, _ := runMain(t, false, "count", "no/such/dir"); code != ExitFailure {
		t.Errorf("missing path: exit %d", code)
	}
}

// The manifest goes to stdout with "--manifest -", the summary to stderr.
func TestMainManifestToStdout(t *testing.T) {
	code, out, errOut := runMain(t, false, "count", "--manifest", "-", "testdata/reference")
	golden, _ := os.ReadFile("testdata/reference.manifest.json")
	if code != ExitOK || out != string(golden) || !strings.Contains(errOut, DigestOf(golden)) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = runMainIn(t, out, false, "verify", "-", "testdata/reference")
	if code != ExitOK || !strings.HasPrefix(out, "VERIFIED: 8 files match the hashes and counts") {
		t.Errorf("verify - : exit %d\n%s%s", code, out, errOut)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, "counting")
	b.every = time.Millisecond
	b.Start(2048)
	b.Add(1024)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		s := buf.String()
		b.mu.Unlock()
		if strings.Contains(s, " 50% 1.0 KiB / 2.0 KiB") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bar drawn: %q", s)
		}
		time.Sleep(time.Millisecond)
	}
	b.Println("warning: x")
	b.Finish()
	s := buf.String()
	cleared := strings.HasSuffix(s, "\r\x1b[K") || strings.HasSuffix(s, "\r\x1b[Kwarning: x\n")
	if !cleared || !strings.Contains(s, "\r\x1b[Kwarning: x\n") {
		t.Errorf("bar not cleared: %q", s)
	}
	// Without a terminal nothing but warnings reaches stderr (see TestMainCountJSON).
}
