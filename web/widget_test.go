package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestWidgetServed: /widget/feedback.js is the embedded file, as
// JavaScript any origin may load (CORS, CORP), cached a while and
// revalidated by ETag, gzipped on request; other names under /widget/
// are 404 (an allow-list), and the UI's assets keep their own headers.
func TestWidgetServed(t *testing.T) {
	h := Handler()
	want, err := os.ReadFile("widget/feedback.js")
	if err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "/widget/feedback.js")
	body, _ := io.ReadAll(res.Body)
	hd := res.Header
	if res.StatusCode != 200 || string(body) != string(want) || hd.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		hd.Get("Access-Control-Allow-Origin") != "*" || hd.Get("Cross-Origin-Resource-Policy") != "cross-origin" ||
		hd.Get("Cache-Control") != "public, max-age=300" || hd.Get("X-Frame-Options") != "" {
		t.Fatalf("/widget/feedback.js: %d %v (%d bytes, want %d)", res.StatusCode, hd, len(body), len(want))
	}
	if again := get(t, h, "/widget/feedback.js", "If-None-Match", hd.Get("ETag")); hd.Get("ETag") == "" || again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", again.StatusCode)
	}
	gz := get(t, h, "/widget/feedback.js", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(gz.Body)
	if err != nil || gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, gz.Header)
	}
	if plain, _ := io.ReadAll(zr); string(plain) != string(want) {
		t.Fatal("the gzipped widget is not the file")
	}
	for _, p := range []string{"/widget/", "/widget/other.js", "/widget/..%2fweb.go", "/widget/feedback.js.map"} {
		if r := get(t, h, p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
	if app := get(t, h, "/app.js"); app.Header.Get("Access-Control-Allow-Origin") != "" || app.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("the UI's assets changed headers: %v", app.Header)
	}
	// The script is a classic one (document.currentScript works only there)
	// with no import or export statement and no dependency.
	src := string(want)
	for _, bad := range []string{"\nimport ", "\nexport ", "require("} {
		if strings.Contains(src, bad) {
			t.Errorf("the widget contains %q", bad)
		}
	}
}
