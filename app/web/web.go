// Package web is tokentrail's web console: a static single-page app, built
// from src/ into dist/ (make web) and embedded in the binary, so the console
// works offline and needs no Node at run time. It signs in client-side with
// an API key and calls /api/v1 like any other client, with the same
// permissions; the files themselves need no key.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
)

//go:embed dist
var dist embed.FS

// ContentSecurityPolicy is sent with every console file: scripts, styles and
// API calls come from this origin only; nothing is framed or embedded; images
// may be data: or blob: URLs (the graph and chart draw on canvases, receipts
// are saved through blob URLs). The one inline style allowed, by its hash, is
// the rule Cytoscape.js inserts for its containers,
// ".__________cytoscape_container { position: relative; }"; the browser test
// fails on any CSP violation, so a library update that changes it is caught.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; " +
	"style-src 'self' 'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Cache-Control values. A file whose name carries its content hash never
// changes under that name: browsers keep it for a year without asking. The
// page, which names those files, and the few unhashed files are revalidated
// on every load against their ETag (a 304 costs no body).
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// hashed matches the names build.mjs gives content-hashed files:
// app-3F2A9C1B.js, favicon-0A1B2C3D.svg.
var hashed = regexp.MustCompile(`^[a-z]+-[A-Z0-9]{8}\.[a-z]+$`)

// file is one servable file with its precomputed headers.
type file struct {
	body, gz    []byte // gz is nil when there is no gzip twin
	contentType string
	etag        string // of body; the gzip variant's is etag with a suffix
	cache       string
}

// Handler serves the console: the page at "/" (and "/index.html") and its
// files under "/assets/". Anything else is 404. Only GET and HEAD are served.
// Files are sent gzip-compressed to clients that accept it (from the twins
// build.mjs wrote), with strong ETags and conditional GETs.
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		panic(err) // dist is embedded at build time: a broken tree cannot happen at run time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if p == "/" {
			p = "/index.html"
		}
		f, ok := files[p]
		if !ok || (p != "/index.html" && strings.HasSuffix(r.URL.Path, "/")) {
			h.Set("Cache-Control", cacheRevalidate)
			http.NotFound(w, r)
			return
		}
		body, etag := f.body, f.etag
		h.Set("Cache-Control", f.cache)
		h.Set("Content-Type", f.contentType)
		if f.gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Get("Accept-Encoding")) {
				body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		if match(r.Header.Get("If-None-Match"), etag) {
			h.Del("Content-Type")
			h.Del("Content-Encoding")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// load reads dist into servable files keyed by URL path: index.html and
// everything directly under assets/ except the gzip twins, which ride along.
func load() (map[string]*file, error) {
	files := map[string]*file{}
	add := func(name, urlPath string, cache string) error {
		body, err := fs.ReadFile(dist, "dist/"+name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		f := &file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, cache: cache}
		if gz, err := fs.ReadFile(dist, "dist/"+name+".gz"); err == nil && len(gz) < len(body) {
			f.gz = gz
		}
		files[urlPath] = f
		return nil
	}
	if err := add("index.html", "/index.html", cacheRevalidate); err != nil {
		return nil, err
	}
	files["/index.html"].contentType = "text/html; charset=utf-8"
	entries, err := fs.ReadDir(dist, "dist/assets")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".gz") {
			continue
		}
		cache := cacheRevalidate
		if hashed.MatchString(name) {
			cache = cacheImmutable
		}
		if err := add("assets/"+name, "/assets/"+name, cache); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Assets returns the URL paths of the page's files, the page first; for tests.
func Assets() []string {
	files, err := load()
	if err != nil {
		panic(err)
	}
	out := []string{"/index.html"}
	for p := range files {
		if p != "/index.html" {
			out = append(out, p)
		}
	}
	return out
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip (or *)
// with a non-zero quality.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// match reports whether an If-None-Match header names etag (or is "*").
func match(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
