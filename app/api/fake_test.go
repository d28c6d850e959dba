package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// memLedger adapts contracttest.MemLedger (the contract over maps) to the
// service's Ledger: it counts submissions, numbers blocks, issues stand-in
// receipts for committed transactions and can be switched off to act as an
// unreachable ledger.
type memLedger struct {
	m     *contracttest.MemLedger
	clock *contracttest.Clock

	mu       sync.Mutex
	height   uint64
	receipts map[string]uint64  // txID → block
	payloads map[string][]byte  // txID → chaincode event payload
	feed     []ledger.Committed // every committed transaction's event
	wake     chan struct{}      // closed and replaced on each commit
	submits  atomic.Int64
	evals    atomic.Int64
	// roleReads counts a caller's reads of its own participant record,
	// which the pre-admission role check makes (roles.go), apart from evals.
	roleReads atomic.Int64
	down      atomic.Bool
}

func newMemLedger() *memLedger {
	clock := contracttest.NewClock()
	return &memLedger{m: contracttest.NewMemLedger(clock.Now), clock: clock, receipts: map[string]uint64{}, payloads: map[string][]byte{}, wake: make(chan struct{})}
}

func (l *memLedger) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	l.submits.Add(1)
	if l.down.Load() {
		return ledger.Result{}, fmt.Errorf("submit %s: %w", fn, ledger.ErrUnavailable)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before := len(l.m.Events)
	out, err := l.m.Submit(org, fn, args, transient)
	if err != nil {
		return ledger.Result{}, err
	}
	txID := ""
	var payload []byte
	if len(l.m.Events) > before {
		payload = l.m.Events[len(l.m.Events)-1]
		var we contract.WriteEvent
		if err := json.Unmarshal(payload, &we); err != nil {
			return ledger.Result{}, err
		}
		if len(we.Events) > 0 {
			txID = we.Events[0].TxID
		}
	}
	if txID == "" { // a write without events (a replay): a transaction of its own
		sum := sha256.Sum256(fmt.Appendf(nil, "empty-%d", l.height))
		txID = hex.EncodeToString(sum[:])
	}
	block := l.height
	l.height++
	l.receipts[txID] = block
	l.payloads[txID] = payload
	if payload != nil {
		l.feed = append(l.feed, ledger.Committed{Position: ledger.Position{Block: block}, TxID: txID, Payload: payload})
		close(l.wake)
		l.wake = make(chan struct{})
	}
	return ledger.Result{TxID: txID, Block: block, Payload: out}, nil
}

func (l *memLedger) Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error) {
	if fn == contract.FnGetParticipant && string(args) == fmt.Sprintf(`{"id":%q}`, org) {
		l.roleReads.Add(1)
	} else {
		l.evals.Add(1)
	}
	if l.down.Load() {
		return nil, ledger.ErrUnavailable
	}
	return l.m.Evaluate(org, fn, args)
}

func (l *memLedger) Receipt(ctx context.Context, txID string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	block, ok := l.receipts[txID]
	if !ok {
		return nil, ledger.ErrTxNotFound
	}
	// A stand-in with the envelope of an embedded receipt, so that the
	// service can withhold events the caller may not read; it carries no
	// evidence and verifies nothing.
	var we struct {
		Events []json.RawMessage `json:"events"`
	}
	if p := l.payloads[txID]; p != nil {
		if err := json.Unmarshal(p, &we); err != nil {
			return nil, err
		}
	}
	if we.Events == nil {
		we.Events = []json.RawMessage{}
	}
	return json.Marshal(map[string]any{"kind": "embedded", "txId": txID, "blockNumber": block, "events": we.Events})
}

