package app

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

// TestStacksAnswerAlike sends the same capture traffic — PostHog and
// Segment routes, gzip, a batch with one bad event, a merge that arrives
// after the events, person properties, retried Segment messages — to the
// embedded stack (file log, SQLite, DuckDB) and to the scale-out stack
// (JetStream, PostgreSQL, two-shard ClickHouse), and requires identical
// capture answers, persons and query results, which are also checked
// against hand-computed values.
func TestStacksAnswerAlike(t *testing.T) {
	so := scaleout.New(t, 2)
	embedded := runStackScript(t, newTestApp(t))
	scaled := runStackScript(t, newTestAppWith(t, Config{Events: so.Events, Meta: so.Meta, Log: so.Log}))
	for _, k := range sortedKeys(embedded) {
		if embedded[k] != scaled[k] {
			t.Errorf("%s:\n embedded:  %s\n scale-out: %s", k, embedded[k], scaled[k])
		}
	}
	if len(embedded) != len(scaled) {
		t.Errorf("%d answers embedded, %d scale-out", len(embedded), len(scaled))
	}
	want := map[string]string{
		"funnel": `[1 1 1]`,
		// Each once despite the retried Segment batch (Segment identify and
		// alias are stored as $identify and $create_alias); the bad event is not stored.
		"sql":             `[[$create_alias seg-3 1] [$identify seg-2 1] [$identify user-1 1] [$pageview anon-1 1] [order_completed user-1 1] [product_viewed anon-1 1] [signed_up user-1 1] [ticket seg-3 1]]`,
		"person anon-1":   `[anon-1 user-1] map[email:a@x.io plan:pro]`,
		"person seg-2":    `[seg-2 seg-3] map[plan:free]`,
		"dau $pageview":   `[1]`,
		"dau signed_up":   `[1]`,
		"capture partial": `200`,
	}
	for k, v := range want {
		if embedded[k] != v {
			t.Errorf("%s = %s, want %s", k, embedded[k], v)
		}
	}
}

// runStackScript sends the traffic and collects every answer by name.
func runStackScript(t *testing.T, ta *testApp) map[string]string {
	t.Helper()
	p := ta.project("stacks")
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	at := func(min int) string { return day.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	out := map[string]string{}
	send := func(name, path string, body string, zip bool) {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		req, _ := http.NewRequest("POST", ta.URL+path, r)
		req.Header.Set("Content-Type", "application/json")
		if zip {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write([]byte(body))
			w.Close()
			req, _ = http.NewRequest("POST", ta.URL+path, &b)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out["capture "+name] = fmt.Sprint(resp.StatusCode)
	}
	send("partial", "/batch/", fmt.Sprintf(`{"api_key":%q,"batch":[
		{"event":"$pageview","distinct_id":"anon-1","timestamp":%q,"properties":{"utm_source":"ads"}},
		{"event":"product_viewed","distinct_id":"anon-1","timestamp":%q},
		{"event":"","distinct_id":"anon-1","timestamp":%q},
		{"event":"signed_up","distinct_id":"user-1","timestamp":%q,"properties":{"$set":{"email":"a@x.io"}}}]}`,
		p.Token, at(1), at(2), at(3), at(4)), true)
	send("identify", "/e/", fmt.Sprintf(`{"api_key":%q,"event":"$identify","distinct_id":"user-1","timestamp":%q,
		"properties":{"$anon_distinct_id":"anon-1","$set":{"plan":"pro"}}}`, p.Token, at(5)), false)
	segment := fmt.Sprintf(`{"writeKey":%q,"batch":[
		{"type":"track","event":"order_completed","userId":"user-1","messageId":"m-1","timestamp":%q},
		{"type":"identify","userId":"seg-2","messageId":"m-2","traits":{"plan":"free"},"timestamp":%q},
		{"type":"alias","previousId":"seg-2","userId":"seg-3","messageId":"m-3","timestamp":%q},
		{"type":"track","event":"ticket","userId":"seg-3","messageId":"m-4","timestamp":%q}]}`, p.Token, at(6), at(7), at(8), at(9))
	send("segment", "/v1/batch", segment, false)
	send("segment retry", "/v1/batch", segment, true)
	ta.sync()

	for _, id := range []string{"anon-1", "user-1", "seg-2", "seg-3"} {
		person, code := ta.person(p.SecretKey, id)
		out["person "+id] = fmt.Sprint(person.DistinctIDs, " ", person.Properties)
		if code != 200 {
			out["person "+id] = fmt.Sprint(code)
		}
	}
	for _, e := range []string{"$pageview", "signed_up", "order_completed", "ticket"} {
		out["dau "+e] = fmt.Sprint(ta.trend(p.SecretKey, e, "dau", day, day.AddDate(0, 0, 1)))
	}
	rng := fmt.Sprintf(`"from":%q,"to":%q`, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
	query := func(name, spec string, pick func(map[string]any) any) {
		t.Helper()
		code, body := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(spec))
		if code != 200 {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		out[name] = fmt.Sprint(pick(m))
	}
	query("funnel", `{"kind":"funnel","steps":[{"event":"$pageview"},{"event":"signed_up"},{"event":"order_completed"}],"window":"1h",`+rng+`}`,
		func(m map[string]any) any {
			var counts []any
			for _, s := range m["steps"].([]any) {
				counts = append(counts, s.(map[string]any)["count"])
			}
			return counts
		})
	query("funnel breakdown", `{"kind":"funnel","steps":[{"event":"$pageview"},{"event":"order_completed"}],"window":"1h","breakdown":{"property":"utm_source"},`+rng+`}`,
		func(m map[string]any) any { return m["breakdown"] })
	query("retention", `{"kind":"retention","start":{"event":"$pageview"},"return":{"event":"order_completed"},"period":"day","periods":2,`+rng+`}`,
		func(m map[string]any) any { return m["cohorts"] })
	query("sql", `{"kind":"sql","query":"SELECT event, distinct_id, count(*) AS n FROM events GROUP BY event, distinct_id ORDER BY event, distinct_id"}`,
		func(m map[string]any) any { return m["rows"] })
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
