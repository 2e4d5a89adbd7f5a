package websdk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// metaProjects resolves tokens straight from the store (the app puts its
// token cache in between).
type metaProjects struct{ m meta.Store }

func (p metaProjects) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	pr, err := p.m.ProjectByToken(ctx, token)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return pr.ID, true, nil
}

type fixture struct {
	t     *testing.T
	meta  *sqlite.Store
	h     *Handler
	token string
	id    int64
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, _, err := m.CreateProject(context.Background(), "web", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, meta: m, h: NewHandler(metaProjects{m}, m, opts...), token: p.Token, id: p.ID}
}

// do sends a request from a page on another site, as a browser would.
func (f *fixture) do(method, target string, body []byte, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.doFrom("", method, target, body, header...)
}

// doFrom is do from the address remote ("": httptest's 192.0.2.1:1234);
// header "Origin", "" sends no Origin (a server).
func (f *fixture) doFrom(remote, method, target string, body []byte, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if remote != "" {
		r.RemoteAddr = remote
	}
	r.Header.Set("Origin", "https://shop.example")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			r.Header.Del(header[i])
			continue
		}
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *fixture) setSettings(s meta.SDKSettings) {
	f.t.Helper()
	raw, _ := json.Marshal(s)
	if err := f.meta.SetSetting(context.Background(), f.id, meta.SettingSDK, raw); err != nil {
		f.t.Fatal(err)
	}
	f.h.settings.entries = map[int64]cachedSettings{} // as if the cache had expired
}

func wantCORS(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "https://shop.example" && got != "*" {
		t.Fatalf("status %d: Access-Control-Allow-Origin %q, want the origin or *", w.Code, got)
	}
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	wantCORS(t, w)
}

