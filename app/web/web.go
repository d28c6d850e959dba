// Package web is tokentrail's web console: a static single-page app, built
// from src/ into dist/ (make web) and embedded in the binary, so the console
// works offline and needs no Node at run time. It signs in client-side with
// an API key and calls /api/v1 like any other client, with the same
// permissions; the files themselves need no key.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
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

// Handler serves the console: the page at "/" (and "/index.html") and its
// files under "/assets/". Anything else is 404. Only GET and HEAD are served.
func Handler() http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time: a missing directory cannot happen at run time
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		panic(err)
	}
	assets := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// The files change with the binary and carry no version in their
		// names: browsers revalidate every time.
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		switch {
		case p == "/" || p == "/index.html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			if r.Method == http.MethodGet {
				_, _ = w.Write(index)
			}
		case strings.HasPrefix(p, "/assets/") && !strings.HasSuffix(r.URL.Path, "/"):
			if _, err := fs.Stat(root, strings.TrimPrefix(p, "/")); err != nil {
				http.NotFound(w, r)
				return
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = p
			assets.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
