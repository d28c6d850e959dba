// Package apitest holds conformance checks of the HTTP API that run against
// any running server, whatever its ledger: in process over the in-memory
// ledger (package api's tests), the tokentrail binary over the embedded
// ledger, and the binary over a Fabric network (package main's tests). A
// check talks to the server only through a [Client].
package apitest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Client sends one request as org (an MSP ID, or "" for no key) with body
// JSON-encoded (none when nil), and returns the answer's status and body.
// It is called from several goroutines at once.
type Client func(method, path, org string, body any) (status int, answer []byte, err error)

// Orgs names one organisation of each role.
type Orgs struct {
	Regulator, Provider, Processor, Exchange, Consumer, Auditor string
}

// DevOrgs are the organisations of the development consortium.
func DevOrgs() Orgs {
	return Orgs{Regulator: "RegulatorMSP", Provider: "ProviderMSP", Processor: "ProcessorMSP",
		Exchange: "ExchangeMSP", Consumer: "ConsumerMSP", Auditor: "AuditorMSP"}
}

func (o Orgs) all() []string {
	return []string{o.Regulator, o.Provider, o.Processor, o.Exchange, o.Consumer, o.Auditor}
}

// Expected answers besides success.
const (
	ok      = 0                              // the route's success status
	role    = http.StatusForbidden           // a role rule (TT-R07)
	custody = http.StatusUnprocessableEntity // custody, not role (TT-R08)
	anon    = http.StatusUnauthorized        // no key
	hidden  = http.StatusNotFound            // may not read the batch: answered as missing

	ruleRole    = "TT-R07"
	ruleCustody = "TT-R08"
)

// fixture is what one case needs on the ledger, under IDs of its own.
type fixture struct {
	needsFrozen, needsMember bool

	n      string // unique suffix
	batch  string // collected by the provider, assessed, held by the processor
	frozen string // collected and frozen
	member string // a registered participant, to suspend
	event  string // the batch's COLLECTED event
}

// route is one route of the API with who may call it.
type route struct {
	name, method string
	path         func(f *fixture) string
	tmpl         string               // the route's template, when path does not show it
	body         func(f *fixture) any // nil: no body
	success      int
	allowed      func(o Orgs) map[string]int // by org: ok, or another status; missing: role
	write        bool
	needsFrozen  bool
	needsMember  bool
	// wholeBlock: on Fabric a receipt carries its whole block, and a caller
	// who does not read every batch gets it only when it may read every
	// record in the block, which depends on what else the block holds; such
	// a caller may be refused with a 403 that says so.
	wholeBlock bool
}

// Route is a route template the matrix covers, as Echo spells it.
type Route struct{ Method, Path string }

// Routes returns the routes [AuthorizationMatrix] covers.
func Routes() []Route {
	var out []Route
	for _, r := range routes(Orgs{}, "") {
		out = append(out, Route{r.method, template(r)})
	}
	return out
}

