package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tokentrail/tokentrail/app/web"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the screenshots of TestConsole to docs/img (lineage.png, impact.png)")

// Batches of the console test: two collected batches merged into a corpus,
// which is anonymised into the batch that is traded and audited.
const (
	uiLoans  = "loans-2026-q1"
	uiChats  = "support-chats-2026-q1"
	uiCorpus = "finance-corpus-v1"
	uiAnon   = "finance-corpus-v1-anon"
)

// consoleData records a small lineage through the API: collect two batches
// (one with personal information), circulate both to the processor, merge
// them, anonymise the merge, assess it, trade it three times (so the price
// index publishes its bucket), audit it, and freeze the first input.
func consoleData(t *testing.T, s *server) {
	t.Helper()
	collect := func(id, name, modality, pi, basis string, n int) map[string]any {
		req := map[string]any{
			"id": id, "name": name, "sector": "finance", "modality": modality, "languages": []string{"zh-CN"},
			"tokens": map[string]any{"count": 2_000_000, "tokenizer": "o200k_base"}, "contentDigest": fmt.Sprintf("sha256:%064x", n),
			"sizeBytes": 9_000_000, "records": 50_000, "classification": "general", "personalInfo": pi, "deidentification": "none",
			"legalBasis": basis, "purposes": []string{"model-training", "research"}, "region": "CN", "licence": "CC-BY-4.0",
			"source": map[string]any{"type": "enterprise", "region": "CN", "description": name},
		}
		if basis == "consent" {
			req["consentRef"] = fmt.Sprintf("sha256:%064x", 1000+n)
		}
		return req
	}
	output := func(id, name string, tokens, n int) map[string]any {
		return map[string]any{"id": id, "name": name, "tokens": map[string]any{"count": tokens, "tokenizer": "o200k_base"},
			"contentDigest": fmt.Sprintf("sha256:%064x", n), "sizeBytes": 18_000_000, "records": 100_000}
	}
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", collect(uiLoans, "Loan applications Q1 2026", "tabular", "none", "contract", 101), nil)
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", collect(uiChats, "Support chats Q1 2026", "text", "personal", "consent", 102), nil)
	s.must(201, "POST", "/api/v1/batches/"+uiLoans+"/circulations", "ProviderMSP",
		map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "copy"}, nil)
	s.must(201, "POST", "/api/v1/batches/"+uiChats+"/circulations", "ProviderMSP",
		map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "sandbox"}, nil)
	s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
		"inputs": []string{uiLoans, uiChats}, "operations": []string{"merge", "tokenization"},
		"tool":    map[string]string{"name": "corpus-builder", "version": "1.4"},
		"outputs": []any{output(uiCorpus, "Finance corpus v1", 4_000_000, 103)}}, nil)
	s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
		"inputs": []string{uiCorpus}, "operations": []string{"anonymization"},
		"tool":    map[string]string{"name": "anonymizer", "version": "3.0"},
		"outputs": []any{output(uiAnon, "Finance corpus v1, anonymised", 3_800_000, 104)}}, nil)
	s.must(201, "POST", "/api/v1/batches/"+uiAnon+"/assessments", "AuditorMSP",
		map[string]any{"score": 88, "metrics": map[string]float64{"pii-residual-rate": 0.0001}, "method": "sampled expert review"}, nil)
	for i, price := range []float64{20, 22, 24} {
		s.must(201, "POST", "/api/v1/trades", "ExchangeMSP", tradeReq(fmt.Sprintf("UI-%d", i+1), uiAnon, price), nil)
	}
	s.must(201, "POST", "/api/v1/batches/"+uiAnon+"/audits", "AuditorMSP", map[string]any{"scope": "privacy and purpose limitation",
		"findings": []any{map[string]any{"rule": "TT-R02", "result": "pass"}}, "verdict": "compliant"}, nil)
	s.must(200, "POST", "/api/v1/batches/"+uiLoans+"/freeze", "RegulatorMSP", map[string]any{"reason": "inquiry"}, nil)
}

// chromiumPath finds a Chromium or Chrome to drive: $TOKENTRAIL_CHROMIUM, or
// the usual command names on PATH.
func chromiumPath() string {
	if p := os.Getenv("TOKENTRAIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// uiBrowser is a headless Chromium tab on the console, with what went wrong
// in the page: exceptions, console errors, CSP violations and requests that
// left the server's origin.
type uiBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
}

func (b *uiBrowser) problem(format string, a ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, a...))
}

