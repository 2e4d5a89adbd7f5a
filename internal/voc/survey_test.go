package voc

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// npsBody is PostHog's survey JSON as its docs create an NPS popover.
const npsBody = `{"name":"NPS","type":"popover","start_date":"2026-01-05T00:00:00Z",
 "questions":[{"id":"nps","type":"rating","display":"number","scale":10,"question":"How likely are you to recommend us?",
   "lowerBoundLabel":"Unlikely","upperBoundLabel":"Very likely"},
  {"id":"why","type":"open","question":"Why?","optional":true},
  {"id":"csat","type":"rating","display":"emoji","scale":5,"question":"How satisfied are you?"},
  {"id":"pick","type":"multiple_choice","question":"What do you use?","choices":["Funnels","Surveys","Flags"],"hasOpenChoice":true},
  {"id":"one","type":"single_choice","question":"Plan?","choices":["Free","Pro"],"branching":{"type":"specific_question","index":0}},
  {"id":"docs","type":"link","question":"Read the docs","link":"https://journey.test/docs"}],
 "conditions":{"url":"/pricing","urlMatchType":"icontains","seenSurveyWaitPeriodInDays":30,
   "events":{"repeatedActivation":false,"values":[{"name":"checkout"}]}},
 "appearance":{"position":"right","backgroundColor":"#fff","displayThankYouMessage":true,"surveyPopupDelaySeconds":2}}`

