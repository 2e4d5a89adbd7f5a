package duckdb

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// trendOf runs q and returns label → values, with breakdown values and
// comparison periods in the label.
func trendOf(t *testing.T, s *Store, q insight.Trend) map[string][]float64 {
	t.Helper()
	if q.From.IsZero() {
		q.From, q.To = day0, day0.AddDate(0, 0, 3)
	}
	if q.Interval == "" {
		q.Interval = "day"
	}
	for i := range q.Series {
		if q.Series[i].Label == "" {
			q.Series[i].Label = q.Series[i].Event
		}
	}
	if q.Breakdown != nil && q.Breakdown.Limit == 0 {
		q.Breakdown.Limit = 10
	}
	res, err := s.Trend(context.Background(), 1, time.UTC, &q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, sr := range res.Series {
		var vals []float64
		for _, p := range sr.Points {
			vals = append(vals, p.Value)
		}
		out[sr.Label+sr.Compare] = vals
	}
	return out
}

func TestTrendBreakdownFormulaCompare(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	at := func(d, h int) time.Time { return day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.load(1,
		ev("view", "a", at(0, 1), map[string]any{"src": "ads", "$set": map[string]any{"plan": "pro"}}),
		ev("view", "a", at(0, 2), map[string]any{"src": "ads"}),
		ev("view", "b", at(0, 3), map[string]any{"src": "mail", "$set": map[string]any{"plan": "free"}}),
		ev("view", "c", at(1, 1), map[string]any{"src": "seo"}),
		ev("view", "d", at(1, 2), nil),
		ev("buy", "a", at(0, 4), nil),
		ev("buy", "c", at(1, 4), nil),
		ev("view", "a", at(-2, 1), nil), // previous period
	)
	f := func(q insight.Trend, want map[string][]float64) {
		t.Helper()
		if got := trendOf(t, s, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v = %v, want %v", q, got, want)
		}
	}
	view, buy := insight.Series{Event: "view", Math: "total"}, insight.Series{Event: "buy", Math: "total"}
	f(insight.Trend{Series: []insight.Series{view}, Range: insight.Range{Breakdown: &insight.Breakdown{Property: "src"}}}, map[string][]float64{
		"view - ads": {2, 0, 0}, "view - mail": {1, 0, 0}, "view - seo": {0, 1, 0}, "view - $none": {0, 1, 0},
	})
	f(insight.Trend{Series: []insight.Series{view}, Range: insight.Range{Breakdown: &insight.Breakdown{Property: "src", Limit: 1}}}, map[string][]float64{
		"view - ads": {2, 0, 0}, "view - $other": {1, 2, 0},
	})
	dau := insight.Series{Event: "view", Math: "dau"}
	f(insight.Trend{Series: []insight.Series{dau}, Range: insight.Range{Breakdown: &insight.Breakdown{Type: "person", Property: "plan", Limit: 1}}}, map[string][]float64{
		"view - $none": {0, 2, 0}, "view - $other": {2, 0, 0},
	})
	f(insight.Trend{Series: []insight.Series{view, buy}, Formula: "B*100/A"}, map[string][]float64{"B*100/A": {100.0 / 3, 50, 0}})
	f(insight.Trend{Series: []insight.Series{view}, Compare: true}, map[string][]float64{"view": {3, 2, 0}, "viewprevious": {0, 1, 0}})
}

func TestTrendActiveUsers(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	// a active on days 0 and 8, b on day 3, c on day 20.
	l.load(1,
		ev("e", "a", day0.Add(time.Hour), nil), ev("e", "a", day0.AddDate(0, 0, 8), nil),
		ev("e", "b", day0.AddDate(0, 0, 3), nil), ev("e", "c", day0.AddDate(0, 0, 20), nil),
	)
	q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "wau"}}, Range: insight.Range{From: day0.AddDate(0, 0, 6), To: day0.AddDate(0, 0, 11)}}
	// Days 6..10: the 7-day window ending that day.
	// d6: a(0),b(3) → 2; d7: a? window 1..7 → b → 1; d8: 2..8 → b,a → 2; d9: 3..9 → b,a → 2; d10: 4..10 → a → 1.
	if got := trendOf(t, s, q)["e"]; !reflect.DeepEqual(got, []float64{2, 1, 2, 2, 1}) {
		t.Fatalf("wau = %v", got)
	}
	q.Series[0].Math = "mau"
	q.From, q.To = day0.AddDate(0, 0, 20), day0.AddDate(0, 0, 37)
	// Weeks from Monday Jan 19; 30-day windows end on each week's last day
	// (Jan 25, Feb 1, Feb 8) and on the range's (Feb 10). a was active on
	// Jan 5 and 13, b on Jan 8, c on Jan 25.
	q.Interval = "week"
	if got := trendOf(t, s, q)["e"]; !reflect.DeepEqual(got, []float64{3, 3, 2, 2}) {
		t.Fatalf("mau by week = %v", got)
	}
}

