package websdk

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// PostHogJSVersion is the posthog-js release vendored under
// static/posthog-js (scripts/vendor-sdk.sh; a test checks the two agree).
const PostHogJSVersion = "1.449.2"

// SegmentVersion is the @segment/analytics-next release Journey was
// tested with (it is loaded from Segment's CDN or npm, not from Journey).
const SegmentVersion = "1.84.3"

//go:embed static/posthog-js
var vendored embed.FS

const vendoredDir = "static/posthog-js"

// Caching: the loader asks for /static/array.js with no version in the
// URL, so unversioned bundles are kept a day and then revalidated by ETag
// (an upgrade of Journey reaches browsers within a day); the exact-version
// paths never change.
const (
	cacheUnversioned = "public, max-age=86400"
	cacheVersioned   = "public, max-age=31536000, immutable"
)

// bundle is one embedded file, gzipped on first demand (array.full.js
// takes ~30 ms), since most processes never serve most bundles.
type bundle struct {
	body []byte
	etag string
	gz   func() []byte
}

var bundles = sync.OnceValue(loadBundles)

func loadBundles() map[string]*bundle {
	entries, err := vendored.ReadDir(vendoredDir)
	if err != nil {
		panic("websdk: cannot read the embedded bundles: " + err.Error()) // the embed directive guarantees it
	}
	out := map[string]*bundle{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".js" {
			continue
		}
		body, err := vendored.ReadFile(vendoredDir + "/" + e.Name())
		if err != nil {
			panic("websdk: cannot read embedded bundle " + strconv.Quote(e.Name()) + ": " + err.Error())
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = &bundle{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, gz: sync.OnceValue(func() []byte { return gzipped(body) })}
	}
	return out
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: cannot fail
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// assetNames lists the embedded bundles, sorted.
func assetNames() []string {
	var names []string
	for n := range bundles() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func asset(name string) *bundle { return bundles()[name] }

// assetPaths are where a bundle is served: the plain path the loader and
// the extensions use, the exact-version path of strict_script_versioning,
// and the major-version pin PostHog's snippet docs describe.
func assetPaths(name string) []string {
	major, _, _ := strings.Cut(PostHogJSVersion, ".")
	return []string{"/static/" + name, "/static/" + PostHogJSVersion + "/" + name, "/static/" + major + "/" + name}
}

// serveAsset answers GET and HEAD with the bundle, 304 on a matching
// If-None-Match, and gzip when the browser takes it.
func serveAsset(b *bundle, versioned bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", b.etag)
		h.Add("Vary", "Accept-Encoding")
		if versioned {
			h.Set("Cache-Control", cacheVersioned)
		} else {
			h.Set("Cache-Control", cacheUnversioned)
		}
		if etagMatch(r.Header.Get("If-None-Match"), b.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := b.body
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = b.gz()
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	}
}

// etagMatch reads an If-None-Match list ("*", weak tags included: a 304
// only needs a weak match).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
