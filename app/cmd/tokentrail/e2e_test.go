package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func collectReq(id string, n int) map[string]any {
	return map[string]any{
		"id": id, "name": "batch " + id, "sector": "finance", "modality": "tabular",
		"tokens": map[string]any{"count": 2_000_000, "tokenizer": "o200k_base"}, "contentDigest": fmt.Sprintf("sha256:%064x", n),
		"sizeBytes": 9_000_000, "records": 50_000, "classification": "general", "personalInfo": "none", "deidentification": "none",
		"legalBasis": "contract", "purposes": []string{"model-training", "research"}, "region": "CN",
		"source": map[string]any{"type": "enterprise", "region": "CN"},
	}
}

func tradeReq(tradeID, batchID string, price float64) map[string]any {
	return map[string]any{"tradeId": tradeID, "batchId": batchID, "seller": "ProviderMSP", "buyer": "ConsumerMSP",
		"tokens": 100_000, "rights": "licence", "purposes": []string{"research"},
		"terms": map[string]any{"unitPrice": price, "currency": "CNY", "priceUnit": "1M tokens"}}
}

type written struct {
	Batch   *contract.Batch  `json:"batch"`
	Batches []contract.Batch `json:"batches"`
	Event   *contract.Event  `json:"event"`
	Receipt json.RawMessage  `json:"receipt"`
}