func TestParseFormula(t *testing.T) {
	f := func(src string, vals []float64, want float64) {
		t.Helper()
		e, err := parseFormulaForTest(src, len(vals))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := e(vals); got != want {
			t.Fatalf("%s = %v, want %v", src, got, want)
		}
	}
	f("A+B*2", []float64{1, 3}, 7)
	f("(A+B)*2", []float64{1, 3}, 8)
	f("b/a", []float64{4, 2}, 0.5)
	f("A/B", []float64{4, 0}, 0)
	f("-A+10", []float64{4}, 6)
	for _, bad := range []string{"A+", "C", "A)", "()", "A$B"} {
		if _, err := parseFormulaForTest(bad, 2); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func parseFormulaForTest(src string, n int) (func([]float64) float64, error) {
	series := make([]insight.Series, n)
	for i := range series {
		series[i] = insight.Series{Event: "e", Math: "total"}
	}
	q := insight.Trend{Series: series, Formula: src, Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 1)}}
	res := &insight.TrendResult{Kind: "trend"}
	buckets := insight.Buckets(q.From, q.To, time.UTC, "day")
	var vals []float64
	return func(v []float64) float64 {
		vals = v
		r := &insight.TrendResult{Kind: "trend"}
		for i := range series {
			pts := map[string]map[string]float64{"": {insight.Label(buckets[0], "day"): vals[i]}}
			r.Series = append(r.Series, insight.SeriesPoints(i, series[i], false, "day", buckets, pts)...)
		}
		out, err := insight.ApplyFormula(&q, r)
		if err != nil {
			return -1
		}
		return out.Series[0].Points[0].Value
	}, validateFormula(&q, res)
}

func validateFormula(q *insight.Trend, _ *insight.TrendResult) error {
	body := `{"kind":"trend","series":[` + repeatSeries(len(q.Series)) + `],"formula":` + quote(q.Formula) + `,"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`
	_, err := insight.Parse([]byte(body))
	return err
}

func repeatSeries(n int) string {
	out := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			out += ","
		}
		out += `{"event":"e"}`
	}
	return out
}

func quote(s string) string { b, _ := jsonMarshal(s); return string(b) }

var jsonMarshal = json.Marshal

func TestCohortFilters(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	// Before the range: a bought twice, b once (as anon-b, merged later).
	l.load(1,
		ev("buy", "a", day0.AddDate(0, 0, -3), nil), ev("buy", "a", day0.AddDate(0, 0, -2), nil),
		ev("buy", "anon-b", day0.AddDate(0, 0, -20), nil),
		ev("view", "a", day0.Add(time.Hour), nil), ev("view", "b", day0.Add(time.Hour), nil), ev("view", "c", day0.Add(time.Hour), nil),
		ev("$identify", "b", day0.Add(2*time.Hour), map[string]any{"$anon_distinct_id": "anon-b"}),
	)
	yes, no := true, false
	f := func(filter insight.Filter, want float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 1), Filters: []insight.Filter{filter}}}
		if got := trendOf(t, s, q)["view"]; !reflect.DeepEqual(got, []float64{want}) {
			t.Fatalf("%+v: dau = %v, want %v", filter.Cohort, got, want)
		}
	}
	cohort := func(def insight.CohortDef, op string) insight.Filter {
		if err := def.Validate("cohort"); err != nil {
			t.Fatal(err)
		}
		return insight.Filter{Type: "cohort", Op: op, Cohort: &def}
	}
	f(cohort(insight.CohortDef{DistinctIDs: []string{"a", "anon-b", "nobody"}}, ""), 2) // anon-b is b now
	f(cohort(insight.CohortDef{DistinctIDs: []string{"a"}}, "not_in"), 2)
	f(cohort(insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: 7}}, ""), 1)                   // a (b bought 20 days ago)
	f(cohort(insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: 30}}, ""), 2)                  // a and b
	f(cohort(insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: 30, MinCount: 2}}, ""), 1)     // a
	f(cohort(insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: 30, Did: &no}}, ""), 1)        // c
	f(cohort(insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: 30, Did: &yes}}, "not_in"), 1) // c
	f(insight.Filter{Type: "cohort", Value: 7}, 0)                                                            // unresolved: nothing
}
