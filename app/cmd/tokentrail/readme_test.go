package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var shBlock = regexp.MustCompile("(?ms)^```sh\n(.*?)^```")

// TestREADMEWalkthrough runs the README's ```sh blocks, in order, in one bash
// process against a server it started on a fresh data directory. The
// README's setup block (```bash: build, PATH, TT, keys) is done here the same
// way: the built binary is on PATH, TT points at the server and the keys come
// from `tokentrail keys dev-env`.
func TestREADMEWalkthrough(t *testing.T) {
	bin := buildBinary(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlock.FindAllSubmatch(readme, -1)
	if len(blocks) < 8 {
		t.Fatalf("README.md has %d sh blocks; the walk-through is missing", len(blocks))
	}
	if !bytes.Contains(readme, []byte("go run ./app/cmd/tokentrail serve")) || !bytes.Contains(readme, []byte("make test")) {
		t.Fatal("README.md no longer shows the two commands")
	}
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, bin, data)

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	script.WriteString(`eval "$(tokentrail keys dev-env)"` + "\n")
	for i, b := range blocks {
		script.WriteString("echo '--- README block " + string(rune('0'+i%10)) + "' >&2\n")
		script.Write(b[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TT="+s.url, "TOKENTRAIL_DATA="+data)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("README walk-through failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{`"type":"COLLECTED"`, `"type":"PROCESSED"`, `"type":"TRADED"`, "replay: 200", `"rule":"TT-R04"`, "422",
		`"type":"AUDITED"`, `"wasDerivedFrom"`, `"compliant"`, "VERIFIED", "NOT VERIFIED",
		`"id":"notes-counted"`, "corpus matches its manifest"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, out.String())
		}
	}
}
