package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/posthog/posthog-go"
)

// testApp starts the embedded stack on a temporary data dir behind an
// httptest server.
type testApp struct {
	*App
	URL string
	t   *testing.T
}

const testAdminKey = "test-admin-key-0123456789"

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	return newTestAppWith(t, Config{})
}

// newTestAppWith starts the app with cfg's stores (DataDir, admin key and
// no-sync are filled in).
func newTestAppWith(t *testing.T, cfg Config) *testApp {
	t.Helper()
	cfg.DataDir, cfg.AdminKey, cfg.NoSync = t.TempDir(), testAdminKey, true
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &testApp{App: a, URL: srv.URL, t: t}
}

type project struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Token     string `json:"token"`
	SecretKey string `json:"secret_key"`
}

func (ta *testApp) do(method, path, key string, body any) (int, []byte) {
	ta.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ta.URL+path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (ta *testApp) project(name string) project {
	ta.t.Helper()
	code, body := ta.do("POST", "/api/v1/projects", testAdminKey, map[string]string{"name": name, "timezone": "UTC"})
	if code != 201 {
		ta.t.Fatalf("create project: %d %s", code, body)
	}
	var p project
	if err := json.Unmarshal(body, &p); err != nil || p.Token == "" || p.SecretKey == "" || p.ID == 0 || p.Name != name {
		ta.t.Fatalf("create project answered %s (%v)", body, err)
	}
	return p
}

func (ta *testApp) sync() {
	ta.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ta.Loader.Sync(ctx); err != nil {
		ta.t.Fatal(err)
	}
}

type person struct {
	ID          int64          `json:"id"`
	DistinctIDs []string       `json:"distinct_ids"`
	Properties  map[string]any `json:"properties"`
}

func (ta *testApp) person(key, distinctID string) (person, int) {
	ta.t.Helper()
	code, body := ta.do("GET", "/api/v1/persons/by-distinct-id/"+distinctID, key, nil)
	var p person
	if code == 200 {
		if err := json.Unmarshal(body, &p); err != nil {
			ta.t.Fatal(err)
		}
		sort.Strings(p.DistinctIDs)
	}
	return p, code
}

// trend runs a one-series daily trend and returns the values.
func (ta *testApp) trend(key, event, math string, from, to time.Time) []float64 {
	ta.t.Helper()
	code, body := ta.do("POST", "/api/v1/query", key, map[string]any{
		"kind": "trend", "series": []map[string]string{{"event": event, "math": math}}, "interval": "day",
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	})
	if code != 200 {
		ta.t.Fatalf("trend: %d %s", code, body)
	}
	var res struct {
		Kind   string `json:"kind"`
		Series []struct {
			Label  string `json:"label"`
			Points []struct {
				T     string  `json:"t"`
				Value float64 `json:"value"`
			} `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Kind != "trend" || len(res.Series) != 1 {
		ta.t.Fatalf("trend answered %s", body)
	}
	var out []float64
	for _, p := range res.Series[0].Points {
		out = append(out, p.Value)
	}
	return out
}

func TestPostHogGoSDK(t *testing.T) {
	ta := newTestApp(t)
	p := ta.project("shop")
	client, err := posthog.NewWithConfig(p.Token, posthog.Config{Endpoint: ta.URL, BatchSize: 50, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Minute) }
	msgs := []posthog.Message{
		posthog.Capture{DistinctId: "anon-1", Event: "$pageview", Timestamp: at(1), Properties: posthog.NewProperties().Set("utm_source", "ads")},
		posthog.Capture{DistinctId: "anon-1", Event: "product_viewed", Timestamp: at(2)},
		posthog.Capture{DistinctId: "anon-2", Event: "$pageview", Timestamp: at(3)},
		posthog.Identify{DistinctId: "user-1", Timestamp: at(4), Properties: posthog.NewProperties().Set("email", "u1@example.com")},
		posthog.Alias{DistinctId: "user-1", Alias: "anon-1", Timestamp: at(5)},
		posthog.Capture{DistinctId: "user-1", Event: "$pageview", Timestamp: at(6)},
		posthog.GroupIdentify{Type: "company", Key: "acme", Properties: posthog.NewProperties().Set("plan", "pro"), Timestamp: at(7)},
	}
	for i := 0; i < 120; i++ { // more than one SDK batch
		msgs = append(msgs, posthog.Capture{DistinctId: fmt.Sprintf("bulk-%d", i%40), Event: "bulk", Timestamp: at(10)})
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	ta.sync()
	got, code := ta.person(p.SecretKey, "anon-1")
	if code != 200 {
		t.Fatalf("person lookup: %d", code)
	}
	if !reflect.DeepEqual(got.DistinctIDs, []string{"anon-1", "user-1"}) || got.Properties["email"] != "u1@example.com" {
		t.Fatalf("person = %+v", got)
	}
	from, to := day, day.AddDate(0, 0, 1)
	if v := ta.trend(p.SecretKey, "$pageview", "total", from, to); !reflect.DeepEqual(v, []float64{3}) {
		t.Fatalf("$pageview total = %v, want [3]", v)
	}
	if v := ta.trend(p.SecretKey, "$pageview", "dau", from, to); !reflect.DeepEqual(v, []float64{2}) {
		t.Fatalf("$pageview dau = %v, want [2] (anon-1 and user-1 are one person)", v)
	}
	if v := ta.trend(p.SecretKey, "bulk", "total", from, to); !reflect.DeepEqual(v, []float64{120}) {
		t.Fatalf("bulk total = %v, want [120]", v)
	}
	if v := ta.trend(p.SecretKey, "bulk", "dau", from, to); !reflect.DeepEqual(v, []float64{40}) {
		t.Fatalf("bulk dau = %v, want [40]", v)
	}
}

func TestAPIAuthAndTenancy(t *testing.T) {
	ta := newTestApp(t)
	a, b := ta.project("a"), ta.project("b")
	post := func(token, distinct string) int {
		body := fmt.Sprintf(`{"api_key":%q,"event":"e","distinct_id":%q}`, token, distinct)
		resp, err := http.Post(ta.URL+"/i/v0/e/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(a.Token, "only-in-a"); code != 200 {
		t.Fatalf("capture: %d", code)
	}
	if code := post(a.SecretKey, "x"); code != 401 {
		t.Fatalf("capture with a secret key: %d, want 401", code)
	}
	ta.sync()
	f := func(key, distinct string, want int) {
		t.Helper()
		if _, code := ta.person(key, distinct); code != want {
			t.Fatalf("person %q with key %.8s…: %d, want %d", distinct, key, code, want)
		}
	}
	f(a.SecretKey, "only-in-a", 200)
	f(b.SecretKey, "only-in-a", 404) // b cannot see a's person
	f(a.Token, "only-in-a", 401)     // a capture token cannot query
	f("", "only-in-a", 401)
	if code, _ := ta.do("POST", "/api/v1/projects", "wrong-admin-key-xxxxxxxx", map[string]string{"name": "x"}); code != 401 {
		t.Fatalf("create project with a wrong admin key: %d", code)
	}
	if code, _ := ta.do("POST", "/api/v1/projects", a.SecretKey, map[string]string{"name": "x"}); code != 401 {
		t.Fatalf("create project with a secret key: %d", code)
	}
	code, body := ta.do("POST", "/api/v1/query", a.SecretKey, map[string]any{"kind": "trend", "series": []any{}, "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})
	if code != 400 || !strings.Contains(string(body), `series`) {
		t.Fatalf("bad query: %d %s, want 400 naming series", code, body)
	}
	code, body = ta.do("POST", "/api/v1/query", a.SecretKey, map[string]any{"kind": "trend", "series": []any{map[string]string{"event": "e", "math": "bogus"}}, "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})
	if code != 400 || !strings.Contains(string(body), `series[0].math`) {
		t.Fatalf("bad math: %d %s, want 400 naming series[0].math", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := ta.do("GET", path, "", nil); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(c Config, wantErr string) {
		t.Helper()
		err := c.Validate()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("Validate(%+v) = %v, want %q", c, err, wantErr)
		}
	}
	f(Config{DataDir: "d", Addr: "127.0.0.1:8000"}, "")
	f(Config{}, "--data-dir")
	f(Config{DataDir: "d", Addr: "nonsense"}, "--addr")
	f(Config{DataDir: "d", AdminKey: "short"}, "--admin-key")
	f(Config{DataDir: "d", RateLimit: -1}, "--rate-limit")
	// Typed settings: their text is parsed by the flag layer (see
	// TestParseSettings); a Config built in code is checked for bounds.
	f(Config{DataDir: "d", QueryMemory: 512 << 20}, "")
	f(Config{DataDir: "d", QueryMemory: 100e3}, "invalid --query-memory of 100000 bytes: less than 1MiB")
	f(Config{DataDir: "d", QueryTimeout: 2 * time.Minute}, "")
	f(Config{DataDir: "d", QueryTimeout: -time.Second}, "invalid --query-timeout -1s: must be positive")
	f(Config{DataDir: "d", MemoryLimit: 1 << 30}, "")
	f(Config{DataDir: "d", MemoryLimit: -1}, "invalid --memory-limit of -1 bytes: must be positive")
}

// TestParseSettings: the typed settings' parsers, which the flag layer
// runs once per flag (cmd/journey's tests check the errors it makes of
// them, naming the flag and its JOURNEY_* twin).
func TestParseSettings(t *testing.T) {
	check := func(in string, got any, err error, want any, wantErr string) {
		t.Helper()
		if wantErr == "" && (err != nil || !reflect.DeepEqual(got, want)) || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("parse(%q) = %v, %v, want %v %q", in, got, err, want, wantErr)
		}
	}
	size := func(parse func(string) (int64, error), in string, want int64, wantErr string) {
		t.Helper()
		got, err := parse(in)
		check(in, got, err, want, wantErr)
	}
	size(ParseQueryMemory, "512MiB", 512<<20, "")
	size(ParseQueryMemory, "1MiB", 1<<20, "")
	size(ParseQueryMemory, "lots", 0, `want a size such as 2GiB: cannot parse size "lots"`)
	size(ParseQueryMemory, "100KB", 0, "less than 1MiB")
	size(ParseQueryMemory, "0", 0, "less than 1MiB")
	size(ParseCaptureMemory, "1GiB", 1<<30, "")
	size(ParseCaptureMemory, "lots", 0, `want a size such as 512MiB: cannot parse size "lots"`)
	size(ParseCaptureMemory, "16MiB", 0, "less than 32MiB")
	size(ParseMemoryLimit, "1GB", 1e9, "")
	size(ParseMemoryLimit, "1.5GiB", 3<<29, "")
	size(ParseMemoryLimit, "0", 0, "must be positive")
	size(ParseMemoryLimit, "12XB", 0, `unknown unit "XB"`)
	timeout := func(in string, want time.Duration, wantErr string) {
		t.Helper()
		got, err := ParseTimeout(in)
		check(in, got, err, want, wantErr)
	}
	timeout("2m", 2*time.Minute, "")
	timeout("1ns", time.Nanosecond, "")
	timeout("soon", 0, `want a duration such as 30s: time: invalid duration "soon"`)
	timeout("0s", 0, "must be positive")
	timeout("-1s", 0, "must be positive")
	prefixes := func(in string, want []netip.Prefix, wantErr string) {
		t.Helper()
		got, err := ParseTrustedProxies(in)
		check(in, got, err, want, wantErr)
	}
	prefixes("10.0.0.0/8, 192.0.2.1,2001:db8::/32", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}, "")
	prefixes("10.1.2.3/8", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "")
	prefixes("", nil, "")
	prefixes("10.0.0.0/8,lb.internal", nil, `"lb.internal"`)
}

// proxies parses --trusted-proxies for a test's Config.
func proxies(t *testing.T, list string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