func (l *memLedger) Info(ctx context.Context) (ledger.Info, error) {
	if l.down.Load() {
		return ledger.Info{}, ledger.ErrUnavailable
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return ledger.Info{Kind: "test", Height: l.height, TrustAnchor: "-----BEGIN PUBLIC KEY-----\ntest\n-----END PUBLIC KEY-----\n"}, nil
}

// Events delivers the committed transactions' events from from, then waits
// for more: one transaction per block.
func (l *memLedger) Events(ctx context.Context, from ledger.Position, fn func(ledger.Committed) error) error {
	l.mu.Lock()
	if from == ledger.Live {
		from = ledger.Position{Block: l.height}
	}
	l.mu.Unlock()
	next := 0
	for {
		if l.down.Load() {
			return ledger.ErrUnavailable
		}
		l.mu.Lock()
		items, wake := l.feed[next:], l.wake
		l.mu.Unlock()
		for _, c := range items {
			next++
			if c.Position.Before(from) {
				continue
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(items) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

func (l *memLedger) Ready(ctx context.Context) error {
	if l.down.Load() {
		return ledger.ErrUnavailable
	}
	return nil
}

// Organisations of the development consortium.
const (
	regulator = "RegulatorMSP"
	provider  = "ProviderMSP"
	processor = "ProcessorMSP"
	exchange  = "ExchangeMSP"
	consumer  = "ConsumerMSP"
	auditor   = "AuditorMSP"
)

var allOrgs = []string{regulator, provider, processor, exchange, consumer, auditor}

// env is a server over a fresh memLedger with the development consortium
// registered and one key per organisation.
type env struct {
	t    *testing.T
	srv  *Server
	led  *memLedger
	keys map[string]string
	reg  *prometheus.Registry
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	led := newMemLedger()
	keys, fixed := devConsortium(t, led)
	a, err := auth.NewAuthenticator(nil, fixed)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Ledger: led, Auth: a, Registry: prometheus.NewRegistry(), RequestTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, led: led, keys: keys, reg: cfg.Registry}
}

// do sends a request as org ("" for none). body is sent as is when it is a
// string or []byte, JSON-encoded otherwise.
func (e *env) do(method, path, org string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if org != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[org])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// must sends a request and requires status want, decoding the answer into out.
func (e *env) must(want int, method, path, org string, body, out any) {
	e.t.Helper()
	rec := e.do(method, path, org, body)
	if rec.Code != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, org, rec.Code, want, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %T: %v: %s", method, path, out, err, rec.Body.String())
		}
	}
}

// problemOf decodes a problem answer and checks its media type.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("status %d: content type %q, want %s: %s", rec.Code, ct, ProblemContentType, rec.Body.String())
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem: %v: %s", err, rec.Body.String())
	}
	if p.Status != rec.Code || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Fatalf("incomplete problem for status %d: %+v", rec.Code, p)
	}
	return p
}

var digestN atomic.Int64

func collectBody(id string) map[string]any {
	n := digestN.Add(1)
	return map[string]any{
		"id": id, "name": "batch " + id, "sector": "healthcare", "modality": "text", "languages": []string{"zh-CN"},
		"tokens": map[string]any{"count": 1_000_000, "tokenizer": "o200k_base"}, "contentDigest": fmt.Sprintf("sha256:%064x", n),
		"sizeBytes": 4_000_000, "records": 1000, "classification": "general", "personalInfo": "none", "deidentification": "none",
		"legalBasis": "contract", "purposes": []string{"model-training", "evaluation"}, "region": "CN", "licence": "CC-BY-4.0",
		"source": map[string]any{"type": "enterprise", "description": "clinic notes", "region": "CN"},
	}
}

func outputBody(id string, tokens int) map[string]any {
	n := digestN.Add(1)
	return map[string]any{"id": id, "name": "output " + id, "tokens": map[string]any{"count": tokens, "tokenizer": "o200k_base"},
		"contentDigest": fmt.Sprintf("sha256:%064x", n), "sizeBytes": 1000, "records": 10}
}

func tradeBodyFor(tradeID, batchID string, price float64) map[string]any {
	return map[string]any{"tradeId": tradeID, "batchId": batchID, "seller": provider, "buyer": consumer, "tokens": 10_000,
		"rights": "licence", "purposes": []string{"model-training"},
		"terms": map[string]any{"unitPrice": price, "currency": "CNY", "priceUnit": "1M tokens", "settlementRef": "settle-" + tradeID}}
}

// collected registers batch id as the provider, with a quality assessment so
// it can be traded.
func (e *env) collected(id string) {
	e.t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/batches", provider, collectBody(id), nil)
	e.must(http.StatusCreated, "POST", "/api/v1/batches/"+id+"/assessments", auditor,
		map[string]any{"score": 80, "metrics": map[string]float64{"dup-rate": 0.01}, "method": "sampled review"}, nil)
}

// devConsortium registers the development consortium on l when missing and
// returns a new key for each organisation, by MSP ID and as the
// authenticator's fixed keys.
func devConsortium(t *testing.T, l service.Ledger) (map[string]string, []auth.Key) {
	t.Helper()
	keys := map[string]string{}
	var fixed []auth.Key
	var others []contract.RegisterParticipantRequest
	var reg contract.RegisterParticipantRequest
	for _, o := range auth.DevConsortium() {
		k, err := auth.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[o.MSPID] = k
		fixed = append(fixed, auth.Key{ID: auth.KeyID(auth.HashKey(k)), Hash: auth.HashKey(k), MSPID: o.MSPID})
		r := contract.RegisterParticipantRequest{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region}
		if o.MSPID == regulator {
			reg = r
		} else {
			others = append(others, r)
		}
	}
	if _, err := service.New(l, nil).EnsureParticipants(context.Background(), reg, others); err != nil {
		t.Fatalf("register the consortium: %v", err)
	}
	return keys, fixed
}
