package capture

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// settingsOf decodes the parts of a settings answer analytics-next reads.
type settingsOf struct {
	Integrations map[string]struct {
		APIKey   string `json:"apiKey"`
		APIHost  string `json:"apiHost"`
		Protocol string `json:"protocol"`
	} `json:"integrations"`
	Metrics struct {
		SampleRate *float64 `json:"sampleRate"`
	} `json:"metrics"`
	RemotePlugins             []any           `json:"remotePlugins"`
	EnabledMiddleware         map[string]bool `json:"enabledMiddleware"`
	LegacyVideoPluginsEnabled *bool           `json:"legacyVideoPluginsEnabled"`
	AnalyticsNextEnabled      bool            `json:"analyticsNextEnabled"`
	Plan                      map[string]any  `json:"plan"`
	EdgeFunction              map[string]any  `json:"edgeFunction"`
}

func TestSegmentSettings(t *testing.T) {
	h, _ := newTestHandler(Options{})
	for _, path := range []string{"/v1/projects/tok_a/settings", "/v1/projects/tok_a/settings/"} {
		w := call(h, "GET", path, nil, "Origin: https://shop.example")
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" {
			t.Fatalf("%s: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
		if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != settingsMaxAge {
			t.Fatalf("%s: headers %v", path, w.Header())
		}
		var s settingsOf
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		seg := s.Integrations["Segment.io"]
		if len(s.Integrations) != 1 || seg.APIKey != "tok_a" || seg.APIHost != "example.com/v1" || seg.Protocol != "http" {
			t.Fatalf("integrations = %+v", s.Integrations)
		}
		// Nothing else for analytics-next to fetch, and no metrics to api.segment.io.
		if s.Metrics.SampleRate == nil || *s.Metrics.SampleRate != 0 || s.RemotePlugins == nil || len(s.RemotePlugins) != 0 ||
			len(s.EnabledMiddleware) != 0 || s.LegacyVideoPluginsEnabled == nil || *s.LegacyVideoPluginsEnabled ||
			!s.AnalyticsNextEnabled || s.Plan["track"] == nil || s.EdgeFunction == nil {
			t.Fatalf("settings = %s", w.Body)
		}
	}
	if w := call(h, "HEAD", "/v1/projects/tok_a/settings", nil); w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD: %d %v", w.Code, w.Header())
	}
}

func TestSegmentSettingsErrors(t *testing.T) {
	h, _ := newTestHandler(Options{})
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/projects/nope/settings", 404},
		{"OPTIONS", "/v1/projects/tok_a/settings", 204},
		{"OPTIONS", "/v1/projects/nope/settings", 204},
		{"POST", "/v1/projects/tok_a/settings", 405},
		{"GET", "/v1/projects/tok_a", 404},
		{"GET", "/v1/projects//settings", 404},
		{"GET", "/v1/projects/a/b/settings", 404},
		{"GET", "/v1/projects", 404},
	}
	for _, c := range cases {
		w := call(h, c.method, c.path, nil, "Origin: https://shop.example", "Access-Control-Request-Headers: content-type")
		if w.Code != c.status || w.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" {
			t.Errorf("%s %s = %d (CORS %q), want %d with CORS", c.method, c.path, w.Code, w.Header().Get("Access-Control-Allow-Origin"), c.status)
		}
		if c.status == 405 && w.Header().Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, w.Header().Get("Allow"))
		}
	}
	broken := NewHandler(failingProjects{}, &recSink{}, Options{})
	if w := call(broken, "GET", "/v1/projects/tok_a/settings", nil); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("lookup failure: %d %v", w.Code, w.Header())
	}
}

