package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
)

// The feedback widget (issue 16 item 5): one script a customer's site
// embeds from Journey with a <script> tag, on any origin. Its own files,
// apart from the UI's: they are served with CORS (so that
// <script type="module"> or a fetch from another origin may load them too)
// and may be cached by browsers a while, unlike the UI's assets.

//go:embed widget
var widgetFS embed.FS

// widgetFiles are the widget's files by URL path: an allow-list, not a
// directory listing.
var widgetFiles = map[string]string{"/widget/feedback.js": "widget/feedback.js"}

var widgetAssets = sync.OnceValue(func() map[string]*asset {
	out := map[string]*asset{}
	for path, name := range widgetFiles {
		body, err := widgetFS.ReadFile(name)
		if err != nil {
			panic("cannot read the embedded widget " + name + ": " + err.Error()) // a build without it is broken
		}
		sum := sha256.Sum256(body)
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write(body)
		w.Close()
		out[path] = &asset{body: body, gz: b.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: "text/javascript; charset=utf-8"}
	}
	return out
})

// serveWidget answers GET /widget/{name} for the files of widgetFiles.
func serveWidget(w http.ResponseWriter, r *http.Request) {
	a, ok := widgetAssets()[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin") // pages with COEP may embed it
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", a.ctype)
	// Five minutes, then revalidate: a new Journey reaches sites soon.
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}
