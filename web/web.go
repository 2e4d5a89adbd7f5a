// Package web serves the embedded UI: a single page (index.html and its
// scripts) that talks to /ui/api. Hash routes keep the server side to two
// pages: the app at / and a read-only shared dashboard at /share/<token>.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the UI.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServer(http.FS(sub))
	index, _ := fs.ReadFile(sub, "index.html")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /share/{token}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Referrer-Policy", "no-referrer") // keep the token out of other sites' logs
		secure(w)
		w.Write(index)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		files.ServeHTTP(w, r)
	})
	return mux
}

// secure sets headers that stop the UI being framed or sniffed and limit
// scripts to the binary's own.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
}