func TestParseSurvey(t *testing.T) {
	s, err := ParseSurvey([]byte(npsBody))
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != "popover" || len(s.Questions) != 6 || s.Questions[0].Scale != 10 || s.Conditions.URL != "/pricing" ||
		*s.Conditions.SeenSurveyWaitPeriodInDays != 30 || s.Conditions.Events.Values[0].Name != "checkout" || s.StartDate == nil {
		t.Fatalf("parsed %+v", s)
	}
	// Defaults: type, question ids, rating display.
	s, err = ParseSurvey([]byte(`{"name":"x","questions":[{"type":"rating","scale":5,"question":"?"},{"type":"open","question":"?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != meta.SurveyPopover || s.Questions[0].Display != "number" || len(s.Questions[0].ID) != 17 || s.Questions[0].ID == s.Questions[1].ID {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestParseSurveyRefuses(t *testing.T) {
	q := func(q string) string { return `{"name":"x","questions":[` + q + `]}` }
	for _, c := range []struct{ body, field string }{
		{`{"questions":[{"type":"open","question":"?"}]}`, "name"},
		{`{"name":"x","questions":[]}`, "questions"},
		{`{"name":"x","type":"external_survey","questions":[{"type":"open","question":"?"}]}`, "type"},
		{`{"name":"x","bogus":1,"questions":[{"type":"open","question":"?"}]}`, "bogus"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}]} {}`, "body"},
		{`{"name":1}`, "name"},
		{q(`{"type":"dropdown","question":"?"}`), "questions[0].type"},
		{q(`{"type":"open","question":" "}`), "questions[0].question"},
		{q(`{"id":"12","type":"open","question":"?"}`), "questions[0].id"},
		{q(`{"id":"a b","type":"open","question":"?"}`), "questions[0].id"},
		{q(`{"id":"a","type":"open","question":"?"},{"id":"a","type":"open","question":"?"}`), "questions[1].id"},
		{q(`{"type":"rating","scale":4,"question":"?"}`), "questions[0].scale"},
		{q(`{"type":"rating","display":"emoji","scale":10,"question":"?"}`), "questions[0].scale"},
		{q(`{"type":"rating","display":"stars","scale":5,"question":"?"}`), "questions[0].display"},
		{q(`{"type":"rating","scale":5,"question":"?","choices":["a","b"]}`), "questions[0].type"},
		{q(`{"type":"open","question":"?","scale":5}`), "questions[0].type"},
		{q(`{"type":"single_choice","question":"?","choices":["a"]}`), "questions[0].choices"},
		{q(`{"type":"single_choice","question":"?","choices":["a","a"]}`), "questions[0].choices[1]"},
		{q(`{"type":"link","question":"?","link":"javascript:alert(1)"}`), "questions[0].link"},
		{q(`{"type":"link","question":"?"}`), "questions[0].link"},
		{q(`{"type":"open","question":"?","branching":{"type":"specific_question","index":3}}`), "questions[0].branching.index"},
		{q(`{"type":"open","question":"?","branching":{"type":"jump"}}`), "questions[0].branching.type"},
		{q(`{"type":"single_choice","question":"?","choices":["a","b"],"branching":{"type":"response_based","responseValues":{"a":"elsewhere"}}}`), "questions[0].branching.responseValues"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"urlMatchType":"glob","url":"/"}}`, "conditions.urlMatchType"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"seenSurveyWaitPeriodInDays":-1}}`, "conditions.seenSurveyWaitPeriodInDays"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"linkedFlagVariant":"a"}}`, "conditions.linkedFlagVariant"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"deviceTypes":["Desktop","Desktop"]}}`, "conditions.deviceTypes[1]"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"conditions":{"events":{"values":[{"name":""}]}}}`, "conditions.events.values[0].name"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"appearance":{"onload":"x"}}`, "appearance.onload"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"appearance":{"position":"nowhere"}}`, "appearance.position"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"appearance":{"backgroundColor":{"a":1}}}`, "appearance.backgroundColor"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"appearance":{"widgetType":"tab"}}`, "appearance.widgetType"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"start_date":"2026-02-01T00:00:00Z","end_date":"2026-01-01T00:00:00Z"}`, "end_date"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"iteration_count":3}`, "iteration_frequency_days"},
		{`{"name":"x","questions":[{"type":"open","question":"?"}],"schedule":"weekly"}`, "schedule"},
		{`{"name":"x","questions":[{"type":"open","question":"` + strings.Repeat("a", maxTextLen+1) + `"}]}`, "questions[0].question"},
	} {
		_, err := ParseSurvey([]byte(c.body))
		var bad *insight.Error
		if !errors.As(err, &bad) || bad.Field != c.field {
			t.Errorf("%.120s: got %v, want a field error at %s", c.body, err, c.field)
		}
	}
}

func TestApplyStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	ptr := func(t time.Time) *time.Time { return &t }
	for _, c := range []struct {
		name         string
		s            Survey
		prev         *time.Time
		status       string
		start, end   *time.Time
		wantErrField string
	}{
		{name: "no dates: draft", status: "draft"},
		{name: "start: running", s: Survey{StartDate: &past}, status: "running", start: &past},
		{name: "scheduled: running", s: Survey{StartDate: &future}, status: "running", start: &future},
		{name: "ended: stopped", s: Survey{StartDate: &past, EndDate: &now}, status: "stopped", start: &past, end: &now},
		{name: "launch", s: Survey{Status: "running"}, status: "running", start: &now},
		{name: "relaunch", s: Survey{Status: "running", StartDate: &past, EndDate: &past}, status: "running", start: &past},
		{name: "stop", s: Survey{Status: "stopped", StartDate: &past}, status: "stopped", start: &past, end: &now},
		{name: "stop early", s: Survey{Status: "stopped", StartDate: &past, EndDate: &future}, status: "stopped", start: &past, end: &now},
		{name: "stop scheduled", s: Survey{Status: "stopped", StartDate: &future}, status: "stopped", start: &now, end: &now},
		{name: "stop draft", s: Survey{Status: "stopped"}, wantErrField: "status"},
		{name: "back to draft", s: Survey{Status: "draft"}, prev: ptr(past), wantErrField: "status"},
		{name: "lose start", s: Survey{}, prev: ptr(past), wantErrField: "start_date"},
	} {
		s := c.s
		err := s.ApplyStatus(c.prev, now)
		if c.wantErrField != "" {
			var bad *insight.Error
			if !errors.As(err, &bad) || bad.Field != c.wantErrField {
				t.Errorf("%s: got %v, want an error at %s", c.name, err, c.wantErrField)
			}
			continue
		}
		if err != nil || s.Status != c.status || !reflect.DeepEqual(s.StartDate, c.start) || !reflect.DeepEqual(s.EndDate, c.end) {
			t.Errorf("%s: status %q start %v end %v, %v; want %q %v %v", c.name, s.Status, s.StartDate, s.EndDate, err, c.status, c.start, c.end)
		}
	}
}

// TestPublicSurvey: the shape posthog-js reads, from the stored record:
// string id, every key of PostHog's serializer, no end date, the cohort
// as a targeting flag, Journey's own condition fields left out.
func TestPublicSurvey(t *testing.T) {
	s, err := ParseSurvey([]byte(strings.Replace(npsBody, `"seenSurveyWaitPeriodInDays":30`, `"seenSurveyWaitPeriodInDays":30,"cohort":4`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyStatus(nil, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Record(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	rec.ID = 42
	p, err := PublicSurvey(rec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	for _, k := range []string{"id", "name", "description", "type", "questions", "conditions", "appearance", "start_date", "end_date",
		"current_iteration", "current_iteration_start_date", "schedule", "enable_partial_responses", "feature_flag_keys",
		"linked_flag_key", "targeting_flag_key", "internal_targeting_flag_key"} {
		if _, ok := got[k]; !ok {
			t.Errorf("public survey lacks %q: %s", k, b)
		}
	}
	cond := got["conditions"].(map[string]any)
	if got["id"] != "42" || got["end_date"] != nil || got["start_date"] != "2026-01-05T00:00:00Z" || got["targeting_flag_key"] != "survey-targeting-42" ||
		cond["url"] != "/pricing" || cond["urlMatchType"] != "icontains" || cond["seenSurveyWaitPeriodInDays"] != 30.0 || cond["cohort"] != nil {
		t.Fatalf("public survey = %s", b)
	}
	q0 := got["questions"].([]any)[0].(map[string]any)
	if q0["id"] != "nps" || q0["type"] != "rating" || q0["scale"] != 10.0 || q0["display"] != "number" || q0["lowerBoundLabel"] != "Unlikely" {
		t.Fatalf("first question = %v", q0)
	}
	// The record reads back as the survey.
	back, err := FromRecord(rec)
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("FromRecord = %+v, %v; want %+v", back, err, s)
	}
}

func raw(vs ...any) []json.RawMessage {
	out := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i], _ = json.Marshal(v)
		}
	}
	return out
}

// TestSummarise, hand-computed. Six persons answer the NPS question (one
// twice: only the later answer counts), so 9, 10, 10 are promoters, 7
// passive, 3 and 6 detractors: NPS = 50 − 33.33 = 16.67; the CSAT question
// has 5, 4, 2 and a "3" string: 2 of 4 satisfied = 50 %; choices count
// once per person, unknown ones as $other; open answers newest first.
func TestSummarise(t *testing.T) {
	s, err := ParseSurvey([]byte(npsBody))
	if err != nil {
		t.Fatal(err)
	}
	d0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) // a Monday
	at := func(days int) time.Time { return d0.AddDate(0, 0, days) }
	// Values by question: nps, why, csat, pick, one, docs.
	rows := []store.SurveyResponse{
		{PersonID: 1, Timestamp: at(0), Segment: "pro", Values: raw(2, "too slow", 2, []string{"Funnels"}, "Free", nil)},
		{PersonID: 1, Timestamp: at(8), Segment: "pro", Values: raw(9, "better now", nil, nil, nil, "link clicked")},
		{PersonID: 2, Timestamp: at(1), Segment: "pro", Values: raw(10, nil, 5, []string{"Funnels", "Surveys", "Funnels"}, "Pro", nil)},
		{PersonID: 3, Timestamp: at(1), Segment: "free", Values: raw("10", nil, 4, []string{"Other tool"}, "Pro", nil)},
		{PersonID: 4, Timestamp: at(2), Segment: "free", Values: raw(7, nil, "3", nil, nil, nil)},
		{PersonID: 5, Timestamp: at(9), Segment: "$none", Values: raw(3, "", nil, "Flags", nil, nil)},
		{PersonID: 6, Timestamp: at(9), Segment: "free", Values: raw(6, nil, nil, nil, nil, nil)},
		{PersonID: 7, Timestamp: at(9), Segment: "free", Values: raw(11, nil, 9, nil, nil, nil)}, // out of range: no answer
	}
	o := ResultsOptions{From: d0.Truncate(24 * time.Hour), To: d0.Truncate(24*time.Hour).AddDate(0, 0, 14), Interval: "week", Breakdown: "plan", TZ: time.UTC}
	res, err := s.Summarise(9, rows, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Responses != 8 || res.Respondents != 7 {
		t.Fatalf("responses %d respondents %d, want 8 and 7", res.Responses, res.Respondents)
	}
	nps := res.Questions[0]
	if nps.Answered != 6 || nps.NPS == nil || *nps.NPS != (NPS{Promoters: 3, Passives: 1, Detractors: 2, Score: 16.67}) ||
		math.Abs(*nps.Mean-45.0/6) > 1e-9 || len(nps.Distribution) != 11 || nps.Distribution[10] != (ValueCount{"10", 2}) || nps.Distribution[2].Count != 0 {
		t.Fatalf("nps = %+v (%+v)", nps, nps.NPS)
	}
	why := res.Questions[1]
	if why.Answered != 1 || len(why.Answers) != 1 || why.Answers[0].Text != "better now" || why.Answers[0].PersonID != 1 {
		t.Fatalf("open answers = %+v", why)
	}
	csat := res.Questions[2]
	if csat.CSAT == nil || *csat.CSAT != (CSAT{Satisfied: 2, Total: 4, Score: 50}) || csat.NPS != nil || len(csat.Distribution) != 5 {
		t.Fatalf("csat = %+v", csat)
	}
	pick := res.Questions[3]
	wantPick := []ValueCount{{"Funnels", 2}, {"Surveys", 1}, {"Flags", 1}, {"$other", 1}}
	if pick.Answered != 4 || !reflect.DeepEqual(pick.Distribution, wantPick) {
		t.Fatalf("pick = %+v", pick)
	}
	if one := res.Questions[4]; !reflect.DeepEqual(one.Distribution, []ValueCount{{"Free", 1}, {"Pro", 2}}) {
		t.Fatalf("single choice = %+v", one)
	}
	if docs := res.Questions[5]; docs.Answered != 1 {
		t.Fatalf("link = %+v", docs)
	}
	// Segments: free has 4 respondents (3, 4, 6, 7), pro 2, $none 1.
	if len(res.Segments) != 3 || res.Segments[0].Segment != "free" || res.Segments[1].Segment != "pro" || res.Segments[2].Segment != "$none" {
		t.Fatalf("segments = %+v", res.Segments)
	}
	if n := res.Segments[1].Questions[0].NPS; *n != (NPS{Promoters: 2, Score: 100}) {
		t.Fatalf("pro's NPS = %+v", n)
	}
	if n := res.Segments[0].Questions[0].NPS; *n != (NPS{Promoters: 1, Passives: 1, Detractors: 1, Score: 0}) {
		t.Fatalf("free's NPS = %+v", n)
	}
	// Series: two weeks per segment; person 1's week-1 answer (2) counts
	// in week 1 and the later one (9) in week 2.
	if len(res.Series) != 6 {
		t.Fatalf("%d series entries, want 2 weeks × 3 segments", len(res.Series))
	}
	var proWeeks []NPS
	for _, p := range res.Series {
		if *p.Segment == "pro" {
			proWeeks = append(proWeeks, *p.Questions[0].NPS)
		}
	}
	if !reflect.DeepEqual(proWeeks, []NPS{{Promoters: 1, Detractors: 1, Score: 0}, {Promoters: 1, Score: 100}}) {
		t.Fatalf("pro by week = %+v", proWeeks)
	}
	// Without breakdown: one series entry per week, no segment.
	o.Breakdown = ""
	res, err = s.Summarise(9, rows, o)
	if err != nil || len(res.Series) != 2 || res.Series[0].Segment != nil || res.Series[0].Period != o.From || res.Series[0].Respondents != 4 ||
		res.Series[1].Respondents != 4 || res.Segments != nil {
		t.Fatalf("series without breakdown = %+v, %v", res.Series, err)
	}
	if _, err := s.Summarise(9, make([]store.SurveyResponse, MaxResponses+1), o); err == nil {
		t.Fatal("more than MaxResponses rows summarised")
	}
}