// TestRoutesMountable mounts Routes on a mux next to a catch-all, as the
// app does (a pattern conflict would panic).
func TestRoutesMountable(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	for _, r := range Routes {
		mux.Handle(r, f.h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for path, want := range map[string]int{
		"/static/array.js": 200, "/static/app.js": http.StatusTeapot, "/flags/definitions": http.StatusUnauthorized,
		"/flags/definitions/x": http.StatusTeapot, "/ofrep/v1/evaluate/flags/x": http.StatusMethodNotAllowed,
		"/flags/?v=2&token=" + f.token: 200, "/array/" + f.token + "/config": 200,
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}

func TestAssets(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"array.js", "array.full.js", "loader.js", "surveys.js", "web-vitals.js",
		"web-vitals-with-attribution.js", "dead-clicks-autocapture.js", "exception-autocapture.js"} {
		w := f.do("GET", "/static/"+name+"?v=1.449.2", nil)
		wantStatus(t, w, 200)
		if ct := w.Header().Get("Content-Type"); ct != "application/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != cacheUnversioned {
			t.Errorf("%s: Cache-Control %q", name, cc)
		}
		if w.Body.Len() < 1000 || !bytes.Equal(w.Body.Bytes(), asset(name).body) {
			t.Errorf("%s: body of %d bytes, not the bundle", name, w.Body.Len())
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", name)
		}
		if w := f.do("GET", "/static/"+name, nil, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("%s: If-None-Match answered %d with %d bytes, want 304", name, w.Code, w.Body.Len())
		}
		if w := f.do("GET", "/static/"+name, nil, "If-None-Match", `"other", W/`+etag); w.Code != http.StatusNotModified {
			t.Errorf("%s: weak tag in a list answered %d, want 304", name, w.Code)
		}
	}
	if w := f.do("GET", "/static/"+PostHogJSVersion+"/array.js", nil); w.Code != 200 || w.Header().Get("Cache-Control") != cacheVersioned {
		t.Errorf("exact-version path: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	if w := f.do("GET", "/static/1/array.js", nil); w.Code != 200 || w.Header().Get("Cache-Control") != cacheUnversioned {
		t.Errorf("major-version path: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
}

func TestAssetGzipHeadAndMethods(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", "/static/array.js", nil, "Accept-Encoding", "br, gzip")
	wantStatus(t, w, 200)
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, asset("array.js").body) {
		t.Fatal("gzipped body is not array.js")
	}
	if w := f.do("GET", "/static/array.js", nil, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still got gzip")
	}
	head := f.do("HEAD", "/static/array.js", nil)
	wantStatus(t, head, 200)
	if head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d bytes, Content-Length %q", head.Body.Len(), head.Header().Get("Content-Length"))
	}
	pre := f.do("OPTIONS", "/static/array.js", nil, "Access-Control-Request-Method", "GET")
	wantStatus(t, pre, http.StatusNoContent)
	wantStatus(t, f.do("POST", "/static/array.js", nil), http.StatusMethodNotAllowed)
}

// TestVendoredBundles checks the embedded files against the package's own
// SRI hashes (integrity.json) and version, so a hand edit or a half-done
// upgrade fails here.
func TestVendoredBundles(t *testing.T) {
	version, err := vendored.ReadFile(vendoredDir + "/VERSION")
	if err != nil || strings.TrimSpace(string(version)) != PostHogJSVersion {
		t.Fatalf("vendored VERSION %q (%v), PostHogJSVersion %q: rerun scripts/vendor-sdk.sh", version, err, PostHogJSVersion)
	}
	raw, err := vendored.ReadFile(vendoredDir + "/integrity.json")
	if err != nil {
		t.Fatal(err)
	}
	var integrity struct {
		Version string            `json:"version"`
		Files   map[string]string `json:"files"`
	}
	if err := json.Unmarshal(raw, &integrity); err != nil || integrity.Version != PostHogJSVersion {
		t.Fatalf("integrity.json: version %q, %v", integrity.Version, err)
	}
	for _, name := range assetNames() {
		sum := sha512.Sum384(asset(name).body)
		if got := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity.Files[name] {
			t.Errorf("%s: %s, the package says %q", name, got, integrity.Files[name])
		}
	}
	if len(assetNames()) < 10 {
		t.Errorf("only %d bundles embedded: %v", len(assetNames()), assetNames())
	}
}

// remoteConfigFromScript runs nothing: it reads config.js's one JSON
// object back, which is all the script assigns.
var configRe = regexp.MustCompile(`(?s)window\._POSTHOG_REMOTE_CONFIG\[("[^"]*")\] = \{\s*config: (\{.*\}),\s*siteApps: \[\]`)

func TestRemoteConfigDefaults(t *testing.T) {
	f := newFixture(t)
	js := f.do("GET", "/array/"+f.token+"/config.js", nil)
	wantStatus(t, js, 200)
	if ct := js.Header().Get("Content-Type"); ct != "application/javascript; charset=utf-8" {
		t.Errorf("config.js Content-Type %q", ct)
	}
	if !strings.Contains(js.Body.String(), "window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};") {
		t.Fatalf("config.js does not set up the global:\n%s", js.Body.String())
	}
	m := configRe.FindStringSubmatch(js.Body.String())
	if m == nil {
		t.Fatalf("config.js has no config for the token:\n%s", js.Body.String())
	}
	var tok string
	if json.Unmarshal([]byte(m[1]), &tok); tok != f.token {
		t.Errorf("config.js sets token %s, want %q", m[1], f.token)
	}
	fromJS := decodeMap(t, []byte(m[2]))
	j := f.do("GET", "/array/"+f.token+"/config", nil)
	wantStatus(t, j, 200)
	fromJSON := decodeMap(t, j.Body.Bytes())
	if a, b := mustJSON(fromJS), mustJSON(fromJSON); a != b {
		t.Errorf("config.js and config differ:\n%s\n%s", a, b)
	}
	want := map[string]any{
		"supportedCompression": []any{"gzip", "gzip-js"}, "autocapture_opt_out": false, "hasFeatureFlags": false,
		"sessionRecording": false, "surveys": false, "heatmaps": false, "captureDeadClicks": true,
		"autocaptureExceptions": true, "elementsChainAsString": true, "siteApps": []any{},
		"capturePerformance": map[string]any{"network_timing": true, "web_vitals": true, "web_vitals_allowed_metrics": nil},
	}
	for k, v := range want {
		if mustJSON(fromJSON[k]) != mustJSON(v) {
			t.Errorf("config %s = %s, want %s", k, mustJSON(fromJSON[k]), mustJSON(v))
		}
	}
	arr := f.do("GET", "/array/"+f.token+"/array.js", nil)
	wantStatus(t, arr, 200)
	if !strings.HasPrefix(arr.Body.String(), js.Body.String()) || !strings.HasSuffix(arr.Body.String(), string(asset("array.js").body)) {
		t.Error("/array/{token}/array.js is not config.js followed by array.js")
	}
}

func TestRemoteConfigFollowsSettings(t *testing.T) {
	f := newFixture(t)
	f.setSettings(meta.SDKSettings{Autocapture: false, CapturePerformance: false, Heatmaps: true, DeadClicks: false, Exceptions: false, IP: meta.IPDrop})
	c := decodeMap(t, f.do("GET", "/array/"+f.token+"/config", nil).Body.Bytes())
	for k, v := range map[string]any{"autocapture_opt_out": true, "capturePerformance": false, "heatmaps": true,
		"captureDeadClicks": false, "autocaptureExceptions": false} {
		if mustJSON(c[k]) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, mustJSON(c[k]), mustJSON(v))
		}
	}
	if et := c["errorTracking"].(map[string]any); et["autocaptureExceptions"] != false {
		t.Errorf("errorTracking %v", et)
	}
}