// TestSegmentSettingsHost: apiHost names the host the browser used; only a
// trusted proxy may say what that was.
func TestSegmentSettingsHost(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, peer         string
		tls                bool
		proto, fwdHost     string
		wantProto, wantAPI string
	}{
		{"direct", "192.0.2.1:5000", false, "", "", "http", "journey.test:8000/v1"},
		{"direct TLS", "192.0.2.1:5000", true, "", "", "https", "journey.test:8000/v1"},
		{"untrusted forwarder", "192.0.2.1:5000", false, "https", "evil.example", "http", "journey.test:8000/v1"},
		{"trusted proxy", "10.1.2.3:5000", false, "https", "t.example.com", "https", "t.example.com/v1"},
		{"trusted proxy, lists", "10.1.2.3:5000", false, "HTTPS, http", "t.example.com, inner:8000", "https", "t.example.com/v1"},
		{"trusted proxy, only proto", "10.1.2.3:5000", false, "https", "", "https", "journey.test:8000/v1"},
		{"trusted proxy, bad values", "10.1.2.3:5000", false, "javascript", "a.example/x?y", "http", "journey.test:8000/v1"},
		{"trusted proxy, IPv6 host", "10.1.2.3:5000", false, "", "[2001:db8::1]:8443", "http", "[2001:db8::1]:8443/v1"},
	}
	h, _ := newTestHandler(Options{TrustedProxies: proxy})
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://journey.test:8000/v1/projects/tok_a/settings", nil)
		r.RemoteAddr = c.peer
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if c.fwdHost != "" {
			r.Header.Set("X-Forwarded-Host", c.fwdHost)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var s settingsOf
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
		}
		if seg := s.Integrations["Segment.io"]; seg.Protocol != c.wantProto || seg.APIHost != c.wantAPI {
			t.Errorf("%s: %s://%s, want %s://%s", c.name, seg.Protocol, seg.APIHost, c.wantProto, c.wantAPI)
		}
	}
}

// TestRoutesMountSettings mounts Routes as internal/app does and reaches
// the settings route through the mux.
func TestRoutesMountSettings(t *testing.T) {
	h, _ := newTestHandler(Options{})
	mux := http.NewServeMux()
	for _, route := range Routes {
		mux.Handle(route, h)
		mux.Handle(route+"/", h)
	}
	mux.Handle("/", http.NotFoundHandler())
	w := call(mux, "GET", "/v1/projects/tok_a/settings", nil)
	if w.Code != 200 {
		t.Fatalf("through the mux: %d %s", w.Code, w.Body)
	}
}

// FuzzSegmentSettings: whatever the path and forwarded headers (from a
// trusted proxy), the answer is 200 with settings whose apiHost is a bare
// host plus /v1 and whose protocol is http or https, or a 4xx; never a
// panic.
func FuzzSegmentSettings(f *testing.F) {
	f.Add("/v1/projects/tok_a/settings", "https", "t.example.com")
	f.Add("/v1/projects/tok_a/settings/", "HTTP, https", "a.example/x?y, b")
	f.Add("/v1/projects/tok_a%2Fx/settings", "", "[::1]:80")
	f.Add("/v1/projects//settings", "javascript:", "évil.example")
	h, _ := newTestHandler(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	f.Fuzz(func(t *testing.T, path, proto, host string) {
		r, err := http.NewRequest("GET", "http://journey.test", nil)
		if err != nil {
			return // not a request a client could send
		}
		r.URL.Path, r.RemoteAddr = path, "10.0.0.1:1"
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			if w.Code < 400 || w.Code > 499 {
				t.Fatalf("%q: status %d", path, w.Code)
			}
			return
		}
		var s settingsOf
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatalf("%q: %v: %s", path, err, w.Body)
		}
		seg := s.Integrations["Segment.io"]
		hostPart, ok := strings.CutSuffix(seg.APIHost, "/v1")
		if !ok || !validHost(hostPart) || seg.APIKey != "tok_a" || (seg.Protocol != "http" && seg.Protocol != "https") {
			t.Fatalf("%q %q %q: settings %+v", path, proto, host, seg)
		}
	})
}
