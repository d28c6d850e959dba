package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Relations of a caller to a batch, the columns of the access policy
// (docs/api.md, "Access policy").
const (
	RelOwner     = "owner"
	RelCustodian = "custodian"
	RelExpired   = "expired custodian"
	RelUnrelated = "unrelated"
	RelFrozen    = "frozen"  // the caller holds it, the regulator froze it
	RelRetired   = "retired" // the caller holds it, it was retired
	RelMissing   = "missing" // no such batch
)

// Relations lists every relation the access matrix covers.
var Relations = []string{RelOwner, RelCustodian, RelExpired, RelUnrelated, RelFrozen, RelRetired, RelMissing}

// AccessOptions tunes [AccessMatrix].
type AccessOptions struct {
	// Suspend is an organisation of orgs the matrix may suspend once the
	// role columns are done, to run the column of a suspended caller with
	// its key. Empty: the ledger is shared and nobody may be suspended;
	// that column is left out.
	Suspend string
	// ExpiryWait is how long a custody granted for the expired-custodian
	// relation lasts before the cases run (the ledger's clock must pass
	// it). Zero: 3 seconds.
	ExpiryWait time.Duration
	// Wait lets the ledger's clock pass d. Nil: time.Sleep, for ledgers
	// whose transactions carry the wall clock's time.
	Wait func(d time.Duration)
}

// accessFixture is one batch in one relation to one caller.
type accessFixture struct {
	caller, rel string
	id          string // the batch (for missing: an ID nobody used)
	owner       string // its owner
	event       string // an event of the batch (for missing: a made-up one)
	name, desc  string // text only a reader may see
}

// accessRoute is one route with the batch it acts on.
type accessRoute struct {
	name, method string
	path         func(f *accessFixture) string
	body         func(f *accessFixture, lab string) any
	success      int
	write        bool
}

func accessRoutes(o Orgs) []accessRoute {
	b := func(suffix string) func(f *accessFixture) string {
		return func(f *accessFixture) string { return "/api/v1/batches/" + f.id + suffix }
	}
	fixed := func(p string) func(*accessFixture) string { return func(*accessFixture) string { return p } }
	reason := func(*accessFixture, string) any { return map[string]any{"reason": "access matrix"} }
	trade := func(f *accessFixture, tradeID string) map[string]any {
		return map[string]any{"tradeId": tradeID, "batchId": f.id, "seller": f.owner, "buyer": o.Consumer, "tokens": 10,
			"rights": "licence", "purposes": []string{"model-training"},
			"terms": map[string]any{"unitPrice": 3.5, "currency": "CNY", "priceUnit": "1M tokens"}}
	}
	return []accessRoute{
		{name: "get batch", method: "GET", path: b(""), success: 200},
		{name: "history", method: "GET", path: b("/events"), success: 200},
		{name: "lineage", method: "GET", path: b("/lineage"), success: 200},
		{name: "lineage PROV-JSON", method: "GET", path: b("/lineage?format=prov-json"), success: 200},
		{name: "lineage OpenLineage", method: "GET", path: b("/lineage?format=openlineage"), success: 200},
		{name: "impact", method: "GET", path: b("/impact"), success: 200},
		{name: "compliance", method: "GET", path: b("/compliance"), success: 200},
		{name: "trades of batch", method: "GET", path: func(f *accessFixture) string { return "/api/v1/trades?batchId=" + f.id }, success: 200},
		{name: "receipt", method: "GET", path: func(f *accessFixture) string { return "/api/v1/events/" + f.event + "/receipt" }, success: 200},
		{name: "assess", method: "POST", path: b("/assessments"), success: 201, write: true,
			body: func(*accessFixture, string) any { return map[string]any{"score": 1, "method": "access matrix"} }},
		{name: "circulate", method: "POST", path: b("/circulations"), success: 201, write: true,
			body: func(_ *accessFixture, lab string) any {
				return map[string]any{"to": lab, "purpose": "evaluation", "accessMode": "sandbox"}
			}},
		{name: "process", method: "POST", path: fixed("/api/v1/processing"), success: 201, write: true,
			body: func(f *accessFixture, _ string) any {
				return map[string]any{"inputs": []string{f.id}, "operations": []string{"labeling"},
					"tool": map[string]string{"name": "label", "version": "1"}, "outputs": []any{outputBody("o-"+f.id, 1000)}}
			}},
		{name: "audit", method: "POST", path: b("/audits"), success: 201, write: true,
			body: func(*accessFixture, string) any {
				return map[string]any{"scope": "privacy", "findings": []any{}, "verdict": "compliant"}
			}},
		{name: "freeze", method: "POST", path: b("/freeze"), success: 200, write: true, body: reason},
		{name: "unfreeze", method: "POST", path: b("/unfreeze"), success: 200, write: true, body: reason},
		{name: "retire", method: "POST", path: b("/retire"), success: 200, write: true,
			body: func(*accessFixture, string) any { return map[string]any{"reason": "other"} }},
		{name: "trade", method: "POST", path: fixed("/api/v1/trades"), success: 201, write: true,
			body: func(f *accessFixture, _ string) any { return trade(f, "t-"+f.id) }},
	}
}

