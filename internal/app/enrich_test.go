package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/enrich/geoiptest"
	"github.com/journey-dev/journey/internal/meta"
)

// TestCaptureEnrichmentEndToEnd: with --geoip-db and the server behind a
// trusted proxy, events stored get the browser from the user agent, the
// client's address as the project's IP setting says (read through the
// token cache), and its location.
func TestCaptureEnrichmentEndToEnd(t *testing.T) {
	ta := newTestAppWith(t, Config{GeoIPDB: geoiptest.Write(t), TrustedProxies: proxies(t, "127.0.0.1/32,::1/128")})
	keep, trunc := ta.project("keep"), ta.project("truncate")
	if err := ta.Meta.SetSetting(context.Background(), trunc.ID, meta.SettingSDK, []byte(`{"ip":"truncate"}`)); err != nil {
		t.Fatal(err)
	}
	send := func(p project) {
		t.Helper()
		body := fmt.Sprintf(`{"api_key":%q,"event":"e","distinct_id":"u"}`, p.Token)
		req, _ := http.NewRequest("POST", ta.URL+"/e/", strings.NewReader(body))
		req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1")
		req.Header.Set("X-Forwarded-For", "6.6.6.6, "+geoiptest.BerlinIP)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("capture: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	send(keep)
	send(trunc)
	ta.sync()
	props := func(p project) string {
		t.Helper()
		q := `{"kind":"sql","query":"SELECT json_extract_string(properties, '$.\"$ip\"'), json_extract_string(properties, '$.\"$browser\"'), json_extract_string(properties, '$.\"$device_type\"'), json_extract_string(properties, '$.\"$geoip_city_name\"') FROM events"}`
		code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(q))
		var res struct{ Rows [][]any }
		if code != 200 || json.Unmarshal(out, &res) != nil || len(res.Rows) != 1 {
			t.Fatalf("query: %d %s", code, out)
		}
		return fmt.Sprint(res.Rows[0])
	}
	if got, want := props(keep), "[203.0.113.7 Mobile Safari Mobile Berlin]"; got != want {
		t.Errorf("keep: %s, want %s", got, want)
	}
	if got, want := props(trunc), "[203.0.113.0 Mobile Safari Mobile Berlin]"; got != want {
		t.Errorf("truncate: %s, want %s", got, want)
	}
}

// TestIPModeNames: capture's IP modes are the values the settings store.
func TestIPModeNames(t *testing.T) {
	if enrich.IPKeep != meta.IPKeep || enrich.IPTruncate != meta.IPTruncate || enrich.IPDrop != meta.IPDrop {
		t.Fatal("enrich and meta name the IP modes differently")
	}
	if meta.DefaultSDKSettings().IP != enrich.IPKeep {
		t.Fatal("the default is not keep")
	}
}

// TestGeoIPConfig: --geoip-db must name a database file.
func TestGeoIPConfig(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{dir + "/none.mmdb", dir} {
		c := Config{DataDir: dir, GeoIPDB: bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--geoip-db") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := Open(Config{DataDir: t.TempDir(), GeoIPDB: "enrich_test.go"}); err == nil || !strings.Contains(err.Error(), "GeoIP") {
		t.Errorf("a file that is no database: %v", err)
	}
}
