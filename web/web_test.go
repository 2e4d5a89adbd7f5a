package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

// TestAssets: the page, its scripts and the vendored chart library are
// served with the right types, gzipped on request, revalidated by ETag,
// with the security headers; share links get the page; unknown paths 404.
func TestAssets(t *testing.T) {
	h := Handler()
	page := get(t, h, "/")
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != 200 || !strings.Contains(string(body), "<html") || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") ||
		page.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(page.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/: %d %v", page.StatusCode, page.Header)
	}
	js := get(t, h, "/vendor/echarts-6.1.0.min.js", "Accept-Encoding", "gzip, br")
	if js.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(js.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("echarts: %v", js.Header)
	}
	zr, err := gzip.NewReader(js.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if len(plain) < 1_000_000 {
		t.Fatalf("echarts unzips to %d bytes", len(plain))
	}
	etag := js.Header.Get("ETag")
	if again := get(t, h, "/vendor/echarts-6.1.0.min.js", "If-None-Match", etag); etag == "" || again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with %q: %d", etag, again.StatusCode)
	}
	if plainJS := get(t, h, "/app.js"); plainJS.Header.Get("Content-Encoding") != "" || plainJS.StatusCode != 200 {
		t.Fatalf("app.js without Accept-Encoding: %v", plainJS.Header)
	}
	share := get(t, h, "/share/jsh_abc")
	if b, _ := io.ReadAll(share.Body); share.StatusCode != 200 || string(b) != string(body) || share.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("share page: %d %v", share.StatusCode, share.Header)
	}
	if nf := get(t, h, "/nope.js"); nf.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", nf.StatusCode)
	}
}