// roleOf names the role of org among orgs.
func roleOf(o Orgs, org string) string {
	switch org {
	case o.Regulator:
		return "regulator"
	case o.Provider:
		return "provider"
	case o.Processor:
		return "processor"
	case o.Exchange:
		return "exchange"
	case o.Consumer:
		return "consumer"
	case o.Auditor:
		return "auditor"
	}
	return ""
}

// ExpectedAccess is the access policy of docs/api.md as a function: the
// status route r answers a caller of role in relation rel to the batch. A
// caller that may not read the batch gets 404, as for a missing batch.
func ExpectedAccess(route, role, rel string) int {
	readsAll := role == "regulator" || role == "auditor" || role == "exchange"
	readable := rel != RelMissing && (readsAll || rel == RelOwner || rel == RelCustodian || rel == RelFrozen || rel == RelRetired)
	holds := rel == RelOwner || rel == RelCustodian || rel == RelFrozen || rel == RelRetired
	active := rel != RelFrozen && rel != RelRetired
	const (
		hidden   = http.StatusNotFound
		refused  = http.StatusForbidden
		rule     = http.StatusUnprocessableEntity
		conflict = http.StatusConflict
	)
	switch route {
	case "get batch", "history", "lineage", "lineage PROV-JSON", "lineage OpenLineage", "compliance", "trades of batch", "receipt":
		if !readable {
			return hidden
		}
		return http.StatusOK
	case "impact":
		switch {
		case role != "regulator" && role != "auditor":
			return refused
		case !readable:
			return hidden
		}
		return http.StatusOK
	case "assess":
		switch {
		case role != "processor" && role != "auditor" && role != "exchange":
			return refused
		case !readable:
			return hidden
		case !active:
			return rule // TT-R05
		}
		return http.StatusCreated
	case "circulate":
		switch {
		case !readable:
			return hidden
		case !holds:
			return rule // TT-R08
		case !active:
			return rule // TT-R05
		}
		return http.StatusCreated
	case "process":
		switch {
		case !readable:
			return hidden
		case role != "processor" && rel != RelOwner:
			return refused
		case !active:
			return rule // TT-R05
		case !holds:
			return rule // TT-R08
		}
		return http.StatusCreated
	case "audit":
		switch {
		case role != "auditor":
			return refused
		case !readable:
			return hidden
		}
		return http.StatusCreated
	case "freeze", "unfreeze":
		switch {
		case role != "regulator":
			return refused
		case !readable:
			return hidden
		case route == "freeze" && rel != RelFrozen && rel != RelRetired, route == "unfreeze" && rel == RelFrozen:
			return http.StatusOK
		}
		return conflict
	case "retire":
		switch {
		case !readable:
			return hidden
		case role != "regulator" && rel != RelOwner:
			return refused
		case rel == RelRetired:
			return conflict
		}
		return http.StatusOK
	case "trade":
		switch {
		case role != "exchange":
			return refused
		case !readable:
			return hidden
		case !active:
			return rule // TT-R05
		}
		return http.StatusCreated
	}
	panic("no policy for route " + route)
}

