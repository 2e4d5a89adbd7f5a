package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
	"github.com/journey-dev/journey/internal/voc"
)

// npsSurvey is PostHog's survey JSON for an NPS popover (the contract of
// POST /api/v1/surveys: name, type, questions, conditions, start_date).
const npsSurvey = `{"name":"NPS","type":"popover","start_date":"2026-01-01T00:00:00Z",
 "questions":[{"id":"nps","type":"rating","display":"number","scale":10,"question":"How likely are you to recommend us?",
   "lowerBoundLabel":"Unlikely","upperBoundLabel":"Very likely"},{"id":"why","type":"open","question":"Why?","optional":true}],
 "conditions":{"url":"/app","urlMatchType":"icontains","seenSurveyWaitPeriodInDays":14}}`

type surveyAnswer struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Status    string     `json:"status"`
	StartDate *time.Time `json:"start_date"`
	EndDate   *time.Time `json:"end_date"`
	Version   int        `json:"version"`
	Questions []struct {
		ID string `json:"id"`
	} `json:"questions"`
}

func publicGet(h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Origin", "https://shop.test")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestSurveysAPI: create (PostHog's JSON → its id), read, list by status,
// patch (stop with status, relaunch, change questions) with field errors,
// tenancy and delete; the public list serves only the active ones, in
// PostHog's shape, with CORS and caching headers.
func TestSurveysAPI(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	pa, keyA, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	_, keyB, _ := s.Meta.CreateProject(ctx, "b", "UTC")
	a, b := expClient{t, h, keyA}, expClient{t, h, keyB}

	created := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", json.RawMessage(npsSurvey), http.StatusCreated))
	if created.ID == 0 || created.Status != "running" || created.Type != "popover" || created.Version != 1 || len(created.Questions) != 2 ||
		created.StartDate == nil || !created.StartDate.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("created %+v", created)
	}
	draft := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", map[string]any{"name": "Later", "type": "api",
		"questions": []any{map[string]any{"type": "open", "question": "Anything?"}}}, http.StatusCreated))
	if draft.Status != "draft" || draft.StartDate != nil || !strings.HasPrefix(draft.Questions[0].ID, "q") {
		t.Fatalf("draft %+v", draft)
	}
	code, out := call(t, h, keyA, "POST", "/api/v1/surveys", `{"name":"x","questions":[{"type":"rating","scale":4,"question":"?"}]}`)
	if code != 400 || !strings.Contains(out, `"field":"questions[0].scale"`) {
		t.Fatalf("bad scale: %d %s", code, out)
	}
	code, out = call(t, h, keyA, "POST", "/api/v1/surveys", `{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"cohort":99}}`)
	if code != 400 || !strings.Contains(out, `"field":"conditions.cohort"`) {
		t.Fatalf("unknown cohort: %d %s", code, out)
	}
	b.do("GET", "/api/v1/surveys/"+itoa(created.ID), nil, http.StatusNotFound)
	list := decodeAs[struct{ Surveys []surveyAnswer }](t, a.do("GET", "/api/v1/surveys?status=running", nil, 200))
	if len(list.Surveys) != 1 || list.Surveys[0].ID != created.ID {
		t.Fatalf("running surveys = %+v", list)
	}

	// The public list: only the running one, PostHog's shape.
	w := publicGet(h, "/api/surveys/?token="+pa.Token)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") == "" || !strings.Contains(w.Header().Get("Cache-Control"), "max-age") || w.Header().Get("ETag") == "" {
		t.Fatalf("public list: %d %v", w.Code, w.Header())
	}
	var pub struct {
		Surveys      []map[string]any `json:"surveys"`
		SurveyConfig any              `json:"survey_config"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pub); err != nil || len(pub.Surveys) != 1 {
		t.Fatalf("public list %s: %v", w.Body, err)
	}
	sv := pub.Surveys[0]
	if sv["id"] != itoa(created.ID) || sv["type"] != "popover" || sv["end_date"] != nil || sv["linked_flag_key"] != nil ||
		sv["conditions"].(map[string]any)["seenSurveyWaitPeriodInDays"] != 14.0 || len(sv["questions"].([]any)) != 2 {
		t.Fatalf("public survey %v", sv)
	}
	if w2 := publicGet(h, "/api/surveys/?token="+pa.Token, "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", w2.Code)
	}
	if w := publicGet(h, "/api/surveys?token=nope"); w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("unknown token: %d %v", w.Code, w.Header())
	}

	// Stop it, relaunch it, then end it by date; a stopped survey is not served.
	stopped := decodeAs[surveyAnswer](t, a.do("PATCH", "/api/v1/surveys/"+itoa(created.ID), map[string]any{"status": "stopped"}, 200))
	if stopped.Status != "stopped" || stopped.EndDate == nil || stopped.Version != 2 {
		t.Fatalf("stopped %+v", stopped)
	}
	if w := publicGet(h, "/api/surveys/?token="+pa.Token); !strings.Contains(w.Body.String(), `"surveys":[]`) {
		t.Fatalf("stopped survey served: %s", w.Body)
	}
	again := decodeAs[surveyAnswer](t, a.do("PATCH", "/api/v1/surveys/"+itoa(created.ID), map[string]any{"status": "running"}, 200))
	if again.Status != "running" || again.EndDate != nil {
		t.Fatalf("relaunched %+v", again)
	}
	code, out = call(t, h, keyA, "PATCH", "/api/v1/surveys/"+itoa(created.ID), `{"status":"draft"}`)
	if code != 400 || !strings.Contains(out, `"field":"status"`) {
		t.Fatalf("back to draft: %d %s", code, out)
	}
	ended := decodeAs[surveyAnswer](t, a.do("PATCH", "/api/v1/surveys/"+itoa(created.ID), map[string]any{"end_date": "2026-01-02T00:00:00Z"}, 200))
	if ended.Status != "stopped" || len(ended.Questions) != 2 {
		t.Fatalf("ended by date %+v", ended)
	}
	b.do("DELETE", "/api/v1/surveys/"+itoa(created.ID), nil, http.StatusNotFound)
	a.do("DELETE", "/api/v1/surveys/"+itoa(created.ID), nil, http.StatusNoContent)
	a.do("GET", "/api/v1/surveys/"+itoa(created.ID), nil, http.StatusNotFound)
}

// TestSurveyCohortTargeting: a survey shown to a cohort is served with a
// targeting flag that exists as a flag on that cohort (which /flags
// evaluates), follows a change of cohort and goes with the survey.
func TestSurveyCohortTargeting(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	c1, _ := s.Meta.CreateCohort(ctx, p.ID, "pro", []byte(`{"distinct_ids":["u1"]}`))
	c2, _ := s.Meta.CreateCohort(ctx, p.ID, "free", []byte(`{"distinct_ids":["u2"]}`))
	a := expClient{t, h, key}
	body := strings.Replace(npsSurvey, `"seenSurveyWaitPeriodInDays":14`, `"seenSurveyWaitPeriodInDays":14,"cohort":`+itoa(c1.ID), 1)
	sv := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", json.RawMessage(body), http.StatusCreated))
	flagKey := voc.TargetingFlagKey(sv.ID)
	cohortOf := func() string {
		f, found, err := s.flagByKey(ctx, p.ID, flagKey)
		if err != nil || !found {
			return ""
		}
		return string(f.Definition)
	}
	if def := cohortOf(); !strings.Contains(def, `"type":"cohort"`) || !strings.Contains(def, `"value":`+itoa(c1.ID)) {
		t.Fatalf("targeting flag = %s", def)
	}
	if w := publicGet(h, "/api/surveys/?token="+p.Token); !strings.Contains(w.Body.String(), `"targeting_flag_key":"`+flagKey+`"`) {
		t.Fatalf("public survey without its targeting flag: %s", w.Body)
	}
	cond := `{"conditions":{"cohort":` + itoa(c2.ID) + `}}`
	if code, out := call(t, h, key, "PATCH", "/api/v1/surveys/"+itoa(sv.ID), cond); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	if def := cohortOf(); !strings.Contains(def, `"value":`+itoa(c2.ID)) {
		t.Fatalf("targeting flag after the change = %s", def)
	}
	a.do("DELETE", "/api/v1/surveys/"+itoa(sv.ID), nil, http.StatusNoContent)
	if def := cohortOf(); def != "" {
		t.Fatalf("targeting flag outlives its survey: %s", def)
	}
}

// TestSurveyResults: the results endpoint over a real DuckDB store with
// the answers posthog-js sends; a person who answered anonymously and
// then as the identified user counts once, with the later answer.
func TestSurveyResults(t *testing.T) {
	s, h := testServer(t)
	ev, err := duckdb.Open(filepath.Join(t.TempDir(), "events.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	s.Events = ev
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	a := expClient{t, h, key}
	sv := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", json.RawMessage(npsSurvey), http.StatusCreated))
	id := itoa(sv.ID)
	d0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // a Monday
	sent := func(distinct string, at time.Time, nps int, plan string) map[string]any {
		return map[string]any{"$survey_id": id, "$survey_response_nps": nps, "$survey_response": nps,
			"$survey_questions": []any{map[string]any{"id": "nps", "question": "How likely…", "response": nps}},
			"$survey_completed": true, "$set": map[string]any{"$survey_responded/" + id: true, "plan": plan}}
	}
	l := storetest.NewLoader(t, ev)
	l.Load(p.ID,
		storetest.Ev("survey sent", "anon", d0, sent("anon", d0, 2, "free")),
		storetest.Ev("survey sent", "u2", d0.Add(time.Hour), sent("u2", d0, 10, "pro")),
		storetest.Ev("survey sent", "u3", d0.AddDate(0, 0, 7), sent("u3", d0, 8, "pro")),
		storetest.Ev("survey sent", "u1", d0.AddDate(0, 0, 8), sent("u1", d0, 9, "free")),
	)
	l.Load(p.ID, storetest.Ev("$identify", "u1", d0.AddDate(0, 0, 8), map[string]any{"$anon_distinct_id": "anon"}))

	path := "/api/v1/surveys/" + id + "/results?date_from=2026-01-05&date_to=2026-01-19&interval=week&breakdown=plan"
	res := decodeAs[voc.Results](t, a.do("GET", path, nil, 200))
	// u1 (9, the anonymous 2 replaced), u2 10, u3 8: 2 promoters, 1 passive.
	if res.Respondents != 3 || res.Responses != 4 || *res.Questions[0].NPS != (voc.NPS{Promoters: 2, Passives: 1, Score: 66.67}) {
		t.Fatalf("results %+v (%+v)", res.Summary, res.Questions[0].NPS)
	}
	if len(res.Segments) != 2 || res.Segments[0].Segment != "pro" || res.Segments[1].Segment != "free" ||
		*res.Segments[1].Questions[0].NPS != (voc.NPS{Promoters: 1, Score: 100}) {
		t.Fatalf("segments %+v", res.Segments)
	}
	// Week 1: free's anonymous 2 (a detractor), pro's 10; week 2: free 9, pro 8.
	want := map[string][]voc.NPS{"pro": {{Promoters: 1, Score: 100}, {Passives: 1}}, "free": {{Detractors: 1, Score: -100}, {Promoters: 1, Score: 100}}}
	got := map[string][]voc.NPS{}
	for _, e := range res.Series {
		got[*e.Segment] = append(got[*e.Segment], *e.Questions[0].NPS)
	}
	for seg, w := range want {
		if len(got[seg]) != 2 || got[seg][0] != w[0] || got[seg][1] != w[1] {
			t.Fatalf("%s by week = %+v, want %+v", seg, got[seg], w)
		}
	}
	code, out := call(t, h, key, "GET", "/api/v1/surveys/"+id+"/results?interval=hour", "")
	if code != 400 || !strings.Contains(out, `"field":"interval"`) {
		t.Fatalf("bad interval: %d %s", code, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSurveyResponsesLimit: a survey with responses_limit is served until
// that many `survey sent` events are stored (a real DuckDB store), then
// no longer, and shows as completed with its count; a survey without a
// limit is unaffected.
func TestSurveyResponsesLimit(t *testing.T) {
	s, h := testServer(t)
	ev, err := duckdb.Open(filepath.Join(t.TempDir(), "events.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	s.Events = ev
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	a := expClient{t, h, key}
	limited := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys",
		json.RawMessage(strings.Replace(npsSurvey, `"name":"NPS"`, `"name":"NPS","responses_limit":2`, 1)), http.StatusCreated))
	open := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", json.RawMessage(npsSurvey), http.StatusCreated))
	served := func() map[string]bool {
		w := publicGet(h, "/api/surveys/?token="+p.Token)
		var pub struct {
			Surveys []struct{ ID string } `json:"surveys"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &pub); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range pub.Surveys {
			out[s.ID] = true
		}
		return out
	}
	type counted struct {
		Status         string `json:"status"`
		ResponsesCount *int64 `json:"responses_count"`
	}
	l := storetest.NewLoader(t, ev)
	d0 := time.Now().Add(-time.Hour)
	l.Load(p.ID, storetest.Ev("survey sent", "u1", d0, map[string]any{"$survey_id": itoa(limited.ID), "$survey_response_nps": 9}),
		storetest.Ev("survey sent", "u2", d0, map[string]any{"$survey_id": itoa(open.ID), "$survey_response_nps": 9}),
		storetest.Ev("survey shown", "u3", d0, map[string]any{"$survey_id": itoa(limited.ID)}))
	s.publicCounts.ttl = 300 * time.Millisecond
	if got := served(); !got[itoa(limited.ID)] || !got[itoa(open.ID)] {
		t.Fatalf("one response of 2: served %v", got)
	}
	// The public list is asked on every page load: within the TTL its
	// counts are read from the store once, however many requests come.
	for range 20 {
		served()
	}
	if s.publicCounts.fills != 1 {
		t.Fatalf("21 public requests counted the store %d times, want 1", s.publicCounts.fills)
	}
	if v := decodeAs[counted](t, a.do("GET", "/api/v1/surveys/"+itoa(limited.ID), nil, 200)); v.Status != "running" || v.ResponsesCount == nil || *v.ResponsesCount != 1 {
		t.Fatalf("after one response: %+v", v)
	}
	l.Load(p.ID, storetest.Ev("survey sent", "u3", d0.Add(time.Minute), map[string]any{"$survey_id": itoa(limited.ID), "$survey_response_nps": 3}))
	time.Sleep(s.publicCounts.ttl) // the public list's counts are reused this long
	if got := served(); got[itoa(limited.ID)] || !got[itoa(open.ID)] {
		t.Fatalf("limit reached: served %v", got)
	}
	if v := decodeAs[counted](t, a.do("GET", "/api/v1/surveys/"+itoa(limited.ID), nil, 200)); v.Status != voc.SurveyCompleted || *v.ResponsesCount != 2 {
		t.Fatalf("after two responses: %+v", v)
	}
	list := decodeAs[struct{ Surveys []surveyAnswer }](t, a.do("GET", "/api/v1/surveys?status=completed", nil, 200))
	if len(list.Surveys) != 1 || list.Surveys[0].ID != limited.ID {
		t.Fatalf("completed surveys = %+v", list)
	}
	if v := decodeAs[counted](t, a.do("GET", "/api/v1/surveys/"+itoa(open.ID), nil, 200)); v.Status != "running" || v.ResponsesCount != nil {
		t.Fatalf("unlimited survey: %+v", v)
	}
}

