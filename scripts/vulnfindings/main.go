// Command vulnfindings reads govulncheck's JSON output (-format json) and
// fails when the code reaches a vulnerability: a finding whose trace starts
// at a function (govulncheck's symbol-level findings, the ones its text
// report calls "affected"). Advisory IDs given as arguments after the file
// are accepted: printed, not failed on. Used by scripts/vuln.sh.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vulnfindings govulncheck.json [accepted advisory ID...]")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	accepted := os.Args[2:]
	summaries := map[string]string{}
	reached := map[string]frame{} // advisory → the vulnerable frame
	fixed := map[string]string{}
	dec := json.NewDecoder(f)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "vulnfindings: %v\n", err)
			os.Exit(2)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		if m.Finding == nil || len(m.Finding.Trace) == 0 || m.Finding.Trace[0].Function == "" {
			continue
		}
		reached[m.Finding.OSV] = m.Finding.Trace[0]
		fixed[m.Finding.OSV] = m.Finding.FixedVersion
	}
	ids := make([]string, 0, len(reached))
	for id := range reached {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed := 0
	for _, id := range ids {
		fr := reached[id]
		where := fr.Module + "@" + fr.Version
		if fr.Module == "stdlib" {
			where = "Go " + fr.Version + " standard library (" + fr.Package + ")"
		}
		fix := fixed[id]
		if fix == "" {
			fix = "no fixed version"
		}
		verdict := "REACHABLE"
		if slices.Contains(accepted, id) {
			verdict = "accepted (see scripts/vuln.sh)"
		} else {
			failed++
		}
		fmt.Printf("%s %s: %s; fixed in: %s: %s\n", verdict, id, where, fix, summaries[id])
	}
	for _, id := range accepted {
		if _, ok := reached[id]; !ok {
			fmt.Printf("note: accepted advisory %s is no longer reported; remove it from scripts/vuln.sh\n", id)
		}
	}
	if failed > 0 {
		fmt.Printf("vuln: the code reaches %d vulnerabilities\n", failed)
		os.Exit(1)
	}
	fmt.Println("vuln: no reachable vulnerability outside the accepted list")
}