// AccessMatrix checks the access policy route by route, for every role of
// orgs, a suspended caller and no key, in every relation to the batch
// ([Relations]). Each answer must have the policy's status
// ([ExpectedAccess]); an answer to a caller that may not read the batch must
// contain none of its fields (its name, description and owner are searched
// for), and must be byte-identical, apart from the request ID and the
// batch's ID, to the answer about a batch that does not exist.
func AccessMatrix(t *testing.T, do Client, orgs Orgs, opt AccessOptions) {
	t.Helper()
	if opt.ExpiryWait == 0 {
		opt.ExpiryWait = 3 * time.Second
	}
	if opt.Wait == nil {
		opt.Wait = time.Sleep
	}
	run := newRun(t, do, orgs)
	lab := run.register("Lab")   // receives circulations
	buyer := run.register("Own") // takes ownership of batches the provider sells
	if t.Failed() {
		t.FailNow()
	}
	routes := accessRoutes(orgs)
	type kase struct {
		suspended bool
		r         accessRoute
		f         *accessFixture
		want      int
		status    int
		body      []byte
		err       error
	}
	var fixtures []*accessFixture
	var cases []*kase
	newFixture := func(caller, rel string) *accessFixture {
		f := &accessFixture{caller: caller, rel: rel}
		fixtures = append(fixtures, f)
		return f
	}
	shared := map[string]*accessFixture{}
	for _, caller := range orgs.all() {
		role := roleOf(orgs, caller)
		for _, rel := range Relations {
			if caller == orgs.Provider && (rel == RelUnrelated || rel == RelExpired) {
				// The provider keeps custody of what it collected and the
				// consortium has no second provider: these relations
				// cannot be made for it.
				continue
			}
			key := caller + "/" + rel
			shared[key] = newFixture(caller, rel)
			for _, r := range routes {
				want := ExpectedAccess(r.name, role, rel)
				c := &kase{r: r, f: shared[key], want: want}
				if r.write && want == r.success {
					c.f = newFixture(caller, rel) // it changes its batch
				}
				cases = append(cases, c)
			}
		}
	}
	var mu sync.Mutex
	var expiring []*accessFixture
	var wg sync.WaitGroup
	sem := make(chan struct{}, run.parallel)
	for _, f := range fixtures {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if run.accessFixture(f, buyer, opt.ExpiryWait) && f.rel == RelExpired {
				mu.Lock()
				expiring = append(expiring, f)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	opt.Wait(opt.ExpiryWait + 500*time.Millisecond) // every expiry has passed

	send := func(cs []*kase, as func(*kase) string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, run.parallel)
		for _, c := range cs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var body any
				if c.r.body != nil {
					body = c.r.body(c.f, lab)
				}
				c.status, c.body, c.err = do(c.r.method, c.r.path(c.f), as(c), body)
			}()
		}
		wg.Wait()
	}
	caller := func(c *kase) string { return c.f.caller }
	succeeds := func(c *kase) bool { return c.r.write && c.want == c.r.success }
	var first, second []*kase
	for _, c := range cases {
		if succeeds(c) {
			second = append(second, c)
		} else {
			first = append(first, c)
		}
	}
	send(first, caller)
	send(second, caller)

	// The same routes with no key, on a batch every role reads.
	var anon []*kase
	for _, r := range routes {
		anon = append(anon, &kase{r: r, f: shared[orgs.Regulator+"/"+RelCustodian], want: http.StatusUnauthorized})
	}
	send(anon, func(*kase) string { return "" })
	cases = append(cases, anon...)

	// A suspended participant: every route refused, whatever the batch.
	if opt.Suspend != "" {
		run.must(200, "POST", "/api/v1/participants/"+opt.Suspend+"/suspend", orgs.Regulator, map[string]any{"reason": "access matrix"}, nil)
		var susp []*kase
		for _, rel := range []string{RelOwner, RelCustodian, RelMissing} {
			f := shared[opt.Suspend+"/"+rel]
			if f == nil {
				continue
			}
			for _, r := range routes {
				susp = append(susp, &kase{suspended: true, r: r, f: &accessFixture{caller: opt.Suspend, rel: "suspended, " + rel, id: f.id, owner: f.owner,
					event: f.event, name: f.name, desc: f.desc}, want: http.StatusForbidden})
			}
		}
		send(susp, caller)
		cases = append(cases, susp...)
	} else {
		t.Log("the column of a suspended caller is left out: no organisation may be suspended on this ledger")
	}

	// Answers about a missing batch, by caller and route, for the oracle check.
	missing := map[string]*kase{}
	for _, c := range cases {
		if c.f.rel == RelMissing {
			missing[c.f.caller+"/"+c.r.name] = c
		}
	}
	for _, c := range cases {
		who := c.f.caller
		if who == "" {
			who = "no key"
		}
		t.Run(fmt.Sprintf("%s as %s (%s)", c.r.name, who, c.f.rel), func(t *testing.T) {
			if c.err != nil {
				t.Fatal(c.err)
			}
			if c.status != c.want && !wholeBlockRefusal(c.want, c.status, c.r.name, c.body) {
				t.Fatalf("%s %s: status %d, want %d: %.400s", c.r.method, c.r.path(c.f), c.status, c.want, c.body)
			}
			role := roleOf(orgs, c.f.caller)
			readable := c.f.caller != "" && !c.suspended && c.f.rel != RelMissing && ExpectedAccess("get batch", role, c.f.rel) == http.StatusOK
			if readable || c.f.rel == RelMissing {
				return
			}
			for _, secret := range []string{c.f.name, c.f.desc, c.f.owner} {
				if secret != "" && secret != c.f.caller && bytes.Contains(c.body, []byte(secret)) {
					t.Errorf("the answer to a caller that may not read the batch contains %q: %.400s", secret, c.body)
				}
			}
			if c.status == http.StatusNotFound {
				m := missing[c.f.caller+"/"+c.r.name]
				if m == nil {
					t.Fatalf("no answer about a missing batch to compare with")
				}
				got := normalise(c.body, c.f.id, c.f.event)
				want := normalise(m.body, m.f.id, m.f.event)
				if !bytes.Equal(got, want) || c.status != m.status {
					t.Errorf("not readable and missing are told apart:\n%d %s\n%d %s", c.status, got, m.status, want)
				}
			}
		})
	}
}