// requireChromium returns the browser to drive. Without one the test fails
// when CI is set (CI must run it) and is skipped otherwise.
func requireChromium(t *testing.T) string {
	t.Helper()
	chromium := chromiumPath()
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed: the console's browser test needs it on CI (.ci/run installs Debian's chromium package; or set TOKENTRAIL_CHROMIUM)")
		}
		t.Skip("Chromium is not installed (apt-get install chromium, or set TOKENTRAIL_CHROMIUM); the console's browser test is skipped outside CI")
	}
	return chromium
}

func startBrowser(t *testing.T, chromium, base, downloads string) *uiBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		// Without these Chromium reaches for the internet on its own.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &uiBrowser{t: t, ctx: ctx, base: base}

	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.problem("uncaught exception: %s", (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problem("console.%s: %s", e.Type, strings.Join(args, " "))
			}
		case *cdplog.EventEntryAdded:
			// Failed requests are logged by the network source; the test
			// asks for some on purpose (a bad key, a forbidden impact).
			if e.Entry.Source != cdplog.EntrySourceNetwork && (e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning) {
				b.problem("browser log (%s): %s", e.Entry.Source, e.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			u := e.Request.URL
			if !strings.HasPrefix(u, base+"/") && u != base && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
				b.problem("request outside the server's origin: %s", u)
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium (%s): %v", chromium, err)
	}
	// CSP violations, as the page sees them.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *uiBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.pageText())
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *uiBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v%s", expr, err, b.pageText())
	}
	return v
}

// pageText is the visible text of the page's main element, for failures.
func (b *uiBrowser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('main') ? document.getElementById('main').innerText : ''`))
	b.mu.Lock()
	problems := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	if err != nil {
		s = fmt.Sprintf("(unreadable: %v)", err)
	}
	return "\npage says:\n" + s + "\nproblems in the page:\n" + problems
}

// waitPage waits until the console has rendered the route whose hash starts
// with prefix, and fails when that page shows an error.
func (b *uiBrowser) waitPage(prefix string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	expr := fmt.Sprintf(`(() => { const m = document.getElementById('main');
		return m && m.dataset.route === location.hash && location.hash.startsWith(%q) && m.dataset.state !== 'loading' ? m.dataset.state : ''; })()`, prefix)
	state, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("page %s did not render (at %s): %v%s", prefix, loc, err, b.pageText())
	}
	if state != "ready" {
		b.t.Fatalf("page %s is in state %q%s", prefix, state, b.pageText())
	}
	if n := eval[int](b, `document.querySelectorAll('main .error').length`); n > 0 {
		b.t.Fatalf("page %s shows an error%s", prefix, b.pageText())
	}
}

// goTo opens a console route by setting the hash, as a link would.
func (b *uiBrowser) goTo(hash string) {
	b.t.Helper()
	b.do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
	b.waitPage(hash)
}

// signIn signs in with key alone and checks that the header names org, the
// key's organisation as GET /api/v1/whoami says, with no organisation to
// pick.
func (b *uiBrowser) signIn(key, org string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.CSS(`#signin`)),
		chromedp.SendKeys(chromedp.CSS(`#api-key`), key),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)))
	b.waitPage("#/batches")
	b.do("wait for the header's organisation", chromedp.WaitVisible(chromedp.CSS(`#whoami-roles`)))
	if who := eval[string](b, `document.getElementById('whoami').innerText`); !strings.Contains(who, org) {
		b.t.Fatalf("signed in with %s's key, the header names %q", org, who)
	}
	if stored := eval[string](b, `sessionStorage.getItem('tokentrail.org') || ''`); stored != org {
		b.t.Fatalf("signed in with %s's key, the session names %q", org, stored)
	}
}

func (b *uiBrowser) checkClean() {
	b.t.Helper()
	csp := eval[[]string](b, `window.__csp || []`)
	b.mu.Lock()
	problems := append(append([]string{}, b.problems...), csp...)
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("in the page: %s", p)
	}
}

type nodeInfo struct {
	ID      string   `json:"id"`
	Classes []string `json:"classes"`
	X       float64  `json:"x"`
	Y       float64  `json:"y"`
	Color   string   `json:"color"`
	Kind    string   `json:"kind"`
}

type edgeInfo struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Label  string `json:"label"`
	Kind   string `json:"kind"`
}

