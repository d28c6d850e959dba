// Package provtest checks PROV-JSON documents with an independent PROV
// implementation: Python's prov package (Debian's python3-prov) parses
// them, and they are written back as PROV-N, PROV-XML (read back again) and
// RDF Turtle (parsed by rdflib). Every qualified name must be a PROV-N
// PN_LOCAL and an XML NCName (checked by lxml), and every agent a
// prov:Organization.
package provtest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed check.py
var script []byte

// Result is what the checker reports of one document.
type Result struct {
	Path          string   `json:"path"`
	Agents        int      `json:"agents"`
	Organizations []string `json:"organizations"` // URIs of the RDF subjects typed prov:Organization
	Entities      []string `json:"entities"`      // URIs of the RDF subjects typed prov:Entity
	Triples       int      `json:"triples"`
}

// Python returns a python3 that has the prov and rdflib packages: the one
// on PATH, else the system's (where Debian installs python3-prov). Without
// one the test is skipped, or, with CI set, fails.
func Python(t testing.TB) string {
	t.Helper()
	var tried []string
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		tried = append(tried, p)
		if exec.Command(p, "-c", "import prov.model, rdflib, lxml").Run() == nil {
			return p
		}
	}
	msg := "no python3 with the prov, rdflib and lxml packages (tried " + strings.Join(tried, ", ") + "): apt-get install python3-prov"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Run checks docs (PROV-JSON) and returns the checker's report of each, or
// its complaint about the first one that fails.
func Run(t testing.TB, python string, docs ...[]byte) ([]Result, error) {
	t.Helper()
	dir := t.TempDir()
	sc := filepath.Join(dir, "check.py")
	if err := os.WriteFile(sc, script, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{sc}
	for i, d := range docs {
		p := filepath.Join(dir, fmt.Sprintf("doc%03d.json", i))
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := exec.Command(python, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, &Error{Stderr: string(ee.Stderr)}
		}
		t.Fatal(err)
	}
	var res []Result
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("checker output %q: %v", line, err)
		}
		res = append(res, r)
	}
	if len(res) != len(docs) {
		t.Fatalf("checker reported %d documents of %d", len(res), len(docs))
	}
	return res, nil
}

// Error is the checker's complaint.
type Error struct{ Stderr string }

func (e *Error) Error() string { return "PROV check: " + strings.TrimSpace(e.Stderr) }
