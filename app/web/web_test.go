package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/assets/app.css", 200, "text/css; charset=utf-8"},
		{"GET", "/assets/THIRD-PARTY-LICENSES.txt", 200, "text/plain; charset=utf-8"},
		{"GET", "/assets/", 404, ""},
		{"GET", "/assets/missing.js", 404, ""},
		{"GET", "/assets/../web.go", 404, ""},
		{"GET", "/assets/../../go.mod", 404, ""},
		{"GET", "/other", 404, ""},
		{"POST", "/", 405, ""},
	} {
		res := get(t, h, c.method, c.path)
		if res.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.status)
			continue
		}
		if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s %s: CSP %q", c.method, c.path, got)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", c.method, c.path)
		}
		if c.contentType != "" && res.Header.Get("Content-Type") != c.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.path, res.Header.Get("Content-Type"), c.contentType)
		}
	}
}

// TestPageIsSelfContained checks that the page loads only this origin's
// files, and that every file it names is embedded.
func TestPageIsSelfContained(t *testing.T) {
	h := Handler()
	page, _ := io.ReadAll(get(t, h, "GET", "/").Body)
	css, _ := io.ReadAll(get(t, h, "GET", "/assets/app.css").Body)
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 2 {
		t.Fatalf("the page names %d files: %s", len(refs), page)
	}
	for _, r := range refs {
		if strings.HasPrefix(r[1], "#/") {
			continue // a route of the console
		}
		if !strings.HasPrefix(r[1], "/assets/") {
			t.Errorf("the page loads %q from outside /assets/", r[1])
			continue
		}
		if res := get(t, h, "GET", r[1]); res.StatusCode != 200 {
			t.Errorf("the page names %s, which answers %d", r[1], res.StatusCode)
		}
	}
	if regexp.MustCompile(`(?i)url\(\s*['"]?(https?:)?//|@import|@font-face`).Match(css) {
		t.Error("app.css loads something from elsewhere (a URL, an import or a web font)")
	}
	if regexp.MustCompile(`<script>|<style>|\son[a-z]+=`).Match(page) {
		t.Error("the page has inline script, style or event handlers, which its CSP forbids")
	}
}