func template(r route) string {
	if r.tmpl != "" {
		return r.tmpl
	}
	f := &fixture{batch: ":id", frozen: ":id", member: ":mspId", event: ":eventId"}
	p := r.path(f)
	if i := indexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func routes(o Orgs, lab string) []route {
	only := func(orgs ...string) func(Orgs) map[string]int {
		return func(Orgs) map[string]int {
			m := map[string]int{}
			for _, org := range orgs {
				m[org] = ok
			}
			return m
		}
	}
	everyone := func(Orgs) map[string]int {
		m := map[string]int{}
		for _, org := range o.all() {
			m[org] = ok
		}
		return m
	}
	// Who may read the fixture's batch: the roles that read every batch,
	// its owner and its custodian. The consumer may not, and is answered
	// as if the batch did not exist.
	orHidden := func(allowed func(Orgs) map[string]int) func(Orgs) map[string]int {
		return func(x Orgs) map[string]int {
			m := allowed(x)
			m[o.Consumer] = hidden
			return m
		}
	}
	readers := orHidden(only(o.Regulator, o.Auditor, o.Exchange, o.Provider, o.Processor))
	reason := func(*fixture) any { return map[string]any{"reason": "matrix"} }
	fixed := func(p string) func(*fixture) string { return func(*fixture) string { return p } }
	return []route{
		{name: "register participant", method: "POST", path: fixed("/api/v1/participants"), success: 201, write: true,
			body: func(f *fixture) any {
				return map[string]any{"mspId": "New" + f.n + "MSP", "name": "New", "roles": []string{"consumer"}, "region": "CN"}
			}, allowed: only(o.Regulator)},
		{name: "suspend participant", method: "POST", path: func(f *fixture) string { return "/api/v1/participants/" + f.member + "/suspend" },
			body: reason, success: 200, write: true, needsMember: true, allowed: only(o.Regulator)},
		{name: "collect", method: "POST", path: fixed("/api/v1/batches"), success: 201, write: true,
			body: func(f *fixture) any { return collectBody("new-" + f.n) }, allowed: only(o.Provider)},
		{name: "process", method: "POST", path: fixed("/api/v1/processing"), success: 201, write: true,
			body: func(f *fixture) any {
				return map[string]any{"inputs": []string{f.batch}, "operations": []string{"labeling"},
					"tool": map[string]string{"name": "label", "version": "1"}, "outputs": []any{outputBody("out-"+f.n, 1000)}}
			}, allowed: orHidden(only(o.Provider, o.Processor))},
		{name: "assess", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/assessments" },
			body: func(*fixture) any { return map[string]any{"score": 75, "method": "m"} }, success: 201, write: true,
			allowed: only(o.Processor, o.Auditor, o.Exchange)},
		{name: "circulate", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/circulations" },
			body: func(*fixture) any {
				return map[string]any{"to": lab, "purpose": "evaluation", "accessMode": "sandbox"}
			}, success: 201, write: true,
			allowed: func(Orgs) map[string]int {
				return map[string]int{o.Provider: ok, o.Processor: ok, o.Regulator: custody, o.Exchange: custody, o.Consumer: hidden, o.Auditor: custody}
			}},
		{name: "trade", method: "POST", path: fixed("/api/v1/trades"), success: 201, write: true,
			body: func(f *fixture) any { return tradeBody(o, "t-"+f.n, f.batch, 5) }, allowed: only(o.Exchange)},
		{name: "bulk trade", method: "POST", path: fixed(`/api/v1/trades:bulk`), success: 200, write: true,
			body: func(f *fixture) any {
				return map[string]any{"trades": []any{tradeBody(o, "t1-"+f.n, f.batch, 5), tradeBody(o, "t2-"+f.n, f.batch, 6)}}
			}, allowed: only(o.Exchange)},
		{name: "audit", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/audits" },
			body: func(*fixture) any {
				return map[string]any{"scope": "privacy", "findings": []any{}, "verdict": "compliant"}
			}, success: 201, write: true, allowed: only(o.Auditor)},
		{name: "freeze", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/freeze" },
			body: reason, success: 200, write: true, allowed: only(o.Regulator)},
		{name: "unfreeze", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.frozen + "/unfreeze" },
			body: reason, success: 200, write: true, needsFrozen: true, allowed: only(o.Regulator)},
		{name: "retire", method: "POST", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/retire" },
			body: func(*fixture) any { return map[string]any{"reason": "other"} }, success: 200, write: true,
			allowed: orHidden(only(o.Provider, o.Regulator))},

		{name: "whoami", method: "GET", path: fixed("/api/v1/whoami"), success: 200, allowed: everyone},
		{name: "list participants", method: "GET", path: fixed("/api/v1/participants"), success: 200, allowed: everyone},
		{name: "get participant", method: "GET", path: func(*fixture) string { return "/api/v1/participants/" + o.Provider },
			tmpl: "/api/v1/participants/:mspId", success: 200, allowed: everyone},
		{name: "list batches", method: "GET", path: fixed("/api/v1/batches"), success: 200, allowed: everyone},
		{name: "get batch", method: "GET", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch },
			success: 200, allowed: readers},
		{name: "history", method: "GET", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/events" },
			success: 200, allowed: readers},
		{name: "lineage", method: "GET", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/lineage" },
			success: 200, allowed: readers},
		{name: "lineage as PROV-JSON", method: "GET", path: func(f *fixture) string {
			return "/api/v1/batches/" + f.batch + "/lineage?format=prov-json"
		}, success: 200, allowed: readers},
		{name: "impact", method: "GET", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/impact" },
			success: 200, allowed: only(o.Regulator, o.Auditor)},
		{name: "compliance", method: "GET", path: func(f *fixture) string { return "/api/v1/batches/" + f.batch + "/compliance" },
			success: 200, allowed: readers},
		{name: "list trades", method: "GET", path: fixed("/api/v1/trades"), success: 200, allowed: everyone},
		{name: "prices", method: "GET", path: fixed("/api/v1/prices"), success: 200, allowed: everyone},
		{name: "receipt", method: "GET", path: func(f *fixture) string { return "/api/v1/events/" + f.event + "/receipt" },
			success: 200, allowed: readers, wholeBlock: true},
		{name: "ledger", method: "GET", path: fixed("/api/v1/ledger"), success: 200, allowed: everyone},
	}
}

