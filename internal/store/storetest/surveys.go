package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// surveyResponses: one survey's `survey sent` events, with persons merged
// after the events were stored (an anonymous answer and a later one as
// the identified user are one person's), the current person property as
// the segment, each key's raw JSON (numbers, strings with escapes, arrays;
// nil where absent) and nothing of other surveys, other events, other
// projects or outside the range; ordered by person, then time.
func surveyResponses(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	sent := func(distinct string, h int, survey any, props map[string]any) []byte {
		p := map[string]any{"$survey_id": survey}
		for k, v := range props {
			p[k] = v
		}
		b, _ := json.Marshal(p)
		return b
	}
	ev := func(name, distinct string, h int, survey any, props map[string]any) {
		var p map[string]any
		_ = json.Unmarshal(sent(distinct, h, survey, props), &p)
		l.Load(1, Ev(name, distinct, at(h), p))
	}
	ev("survey sent", "anon-a", 1, "7", map[string]any{"$survey_response_nps": 3, "$survey_response": 3})
	ev("survey sent", "bob", 2, "7", map[string]any{"$survey_response_nps": 10, "$survey_response_pick": []string{"Speed", "Price"},
		"$set": map[string]any{"plan": "pro"}})
	ev("survey sent", "carol", 3, "7", map[string]any{"$survey_response_nps": "7", "$survey_response_pick": []string{"Caf\u00e9 \"quoted\""}})
	ev("survey sent", "alice", 30, "7", map[string]any{"$survey_response_nps": 9, "$survey_response_pick": nil})
	ev("survey sent", "carol", 4, "8", map[string]any{"$survey_response_nps": 1})     // another survey
	ev("survey shown", "carol", 5, "7", nil)                                          // not an answer
	ev("survey sent", "carol", 24*40, "7", map[string]any{"$survey_response_nps": 0}) // after the range
	l.Load(2, Ev("survey sent", "bob", at(2), map[string]any{"$survey_id": "7", "$survey_response_nps": 0}))
	l.Load(1, Ev("$identify", "alice", at(31), map[string]any{"$anon_distinct_id": "anon-a", "$set": map[string]any{"plan": "free"}}))

	pid := func(distinct string) int64 {
		p, _, err := s.PersonByDistinctID(ctx, 1, distinct)
		if err != nil {
			t.Fatalf("person of %s: %v", distinct, err)
		}
		return p.ID
	}
	alice, bob, carol := pid("alice"), pid("bob"), pid("carol")
	if pid("anon-a") != alice {
		t.Fatal("anon-a is not merged into alice")
	}
	q := &store.SurveyQuery{SurveyID: "7", From: Day0, To: Day0.AddDate(0, 0, 30), Keys: []string{"$survey_response_nps", "$survey_response_pick", "missing"},
		Breakdown: "plan", Limit: 100}
	got, err := s.SurveyResponses(ctx, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Person  int64
		At      time.Time
		Segment string
		Values  []any
	}
	want := []row{
		{alice, at(1), "free", []any{3.0, nil, nil}},
		{alice, at(30), "free", []any{9.0, nil, nil}},
		{bob, at(2), "pro", []any{10.0, []any{"Speed", "Price"}, nil}},
		{carol, at(3), "$none", []any{"7", []any{"Caf\u00e9 \"quoted\""}, nil}},
	}
	// By person id, as the stores order them.
	for i := range want {
		for j := i + 1; j < len(want); j++ {
			if want[j].Person < want[i].Person {
				want[i], want[j] = want[j], want[i]
			}
		}
	}
	decoded := func(rs []store.SurveyResponse) []row {
		out := []row{}
		for _, r := range rs {
			vals := make([]any, len(r.Values))
			for i, v := range r.Values {
				if v != nil {
					if err := json.Unmarshal(v, &vals[i]); err != nil {
						t.Fatalf("value %q is not JSON: %v", v, err)
					}
				}
			}
			out = append(out, row{r.PersonID, r.Timestamp, r.Segment, vals})
		}
		return out
	}
	if d := decoded(got); !reflect.DeepEqual(d, want) {
		t.Fatalf("responses =\n%+v\nwant\n%+v", d, want)
	}
	for _, r := range got {
		if r.Timestamp.Location() != time.UTC {
			t.Fatalf("timestamp %v not in UTC", r.Timestamp)
		}
	}

	// Without breakdown the segment is empty; the limit cuts the ordered rows.
	q.Breakdown, q.Limit, q.Keys = "", 2, []string{"$survey_response_nps"}
	got, err = s.SurveyResponses(ctx, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	if d := decoded(got); len(d) != 2 || d[0].Segment != "" || !reflect.DeepEqual(d[0], row{want[0].Person, want[0].At, "", want[0].Values[:1]}) ||
		!reflect.DeepEqual(d[1], row{want[1].Person, want[1].At, "", want[1].Values[:1]}) {
		t.Fatalf("limited responses = %+v, want the first two of %+v", d, want)
	}
	// An unknown survey has none; so has another project's.
	for _, c := range []struct {
		project int64
		survey  string
		want    int
	}{{1, "9", 0}, {2, "7", 1}, {3, "7", 0}} {
		got, err := s.SurveyResponses(ctx, c.project, &store.SurveyQuery{SurveyID: c.survey, From: Day0, To: Day0.AddDate(0, 0, 30), Limit: 10})
		if err != nil || len(got) != c.want {
			t.Fatalf("project %d survey %s: %d responses, %v; want %d", c.project, c.survey, len(got), err, c.want)
		}
	}
}

// surveySegments: NPS by first-touch channel ($initial_utm_source, else
// $initial_referring_domain) and by cohort membership (CohortPersons),
// computed by voc from the store's rows and checked against hand-computed
// scores; and each survey's response count for responses_limit.
func surveySegments(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	nps := func(distinct string, h, score int, set map[string]any) {
		p := map[string]any{"$survey_id": "5", "$survey_response_nps": score}
		if set != nil {
			p["$set"] = set
		}
		l.Load(1, Ev("survey sent", distinct, at(h), p))
	}
	google := map[string]any{"$initial_utm_source": "google", "$initial_referring_domain": "www.google.com"}
	nps("g1", 1, 10, google)
	nps("g2", 2, 3, google)
	nps("g3", 3, 9, google)
	nps("r1", 4, 10, map[string]any{"$initial_referring_domain": "news.ycombinator.com"})
	nps("d1", 5, 0, map[string]any{"$initial_referring_domain": "$direct"})
	nps("d2", 6, 8, map[string]any{"$initial_referring_domain": "$direct"})
	nps("x1", 7, 6, nil)
	l.Load(1, Ev("survey sent", "g1", at(8), map[string]any{"$survey_id": "6"}))
	l.Load(2, Ev("survey sent", "g1", at(8), map[string]any{"$survey_id": "5"}))

	// The store's part: each response's person, its first-touch channel
	// as the segment and the answer's JSON; voc's tests turn these into
	// NPS (this package cannot import voc: voc's tests import it).
	q := &store.SurveyQuery{SurveyID: "5", From: Day0, To: Day0.AddDate(0, 0, 1), Keys: []string{"$survey_response_nps"},
		Breakdown: "$initial_utm_source", Fallback: []string{"$initial_referring_domain"}, Limit: 100}
	rows, err := s.SurveyResponses(ctx, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	bySegment := map[string][]string{}
	person := map[string]int64{} // answer → person, each answer is unique below
	for _, r := range rows {
		if len(r.Values) != 1 || r.Values[0] == nil {
			t.Fatalf("row %+v: want one answer", r)
		}
		bySegment[r.Segment] = append(bySegment[r.Segment], string(r.Values[0]))
		person[string(r.Values[0])+"@"+r.Timestamp.Format(time.RFC3339)] = r.PersonID
	}
	for k := range bySegment {
		sort.Strings(bySegment[k])
	}
	want := map[string][]string{
		"google":               {"10", "3", "9"},
		"news.ycombinator.com": {"10"},
		"$direct":              {"0", "8"},
		"$none":                {"6"},
	}
	if !reflect.DeepEqual(bySegment, want) {
		t.Fatalf("answers by channel = %v, want %v", bySegment, want)
	}

	// Cohorts of distinct ids: CohortPersons gives the responses' persons.
	idOf := func(score, h int) int64 {
		return person[fmt.Sprint(score)+"@"+at(h).UTC().Format(time.RFC3339)]
	}
	members := func(ids ...string) map[int64]bool {
		out := map[int64]bool{}
		var after int64
		for {
			page, err := s.CohortPersons(ctx, 1, &insight.CohortDef{DistinctIDs: ids}, Day0.AddDate(0, 0, 1), after, store.MaxCohortPage)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				out[p.ID] = true
			}
			if len(page) < store.MaxCohortPage {
				return out
			}
			after = page[len(page)-1].ID
		}
	}
	if got, want := members("g1", "g2", "d1"), map[int64]bool{idOf(10, 1): true, idOf(3, 2): true, idOf(0, 5): true}; !reflect.DeepEqual(got, want) || len(got) != 3 {
		t.Fatalf("cohort pro = %v, want %v", got, want)
	}
	if got, want := members("g1", "r1"), map[int64]bool{idOf(10, 1): true, idOf(10, 4): true}; !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Fatalf("cohort beta = %v, want %v", got, want)
	}

	counts, err := s.SurveyResponseCounts(ctx, 1, []string{"5", "6", "9"})
	if err != nil || !reflect.DeepEqual(counts, map[string]int64{"5": 7, "6": 1}) {
		t.Fatalf("response counts = %v, %v", counts, err)
	}
	if counts, err := s.SurveyResponseCounts(ctx, 2, []string{"5"}); err != nil || counts["5"] != 1 {
		t.Fatalf("project 2 counts = %v, %v", counts, err)
	}
}
