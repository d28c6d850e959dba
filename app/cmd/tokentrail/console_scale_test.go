package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The realistic data set of TestConsoleAtScale.
const (
	scaleLevels    = 8 // lineage levels 0..7, six batches each
	scaleWidth     = 6
	scaleRetired   = "corpus-l0-3"     // retired for consent-withdrawn: taints its descendants
	scaleTainted   = "release-a"       // descends from every level-0 batch
	scaleFrozen    = "finance-set-1"   // frozen by the regulator
	scaleOldRetd   = "transport-set-2" // retired, retention expired
	scaleFreezeWhy = "inquiry into source licences"
)

var scaleSectors = []string{"healthcare", "agriculture", "industry", "education", "finance", "transport", "government", "services", "science", "other"}

func lineageID(level, k int) string { return fmt.Sprintf("corpus-l%d-%d", level, k) }

// scaleData records, through the API: two collected batches per sector
// (20), an 8-level lineage of 6 batches a level where each processing
// merges two batches of the level above and splits them into two (48), two
// releases merging the last level (50 batches in the lineage), assessments,
// 18 trades in CNY and USD, a circulation, two audits with findings, a
// freeze, a retirement for retention and one for withdrawn consent.
func scaleData(t *testing.T, s *server) {
	t.Helper()
	n := 0
	digest := func() string { n++; return fmt.Sprintf("sha256:%064x", 5000+n) }
	collect := func(id, name, sector, modality string) {
		s.must(201, "POST", "/api/v1/batches", "ProviderMSP", map[string]any{
			"id": id, "name": name, "sector": sector, "modality": modality, "languages": []string{"zh-CN", "en"},
			"tokens": map[string]any{"count": 5_000_000 + n*1000, "tokenizer": "o200k_base"}, "contentDigest": digest(),
			"sizeBytes": 20_000_000, "records": 80_000, "classification": "general", "personalInfo": "none", "deidentification": "none",
			"legalBasis": "contract", "purposes": []string{"model-training", "research"}, "region": "CN", "licence": "CC-BY-4.0",
			"source": map[string]any{"type": "enterprise", "region": "CN"},
		}, nil)
	}
	modalities := []string{"text", "tabular", "image", "code"}
	for i, sec := range scaleSectors {
		for j := 1; j <= 2; j++ {
			collect(fmt.Sprintf("%s-set-%d", sec, j), fmt.Sprintf("%s records, set %d", strings.Title(sec), j), sec, modalities[(i+j)%len(modalities)]) //nolint:staticcheck // ASCII sector names
		}
	}
	for k := 0; k < scaleWidth; k++ {
		collect(lineageID(0, k), fmt.Sprintf("Source corpus %d", k), "science", "text")
		s.must(201, "POST", "/api/v1/batches/"+lineageID(0, k)+"/circulations", "ProviderMSP",
			map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "copy"}, nil)
	}
	output := func(id, name string) map[string]any {
		return map[string]any{"id": id, "name": name, "tokens": map[string]any{"count": 3_000_000, "tokenizer": "o200k_base"},
			"contentDigest": digest(), "sizeBytes": 12_000_000, "records": 40_000}
	}
	for l := 1; l < scaleLevels; l++ {
		for k := 0; k < scaleWidth; k += 2 {
			// Odd levels pair (0,1),(2,3),(4,5); even levels (1,2),(3,4),(5,0).
			a, b := k, k+1
			if l%2 == 0 {
				a, b = k+1, (k+2)%scaleWidth
			}
			s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
				"inputs": []string{lineageID(l-1, a), lineageID(l-1, b)}, "operations": []string{"merge", "tokenization"},
				"tool":    map[string]string{"name": "corpus-builder", "version": fmt.Sprintf("2.%d", l)},
				"outputs": []any{output(lineageID(l, k), fmt.Sprintf("Corpus level %d part %d", l, k)), output(lineageID(l, k+1), fmt.Sprintf("Corpus level %d part %d", l, k+1))}}, nil)
		}
	}
	var last []string
	for k := 0; k < scaleWidth; k++ {
		last = append(last, lineageID(scaleLevels-1, k))
	}
	s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
		"inputs": last, "operations": []string{"merge", "deduplication"}, "tool": map[string]string{"name": "release-packer", "version": "1.0"},
		"outputs": []any{output("release-a", "Release A (training mix)"), output("release-b", "Release B (evaluation mix)")}}, nil)
	eval := output("release-a-eval", "Release A, held-out slice")
	eval["tokens"] = map[string]any{"count": 300_000, "tokenizer": "o200k_base"}
	s.must(201, "POST", "/api/v1/processing", "ProcessorMSP", map[string]any{
		"inputs": []string{"release-a"}, "operations": []string{"filtering"}, "tool": map[string]string{"name": "slicer", "version": "0.9"},
		"outputs": []any{eval}}, nil)

	assess := func(id string, score int) {
		s.must(201, "POST", "/api/v1/batches/"+id+"/assessments", "AuditorMSP",
			map[string]any{"score": score, "metrics": map[string]float64{"dup-rate": 0.01}, "method": "sampled review"}, nil)
	}
	owner := func(id string) string {
		var b struct{ Owner string }
		s.must(200, "GET", "/api/v1/batches/"+id, "RegulatorMSP", nil, &b)
		return b.Owner
	}
	trade := func(tradeID, batch, currency string, price float64) {
		s.must(201, "POST", "/api/v1/trades", "ExchangeMSP", map[string]any{"tradeId": tradeID, "batchId": batch, "seller": owner(batch), "buyer": "ConsumerMSP",
			"tokens": 100_000, "rights": "licence", "purposes": []string{"research"},
			"terms": map[string]any{"unitPrice": price, "currency": currency, "priceUnit": "1M tokens"}}, nil)
	}
	assess(scaleTainted, 91)
	for i := 0; i < 6; i++ {
		trade(fmt.Sprintf("REL-%d", i+1), scaleTainted, "CNY", 40+float64(i))
	}
	for i, id := range []string{"finance-set-1", "finance-set-2", "science-set-1"} {
		assess(id, 80+i)
		for j := 0; j < 4; j++ {
			cur := "CNY"
			if i == 1 {
				cur = "USD"
			}
			trade(fmt.Sprintf("SET-%d-%d", i, j), id, cur, 10+float64(i*5+j))
		}
	}
	s.must(201, "POST", "/api/v1/batches/release-b/circulations", "ProcessorMSP",
		map[string]any{"to": "ConsumerMSP", "purpose": "research", "accessMode": "sandbox"}, nil)
	s.must(201, "POST", "/api/v1/batches/"+scaleTainted+"/audits", "AuditorMSP", map[string]any{"scope": "lineage and purpose",
		"findings": []any{
			map[string]any{"rule": "TT-R04", "result": "pass", "note": "every processing shares model-training"},
			map[string]any{"rule": "TT-R10", "result": "pass", "note": "deduplication reduced the token count"},
		}, "verdict": "compliant"}, nil)
	s.must(201, "POST", "/api/v1/batches/finance-set-1/audits", "AuditorMSP", map[string]any{"scope": "licensing",
		"findings": []any{map[string]any{"rule": "TT-R08", "result": "fail", "note": "the seller's licence to resell is not on file"}}, "verdict": "non-compliant"}, nil)
	s.must(200, "POST", "/api/v1/batches/"+scaleFrozen+"/freeze", "RegulatorMSP", map[string]any{"reason": scaleFreezeWhy}, nil)
	s.must(200, "POST", "/api/v1/batches/"+scaleOldRetd+"/retire", "ProviderMSP", map[string]any{"reason": "retention-expired"}, nil)
	s.must(200, "POST", "/api/v1/batches/"+scaleRetired+"/retire", "ProviderMSP", map[string]any{"reason": "consent-withdrawn"}, nil)
}