// AuthorizationMatrix calls every route of the API as every role of orgs and
// without a key, and checks each answer: the route's success status for the
// roles it allows; 403 with rule TT-R07 for the others — or, where the
// permission follows custody rather than role (circulating), 422 with rule
// TT-R08; 401 without a key. Each case runs on data of its own, created
// under fresh IDs through the API, so the matrix runs on a shared,
// long-lived ledger (a Fabric network) as well as a fresh one. Requests go
// out concurrently, a few at a time.
func AuthorizationMatrix(t *testing.T, do Client, orgs Orgs) {
	t.Helper()
	run := newRun(t, do, orgs)
	lab := run.register("Lab")
	if t.Failed() {
		t.FailNow()
	}
	type result struct {
		status int
		body   []byte
		err    error
	}
	type kase struct {
		r    route
		org  string
		want int
		f    *fixture
		res  result
	}
	var cases []*kase
	var fixtures []*fixture
	newFixture := func(frozen, member bool) *fixture {
		f := &fixture{needsFrozen: frozen, needsMember: member}
		fixtures = append(fixtures, f)
		return f
	}
	shared := newFixture(false, false) // every read, every refused write
	for _, r := range routes(orgs, lab) {
		allowed := r.allowed(orgs)
		var refused *fixture
		for _, org := range append(orgs.all(), "") {
			want, listed := allowed[org]
			switch {
			case org == "":
				want = anon
			case !listed:
				want = role
			case want == ok:
				want = r.success
			}
			c := &kase{r: r, org: org, want: want, f: shared}
			if r.write && (r.needsFrozen || r.needsMember) {
				if refused == nil {
					refused = newFixture(r.needsFrozen, r.needsMember)
				}
				c.f = refused
			}
			if r.write && want == r.success {
				c.f = newFixture(r.needsFrozen, r.needsMember) // it changes its data
			}
			cases = append(cases, c)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, run.parallel)
	for _, f := range fixtures {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run.create(f)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Refused writes and reads see the shared fixture as it was: let them
	// go first, then the allowed writes, each on its own fixture.
	runAll := func(pick func(*kase) bool) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, run.parallel)
		for _, c := range cases {
			if !pick(c) {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var body any
				if c.r.body != nil {
					body = c.r.body(c.f)
				}
				c.res.status, c.res.body, c.res.err = do(c.r.method, c.r.path(c.f), c.org, body)
			}()
		}
		wg.Wait()
	}
	succeeds := func(c *kase) bool { return c.r.write && c.want == c.r.success }
	runAll(func(c *kase) bool { return !succeeds(c) })
	runAll(succeeds)

	for _, c := range cases {
		who := c.org
		if who == "" {
			who = "no key"
		}
		t.Run(fmt.Sprintf("%s as %s", c.r.name, who), func(t *testing.T) {
			if c.res.err != nil {
				t.Fatal(c.res.err)
			}
			if c.r.wholeBlock && c.want == c.r.success && c.res.status == http.StatusForbidden &&
				c.org != orgs.Regulator && c.org != orgs.Auditor && c.org != orgs.Exchange &&
				strings.Contains(string(c.res.body), "a Fabric receipt carries its whole block") {
				t.Logf("%s %s: refused, its Fabric block holds records %s may not read", c.r.method, c.r.path(c.f), c.org)
				return
			}
			if c.res.status != c.want {
				t.Fatalf("%s %s: status %d, want %d: %.400s", c.r.method, c.r.path(c.f), c.res.status, c.want, c.res.body)
			}
			var p struct{ Rule, Type string }
			switch c.want {
			case role, custody:
				if err := json.Unmarshal(c.res.body, &p); err != nil {
					t.Fatalf("problem: %v: %s", err, c.res.body)
				}
				if want := map[int]string{role: ruleRole, custody: ruleCustody}[c.want]; p.Rule != want {
					t.Errorf("%d with rule %q, want %s", c.want, p.Rule, want)
				}
			case c.r.success:
				if !json.Valid(c.res.body) {
					t.Errorf("%d with a body that is not JSON", c.want)
				}
			}
		})
	}
}