// TestEndToEnd starts `tokentrail serve` as a process on a fresh data
// directory, drives a whole lifecycle through HTTP, verifies a receipt with
// `tokentrail verify`, restarts the server and checks everything is still
// there, and that a second server cannot take the same data directory.
func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, bin, data)
	if !s.logContains("development consortium created") || len(s.keys) != 6 {
		t.Fatalf("no development consortium (%d keys):\n%s", len(s.keys), s.logs.String())
	}
	fi, err := os.Stat(filepath.Join(data, "dev-credentials.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev-credentials.json: %v %v", fi, err)
	}
	for _, key := range s.keys {
		if s.logContains(key) {
			t.Fatal("an API key appears in the log")
		}
	}

	run := lifecycle(t, s, bin, "ledger-")
	run.exactHeight = true

	// A second server cannot take the same data directory.
	second := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data)
	out, _ := second.CombinedOutput()
	if second.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "in use by another tokentrail process") {
		t.Fatalf("a second server on the same data directory: exit %d\n%s", second.ProcessState.ExitCode(), out)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.logs.String())
	}
	if !s.logContains(`"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", s.logs.String())
	}

	// Restart: same keys, same answers, nothing lost, no new consortium.
	keys := s.keys
	s = startServer(t, bin, data)
	if s.logContains("development consortium created") {
		t.Fatal("the development consortium was created again")
	}
	for org, k := range keys {
		if s.keys[org] != k {
			t.Fatalf("%s's key changed across the restart", org)
		}
	}
	run.sameAfterRestart(t, s)
	// And it still takes writes.
	s.must(200, "POST", "/api/v1/batches/ledger-a/unfreeze", "RegulatorMSP", map[string]any{"reason": "cleared"}, nil)
}

// lifecycleRun is what a lifecycle wrote and what the server answered.
type lifecycleRun struct {
	batches     []string
	reads       map[string][]byte
	height      uint64
	exactHeight bool // nobody else writes to this ledger
}

// lifecycle drives a whole batch lifecycle through HTTP, with batch and
// trade IDs under prefix, verifies a receipt offline and a forged one not,
// and records the answers of the reads that must survive a restart.
func lifecycle(t *testing.T, s *server, bin, prefix string) *lifecycleRun {
	t.Helper()
	a, b, ab := prefix+"a", prefix+"b", prefix+"ab"
	var w written
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", collectReq(a, 1), &w)
	if len(w.Receipt) == 0 {
		t.Fatalf("a write answered without a receipt")
	}
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", collectReq(b, 2), nil)
	s.must(201, "POST", "/api/v1/batches/"+a+"/circulations", "ProviderMSP",
		map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "copy"}, nil)
	s.must(201, "POST", "/api/v1/batches/"+b+"/circulations", "ProviderMSP",
		map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "copy"}, nil)
	s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
		"inputs": []string{a, b}, "operations": []string{"merge", "tokenization"},
		"tool": map[string]string{"name": "merge", "version": "1"},
		"outputs": []any{map[string]any{"id": ab, "name": "merged", "tokens": map[string]any{"count": 4_000_000, "tokenizer": "o200k_base"},
			"contentDigest": fmt.Sprintf("sha256:%064x", 3), "sizeBytes": 18_000_000, "records": 100_000}}}, &w)
	if len(w.Batches) != 1 || len(w.Batches[0].Parents) != 2 {
		t.Fatalf("processing: %+v", w.Batches)
	}
	s.must(201, "POST", "/api/v1/batches/"+ab+"/assessments", "AuditorMSP", map[string]any{"score": 91, "method": "review"}, nil)
	s.must(201, "POST", "/api/v1/trades", "ExchangeMSP", tradeReq(prefix+"E-1", ab, 20), &w)
	tradeEvent := w.Event.EventID
	var replay written
	s.must(200, "POST", "/api/v1/trades", "ExchangeMSP", tradeReq(prefix+"E-1", ab, 20), &replay)
	if replay.Event == nil || replay.Event.EventID != tradeEvent {
		t.Fatalf("a replayed trade answered %+v, want the first event %s", replay.Event, tradeEvent)
	}
	if code, body := s.call("POST", "/api/v1/trades", "ExchangeMSP", tradeReq(prefix+"E-1", ab, 25)); code != 409 || !bytes.Contains(body, []byte("TT-R12")) {
		t.Fatalf("a changed replay: %d %s", code, body)
	}
	var bulk struct {
		Results []struct{ TradeID, Status string } `json:"results"`
	}
	trades := []any{}
	for i := range 5 {
		trades = append(trades, tradeReq(fmt.Sprintf("%sE-B%d", prefix, i), ab, 21+float64(i)))
	}
	s.must(200, "POST", "/api/v1/trades:bulk", "ExchangeMSP", map[string]any{"trades": trades}, &bulk)
	for _, r := range bulk.Results {
		if r.Status != "committed" {
			t.Fatalf("bulk: %+v", bulk.Results)
		}
	}
	s.must(201, "POST", "/api/v1/batches/"+ab+"/audits", "AuditorMSP", map[string]any{"scope": "all", "findings": []any{}, "verdict": "compliant"}, nil)
	s.must(200, "POST", "/api/v1/batches/"+a+"/freeze", "RegulatorMSP", map[string]any{"reason": "inquiry"}, nil)
	if code, body := s.call("POST", "/api/v1/batches", "ConsumerMSP", collectReq(prefix+"nope", 9)); code != 403 || !bytes.Contains(body, []byte("TT-R07")) {
		t.Fatalf("consumer collecting: %d %s", code, body)
	}
	if code, body := s.call("POST", "/api/v1/batches/"+a+"/circulations", "ProviderMSP",
		map[string]any{"to": "ConsumerMSP", "purpose": "model-training", "accessMode": "copy"}); code != 422 || !bytes.Contains(body, []byte("TT-R05")) {
		t.Fatalf("circulating a frozen batch: %d %s", code, body)
	}

	// Terms: the regulator and the recording exchange see them, the auditor not.
	var tr struct {
		Items []contract.Trade `json:"items"`
	}
	s.must(200, "GET", "/api/v1/trades?batchId="+ab, "ExchangeMSP", nil, &tr)
	if len(tr.Items) != 6 || tr.Items[0].Terms == nil {
		t.Fatalf("the exchange's trades: %+v", tr.Items)
	}
	tr.Items = nil
	s.must(200, "GET", "/api/v1/trades?batchId="+ab, "AuditorMSP", nil, &tr)
	if len(tr.Items) != 6 || tr.Items[0].Terms != nil {
		t.Fatalf("the auditor's trades: %+v", tr.Items)
	}

	// Receipt, verified offline by the CLI against the ledger's anchor.
	dir := t.TempDir()
	// The buyer asks. On Fabric a receipt carries its whole block, which
	// may hold other organisations' transactions (tests of other packages
	// share the network): the buyer may then be refused, and the auditor,
	// who reads every batch, asks instead.
	code, rcpt := s.call("GET", "/api/v1/events/"+tradeEvent+"/receipt", "ConsumerMSP", nil)
	if code == 403 && bytes.Contains(rcpt, []byte("a Fabric receipt carries its whole block")) {
		t.Logf("the buyer was refused the receipt: %s", rcpt)
		rcpt = s.must(200, "GET", "/api/v1/events/"+tradeEvent+"/receipt", "AuditorMSP", nil, nil)
	} else if code != 200 {
		t.Fatalf("the buyer's receipt: %d %s", code, rcpt)
	}
	ledgerInfo := s.must(200, "GET", "/api/v1/ledger", "AuditorMSP", nil, nil)
	writeFile(t, filepath.Join(dir, "receipt.json"), rcpt)
	writeFile(t, filepath.Join(dir, "ledger.json"), ledgerInfo)
	out, err := exec.Command(bin, "verify", "--trust", filepath.Join(dir, "ledger.json"), filepath.Join(dir, "receipt.json")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "VERIFIED") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(dir, "forged.json"), bytes.Replace(rcpt, []byte("ExchangeMSP"), []byte("ProviderMSP"), 1))
	cmd := exec.Command(bin, "verify", "--trust", filepath.Join(dir, "ledger.json"), filepath.Join(dir, "forged.json"))
	if out, err := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != exitUnproven {
		t.Fatalf("forged receipt: exit %d (%v)\n%s", cmd.ProcessState.ExitCode(), err, out)
	}

	// What the server answered, to compare after a restart.
	run := &lifecycleRun{batches: []string{a, b, ab}, reads: map[string][]byte{}}
	for _, p := range []string{"/api/v1/batches/" + ab, "/api/v1/batches/" + ab + "/events", "/api/v1/batches/" + ab + "/lineage",
		"/api/v1/batches/" + a + "/impact", "/api/v1/batches/" + ab + "/compliance", "/api/v1/trades?batchId=" + ab,
		"/api/v1/events/" + tradeEvent + "/receipt"} {
		run.reads[p] = s.must(200, "GET", p, "RegulatorMSP", nil, nil)
	}
	var info struct{ Height uint64 }
	json.Unmarshal(ledgerInfo, &info)
	run.height = info.Height
	return run
}

// sameAfterRestart checks that a restarted server answers every recorded
// read byte for byte as before.
func (r *lifecycleRun) sameAfterRestart(t *testing.T, s *server) {
	t.Helper()
	for p, before := range r.reads {
		after := s.must(200, "GET", p, "RegulatorMSP", nil, nil)
		if !bytes.Equal(before, after) {
			t.Errorf("GET %s changed across the restart:\nbefore %s\nafter  %s", p, before, after)
		}
	}
	var info struct{ Height uint64 }
	s.must(200, "GET", "/api/v1/ledger", "AuditorMSP", nil, &info)
	// On a shared network other writers may have added blocks meanwhile;
	// nothing may have gone missing.
	if info.Height < r.height || (r.exactHeight && info.Height != r.height) {
		t.Errorf("height %d after the restart, %d before", info.Height, r.height)
	}
}

// TestKeysCLI creates, uses, lists and revokes a key against a running server.
func TestKeysCLI(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, bin, data)
	out, err := exec.Command(bin, "keys", "create", "--org", "AuditorMSP", "--label", "second auditor key", "--data", data).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	s.keys["second"] = key
	waitFor(t, func() bool { code, _ := s.call("GET", "/api/v1/ledger", "second", nil); return code == 200 })

	out, err = exec.Command(bin, "keys", "list", "--data", data, "--json").Output()
	if err != nil || strings.Contains(string(out), key) {
		t.Fatalf("keys list: %v (or it shows a key)", err)
	}
	var list []struct{ ID, MSPID, Label string }
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 7 || list[6].Label != "second auditor key" {
		t.Fatalf("keys list: %v %+v", err, list)
	}
	if out, err := exec.Command(bin, "keys", "revoke", "--data", data, list[6].ID).CombinedOutput(); err != nil {
		t.Fatalf("keys revoke: %v %s", err, out)
	}
	waitFor(t, func() bool { code, _ := s.call("GET", "/api/v1/ledger", "second", nil); return code == 401 })

	// Usage errors exit 2.
	cmd := exec.Command(bin, "keys", "create", "--data", data)
	if cmd.Run(); cmd.ProcessState.ExitCode() != exitUsage {
		t.Fatalf("keys create without --org: exit %d", cmd.ProcessState.ExitCode())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 50 {
		if cond() {
			return
		}
		sleep()
	}
	t.Fatal("condition not met within 5 s")
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
