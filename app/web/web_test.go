package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

// asset finds the served path of a built file by its prefix and extension
// (the name carries a content hash).
func asset(t *testing.T, prefix, ext string) string {
	t.Helper()
	for _, p := range Assets() {
		if strings.HasPrefix(p, "/assets/"+prefix) && strings.HasSuffix(p, ext) {
			return p
		}
	}
	t.Fatalf("no built file /assets/%s*%s in %v", prefix, ext, Assets())
	return ""
}

func TestHandler(t *testing.T) {
	h := Handler()
	js, css, icon := asset(t, "app-", ".js"), asset(t, "app-", ".css"), asset(t, "favicon-", ".svg")
	for _, c := range []struct {
		method, path string
		status       int
		contentType  string
		cache        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "no-cache"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"GET", js, 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"GET", css, 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"GET", icon, 200, "image/svg+xml", "public, max-age=31536000, immutable"},
		{"GET", "/assets/THIRD-PARTY-LICENSES.txt", 200, "text/plain; charset=utf-8", "no-cache"},
		{"GET", "/assets/app.js", 404, "", ""},
		{"GET", js + ".gz", 404, "", ""},
		{"GET", "/assets/", 404, "", ""},
		{"GET", "/assets/missing.js", 404, "", ""},
		{"GET", "/assets/../web.go", 404, "", ""},
		{"GET", "/assets/../../go.mod", 404, "", ""},
		{"GET", "/other", 404, "", ""},
		{"POST", "/", 405, "", ""},
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
		if c.cache != "" && res.Header.Get("Cache-Control") != c.cache {
			t.Errorf("%s %s: Cache-Control %q, want %q", c.method, c.path, res.Header.Get("Cache-Control"), c.cache)
		}
		if c.status == 200 && res.Header.Get("ETag") == "" {
			t.Errorf("%s %s: no ETag", c.method, c.path)
		}
	}
}

// TestCompressionAndRevalidation checks that the bundle is sent gzipped to
// clients that accept it (and decompresses to the plain file), plain to
// others, and that a matching If-None-Match answers 304 without a body.
func TestCompressionAndRevalidation(t *testing.T) {
	h := Handler()
	js := asset(t, "app-", ".js")
	plainRes := get(t, h, "GET", js)
	plain, _ := io.ReadAll(plainRes.Body)
	if plainRes.Header.Get("Content-Encoding") != "" || len(plain) < 100_000 {
		t.Fatalf("without Accept-Encoding: encoding %q, %d bytes", plainRes.Header.Get("Content-Encoding"), len(plain))
	}
	for _, ae := range []string{"gzip", "gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "*"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", js, nil)
		req.Header.Set("Accept-Encoding", ae)
		h.ServeHTTP(rec, req)
		res := rec.Result()
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, Vary %q", ae, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plain) {
			t.Fatalf("Accept-Encoding %q: the gzip body does not decompress to the file (%v)", ae, err)
		}
		if n, _ := strconv.Atoi(res.Header.Get("Content-Length")); n*2 > len(plain) || n == 0 {
			t.Fatalf("gzip body is %d bytes for %d plain", n, len(plain))
		}
		if res.Header.Get("ETag") == plainRes.Header.Get("ETag") {
			t.Fatal("the gzip and plain variants share an ETag")
		}
	}
	for _, ae := range []string{"identity", "gzip;q=0", "br"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", js, nil)
		req.Header.Set("Accept-Encoding", ae)
		h.ServeHTTP(rec, req)
		if enc := rec.Result().Header.Get("Content-Encoding"); enc != "" {
			t.Errorf("Accept-Encoding %q: answered %q", ae, enc)
		}
	}
	for _, p := range []string{"/", js} {
		etag := get(t, h, "GET", p).Header.Get("ETag")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("If-None-Match", etag)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET %s with If-None-Match %s: %d, %d bytes", p, etag, rec.Code, rec.Body.Len())
		}
		rec = httptest.NewRecorder()
		req = httptest.NewRequest("GET", p, nil)
		req.Header.Set("If-None-Match", `"stale"`)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s with a stale ETag: %d", p, rec.Code)
		}
	}
}

// TestPageIsSelfContained checks that the page loads only this origin's
// files, and that every file it names is embedded.
func TestPageIsSelfContained(t *testing.T) {
	h := Handler()
	page, _ := io.ReadAll(get(t, h, "GET", "/").Body)
	css, _ := io.ReadAll(get(t, h, "GET", asset(t, "app-", ".css")).Body)
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 3 {
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