var requestIDField = regexp.MustCompile(`"requestId":"[^"]*"`)

// normalise removes what may differ between two answers about two batches:
// the request ID and the batch's (and its event's) ID.
func normalise(body []byte, id, event string) []byte {
	s := requestIDField.ReplaceAllString(string(body), `"requestId":""`)
	s = strings.ReplaceAll(s, id, "ID")
	if event != "" {
		s = strings.ReplaceAll(s, event, "EVENT")
	}
	return []byte(s)
}

// accessFixture makes f's batch: collected by the provider, assessed, then
// put in f's relation to f.caller. It reports whether it succeeded.
func (m *matrixRun) accessFixture(f *accessFixture, buyer string, expiry time.Duration) bool {
	n := m.next()
	f.id = "a-" + n
	f.name, f.desc = "access-name-"+n, "access-description-"+n
	f.owner = m.o.Provider
	if f.rel == RelMissing {
		f.id = "never-" + n
		f.event = "0190a000-0000-7000-8000-" + fmt.Sprintf("%012x", m.serial())
		return true
	}
	body := collectBody(f.id)
	body["name"], body["description"] = f.name, f.desc
	var w struct{ Event struct{ EventID string } }
	if !m.must(201, "POST", "/api/v1/batches", m.o.Provider, body, &w) {
		return false
	}
	f.event = w.Event.EventID
	var assessed struct{ Event struct{ Timestamp string } }
	if !m.must(201, "POST", "/api/v1/batches/"+f.id+"/assessments", m.o.Auditor, map[string]any{"score": 80, "method": "setup"}, &assessed) {
		return false
	}
	// The ledger's time, which expiries are judged against.
	ledgerNow, err := time.Parse(time.RFC3339Nano, assessed.Event.Timestamp)
	if err != nil {
		m.t.Errorf("access fixture: assessment timestamp %q: %v", assessed.Event.Timestamp, err)
		return false
	}
	sell := func(to string) bool {
		ok := m.must(201, "POST", "/api/v1/trades", m.o.Exchange, map[string]any{"tradeId": "own-" + f.id, "batchId": f.id,
			"seller": f.owner, "buyer": to, "tokens": 10, "rights": "ownership", "purposes": []string{"model-training"},
			"terms": map[string]any{"unitPrice": 1, "currency": "CNY", "priceUnit": "1M tokens"}}, nil)
		if ok {
			f.owner = to
		}
		return ok
	}
	give := func(until string) bool {
		body := map[string]any{"to": f.caller, "purpose": "model-training", "accessMode": "copy"}
		if until != "" {
			body["expiresAt"] = until
		}
		return m.must(201, "POST", "/api/v1/batches/"+f.id+"/circulations", m.o.Provider, body, nil)
	}
	isProvider := f.caller == m.o.Provider
	switch f.rel {
	case RelOwner:
		if !isProvider {
			return sell(f.caller)
		}
	case RelCustodian, RelFrozen, RelRetired:
		if isProvider {
			if !sell(buyer) {
				return false
			}
		} else if !give("") {
			return false
		}
		switch f.rel {
		case RelFrozen:
			return m.must(200, "POST", "/api/v1/batches/"+f.id+"/freeze", m.o.Regulator, map[string]any{"reason": "setup"}, nil)
		case RelRetired:
			return m.must(200, "POST", "/api/v1/batches/"+f.id+"/retire", m.o.Regulator, map[string]any{"reason": "other"}, nil)
		}
	case RelExpired:
		return give(ledgerNow.Add(expiry).UTC().Format(time.RFC3339Nano))
	}
	return true
}

// serial is a number unique in the run.
func (m *matrixRun) serial() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return m.n
}

// wholeBlockRefusal reports whether c is a receipt that a caller who may
// read the event was refused because its Fabric block also holds records
// the caller may not read: a Fabric receipt carries its whole block, so it
// goes only to callers who may read all of it (docs/design/0018-commitments.md).
// The embedded ledger never answers so; there every such receipt is 200.
func wholeBlockRefusal(want, status int, route string, body []byte) bool {
	return want == http.StatusOK && status == http.StatusForbidden && route == "receipt" &&
		bytes.Contains(body, []byte("a Fabric receipt carries its whole block"))
}