// viewport is one screen size the console is tried at.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}}

func (b *uiBrowser) setViewport(v viewport) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.do("viewport "+v.name, chromedp.EmulateViewport(v.width, v.height, opts...))
}

// pageLooksRight checks what every page must be: no horizontal overflow, no
// "null", "undefined" or "NaN" in its text, and nothing wrong in the page.
func (b *uiBrowser) pageLooksRight(v viewport, what string) {
	b.t.Helper()
	if w := eval[[]int](b, `[document.scrollingElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		wide := eval[string](b, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`)
		b.t.Errorf("%s at %s: the page is %d px wide in a %d px window (%s)", what, v.name, w[0], w[1], wide)
	}
	text := eval[string](b, `document.body.innerText`)
	if m := regexp.MustCompile(`\b(null|undefined|NaN)\b`).FindString(text); m != "" {
		i := strings.Index(text, m)
		b.t.Errorf("%s at %s: the page says %q: …%s…", what, v.name, m, text[max(0, i-60):min(len(text), i+60)])
	}
	b.mu.Lock()
	problems := b.problems
	b.problems = nil
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("%s at %s: %s", what, v.name, p)
	}
	if csp := eval[[]string](b, `window.__csp || []`); len(csp) > 0 {
		b.t.Errorf("%s at %s: CSP violations %v", what, v.name, csp)
	}
}