func TestSettingsCached(t *testing.T) {
	f := newFixture(t)
	first := decodeMap(t, f.do("GET", "/array/"+f.token+"/config", nil).Body.Bytes())
	raw, _ := json.Marshal(meta.SDKSettings{Autocapture: false, IP: meta.IPKeep})
	f.meta.SetSetting(context.Background(), f.id, meta.SettingSDK, raw)
	cached := decodeMap(t, f.do("GET", "/array/"+f.token+"/config", nil).Body.Bytes())
	if cached["autocapture_opt_out"] != first["autocapture_opt_out"] {
		t.Fatal("the settings were read again within their TTL")
	}
	c := newSettingsCache(f.meta, settingsTTL, 1)
	if _, err := c.get(context.Background(), f.id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(context.Background(), f.id+1); err != nil {
		t.Fatal(err)
	}
	if len(c.entries) != 1 {
		t.Errorf("cache bounded at 1 holds %d entries", len(c.entries))
	}
}

func TestUnknownToken(t *testing.T) {
	f := newFixture(t)
	js := f.do("GET", "/array/nope/config.js", nil)
	wantStatus(t, js, http.StatusNotFound)
	if !strings.HasPrefix(js.Header().Get("Content-Type"), "application/javascript") || strings.Contains(js.Body.String(), "_POSTHOG_REMOTE_CONFIG") {
		t.Errorf("config.js for an unknown token: %q %q", js.Header().Get("Content-Type"), js.Body.String())
	}
	j := f.do("GET", "/array/nope/config", nil)
	wantStatus(t, j, http.StatusNotFound)
	decodeMap(t, j.Body.Bytes())
	wantStatus(t, f.do("GET", "/array/nope/array.js", nil), http.StatusNotFound)
	fl := f.do("POST", "/flags/?v=2", []byte(`{"token":"nope","distinct_id":"u"}`), "Content-Type", "application/json")
	wantStatus(t, fl, http.StatusUnauthorized)
	if decodeMap(t, fl.Body.Bytes())["type"] != "authentication_error" {
		t.Errorf("flags 401 body %s", fl.Body.String())
	}
	wantStatus(t, f.do("POST", "/flags/?v=2", []byte(`{"distinct_id":"u"}`)), http.StatusUnauthorized)
}

func TestPreflightsAndMethods(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/flags/?v=2", "/flags", "/decide/", "/array/" + f.token + "/config", "/array/" + f.token + "/config.js", "/array/nope/config"} {
		w := f.do("OPTIONS", path, nil, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
		wantStatus(t, w, http.StatusNoContent)
		if w.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" || w.Header().Get("Access-Control-Allow-Headers") != "content-type" ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight %s: %v", path, w.Header())
		}
	}
	wantStatus(t, f.do("DELETE", "/flags/", nil), http.StatusMethodNotAllowed)
	wantStatus(t, f.do("POST", "/array/"+f.token+"/config", nil), http.StatusMethodNotAllowed)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestFlagsEncodings sends the same request in every encoding the SDKs
