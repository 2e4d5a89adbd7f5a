// Package web serves the embedded UI: a single page (index.html and its
// scripts) that talks to /ui/api. Hash routes keep the server side to two
// pages: the app at / and a read-only shared dashboard at /share/<token>.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// asset is one embedded file, prepared once: embedded files have no
// modification time, so caching uses an ETag of the content, and the
// text assets (ECharts is 1.1 MB) are gzipped ahead of time.
type asset struct {
	body, gz    []byte
	etag, ctype string
}

// assets are prepared once per process, on first use: gzipping them costs
// ~80 ms, which every app start (and test) would otherwise pay.
var assets = sync.OnceValue(load)

func load() map[string]*asset {
	assets := map[string]*asset{}
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(p))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if strings.HasPrefix(a.ctype, "text/") || strings.Contains(a.ctype, "javascript") {
			var b bytes.Buffer
			w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			w.Write(body)
			w.Close()
			a.gz = b.Bytes()
		}
		assets[strings.TrimPrefix(p, "static")] = a
		return nil
	})
	return assets
}

// Handler serves the UI.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /widget/{name}", serveWidget) // widget.go: for customers' sites
	mux.HandleFunc("GET /share/{token}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer") // keep the token out of other sites' logs
		serve(w, r, assets()["/index.html"])
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/" {
			p = "/index.html"
		}
		a, ok := assets()[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serve(w, r, a)
	})
	return mux
}

// serve writes an asset with security headers, revalidation by ETag and
// gzip when the browser takes it.
func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache") // revalidate: a new binary may bring new assets
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.Write(body)
}
