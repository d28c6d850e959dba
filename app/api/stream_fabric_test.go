package api

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	fabricledger "github.com/tokentrail/tokentrail/app/ledger/fabric"
)

// TestEventStreamFabric runs the stream over a real Fabric network (the one
// TOKENTRAIL_FABRIC_CONFIG configures; scripts/test-fabric.sh sets it): it
// reads part of the stream from a cursor, disconnects, lets more commit,
// resumes with Last-Event-ID, and checks the two parts are exactly one
// uninterrupted stream from the same cursor. Other writers may share the
// network; their events are in both alike.
func TestEventStreamFabric(t *testing.T) {
	path := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if path == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (scripts/test-fabric.sh does)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fabric fabricledger.Config `yaml:"fabric"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Fabric.Dir = filepath.Dir(path)
	l, err := fabricledger.Open(doc.Fabric, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := newLiveEnvOn(t, l, Config{RequestTimeout: time.Minute}, 0)
	prefix := fmt.Sprintf("sse%d-", time.Now().UnixNano())

	// Start at the next block: on Fabric the height counts blocks from 0,
	// so the cursor before block <height> is <height>.0.0.
	var info ledgerInfoBody
	e.must(200, "GET", "/api/v1/ledger", auditor, nil, &info)
	start := sseMsg{id: fmt.Sprintf("%d.0.0", info.Height)}

	batches := e.activity(prefix)
	want := e.histories(regulator, batches...)
	ours := func(m sseMsg) bool { k, _ := copyKey(t, m); _, ok := want[k]; return ok }

	// Part one: up to the middle of our events; part two: the rest.
	first := e.stream(regulator, "", start.id)
	var got []sseMsg
	seen := 0
	for seen < len(want)/2 {
		m := first.next(t)
		got = append(got, m)
		if ours(m) {
			seen++
		}
	}
	first.close()
	more := e.activity(prefix + "2-")
	for k, v := range e.histories(regulator, more...) {
		want[k] = v
	}
	second := e.stream(regulator, "", got[len(got)-1].id)
	for seen < len(want) {
		m := second.next(t)
		got = append(got, m)
		if ours(m) {
			seen++
		}
	}
	second.close()

	whole := e.stream(regulator, "", start.id)
	for i := range got {
		m := whole.next(t)
		if m != got[i] {
			t.Fatalf("event %d: resumed streams gave %s %s, one stream %s %s", i, got[i].id, got[i].event, m.id, m.event)
		}
		if k, _ := copyKey(t, m); want[k] != "" && want[k] != m.data {
			t.Fatalf("event %s differs from its history item", k)
		}
	}
	t.Logf("%d events from %s to %s, %d of them ours", len(got), start.id, got[len(got)-1].id, seen)
}