func (b *uiBrowser) texts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.innerText)`, sel))
}

// TestConsoleAtScale tries the console as a regulator would, at 1440×900 and
// 390×844, over a realistic ledger: every page must fit its window, say no
// "null" and log nothing; the lineage of 50 batches must open legible; the
// batch page must show taint, freeze and retirement with their reasons;
// search, sort and paging must live in the URL and survive Back;
// compliance must put failures first and fold its evidence; the impact
// worklist must export as CSV; the header must name the organisation; the
// console's files must be compressed and cacheable.
func TestConsoleAtScale(t *testing.T) {
	chromium := requireChromium(t)
	bin := buildBinary(t)
	s := startServer(t, bin, filepath.Join(t.TempDir(), "data"))
	start := time.Now()
	scaleData(t, s)
	t.Logf("seeded the ledger in %s", time.Since(start).Round(time.Millisecond))
	downloads := t.TempDir()
	b := startBrowser(t, chromium, s.url, downloads)

	t.Run("assets", func(t *testing.T) { consoleAssets(t, s.url) })

	b.do("open the console", chromedp.Navigate(s.url+"/"))
	b.waitPage("")
	b.signIn(s.keys["RegulatorMSP"], "RegulatorMSP")
	if who := eval[string](b, `document.getElementById('whoami').innerText`); !strings.Contains(who, "RegulatorMSP") || !strings.Contains(who, "regulator") {
		t.Errorf("the header names %q, want RegulatorMSP and its role", who)
	}

	for _, v := range viewports {
		t.Run(v.name, func(t *testing.T) {
			b.t = t
			b.setViewport(v)
			scaleChecks(t, b, s, v, downloads)
		})
	}
}

func consoleAssets(t *testing.T, base string) {
	get := func(path string, hdr map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		// A transport that leaves Accept-Encoding to us and does not decompress.
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	res, page := get("/", nil)
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" || res.Header.Get("ETag") == "" {
		t.Errorf("GET /: Cache-Control %q, ETag %q: the page must be revalidated", cc, res.Header.Get("ETag"))
	}
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 3 {
		t.Fatalf("the page names %d assets: %s", len(refs), page)
	}
	for _, r := range refs {
		res, body := get(r[1], map[string]string{"Accept-Encoding": "gzip, deflate, br"})
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q", r[1], res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if strings.HasSuffix(r[1], ".js") {
			plain, raw := get(r[1], nil)
			if res.Header.Get("Content-Encoding") != "gzip" || len(body)*2 > len(raw) || plain.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: Content-Encoding %q, %d bytes gzipped of %d", r[1], res.Header.Get("Content-Encoding"), len(body), len(raw))
			}
		}
		again, body2 := get(r[1], map[string]string{"If-None-Match": res.Header.Get("ETag"), "Accept-Encoding": "gzip"})
		if again.StatusCode != http.StatusNotModified || len(body2) != 0 {
			t.Errorf("%s revalidated: %d with %d bytes", r[1], again.StatusCode, len(body2))
		}
	}
	if res, _ := get("/favicon.ico", nil); res.StatusCode != 404 {
		t.Logf("/favicon.ico: %d", res.StatusCode)
	}
	if !strings.Contains(string(page), `rel="icon"`) {
		t.Error("the page names no icon, so browsers ask for /favicon.ico and get a 404")
	}
}

func scaleChecks(t *testing.T, b *uiBrowser, s *server, v viewport, downloads string) {
	// The header: organisation visible, Sign out on screen.
	b.goTo("#/batches")
	b.pageLooksRight(v, "the batch list")
	if r := eval[[]float64](b, `(() => { const r = document.getElementById('sign-out').getBoundingClientRect(); return [r.left, r.right, r.width]; })()`); r[2] == 0 || r[0] < 0 || r[1] > float64(v.width) {
		t.Errorf("Sign out is at %v, outside the %d px window", r, v.width)
	}
	if !eval[bool](b, `(() => { const r = document.getElementById('whoami').getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth; })()`) {
		t.Error("the signed-in organisation is not on screen")
	}
	if title := eval[string](b, `document.title`); !strings.HasPrefix(title, "Batches") {
		t.Errorf("the batch list's title is %q", title)
	}

	// Totals, search, sort, the page in the URL and Back.
	total := eval[string](b, `document.getElementById('batch-totals').dataset.total`)
	if total != "71" {
		t.Errorf("the batch list counts %s batches, want 71", total)
	}
	b.goTo("#/batches?q=Corpus%20level%203")
	if rows := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`); len(rows) != 6 || rows[0] != lineageID(3, 0) {
		t.Errorf("searching by name found %v, want the six level-3 batches", rows)
	}
	b.goTo("#/batches?q=RELEASE-B")
	if rows := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`); len(rows) != 1 || rows[0] != "release-b" {
		t.Errorf("searching by ID, any case, found %v", rows)
	}
	// Outputs of processing keep their inputs' owner: the provider owns all.
	b.goTo("#/batches?owner=providermsp")
	if n := eval[string](b, `document.getElementById('batch-totals').dataset.total`); n != "71" || eval[string](b, `document.getElementById('f-owner').value`) != "ProviderMSP" {
		t.Errorf("owner providermsp (any case) lists %s batches with owner %q chosen, want 71 of ProviderMSP", n, eval[string](b, `document.getElementById('f-owner').value`))
	}
	b.goTo("#/batches?owner=NobodyMSP")
	if !eval[bool](b, `!!document.getElementById('owner-hint')`) {
		t.Error("an unknown owner gives no hint")
	}
	b.goTo("#/batches")
	b.do("sort by name", chromedp.Click(chromedp.CSS(`th a[data-sort="name"]`)))
	b.waitPage("#/batches?sort=name")
	b.do("sort by name, descending", chromedp.Click(chromedp.CSS(`th a[data-sort="name"]`)))
	b.waitPage("#/batches?sort=name&dir=desc")
	names := eval[[]string](b, `[...document.querySelectorAll('#batch-results tbody tr')].map(r => r.children[1].innerText.toLowerCase())`)
	for i := 1; i < len(names); i++ {
		if names[i-1] < names[i] {
			t.Fatalf("sorted by name descending: %q before %q", names[i-1], names[i])
		}
	}
	b.do("next page", chromedp.Click(chromedp.CSS(`#page-next`)))
	b.waitPage("#/batches?sort=name&dir=desc&page=2")
	second := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`)
	b.do("open a batch from page 2", chromedp.Click(chromedp.CSS(`#batch-results tr[data-batch] a`)))
	b.waitPage("#/batch/")
	b.do("back", chromedp.NavigateBack())
	b.waitPage("#/batches?sort=name&dir=desc&page=2")
	if again := eval[[]string](b, `[...document.querySelectorAll('#batch-results tr[data-batch]')].map(r => r.dataset.batch)`); strings.Join(again, " ") != strings.Join(second, " ") {
		t.Errorf("Back from a batch shows %v, want page 2 %v", again, second)
	}
	b.pageLooksRight(v, "the sorted batch list")

	// Banners: tainted, with the retired ancestor and its reason.
	b.goTo("#/batch/" + scaleTainted)
	waitFor(t, func() bool { return eval[bool](b, `!!document.querySelector('#trades table, #trades .empty')`) })
	taint := b.texts(`[data-banner="taint"]`)
	if len(taint) != 1 || !strings.Contains(taint[0], scaleRetired) || !strings.Contains(taint[0], "consent-withdrawn") {
		t.Errorf("the tainted batch's banners: %q%s", taint, b.pageText())
	}
	// The regulator sees every trade's price; the audit's findings in full.
	if prices := b.texts(`#trade-table td.price`); len(prices) != 6 || !strings.Contains(prices[0], "CNY") {
		t.Errorf("trade prices on the batch page: %q", prices)
	}
	if f := b.texts(`#timeline li[data-type="AUDITED"] ul.findings li`); len(f) != 2 || !strings.Contains(f[1], "deduplication reduced") {
		t.Errorf("the audit's findings: %q", f)
	}
	b.pageLooksRight(v, "the tainted batch")
	if v.mobile {
		b.screenshot("console-phone.png")
	}

	b.goTo("#/batch/" + scaleFrozen)
	waitFor(t, func() bool { return eval[bool](b, `!!document.querySelector('#trades table, #trades .empty')`) })
	if f := b.texts(`[data-banner="frozen"]`); len(f) != 1 || !strings.Contains(f[0], scaleFreezeWhy) || !strings.Contains(f[0], "RegulatorMSP") {
		t.Errorf("the frozen batch's banners: %q", f)
	}
	b.pageLooksRight(v, "the frozen batch")
	b.goTo("#/batch/" + scaleRetired)
	waitFor(t, func() bool { return eval[bool](b, `!!document.querySelector('#trades table, #trades .empty')`) })
	if f := b.texts(`[data-banner="retired"]`); len(f) != 1 || !strings.Contains(f[0], "consent-withdrawn") || !strings.Contains(f[0], "tainted") {
		t.Errorf("the retired batch's banners: %q", f)
	}
	b.goTo("#/batch/" + scaleOldRetd)
	waitFor(t, func() bool { return eval[bool](b, `!!document.querySelector('#trades table, #trades .empty')`) })
	if f := b.texts(`[data-banner]`); len(f) != 1 || !strings.Contains(f[0], "retention-expired") || strings.Contains(f[0], "tainted") {
		t.Errorf("the batch retired for retention: banners %q", f)
	}
	b.pageLooksRight(v, "a retired batch")

	// The lineage of 50 batches opens legible.
	b.goTo("#/lineage/" + scaleTainted)
	nodes, _ := graph(b)
	if len(nodes) < 50 {
		t.Fatalf("the lineage has %d nodes, want 50 or more", len(nodes))
	}
	if px := eval[float64](b, `window.__cy.zoom() * parseFloat(window.__cy.nodes()[0].style('font-size'))`); px < 10 {
		t.Errorf("node labels are %.1f px on screen at the first view, want at least 10", px)
	}
	if px := eval[float64](b, `parseFloat(window.__cy.getElementById(`+jsString(scaleTainted)+`).renderedStyle('font-size'))`); px < 10 {
		t.Errorf("the root's label renders at %.1f px", px)
	}
	root := eval[bool](b, `(() => { const p = window.__cy.getElementById(`+jsString(scaleTainted)+`).renderedPosition(); return p.x >= 0 && p.y >= 0 && p.x <= window.__cy.width() && p.y <= window.__cy.height(); })()`)
	if !root {
		t.Error("the batch the lineage is about is not in the first view")
	}
	z := eval[float64](b, `window.__cy.zoom()`)
	b.do("zoom in", chromedp.Click(chromedp.CSS(`#zoom-in`)))
	if z2 := eval[float64](b, `window.__cy.zoom()`); z2 <= z {
		t.Errorf("zoom in: %.2f → %.2f", z, z2)
	}
	b.do("fit", chromedp.Click(chromedp.CSS(`#zoom-fit`)))
	if !eval[bool](b, `(() => { const e = window.__cy.extent(), bb = window.__cy.nodes().boundingBox(); return e.x1 <= bb.x1 + 1 && e.x2 >= bb.x2 - 1 && e.y1 <= bb.y1 + 1 && e.y2 >= bb.y2 - 1; })()`) {
		t.Error("Fit does not show the whole graph")
	}
	b.do("reset", chromedp.Click(chromedp.CSS(`#zoom-reset`)))
	b.do("search", chromedp.SendKeys(chromedp.CSS(`#graph-search`), "level 5"))
	if n := eval[int](b, `window.__cy.nodes('.match').length`); n != 6 {
		t.Errorf("searching the graph for \"level 5\" highlights %d batches, want 6", n)
	}
	if eval[string](b, `document.getElementById('overview').width > 0 ? 'drawn' : ''`) != "drawn" {
		t.Error("no overview map")
	}
	// Hover card: move the mouse onto a node.
	// The search pans to its matches, and the pan may begin after the
	// search's first answer: wait until the graph is still and a match
	// is inside the view, then hover that one.
	visibleMatch := `(() => { const w = window.__cy.width(), h = window.__cy.height();
		return window.__cy.nodes('.match').filter(n => { const p = n.renderedPosition(); return p.x > 5 && p.y > 5 && p.x < w - 5 && p.y < h - 5; }); })()`
	waitFor(t, func() bool {
		return eval[bool](b, `!window.__cy.animated() && `+visibleMatch+`.length > 0`)
	})
	xy := eval[[]float64](b, `(() => { const n = `+visibleMatch+`[0]; const p = n.renderedPosition();
		const r = window.__cy.container().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()`)
	if !v.mobile {
		b.do("hover a node", chromedp.MouseEvent("mouseMoved", xy[0]-5, xy[1]-5), chromedp.MouseEvent("mouseMoved", xy[0], xy[1]))
		t.Logf("hover at %v: %s", xy, eval[string](b, `JSON.stringify([window.__cy.container().getBoundingClientRect(), window.innerWidth])`))
		waitFor(t, func() bool { return eval[bool](b, `!document.getElementById('hover-card').hidden`) })
		if card := eval[string](b, `document.getElementById('hover-card').innerText`); !strings.Contains(card, "level 5") || !strings.Contains(card, "owner ProviderMSP") || regexp.MustCompile(`null|undefined|object`).MatchString(card) {
			t.Errorf("hover card: %q", card)
		}
	}
	b.pageLooksRight(v, "the lineage of 50 batches")
	if !v.mobile {
		b.screenshot("lineage-50.png")
	}
	b.goTo("#/lineage/" + lineageID(0, 0) + "?direction=down&layout=TB&levels=2")
	nodes, _ = graph(b)
	if len(nodes) != 1+2+4 {
		t.Errorf("two levels below a level-0 batch: %d nodes", len(nodes))
	}
	if c := eval[int](b, `window.__cy.nodes('.collapsed').length`); c == 0 {
		t.Error("no node says it hides neighbours")
	}

	// Impact: a worklist per organisation, exported as CSV.
	b.goTo("#/lineage/" + scaleRetired + "?view=impact")
	orgs := eval[[]string](b, `[...document.querySelectorAll('#worklist details.worklist-org')].map(d => d.dataset.org)`)
	if strings.Join(orgs, " ") != "ConsumerMSP ProcessorMSP ProviderMSP" {
		t.Errorf("worklist organisations %v", orgs)
	}
	b.pageLooksRight(v, "the impact worklist")
	if !v.mobile {
		b.screenshot("impact-worklist.png")
	}
	file := filepath.Join(downloads, "impact-"+scaleRetired+".csv")
	os.Remove(file)
	b.do("export the worklist", chromedp.Click(chromedp.CSS(`#export-worklist`)))
	var data []byte
	waitFor(t, func() bool { var err error; data, err = os.ReadFile(file); return err == nil && len(data) > 0 })
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatalf("the worklist CSV: %v", err)
	}
	bought, circulated := 0, 0
	for _, r := range rows[1:] {
		if r[0] == "ConsumerMSP" && r[5] == "bought" && r[1] == scaleTainted {
			bought++
		}
		if r[0] == "ConsumerMSP" && r[5] == "circulated to" && r[1] == "release-b" {
			circulated++
		}
	}
	if rows[0][0] != "organisation" || bought != 6 || circulated != 1 {
		t.Errorf("worklist CSV: header %v, %d purchases of %s (want 6), %d circulations of release-b (want 1)", rows[0], bought, scaleTainted, circulated)
	}

	// Compliance: failures first and open, then passes, then rules that
	// did not apply, folded. The batch descends from one retired for
	// consent-withdrawn, so its report fails TT-R14 (the report judges its
	// standing now).
	b.goTo("#/compliance/" + scaleTainted)
	results := eval[[]string](b, `[...document.querySelectorAll('#compliance-results details.rule')].map(d => d.dataset.result + (d.open ? ':open' : ':closed'))`)
	rank := map[string]int{"fail": 0, "pass": 1, "not-applicable": 2}
	fails := 0
	for i, r := range results {
		result, state, _ := strings.Cut(r, ":")
		if i > 0 {
			prev, _, _ := strings.Cut(results[i-1], ":")
			if rank[prev] > rank[result] {
				t.Errorf("compliance order %v: failures, then passes, then not applicable", results)
			}
		}
		if (result == "fail") != (state == "open") {
			t.Errorf("compliance: a %s result is %s", result, state)
		}
		if result == "fail" {
			fails++
		}
	}
	if len(results) < 14 {
		t.Errorf("the report shows %d rules", len(results))
	}
	t.Logf("the report of %s: %d failing rule(s) of %d", scaleTainted, fails, len(results))
	if first := eval[string](b, `(document.querySelector('#compliance-results details.rule') || {dataset: {}}).dataset.rule || ''`); fails == 0 || first != "TT-R14" {
		t.Errorf("the report of a tainted batch shows %d failures, first %q; want TT-R14 failing, first", fails, first)
	}
	b.do("open a passing rule", chromedp.Click(chromedp.CSS(`#compliance-results details.result-pass summary`)))
	if !eval[bool](b, `document.querySelector('#compliance-results details.result-pass').open`) {
		t.Error("a rule does not open when its summary is clicked")
	}
	b.pageLooksRight(v, "the compliance report")
	if h := eval[int](b, `document.scrollingElement.scrollHeight`); h > 2400 && !v.mobile {
		t.Errorf("the compliance report is %d px tall at %s", h, v.name)
	}
	cfile := filepath.Join(downloads, "compliance-"+scaleTainted+".json")
	os.Remove(cfile)
	b.do("export the report", chromedp.Click(chromedp.CSS(`#export-json`)))
	waitFor(t, func() bool {
		d, err := os.ReadFile(cfile)
		return err == nil && strings.Contains(string(d), `"results"`)
	})

	// The printable page: printing opens every rule, evidence included.
	_ = eval[bool](b, `window.dispatchEvent(new Event('beforeprint'))`)
	if closed := eval[int](b, `[...document.querySelectorAll('#compliance-results details.rule')].filter(d => !d.open).length`); closed != 0 {
		t.Errorf("printing leaves %d rules folded", closed)
	}
	if !eval[bool](b, `[...document.styleSheets].some(s => { try { return [...s.cssRules].some(r => r.media && [...r.media].includes('print')); } catch (e) { return false; } })`) {
		t.Error("the console has no print style sheet")
	}

	// Prices: one chart per currency, spanning the data's days.
	b.goTo("#/prices")
	if cur := eval[[]string](b, `[...document.querySelectorAll('#price-charts .chart')].map(c => c.dataset.currency)`); strings.Join(cur, " ") != "CNY USD" {
		t.Errorf("price charts by currency: %v", cur)
	}
	if span := eval[float64](b, `(() => { const s = window.__priceChart.scales.x; return s.max - s.min; })()`); span > 3*86400 || span <= 0 {
		t.Errorf("the price chart's x-axis spans %.0f s for one day of trades", span)
	}
	b.pageLooksRight(v, "the price index")

	// The feed opens with recent events, each once; an unknown batch is not "live".
	b.goTo("#/feed")
	if feedAvailable(t, s) {
		waitFor(t, func() bool { return eval[int](b, `document.querySelectorAll('#feed-events li').length`) > 0 })
		ids := eval[[]string](b, `[...document.querySelectorAll('#feed-events > li')].map(li => li.dataset.eventId)`)
		seen := map[string]bool{}
		for _, id := range ids {
			if id == "" {
				t.Errorf("a feed row has no event ID: %s", eval[string](b, `document.querySelector('#feed-events > li').outerHTML`))
			}
			if seen[id] {
				t.Errorf("the feed shows event %s twice", id)
			}
			seen[id] = true
		}
		height := eval[string](b, `document.getElementById('ledger-info').dataset.height`)
		s.must(201, "POST", "/api/v1/batches/science-set-2/assessments", "AuditorMSP", map[string]any{"score": 70, "method": "spot check"}, nil)
		waitFor(t, func() bool {
			return eval[string](b, `document.getElementById('ledger-info').dataset.height`) != height
		})
		b.goTo("#/feed?batchId=no-such-batch")
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		state, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const s = document.getElementById('feed-status').dataset.feed; return s === 'connecting' ? '' : s })()`))
		cancel()
		if err != nil || state == "live" {
			t.Errorf("the feed of an unknown batch is %q (%v)", state, err)
		}
	}
	b.pageLooksRight(v, "the live feed")
}
