package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestSegmentGroupCountsAccounts: analytics.js sends the group id only with
// the group call, so a B2B trend by account must still count the tracks
// that follow it (as Segment's Mixpanel and Amplitude destinations do).
func TestSegmentGroupCountsAccounts(t *testing.T) {
	ta := newTestApp(t)
	p := ta.project("b2b")
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	// What analytics.js sends: one call per request on its short routes.
	ta.segment(p.Token, "/v1/i", map[string]any{"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": map[string]any{"email": "u1@acme.test"}, "timestamp": at(-5 * time.Minute)})
	ta.segment(p.Token, "/v1/g", map[string]any{"type": "group", "userId": "u1", "anonymousId": "a1", "groupId": "acme", "traits": map[string]any{"name": "Acme"}, "timestamp": at(-4 * time.Minute)})
	ta.segment(p.Token, "/v1/t", map[string]any{"type": "track", "userId": "u1", "anonymousId": "a1", "event": "report_run", "timestamp": at(-3 * time.Minute)})
	// analytics-node batches: a second account, and a user with none.
	ta.segment(p.Token, "/v1/batch", map[string]any{"batch": []any{
		map[string]any{"type": "group", "userId": "u3", "groupId": "globex", "timestamp": at(-4 * time.Minute)},
		map[string]any{"type": "track", "userId": "u3", "event": "report_run", "timestamp": at(-3 * time.Minute)},
		map[string]any{"type": "track", "anonymousId": "a2", "event": "report_run", "timestamp": at(-3 * time.Minute)},
	}})
	// A call with only the anonymous id is u1 too (the identify merged them).
	ta.segment(p.Token, "/v1/t", map[string]any{"type": "track", "anonymousId": "a1", "event": "report_run", "timestamp": at(-2 * time.Minute)})
	ta.sync()

	// From yesterday, in case the calls straddle midnight; they are one day's.
	day := now.Add(-time.Hour).Truncate(24 * time.Hour)
	code, body := ta.do("POST", "/api/v1/query", p.SecretKey, map[string]any{
		"kind": "trend", "series": []map[string]string{{"event": "report_run", "math": "dau"}}, "interval": "day",
		"unit": "group:company", "from": day.Format(time.RFC3339), "to": day.AddDate(0, 0, 2).Format(time.RFC3339),
	})
	if code != 200 {
		t.Fatalf("trend: %d %s", code, body)
	}
	var res struct {
		Series []struct {
			Points []struct {
				Value float64 `json:"value"`
			} `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Series) != 1 {
		t.Fatalf("trend answered %s", body)
	}
	got := 0.0
	for _, pt := range res.Series[0].Points {
		got += pt.Value
	}
	if got != 2 {
		t.Fatalf("accounts running reports = %v, want 2 (acme and globex)", got)
	}
	if got := ta.trend(p.SecretKey, "report_run", "total", day, day.AddDate(0, 0, 2)); got[0]+got[1] != 4 {
		t.Fatalf("report_run total = %v, want 4", got)
	}
}

// segment sends one Segment API request with the write key as Basic auth,
// as analytics.js and analytics-node do.
func (ta *testApp) segment(writeKey, path string, body any) {
	ta.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", ta.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(writeKey+":")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		ta.t.Fatalf("%s: %d", path, resp.StatusCode)
	}
}