// graph reads what Cytoscape holds and has drawn.
func graph(b *uiBrowser) (map[string]nodeInfo, []edgeInfo) {
	b.t.Helper()
	var g struct {
		Nodes []nodeInfo `json:"nodes"`
		Edges []edgeInfo `json:"edges"`
	}
	raw := eval[[]byte](b, `JSON.stringify({
		nodes: window.__cy.nodes().map(n => ({id: n.id(), classes: n.classes(), x: n.position('x'), y: n.position('y'),
			color: n.style('background-color'), kind: n.data('kind')})),
		edges: window.__cy.edges().map(e => ({source: e.source().id(), target: e.target().id(), label: e.data('label'), kind: e.data('kind')}))})`)
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		b.t.Fatalf("graph: %v: %s", err, raw)
	}
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		b.t.Fatalf("graph: %v: %s", err, s)
	}
	nodes := map[string]nodeInfo{}
	for _, n := range g.Nodes {
		nodes[n.ID] = n
	}
	return nodes, g.Edges
}

func hasEdge(edges []edgeInfo, from, to, label string) bool {
	for _, e := range edges {
		if e.Source == from && e.Target == to && e.Label == label {
			return true
		}
	}
	return false
}

// screenshot saves the viewport as name in the artifact directory and, with
// -update-screenshot, in docs/img for the README and docs/console.md.
func (b *uiBrowser) screenshot(name string) {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", "img", name), shot, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// artifactDir is where the test leaves its screenshots: $TOKENTRAIL_TEST_ARTIFACTS,
// or a fixed directory under the system's temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("TOKENTRAIL_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tokentrail-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConsole drives the web console in headless Chromium against a real
// server: sign in, search batches, open a batch and its timeline, download a
// receipt, draw the lineage graph and check its nodes, edges and layers,
// follow a node, the impact view, the compliance report and its evidence,
// the price chart and the live feed; then sign in as the consumer and see
// only what a consumer may. It writes screenshots of the lineage and impact
// views.
func TestConsole(t *testing.T) {
	chromium := requireChromium(t)
	bin := buildBinary(t)
	s := startServer(t, bin, filepath.Join(t.TempDir(), "data"))
	consoleData(t, s)
	downloads := t.TempDir()
	b := startBrowser(t, chromium, s.url, downloads)

	// The page itself needs no key and is locked down by its CSP.
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Fatalf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	b.do("open the console", chromedp.Navigate(s.url+"/"))
	b.waitPage("")

	// A wrong key is refused and not kept.
	b.do("sign in with a wrong key",
		chromedp.SendKeys(chromedp.CSS(`#api-key`), "not-a-key"),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signin .error`)))
	if k := eval[*string](b, `sessionStorage.getItem('tokentrail.apiKey')`); k != nil {
		t.Fatalf("a refused key was kept: %q", *k)
	}
	b.do("clear the key field", chromedp.Evaluate[chromedp.Void](`document.getElementById('api-key').value = ''`))

	regulator := s.keys["RegulatorMSP"]
	b.signIn(regulator, "RegulatorMSP")
	// The key is in session storage only: not in the URL, a cookie or local storage.
	if got := eval[string](b, `sessionStorage.getItem('tokentrail.apiKey')`); got != regulator {
		t.Fatalf("session storage holds %q", got)
	}
	if loc := eval[string](b, `location.href`); strings.Contains(loc, regulator) {
		t.Fatalf("the key is in the URL: %s", loc)
	}
	if n := eval[int](b, `localStorage.length + document.cookie.length`); n != 0 {
		t.Fatalf("the console wrote %d characters of cookies or local storage", n)
	}

	// Batch search, filtered.
	rows := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`)
	for _, id := range []string{uiLoans, uiChats, uiCorpus, uiAnon} {
		if !strings.Contains(strings.Join(rows, " "), id) {
			t.Fatalf("batch list %v lacks %s", rows, id)
		}
	}
	b.do("filter by modality and status",
		chromedp.SetValue(chromedp.CSS(`#f-modality`), "text"),
		chromedp.Click(chromedp.CSS(`#batch-filters button[type=submit]`)))
	b.waitPage("#/batches?modality=text")
	if rows := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`); len(rows) != 1 || rows[0] != uiChats {
		t.Fatalf("text batches: %v, want [%s]", rows, uiChats)
	}

	// Paging through four batches three at a time: forward and back.
	listed := `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`
	b.goTo("#/batches?pageSize=3")
	first := eval[[]string](b, listed)
	b.do("next page", chromedp.Click(chromedp.CSS(`#page-next`)))
	b.waitPage("#/batches?pageSize=3")
	second := eval[[]string](b, listed)
	if len(first) != 3 || len(second) != 1 || strings.Contains(strings.Join(first, " "), second[0]) {
		t.Fatalf("pages of 3: %v then %v", first, second)
	}
	if eval[string](b, `document.getElementById('page-next').tagName`) != "SPAN" {
		t.Fatal("the last page offers a next page")
	}
	b.do("previous page", chromedp.Click(chromedp.CSS(`#page-prev`)))
	b.waitPage("#/batches?pageSize=3")
	if again := eval[[]string](b, listed); strings.Join(again, " ") != strings.Join(first, " ") {
		t.Fatalf("back to the first page: %v, want %v", again, first)
	}

	// A batch: fields, custodians and its timeline with transaction IDs.
	b.goTo("#/batches")
	b.do("open a batch", chromedp.Click(chromedp.CSS(`#batch-results tr[data-batch="`+uiAnon+`"] a`)))
	b.waitPage("#/batch/" + uiAnon)
	var events struct {
		Items []struct{ EventID, TxID, Type string }
	}
	s.must(200, "GET", "/api/v1/batches/"+uiAnon+"/events", "RegulatorMSP", nil, &events)
	type shown struct{ EventID, TxID, Type, Tx string }
	var timeline []shown
	raw := eval[string](b, `JSON.stringify([...document.querySelectorAll('#timeline li.event')].map(li => ({EventID: li.dataset.eventId, TxID: li.dataset.txId, Type: li.dataset.type, Tx: li.querySelector('code.tx').textContent})))`)
	if err := json.Unmarshal([]byte(raw), &timeline); err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"PROCESSED", "ASSESSED", "TRADED", "TRADED", "TRADED", "AUDITED"}
	if len(timeline) != len(wantTypes) || len(events.Items) != len(wantTypes) {
		t.Fatalf("timeline %+v, want the %d events %v", timeline, len(wantTypes), wantTypes)
	}
	for i, e := range timeline {
		if e.Type != wantTypes[i] || e.EventID != events.Items[i].EventID || e.Tx != events.Items[i].TxID || e.Tx == "" {
			t.Fatalf("timeline item %d: %+v, want %s %+v", i, e, wantTypes[i], events.Items[i])
		}
	}
	custodians := eval[string](b, `document.getElementById('custodians').innerText`)
	for _, org := range []string{"ProviderMSP", "ProcessorMSP", "ConsumerMSP"} {
		if !strings.Contains(custodians, org) {
			t.Errorf("custodians %q lack %s", custodians, org)
		}
	}
	if q := eval[string](b, `document.getElementById('quality').innerText`); !strings.Contains(q, "88") || !strings.Contains(q, "sampled expert review") {
		t.Errorf("quality card: %q", q)
	}

	// Download the receipt of the audit: the very bytes the API serves.
	b.do("download a receipt", chromedp.Click(chromedp.CSS(`#timeline li.event[data-type="AUDITED"] button.receipt`)))
	auditTx := timeline[len(timeline)-1].Tx
	file := filepath.Join(downloads, "receipt-"+auditTx+".json")
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, err = os.ReadFile(file); err == nil && len(got) > 0 {
			break
		}
	}
	want := s.must(200, "GET", "/api/v1/events/"+timeline[len(timeline)-1].EventID+"/receipt", "RegulatorMSP", nil, nil)
	if string(got) != string(want) {
		t.Fatalf("downloaded receipt %s (%d bytes) differs from the API's (%d bytes)", file, len(got), len(want))
	}

	// The lineage graph: four batches in three layers, edges labelled with
	// their operations, coloured by personal information and status.
	b.do("open the lineage", chromedp.Click(chromedp.CSS(`#open-lineage`)))
	b.waitPage("#/lineage/" + uiAnon)
	nodes, edges := graph(b)
	if len(nodes) != 4 || len(edges) != 3 {
		t.Fatalf("lineage graph has %d nodes and %d edges, want 4 and 3: %v %v", len(nodes), len(edges), nodes, edges)
	}
	for _, e := range []edgeInfo{
		{Source: uiLoans, Target: uiCorpus, Label: "merge, tokenization"},
		{Source: uiChats, Target: uiCorpus, Label: "merge, tokenization"},
		{Source: uiCorpus, Target: uiAnon, Label: "anonymization"},
	} {
		if !hasEdge(edges, e.Source, e.Target, e.Label) {
			t.Errorf("no edge %s → %s labelled %q in %+v", e.Source, e.Target, e.Label, edges)
		}
	}
	// Layered left to right: every parent is left of its child.
	if !(nodes[uiLoans].X < nodes[uiCorpus].X && nodes[uiChats].X < nodes[uiCorpus].X && nodes[uiCorpus].X < nodes[uiAnon].X) {
		t.Errorf("the layout is not layered left to right: %+v", nodes)
	}
	if nodes[uiLoans].Color == nodes[uiChats].Color || nodes[uiChats].Color != nodes[uiCorpus].Color || nodes[uiAnon].Color != nodes[uiLoans].Color {
		t.Errorf("nodes are not coloured by personal information (none, personal, personal, none): %+v", nodes)
	}
	if !strings.Contains(strings.Join(nodes[uiLoans].Classes, " "), "frozen") {
		t.Errorf("the frozen batch is not drawn as frozen: %v", nodes[uiLoans].Classes)
	}
	if n := eval[int](b, `(() => { const c = document.querySelector('#graph canvas'); return c ? c.width * c.height : 0 })()`); n == 0 {
		t.Fatal("the graph drew no canvas")
	}
	b.screenshot("lineage.png")

	// Follow a node: a real click where Cytoscape drew it.
	xy := eval[[]float64](b, `(() => { const n = window.__cy.getElementById(`+jsString(uiChats)+`); const p = n.renderedPosition();
		const r = window.__cy.container().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()`)
	b.do("click a node", chromedp.MouseClickXY(xy[0], xy[1]))
	b.waitPage("#/batch/" + uiChats)
	if ty := eval[[]string](b, `[...document.querySelectorAll('#timeline li.event')].map(li => li.dataset.type)`); len(ty) != 3 || ty[0] != "COLLECTED" || ty[1] != "CIRCULATED" || ty[2] != "PROCESSED" {
		t.Fatalf("after following the node, timeline %v", ty)
	}

	// Impact: every descendant, holder, circulation and trade.
	b.goTo("#/lineage/" + uiLoans + "?view=impact")
	nodes, edges = graph(b)
	for _, id := range []string{uiCorpus, uiAnon} {
		if !strings.Contains(strings.Join(nodes[id].Classes, " "), "impacted") {
			t.Errorf("descendant %s is not highlighted: %v", id, nodes[id].Classes)
		}
	}
	if _, ok := nodes[uiChats]; ok {
		t.Errorf("the impact view shows %s, which is not downstream of %s", uiChats, uiLoans)
	}
	// The worklist: the consumer bought the anonymised batch three times;
	// the processor received the loans in a circulation.
	bought := eval[int](b, `document.querySelectorAll('#worklist-ConsumerMSP tr[data-batch="`+uiAnon+`"][data-relation="bought"]').length`)
	if bought != 3 {
		t.Errorf("the consumer's worklist shows %d purchases of %s, want 3%s", bought, uiAnon, b.pageText())
	}
	if n := eval[int](b, `document.querySelectorAll('#worklist-ProcessorMSP tr[data-batch="`+uiLoans+`"][data-relation="circulated to"]').length`); n != 1 {
		t.Errorf("the processor's worklist shows %d circulations of %s, want 1", n, uiLoans)
	}
	for _, e := range edges {
		if e.Kind != "derivation" {
			t.Errorf("the impact graph draws a %s edge; organisations are in the worklist: %+v", e.Kind, e)
		}
	}
	if holders := eval[string](b, `document.getElementById('impact-holders').innerText`); !strings.Contains(holders, "ConsumerMSP") || !strings.Contains(holders, "ProcessorMSP") {
		t.Errorf("impact holders: %q", holders)
	}
	b.screenshot("impact.png")

	// The compliance report: every rule with a result, evidence linked to
	// the event on its batch's timeline.
	b.goTo("#/compliance/" + uiAnon)
	results := eval[[]string](b, `[...document.querySelectorAll('#compliance-results details.rule')].map(r => r.dataset.rule + '=' + r.dataset.result)`)
	if len(results) < 14 {
		t.Fatalf("compliance report shows %d rules: %v", len(results), results)
	}
	for _, r := range results {
		if !strings.HasSuffix(r, "=pass") && !strings.HasSuffix(r, "=fail") && !strings.HasSuffix(r, "=not-applicable") {
			t.Errorf("rule result %q", r)
		}
	}
	cited := eval[int](b, `document.querySelectorAll('#compliance-results .evidence li').length`)
	linked := eval[int](b, `document.querySelectorAll('#compliance-results a.evidence-link').length`)
	if cited == 0 || linked != cited {
		t.Fatalf("compliance evidence: %d cited, %d linked", cited, linked)
	}
	b.do("open every rule", chromedp.Click(chromedp.CSS(`#expand-all`)))
	tx := eval[string](b, `document.querySelector('#compliance-results a.evidence-link').dataset.tx`)
	b.do("follow evidence", chromedp.Click(chromedp.CSS(`#compliance-results a.evidence-link`)))
	b.waitPage("#/batch/")
	if focus := eval[string](b, `(document.querySelector('#timeline li.event.focus') || {dataset: {}}).dataset.txId || ''`); focus != tx {
		t.Fatalf("the evidence link shows event %q, want transaction %q", focus, tx)
	}

	// The price index: one series (finance, tabular, CNY), VWAP 22.
	b.goTo("#/prices")
	if n := eval[int](b, `window.__priceChart ? window.__priceChart.series.length : 0`); n != 2 {
		t.Fatalf("price chart has %d series, want x and one line", n)
	}
	if row := eval[string](b, `document.querySelector('#price-table tbody tr').innerText`); !strings.Contains(row, "finance") || !strings.Contains(row, "22.00") {
		t.Errorf("price row: %q", row)
	}

	// The live feed: live when the server streams events, otherwise a clear
	// "unavailable" state.
	b.goTo("#/feed")
	streams := feedAvailable(t, s)
	wantState := "unavailable"
	if streams {
		wantState = "live"
	}
	state, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(() => { const s = document.getElementById('feed-status').dataset.feed; return s === 'connecting' ? '' : s })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || state != wantState {
		t.Fatalf("feed state %q (%v), want %q%s", state, err, wantState, b.pageText())
	}
	if streams {
		s.must(201, "POST", "/api/v1/batches/"+uiAnon+"/assessments", "AuditorMSP", map[string]any{"score": 90, "method": "re-review"}, nil)
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!!document.querySelector('#feed-events li[data-type="ASSESSED"]')`,
			chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("a new event did not reach the live feed: %v%s", err, b.pageText())
		}
	} else {
		t.Log("GET /api/v1/events/stream is not served: the live feed shows its unavailable state")
	}
	b.checkClean()

	// Sign out, then the consumer sees only what a consumer may.
	b.do("sign out", chromedp.Click(chromedp.CSS(`#sign-out`)), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
	if k := eval[*string](b, `sessionStorage.getItem('tokentrail.apiKey')`); k != nil {
		t.Fatal("signing out kept the key")
	}
	b.signIn(s.keys["ConsumerMSP"], "ConsumerMSP")
	if rows := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`); len(rows) != 1 || rows[0] != uiAnon {
		t.Fatalf("the consumer's batch list: %v, want only %s", rows, uiAnon)
	}
	b.goTo("#/lineage/" + uiAnon)
	nodes, _ = graph(b)
	for _, id := range []string{uiLoans, uiChats, uiCorpus} {
		if !strings.Contains(strings.Join(nodes[id].Classes, " "), "redacted") {
			t.Errorf("the consumer sees ancestor %s unredacted: %v", id, nodes[id].Classes)
		}
	}
	b.do("open the impact view as the consumer", chromedp.Evaluate[chromedp.Void](`location.hash = '#/lineage/`+uiAnon+`?view=impact'`))
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!!document.querySelector('#graph-side .error')`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the consumer's impact view does not show the refusal: %v%s", err, b.pageText())
	}
	if msg := eval[string](b, `document.querySelector('#graph-side .error').innerText`); !strings.Contains(msg, "regulator or auditor") {
		t.Errorf("the consumer's impact refusal says %q", msg)
	}
	b.checkClean()
}

// feedAvailable reports whether the server streams events at
// /api/v1/events/stream (it is built separately from the console).
func feedAvailable(t *testing.T, s *server) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+s.keys["RegulatorMSP"])
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/events/stream: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
