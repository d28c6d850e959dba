package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"gopkg.in/yaml.v3"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Helpers for the tests that run against the development network that
// scripts/network.sh starts (scripts/test-fabric.sh sets
// TOKENTRAIL_FABRIC_CONFIG and TOKENTRAIL_NETWORK_JSON for them).

// fabricConfig returns the configuration TOKENTRAIL_FABRIC_CONFIG names, or
// skips the test without one.
func fabricConfig(t *testing.T) Config {
	t.Helper()
	path := os.Getenv("TOKENTRAIL_FABRIC_CONFIG")
	if path == "" {
		t.Skip("no Fabric network: set TOKENTRAIL_FABRIC_CONFIG to network/.dev/tokentrail.yaml (scripts/test-fabric.sh does)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fabric Config `yaml:"fabric"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg := doc.Fabric
	cfg.Dir = filepath.Dir(path)
	return cfg
}

func openConfig(t *testing.T, cfg Config) *Ledger {
	t.Helper()
	l, err := Open(cfg, nil)
	if err != nil {
		t.Fatalf("open the Fabric ledger: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// devNetwork is the part of network/.dev/network.json the tests use.
type devNetwork struct {
	dir       string // the directory of network.json: network/.dev
	Channel   string `json:"channel"`
	Chaincode string `json:"chaincode"`
	// OrdererType is "etcdraft" or "BFT" (absent from files written
	// before BFT was an option: Raft).
	OrdererType string `json:"ordererType"`
	Peers       map[string]struct {
		MSPID string `json:"mspId"`
	} `json:"peers"`
	Orderers map[string]struct {
		Address string `json:"address"`
	} `json:"orderers"`
}

// readNetwork reads TOKENTRAIL_NETWORK_JSON, or network.json next to the
// configuration (where scripts/network.sh writes both).
func readNetwork(t *testing.T) devNetwork {
	t.Helper()
	path := os.Getenv("TOKENTRAIL_NETWORK_JSON")
	if path == "" {
		path = filepath.Join(filepath.Dir(os.Getenv("TOKENTRAIL_FABRIC_CONFIG")), "network.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("these tests drive the development network of scripts/network.sh; its network.json: %v", err)
	}
	var n devNetwork
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n.dir = filepath.Dir(path)
	if n.OrdererType == "" {
		n.OrdererType = "etcdraft"
	}
	if len(n.Peers) == 0 || len(n.Orderers) == 0 {
		t.Fatalf("%s names no peers or orderers", path)
	}
	return n
}

func (n devNetwork) peerNames() []string {
	var out []string
	for name := range n.Peers {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (n devNetwork) peerOf(msp string) string {
	for name, p := range n.Peers {
		if p.MSPID == msp {
			return name
		}
	}
	return ""
}

// nodes is every node of the network, as scripts/network.sh names them.
func (n devNetwork) nodes() []string {
	var out []string
	for name := range n.Orderers {
		out = append(out, name)
	}
	sort.Strings(out)
	out = append(out, n.peerNames()...)
	return append(out, "cc-"+n.Chaincode)
}

// netctl runs scripts/network.sh with args and returns its trimmed output.
func netctl(ctx context.Context, args ...string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "network.sh"), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("network.sh %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func mustNetctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := netctl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("network.sh %s: %s", strings.Join(args, " "), lastLine(out))
	return out
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// repoRoot is the directory above the working directory that holds
// scripts/network.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "network.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no scripts/network.sh above the working directory")
		}
		dir = parent
	}
}

// through returns org's gateway through the named peer.
func through(t *testing.T, l *Ledger, org, peer string) *orgGateway {
	t.Helper()
	for _, g := range l.routes[org] {
		if g.peer == peer {
			return g
		}
	}
	t.Fatalf("%s has no gateway through %s", org, peer)
	return nil
}

// evalOn evaluates fn on exactly one peer: through that peer's gateway,
// targeting its organisation (each organisation runs one peer here).
func evalOn(ctx context.Context, g *orgGateway, peerMSP, fn string, req any) ([]byte, error) {
	args, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return g.contract.EvaluateWithContext(ctx, fn, client.WithBytesArguments(args), client.WithEndorsingOrganizations(peerMSP))
}

// heightOn is the channel height that one peer reports.
func heightOn(ctx context.Context, g *orgGateway, peerMSP, channel string) (uint64, error) {
	return askHeight(ctx, g, channel, client.WithEndorsingOrganizations(peerMSP))
}

// waitSameHeight waits until every peer answers with the same channel
// height, at least min, and returns it.
func waitSameHeight(ctx context.Context, t *testing.T, l *Ledger, n devNetwork, org string, min uint64, within time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	var last map[string]string
	for {
		heights := map[uint64]bool{}
		last = map[string]string{}
		ok := true
		var h uint64
		for _, p := range n.peerNames() {
			v, err := heightOn(ctx, through(t, l, org, p), n.Peers[p].MSPID, n.Channel)
			if err != nil {
				ok = false
				last[p] = err.Error()
				continue
			}
			last[p] = fmt.Sprint(v)
			heights[v] = true
			h = v
		}
		if ok && len(heights) == 1 && h >= min {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers did not agree on a height ≥ %d within %s: %v", min, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// history reads a batch's whole history on one peer.
func historyOn(ctx context.Context, g *orgGateway, peerMSP, batch string) ([]contract.Event, error) {
	var all []contract.Event
	token := ""
	for {
		raw, err := evalOn(ctx, g, peerMSP, contract.FnHistory, contract.HistoryRequest{BatchID: batch,
			PageRequest: contract.PageRequest{PageSize: contract.MaxPageSize, PageToken: token}})
		if err != nil {
			return nil, err
		}
		var page contract.Page[contract.Event]
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// collectBatch records a new batch as the provider.
func collectBatch(ctx context.Context, l *Ledger, id string) error {
	req := contract.CollectRequest{ID: id, Name: "fault test " + id, Sector: "science", Modality: "text",
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", time.Now().UnixNano()),
		SizeBytes: 4000, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"research", "model-training"}, Region: "CN", Source: contract.Source{Type: "synthetic"}}
	b, _ := json.Marshal(req)
	_, err := l.Submit(ctx, "ProviderMSP", contract.FnCollect, b, nil)
	return err
}

// circulateBatch gives org a copy of a batch the provider collected.
func circulateBatch(ctx context.Context, l *Ledger, batch, to string) error {
	b, _ := json.Marshal(contract.CirculateRequest{BatchID: batch, To: to, Purpose: "research", AccessMode: "copy"})
	_, err := l.Submit(ctx, "ProviderMSP", contract.FnCirculate, b, nil)
	return err
}

func assessBatch(ctx context.Context, l *Ledger, org, batch, method string, score float64) (string, error) {
	b, _ := json.Marshal(contract.AssessRequest{BatchID: batch, Score: &score, Method: method})
	res, err := l.Submit(ctx, org, contract.FnAssess, b, nil)
	return res.TxID, err
}

// statsSnapshot is the ledger's counters at one moment.
type statsSnapshot struct{ failovers, resubmissions, statusRequeries, reendorsements int64 }

func (s *stats) snapshot() statsSnapshot {
	return statsSnapshot{s.failovers.Load(), s.resubmissions.Load(), s.statusRequeries.Load(), s.reendorsements.Load()}
}

func (a statsSnapshot) minus(b statsSnapshot) statsSnapshot {
	return statsSnapshot{a.failovers - b.failovers, a.resubmissions - b.resubmissions,
		a.statusRequeries - b.statusRequeries, a.reendorsements - b.reendorsements}
}
