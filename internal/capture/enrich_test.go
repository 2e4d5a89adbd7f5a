package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/enrich/geoiptest"
)

// modeProjects is a Projects that knows each token's IP mode.
type modeProjects struct {
	memProjects
	modes map[string]string
	err   error
}

func (p modeProjects) IPMode(_ context.Context, token string) (string, error) {
	if p.err != nil {
		return "", p.err
	}
	if m, ok := p.modes[token]; ok {
		return m, nil
	}
	return enrich.IPKeep, nil
}

const (
	iphoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	winUA    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

// send posts body to path from peer with the given headers and returns the
// stored events' properties.
func send(t *testing.T, h http.Handler, sink *recSink, path, body, peer string, headers ...string) []map[string]any {
	t.Helper()
	before := len(sink.events())
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.RemoteAddr = peer
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		r.Header.Add(k, strings.TrimSpace(v))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	var out []map[string]any
	for _, ev := range sink.events()[before:] {
		out = append(out, ev.Properties)
	}
	return out
}

// pick returns the named properties of props, absent ones as nil.
func pick(props map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = props[k]
	}
	return out
}

var enrichKeys = []string{"$ip", "$browser", "$browser_version", "$os", "$os_version", "$device_type", "$geoip_city_name", "$geoip_country_code"}