// matrixRun creates the matrix's data through the API.
type matrixRun struct {
	t        *testing.T
	do       Client
	o        Orgs
	nonce    string
	parallel int

	mu sync.Mutex
	n  int
}

func newRun(t *testing.T, do Client, o Orgs) *matrixRun {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return &matrixRun{t: t, do: do, o: o, nonce: "m" + hex.EncodeToString(b[:]), parallel: 16}
}

func (m *matrixRun) next() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return fmt.Sprintf("%s-%d", m.nonce, m.n)
}

// must makes a request that has to succeed and decodes its answer into out.
func (m *matrixRun) must(want int, method, path, org string, body, out any) bool {
	status, b, err := m.do(method, path, org, body)
	if err != nil || status != want {
		m.t.Errorf("matrix setup: %s %s as %s: %d %v, want %d: %.300s", method, path, org, status, err, want, b)
		return false
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			m.t.Errorf("matrix setup: %s %s: %v", method, path, err)
			return false
		}
	}
	return true
}

// register registers a new consumer organisation and returns its MSP ID.
func (m *matrixRun) register(kind string) string {
	id := kind + hexOnly(m.next()) + "MSP"
	m.must(201, "POST", "/api/v1/participants", m.o.Regulator,
		map[string]any{"mspId": id, "name": kind, "roles": []string{"consumer"}, "region": "CN"}, nil)
	return id
}

func hexOnly(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'a' && c <= 'z' {
			out = append(out, c)
		}
	}
	return string(out)
}

// create makes f's data: a batch owned by the provider, assessed and held by
// the processor, and when f needs them a frozen batch and a participant of
// its own.
func (m *matrixRun) create(f *fixture) {
	f.n = m.next()
	f.batch = "b-" + f.n
	var w struct{ Event struct{ EventID string } }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !m.must(201, "POST", "/api/v1/batches", m.o.Provider, collectBody(f.batch), &w) {
			return
		}
		f.event = w.Event.EventID
		m.must(201, "POST", "/api/v1/batches/"+f.batch+"/assessments", m.o.Auditor,
			map[string]any{"score": 80, "metrics": map[string]float64{"dup-rate": 0.01}, "method": "sampled review"}, nil)
		m.must(201, "POST", "/api/v1/batches/"+f.batch+"/circulations", m.o.Provider,
			map[string]any{"to": m.o.Processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	}()
	if f.needsFrozen {
		f.frozen = "f-" + f.n
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.must(201, "POST", "/api/v1/batches", m.o.Provider, collectBody(f.frozen), nil) {
				m.must(200, "POST", "/api/v1/batches/"+f.frozen+"/freeze", m.o.Regulator, map[string]any{"reason": "setup"}, nil)
			}
		}()
	}
	if f.needsMember {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.member = m.register("Member")
		}()
	}
	wg.Wait()
}

func randomDigest() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "sha256:" + hex.EncodeToString(b[:])
}

func collectBody(id string) map[string]any {
	return map[string]any{
		"id": id, "name": "batch " + id, "sector": "healthcare", "modality": "text", "languages": []string{"zh-CN"},
		"tokens": map[string]any{"count": 1_000_000, "tokenizer": "o200k_base"}, "contentDigest": randomDigest(),
		"sizeBytes": 4_000_000, "records": 1000, "classification": "general", "personalInfo": "none", "deidentification": "none",
		"legalBasis": "contract", "purposes": []string{"model-training", "evaluation"}, "region": "CN", "licence": "CC-BY-4.0",
		"source": map[string]any{"type": "enterprise", "description": "clinic notes", "region": "CN"},
	}
}

func outputBody(id string, tokens int) map[string]any {
	return map[string]any{"id": id, "name": "output " + id, "tokens": map[string]any{"count": tokens, "tokenizer": "o200k_base"},
		"contentDigest": randomDigest(), "sizeBytes": 1000, "records": 10}
}

func tradeBody(o Orgs, tradeID, batchID string, price float64) map[string]any {
	return map[string]any{"tradeId": tradeID, "batchId": batchID, "seller": o.Provider, "buyer": o.Consumer, "tokens": 10_000,
		"rights": "licence", "purposes": []string{"model-training"},
		"terms": map[string]any{"unitPrice": price, "currency": "CNY", "priceUnit": "1M tokens", "settlementRef": "settle-" + tradeID}}
}