// TestSurveyResultsSegments: NPS by first-touch channel and by cohort
// through the results endpoint.
func TestSurveyResultsSegments(t *testing.T) {
	s, h := testServer(t)
	ev, err := duckdb.Open(filepath.Join(t.TempDir(), "events.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	s.Events = ev
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	a := expClient{t, h, key}
	sv := decodeAs[surveyAnswer](t, a.do("POST", "/api/v1/surveys", json.RawMessage(npsSurvey), http.StatusCreated))
	id := itoa(sv.ID)
	c, _ := s.Meta.CreateCohort(ctx, p.ID, "Pro", []byte(`{"distinct_ids":["u1","u3"]}`))
	d0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	sent := func(nps int, set map[string]any) map[string]any {
		return map[string]any{"$survey_id": id, "$survey_response_nps": nps, "$set": set}
	}
	storetest.NewLoader(t, ev).Load(p.ID,
		storetest.Ev("survey sent", "u1", d0, sent(10, map[string]any{"$initial_utm_source": "newsletter"})),
		storetest.Ev("survey sent", "u2", d0, sent(2, map[string]any{"$initial_referring_domain": "$direct"})),
		storetest.Ev("survey sent", "u3", d0, sent(4, map[string]any{"$initial_referring_domain": "$direct"})))
	nps := func(res voc.Results) map[string]voc.NPS {
		out := map[string]voc.NPS{}
		for _, seg := range res.Segments {
			out[seg.Segment] = *seg.Questions[0].NPS
		}
		return out
	}
	base := "/api/v1/surveys/" + id + "/results?date_from=2026-01-05&date_to=2026-01-06"
	got := nps(decodeAs[voc.Results](t, a.do("GET", base+"&breakdown_type=channel", nil, 200)))
	if len(got) != 2 || got["newsletter"] != (voc.NPS{Promoters: 1, Score: 100}) || got["$direct"] != (voc.NPS{Detractors: 2, Score: -100}) {
		t.Fatalf("by channel %+v", got)
	}
	got = nps(decodeAs[voc.Results](t, a.do("GET", base+"&breakdown_type=cohort&cohort="+itoa(c.ID), nil, 200)))
	if len(got) != 2 || got["Pro"] != (voc.NPS{Promoters: 1, Detractors: 1}) || got["$none"] != (voc.NPS{Detractors: 1, Score: -100}) {
		t.Fatalf("by cohort %+v", got)
	}
	for _, q := range []string{"&breakdown_type=cohort", "&breakdown_type=cohort&cohort=999", "&breakdown_type=cohort&cohort=x", "&breakdown_type=plan"} {
		if code, out := call(t, h, key, "GET", base+q, ""); code != 400 {
			t.Fatalf("%s: %d %s", q, code, out)
		}
	}
}
