package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNonFiniteAnswers: sums past float64's range, and NaN or ±Inf in the
// sql kind, answer 200 with null where the number stood and a non_finite
// field naming where; never an empty 200 or a 500.
func TestNonFiniteAnswers(t *testing.T) {
	ta := newTestApp(t)
	p := ta.project("inf")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var batch []string
	for i, rev := range []string{"1.7e308", "1.7e308", "1e400"} {
		batch = append(batch, fmt.Sprintf(`{"event":"buy","distinct_id":"u%d","timestamp":%q,"properties":{"revenue":%s}}`, i, day.Add(time.Hour).Format(time.RFC3339), rev))
	}
	resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(fmt.Sprintf(`{"api_key":%q,"batch":[%s]}`, p.Token, strings.Join(batch, ","))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ta.sync()
	rng := fmt.Sprintf(`"from":%q,"to":%q`, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
	for _, c := range []struct{ query, field string }{
		{`{"kind":"trend","interval":"day","series":[{"event":"buy","math":"sum","property":"revenue"}],` + rng + `}`, "non_finite"},
		{`{"kind":"trend","interval":"day","series":[{"event":"buy","math":"avg","property":"revenue"}],` + rng + `}`, "non_finite"},
		{`{"kind":"sql","query":"SELECT 'inf'::DOUBLE AS a, 'nan'::DOUBLE AS b, 1 AS c"}`, "non_finite"},
		{`{"kind":"sql","query":"SELECT json_extract(properties, '$.revenue') AS r FROM events ORDER BY 1"}`, "non_finite"},
		{`{"kind":"sql","query":"SELECT sum(1) AS n, gen_random_uuid() AS u FROM events"}`, ""},
	} {
		code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(c.query))
		var m map[string]any
		if code != 200 || json.Unmarshal(out, &m) != nil {
			t.Fatalf("%s: %d %q", c.query, code, out)
		}
		if c.field != "" {
			if nf, _ := m[c.field].([]any); len(nf) == 0 {
				t.Fatalf("%s: no %s in %s", c.query, c.field, out)
			}
			if !strings.Contains(string(out), "null") {
				t.Fatalf("%s: no null in %s", c.query, out)
			}
		}
		t.Logf("%s → %s", c.query, out)
	}
	code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(`{"kind":"sql","query":"SELECT sum(1) AS n, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS u FROM events"}`))
	if code != 200 || !strings.Contains(string(out), `"rows":[[3,"6ba7b810-9dad-11d1-80b4-00c04fd430c8"]]`) {
		t.Fatalf("hugeint and uuid: %d %s", code, out)
	}
}