// use; each gets the empty v2 answer.
func TestFlagsEncodings(t *testing.T) {
	f := newFixture(t)
	body := []byte(`{"token":"` + f.token + `","distinct_id":"u1","groups":{},"person_properties":{"$lib":"web"}}`)
	b64 := base64.StdEncoding.EncodeToString(body)
	cases := []struct {
		name, method, target string
		body                 []byte
		header               []string
	}{
		{"json", "POST", "/flags/?v=2", body, []string{"Content-Type", "application/json"}},
		{"gzip-js text/plain", "POST", "/flags/?v=2&compression=gzip-js&ver=1.449.2", gz(body), []string{"Content-Type", "text/plain"}},
		{"content-encoding gzip", "POST", "/flags?v=2", gz(body), []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}},
		{"base64 form", "POST", "/flags/?v=2&compression=base64", []byte("data=" + url.QueryEscape(b64)), []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"base64 form as text/plain", "POST", "/flags/?v=2", []byte("data=" + b64), []string{"Content-Type", "text/plain"}},
		{"bare base64", "POST", "/flags/?v=2", []byte(b64), nil},
		{"GET data", "GET", "/flags/?v=2&data=" + url.QueryEscape(b64), nil, nil},
		{"GET token", "GET", "/flags/?v=2&token=" + f.token, nil, nil},
		{"config=true", "POST", "/flags/?v=2&config=true", body, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := f.do(c.method, c.target, c.body, c.header...)
			wantStatus(t, w, 200)
			m := decodeMap(t, w.Body.Bytes())
			if mustJSON(m["flags"]) != "{}" || m["errorsWhileComputingFlags"] != false || m["requestId"] == "" || m["evaluatedAt"] == nil {
				t.Fatalf("answer %s", w.Body.String())
			}
			if _, legacy := m["featureFlags"]; legacy {
				t.Errorf("v2 answer has featureFlags: %s", w.Body.String())
			}
			_, hasConfig := m["supportedCompression"]
			if hasConfig != strings.Contains(c.target, "config=true") {
				t.Errorf("config fields present: %v, asked: %v", hasConfig, strings.Contains(c.target, "config=true"))
			}
		})
	}
}

func TestFlagsLegacyShapes(t *testing.T) {
	f := newFixture(t)
	body := []byte(`{"token":"` + f.token + `","distinct_id":42}`)
	for target, wantConfig := range map[string]bool{"/flags": false, "/flags/?config=true": true, "/decide/?v=3": true, "/decide": true} {
		w := f.do("POST", target, body)
		wantStatus(t, w, 200)
		m := decodeMap(t, w.Body.Bytes())
		if mustJSON(m["featureFlags"]) != "{}" || mustJSON(m["featureFlagPayloads"]) != "{}" || m["errorsWhileComputingFlags"] != false {
			t.Errorf("%s: %s", target, w.Body.String())
		}
		if _, ok := m["flags"]; ok {
			t.Errorf("%s: legacy answer has flags", target)
		}
		if _, ok := m["autocapture_opt_out"]; ok != wantConfig {
			t.Errorf("%s: config fields %v, want %v", target, ok, wantConfig)
		}
	}
	w := f.do("POST", "/decide/?v=4", body)
	if m := decodeMap(t, w.Body.Bytes()); mustJSON(m["flags"]) != "{}" {
		t.Errorf("/decide/?v=4 answers %s, want the flags shape", w.Body.String())
	}
}

