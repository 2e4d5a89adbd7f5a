package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store/duckdb"
)

// TestQueryKindsOverHTTP sends events through capture and runs every
// query kind through the API, with cohorts and journey settings.
func TestQueryKindsOverHTTP(t *testing.T) {
	ta := newTestApp(t)
	a, b := ta.project("a"), ta.project("b")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var batch []string
	add := func(event, who string, min int, props string) {
		batch = append(batch, fmt.Sprintf(`{"event":%q,"distinct_id":%q,"timestamp":%q,"properties":{%s}}`, event, who, day.Add(time.Duration(min)*time.Minute).Format(time.RFC3339), props))
	}
	add("$pageview", "u1", 1, `"utm_source":"ads"`)
	add("signed_up", "u1", 2, ``)
	add("order_completed", "u1", 3, `"revenue":10`)
	add("$pageview", "u2", 1, `"utm_source":"mail"`)
	add("$pageview", "u3", 1, ``)
	body := fmt.Sprintf(`{"api_key":%q,"batch":[%s]}`, a.Token, strings.Join(batch, ","))
	resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("capture: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	ta.sync()
	rng := fmt.Sprintf(`"from":%q,"to":%q`, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
	query := func(key, q string, wantCode int) map[string]any {
		t.Helper()
		code, out := ta.do("POST", "/api/v1/query", key, json.RawMessage(q))
		if code != wantCode {
			t.Fatalf("%s: %d %s, want %d", q, code, out, wantCode)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	// sql: scoped to the project.
	res := query(a.SecretKey, `{"kind":"sql","query":"SELECT count(*) AS n FROM events"}`, 200)
	if fmt.Sprint(res["rows"]) != "[[5]]" {
		t.Fatalf("sql rows = %v", res["rows"])
	}
	if res := query(b.SecretKey, `{"kind":"sql","query":"SELECT count(*) AS n FROM events"}`, 200); fmt.Sprint(res["rows"]) != "[[0]]" {
		t.Fatalf("project b sees a's events: %v", res["rows"])
	}
	query(a.SecretKey, `{"kind":"sql","query":"SELECT * FROM main.events"}`, 400)
	// paths
	res = query(a.SecretKey, `{"kind":"paths","start":{"event":"$pageview"},`+rng+`}`, 200)
	if !strings.Contains(fmt.Sprint(res["edges"]), "source:1_$pageview target:2_signed_up value:1") {
		t.Fatalf("paths = %v", res)
	}
	// journey with the default stages, then with the project's own.
	res = query(a.SecretKey, `{"kind":"journey",`+rng+`}`, 200)
	if got := fmt.Sprint(res["stages"].([]any)[0].(map[string]any)["count"]); got != "3" {
		t.Fatalf("journey reach = %s (%v)", got, res)
	}
	code, out := ta.do("PUT", "/api/v1/settings/journey", a.SecretKey, json.RawMessage(`{"stages":[{"name":"Visit","events":[{"event":"$pageview","filters":[{"property":"utm_source","op":"is_set"}]}]},{"name":"Buy","events":[{"event":"order_completed"}]}]}`))
	if code != 200 {
		t.Fatalf("put journey: %d %s", code, out)
	}
	if code, _ := ta.do("PUT", "/api/v1/settings/journey", a.SecretKey, json.RawMessage(`{"stages":[{"name":""}]}`)); code != 400 {
		t.Fatalf("bad stages: %d", code)
	}
	res = query(a.SecretKey, `{"kind":"journey",`+rng+`}`, 200)
	if fmt.Sprint(res["stages"]) != "[map[conversion:1 count:2 name:Visit step_conversion:1] map[conversion:0.5 count:1 name:Buy step_conversion:0.5]]" {
		t.Fatalf("journey with project stages = %v", res["stages"])
	}
	// kpi
	res = query(a.SecretKey, `{"kind":"kpi","denominator":{"conditions":[{"event":"$pageview"}]},"numerator":{"conditions":[{"event":"order_completed"}]},`+rng+`}`, 200)
	if res["value"] != 1.0/3 {
		t.Fatalf("kpi = %v", res)
	}
	// cohorts: CRUD, tenancy, and use in a query.
	code, out = ta.do("POST", "/api/v1/cohorts", a.SecretKey, json.RawMessage(`{"name":"first two","definition":{"distinct_ids":["u1","u2"]}}`))
	if code != 201 {
		t.Fatalf("create cohort: %d %s", code, out)
	}
	var c struct{ ID int64 }
	json.Unmarshal(out, &c)
	if code, _ := ta.do("GET", fmt.Sprintf("/api/v1/cohorts/%d", c.ID), b.SecretKey, nil); code != 404 {
		t.Fatalf("project b reads a's cohort: %d", code)
	}
	if code, _ := ta.do("POST", "/api/v1/cohorts", a.SecretKey, json.RawMessage(`{"name":"x","definition":{}}`)); code != 400 {
		t.Fatalf("empty cohort accepted: %d", code)
	}
	trend := func(key, filters string, code int) map[string]any {
		return query(key, `{"kind":"trend","series":[{"event":"$pageview","math":"dau"}],"filters":`+filters+`,`+rng+`}`, code)
	}
	res = trend(a.SecretKey, fmt.Sprintf(`[{"type":"cohort","value":%d}]`, c.ID), 200)
	if v := res["series"].([]any)[0].(map[string]any)["points"].([]any)[0].(map[string]any)["value"]; v != 2.0 {
		t.Fatalf("dau in cohort = %v", v)
	}
	trend(b.SecretKey, fmt.Sprintf(`[{"type":"cohort","value":%d}]`, c.ID), 400) // b cannot use a's cohort
	if code, _ := ta.do("DELETE", fmt.Sprintf("/api/v1/cohorts/%d", c.ID), a.SecretKey, nil); code != 204 {
		t.Fatalf("delete cohort: %d", code)
	}
	query(a.SecretKey, `{"kind":"nope"}`, 400)
}

// TestQueryMemoryCap checks --query-memory: a funnel whose rows pass the
// cap answers 422 naming it, not a 500 or an answer from partial rows;
// DAU's person bitsets under a small cap fall back to the SQL plan and
// answer the same.
func TestQueryMemoryCap(t *testing.T) {
	ta := newTestAppWith(t, Config{QueryMemory: 1 << 20})
	if ta.api.QueryMemory != 1<<20 {
		t.Fatalf("server cap = %d, want 1 MiB from the config", ta.api.QueryMemory)
	}
	p := ta.project("p")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var batch []string
	for i := range 400 {
		for _, e := range []string{"a", "b"} {
			batch = append(batch, fmt.Sprintf(`{"event":%q,"distinct_id":"u%d","timestamp":%q}`, e, i%50, day.Add(time.Duration(i)*time.Minute).Format(time.RFC3339)))
		}
	}
	resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(fmt.Sprintf(`{"api_key":%q,"batch":[%s]}`, p.Token, strings.Join(batch, ","))))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("capture: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	ta.sync()
	rng := fmt.Sprintf(`"from":%q,"to":%q`, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
	funnel := `{"kind":"funnel","steps":[{"event":"a"},{"event":"b"}],"window":"1h",` + rng + `}`
	dau := fmt.Sprintf(`{"kind":"trend","series":[{"event":"a","math":"dau"}],"interval":"day","from":%q,"to":%q}`, day.Format(time.RFC3339), day.AddDate(0, 0, 3).Format(time.RFC3339))
	code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(funnel))
	if code != 200 || !strings.Contains(string(out), `"count":50`) {
		t.Fatalf("funnel under the cap: %d %s", code, out)
	}
	ta.api.QueryMemory = 0 // the default cap: DAU's few pages fit and its dense plan answers
	_, wantDAU := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(dau))
	ta.api.QueryMemory = 4 << 10 // 800 rows of 16 bytes pass it; DAU's 64 KB pages too
	code, out = ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(funnel))
	if code != 422 || !strings.Contains(string(out), "memory cap of 4 KiB (--query-memory)") {
		t.Fatalf("funnel over the cap: %d %s, want 422 naming the cap", code, out)
	}
	code, out = ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(dau))
	if code != 200 || string(out) != string(wantDAU) || !strings.Contains(string(out), `"value":50`) {
		t.Fatalf("DAU under a small cap: %d %s, want %s", code, out, wantDAU)
	}
}

// TestQueryPlanConfig checks --query-plan reaches the DuckDB store: with
// no-feed-in-place the funnel's feed reads DuckDB's vectors through the
// boxed API (its counters on /metrics say so) and answers the same.
func TestQueryPlanConfig(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var batch []string
	for i := range 3000 {
		for _, e := range []string{"a", "b"} {
			batch = append(batch, fmt.Sprintf(`{"event":%q,"distinct_id":"u%d","timestamp":%q}`, e, i%500, day.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
		}
	}
	funnel := fmt.Sprintf(`{"kind":"funnel","steps":[{"event":"a"},{"event":"b"}],"window":"1h","from":%q,"to":%q}`, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
	chunks := func(ta *testApp, read string) int {
		t.Helper()
		_, out := ta.do("GET", "/metrics", "", nil)
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, `journey_funnel_feed_chunks_total{read="`+read+`"} `); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}
	var answers []string
	// The journey index answers plain funnels before any feed is read, so
	// it is off here: this test is about the feed's two reads.
	for _, plan := range []duckdb.Plan{{NoJourneyIndex: true}, {NoJourneyIndex: true, NoFeedInPlace: true}} {
		ta := newTestAppWith(t, Config{QueryPlan: plan})
		p := ta.project("p")
		resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(fmt.Sprintf(`{"api_key":%q,"batch":[%s]}`, p.Token, strings.Join(batch, ","))))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("capture: %v %v", err, resp.Status)
		}
		resp.Body.Close()
		ta.sync()
		inPlace, boxed := chunks(ta, "in_place"), chunks(ta, "boxed")
		code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(funnel))
		if code != 200 || !strings.Contains(string(out), `"count":500`) {
			t.Fatalf("%+v: funnel %d %s", plan, code, out)
		}
		answers = append(answers, string(out))
		if moreBoxed, moreInPlace := chunks(ta, "boxed") > boxed, chunks(ta, "in_place") > inPlace; moreBoxed != plan.NoFeedInPlace || moreInPlace == plan.NoFeedInPlace {
			t.Fatalf("%+v: boxed chunks %d → %d, in place %d → %d", plan, boxed, chunks(ta, "boxed"), inPlace, chunks(ta, "in_place"))
		}
	}
	if answers[0] != answers[1] {
		t.Fatalf("no-feed-in-place answers %s, the default %s", answers[1], answers[0])
	}
}

// TestQueryTimeout checks --query-timeout: a query past it is cancelled
// and answers 504 naming the timeout.
func TestQueryTimeout(t *testing.T) {
	ta := newTestAppWith(t, Config{QueryTimeout: time.Nanosecond})
	p := ta.project("p")
	code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(`{"kind":"trend","series":[{"event":"e"}],"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`))
	if code != 504 || !strings.Contains(string(out), "query timed out after 1ns") {
		t.Fatalf("query past the timeout: %d %s, want 504", code, out)
	}
	ta.api.QueryTimeout = time.Minute
	if code, out := ta.do("POST", "/api/v1/query", p.SecretKey, json.RawMessage(`{"kind":"trend","series":[{"event":"e"}],"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`)); code != 200 {
		t.Fatalf("query within the timeout: %d %s", code, out)
	}
}