// TestCaptureEnrichment: events of both APIs get the user agent's browser,
// OS and device, the client's address (through trusted proxies only)
// under the project's IP mode, and its location; nothing the client sent
// is overridden.
func TestCaptureEnrichment(t *testing.T) {
	geo, err := enrich.OpenGeoIP(geoiptest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	projects := modeProjects{memProjects: memProjects{"tok_a": 1, "tok_t": 2, "tok_d": 3}, modes: map[string]string{"tok_t": enrich.IPTruncate, "tok_d": enrich.IPDrop}}
	sink := &recSink{}
	h := NewHandler(projects, sink, Options{
		Now: func() time.Time { return testNow }, GeoIP: geo,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	iphoneBerlin := map[string]any{"$ip": geoiptest.BerlinIP, "$browser": "Mobile Safari", "$browser_version": 17.4, "$os": "iOS", "$os_version": "17.4.1",
		"$device_type": "Mobile", "$geoip_city_name": "Berlin", "$geoip_country_code": "DE"}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	ph := func(token, props string) string {
		return fmt.Sprintf(`{"api_key":%q,"event":"e","distinct_id":"u","properties":{%s}}`, token, props)
	}
	cases := []struct {
		name, path, body, peer string
		headers                []string
		want                   map[string]any
	}{
		{"PostHog, direct", "/e/", ph("tok_a", ""), geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + iphoneUA}, iphoneBerlin},
		{"behind a trusted proxy", "/e/", ph("tok_a", ""), "10.0.0.2:5000",
			[]string{"User-Agent: " + iphoneUA, "X-Forwarded-For: 6.6.6.6, " + geoiptest.BerlinIP}, iphoneBerlin},
		{"X-Forwarded-For from an untrusted peer ignored", "/e/", ph("tok_a", ""), geoiptest.MissIP + ":5000",
			[]string{"User-Agent: " + iphoneUA, "X-Forwarded-For: " + geoiptest.BerlinIP},
			with(iphoneBerlin, "$ip", geoiptest.MissIP, "$geoip_city_name", nil, "$geoip_country_code", nil)},
		{"truncate: located first", "/e/", ph("tok_t", ""), geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + iphoneUA},
			with(iphoneBerlin, "$ip", "203.0.113.0")},
		{"drop", "/e/", ph("tok_d", ""), geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + iphoneUA},
			with(iphoneBerlin, "$ip", nil, "$geoip_city_name", nil, "$geoip_country_code", nil)},
		{"the client's values win", "/e/", ph("tok_a", `"$ip":"`+geoiptest.SydneyIP+`","$browser":"Chrome","$browser_version":125,"$device_type":"Desktop","$raw_user_agent":"`+winUA+`"`),
			geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + iphoneUA},
			map[string]any{"$ip": geoiptest.SydneyIP, "$browser": "Chrome", "$browser_version": json.Number("125"), "$os": "Windows", "$os_version": "10",
				"$device_type": "Desktop", "$geoip_city_name": "Sydney", "$geoip_country_code": "AU"}},
		{"the client's $ip is truncated too", "/e/", ph("tok_t", `"$ip":"`+geoiptest.SydneyIP+`"`), geoiptest.BerlinIP + ":5000", nil,
			map[string]any{"$ip": "2001:db8:1::", "$geoip_city_name": "Sydney", "$geoip_country_code": "AU"}},
		{"server SDK: its user agent is not the person's", "/batch/", `{"api_key":"tok_a","batch":[{"event":"e","distinct_id":"u","properties":{"$geoip_disable":true}}]}`,
			geoiptest.BerlinIP + ":5000", []string{"User-Agent: posthog-node/4.2.0"}, map[string]any{"$ip": geoiptest.BerlinIP}},
		{"Segment context", "/v1/t", `{"writeKey":"tok_a","event":"e","userId":"u","context":{"ip":"` + geoiptest.SydneyIP + `","userAgent":"` + winUA + `"}}`,
			geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + iphoneUA},
			map[string]any{"$ip": geoiptest.SydneyIP, "$browser": "Chrome", "$browser_version": 124.0, "$os": "Windows", "$os_version": "10",
				"$device_type": "Desktop", "$geoip_city_name": "Sydney", "$geoip_country_code": "AU"}},
		{"Segment mobile context keeps its OS", "/v1/t", `{"writeKey":"tok_a","event":"e","userId":"u","context":{"os":{"name":"iOS","version":"18.1"}}}`,
			geoiptest.BerlinIP + ":5000", []string{"User-Agent: " + winUA},
			map[string]any{"$ip": geoiptest.BerlinIP, "$browser": "Chrome", "$browser_version": 124.0, "$os": "iOS", "$os_version": "18.1",
				"$device_type": "Desktop", "$geoip_city_name": "Berlin", "$geoip_country_code": "DE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := send(t, h, sink, c.path, c.body, c.peer, c.headers...)
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			want := pick(c.want, enrichKeys...)
			if got := pick(evs[0], enrichKeys...); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// TestCaptureIPModeUnavailable: when the project's IP mode cannot be read,
// nothing is stored and the SDK is told to retry.
func TestCaptureIPModeUnavailable(t *testing.T) {
	sink := &recSink{}
	h := NewHandler(modeProjects{memProjects: testProjects, err: errors.New("meta down")}, sink, Options{})
	w := call(h, "POST", "/e/", []byte(`{"api_key":"tok_a","event":"e","distinct_id":"u"}`))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || len(sink.events()) != 0 {
		t.Fatalf("%d %v, %d events", w.Code, w.Header(), len(sink.events()))
	}
}

// TestCaptureWithoutIPModes: a Projects without IP modes keeps addresses.
func TestCaptureWithoutIPModes(t *testing.T) {
	h, sink := newTestHandler(Options{})
	evs := send(t, h, sink, "/e/", `{"api_key":"tok_a","event":"e","distinct_id":"u"}`, "[2001:db8::9]:443")
	if len(evs) != 1 || evs[0]["$ip"] != "2001:db8::9" || evs[0]["$geoip_country_code"] != nil {
		t.Fatalf("%v", evs)
	}
}

// BenchmarkEnrichBatch is BenchmarkDecodePostHogBatch from a browser, with
// the enrichment capture adds (user agent, truncated address, GeoIP): the
// difference of the two ns/event is what enrichment costs.
func BenchmarkEnrichBatch(b *testing.B) {
	geo, err := enrich.OpenGeoIP(geoiptest.Write(b))
	if err != nil {
		b.Fatal(err)
	}
	defer geo.Close()
	var evs []string
	for i := 0; i < 100; i++ {
		evs = append(evs, fmt.Sprintf(`{"event":"product viewed","distinct_id":"user-%d","uuid":"0190b0a2-8c1e-7d3a-9f00-%012d","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/p/%d","price":19.99,"$lib":"posthog-node","$groups":{"company":"c%d"}}}`, i, i, i, i%7))
	}
	body := gz(b, `{"api_key":"tok_a","sent_at":"2024-05-01T12:00:00Z","batch":[`+strings.Join(evs, ",")+`]}`)
	hr := httptest.NewRequest("POST", "/batch/", nil)
	hr.RemoteAddr = geoiptest.BerlinIP + ":5000"
	projects := modeProjects{memProjects: testProjects, modes: map[string]string{"tok_a": enrich.IPTruncate}}
	run := func(b *testing.B, ua string, geo *enrich.GeoIP) {
		h := &handler{projects: projects, geo: geo}
		r := Request{Path: "/batch/", Header: http.Header{"Content-Encoding": {"gzip"}, "User-Agent": {ua}}, Body: body, Now: testNow}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d, err := DecodePostHog(r)
			if err != nil || len(d.Events) != 100 {
				b.Fatal(err, len(d.Events))
			}
			if err := h.enrichAddresses(hr, d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
	}
	b.Run("IP", func(b *testing.B) { run(b, "posthog-node/4.2.0", nil) })
	b.Run("UserAgent+IP", func(b *testing.B) { run(b, iphoneUA, nil) })
	b.Run("UserAgent+IP+GeoIP", func(b *testing.B) { run(b, iphoneUA, geo) })
}