func TestFlagsBadBodies(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct {
		body   []byte
		header []string
		status int
	}{
		"not json":        {[]byte(`{"token":`), nil, 400},
		"array":           {[]byte(`[1]`), nil, 400},
		"bad gzip header": {[]byte(`{}`), []string{"Content-Encoding", "gzip"}, 400},
		"bad token type":  {[]byte(`{"token":{}}`), nil, 400},
		"bad groups":      {[]byte(`{"token":"` + f.token + `","groups":[1]}`), nil, 400},
		// An unknown token is refused before the body is decoded.
		"unknown token, bad groups": {[]byte(`{"token":"x","groups":[1]}`), nil, 401},
		"form without data":         {[]byte(`a=1`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 400},
		"too large":                 {bytes.Repeat([]byte(" "), maxFlagsBody+1), nil, 413},
		"gzip bomb":                 {gz(bytes.Repeat([]byte(" "), maxFlagsBody+1)), nil, 413},
	} {
		w := f.do("POST", "/flags/?v=2", c.body, c.header...)
		if w.Code != c.status {
			t.Errorf("%s: %d, want %d (%s)", name, w.Code, c.status, w.Body.String())
		}
		wantCORS(t, w)
		if m := decodeMap(t, w.Body.Bytes()); m["error"] == "" {
			t.Errorf("%s: no error message", name)
		}
	}
}

func TestSnippet(t *testing.T) {
	s := Snippet(`jpt_a"<b`, "https://journey.example/")
	if !strings.Contains(s, `src="https://journey.example/static/loader.js?project_token=jpt_a%22%3Cb"`) ||
		!strings.Contains(s, `data-api-host="https://journey.example"`) || !strings.Contains(s, PostHogJSVersion) {
		t.Errorf("snippet:\n%s", s)
	}
	if asset("loader.js") == nil {
		t.Error("the snippet's loader.js is not embedded")
	}
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestFlagsDecodesBounded: past the decodes running at once, /flags
// answers 429 (with CORS) at once instead of holding more memory before
// the token is known; it answers again once a slot frees. One client
// holds at most its share of the slots (a flood from a few addresses
// starved every tenant): past it, that client is refused, others not.
func TestFlagsDecodesBounded(t *testing.T) {
	f := newFixture(t)
	body := []byte(`{"token":"` + f.token + `","distinct_id":"d"}`)
	var held []client
	for i := 0; i < maxDecodes; i++ {
		c := client{key: fmt.Sprint("other-", i)}
		if !f.h.decodes.acquire(c) {
			t.Fatalf("slot %d", i)
		}
		held = append(held, c)
	}
	w := f.do("POST", "/flags/?v=2", body)
	wantStatus(t, w, http.StatusTooManyRequests)
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	for _, c := range held {
		f.h.decodes.release(c)
	}
	wantStatus(t, f.do("POST", "/flags/?v=2", body), http.StatusOK)

	// The fixture's requests come from 192.0.2.1 (httptest).
	me := client{key: "192.0.2.1"}
	for i := 0; i < DefaultClientLimits.Decodes; i++ {
		f.h.decodes.acquire(me)
	}
	wantStatus(t, f.do("POST", "/flags/?v=2", body), http.StatusTooManyRequests)
	wantStatus(t, f.doFrom("198.51.100.7:5000", "POST", "/flags/?v=2", body), http.StatusOK)
	for i := 0; i < DefaultClientLimits.Decodes; i++ {
		f.h.decodes.release(me)
	}
	if len(f.h.decodes.byClient) != 0 || f.h.decodes.inUse != 0 {
		t.Errorf("slots left taken: %d, clients remembered %v", f.h.decodes.inUse, f.h.decodes.byClient)
	}
}
