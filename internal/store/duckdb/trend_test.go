package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
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
		series[i] = insight.Series{Event: "e", Math: "total", Label: fmt.Sprint(i)}
	}
	q := insight.Trend{Series: series, Interval: "day", Formula: src, Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 1)}}
	res := &insight.TrendResult{Kind: "trend"}
	var vals []float64
	return func(v []float64) float64 {
		vals = v
		out, err := insight.RunTrend(&q, time.UTC, day0, func(_ insight.Range, s insight.Series, _ insight.Periods) ([]insight.CountRow, error) {
			i, err := strconv.Atoi(s.Label)
			return []insight.CountRow{{Period: 0, Value: vals[i]}}, err
		})
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
	l.Load(1,
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

// TestDAUDense compares DAU from the dense person bitsets (activePerPeriod)
// with the SQL masks (uniqueActors) on random events with late merges, in
// UTC and across a DST change, by hour, day and week, with the in-place
// and the boxed read; and checks that person ids past the dense range
// fall back to SQL.
func TestDAUDense(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	rng := rand.New(rand.NewPCG(7, 8))
	from := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC) // Berlin's DST starts on the 29th
	var evs []event.Raw
	for p := range 3000 {
		for range 1 + rng.IntN(12) {
			evs = append(evs, ev("view", fmt.Sprint("anon-", p), from.Add(time.Duration(rng.IntN(20*24*60))*time.Minute), nil))
		}
	}
	l.Load(1, evs...)
	var merges []event.Raw // every third anonymous person merges into a user
	for p := 0; p < 3000; p += 3 {
		merges = append(merges, ev("$identify", fmt.Sprint("user-", p%500), from.AddDate(0, 0, 21), map[string]any{"$anon_distinct_id": fmt.Sprint("anon-", p)}))
	}
	l.Load(1, merges...)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := func(tz *time.Location, interval string, days int) {
		t.Helper()
		r := insight.Range{From: from, To: from.AddDate(0, 0, days)}
		p := insight.NewPeriods(r.From, r.To, tz, interval, day0)
		buckets := p.Starts
		src := newSource(1, &r, "view")
		src.breakdownColumn(nil)
		rows, err := s.uniqueActors(ctx, nil, p, src)
		if err != nil {
			t.Fatal(err)
		}
		want := countsOf(rows, len(buckets))
		for _, inPlace := range []bool{true, false} {
			s.plan.NoFeedInPlace = !inPlace
			boxed := feedChunksBoxed.Get()
			counts, ok, err := s.activePerPeriod(ctx, src, buckets)
			s.plan.NoFeedInPlace = false
			if err != nil || !ok {
				t.Fatalf("ok = %v, err = %v", ok, err)
			}
			if used := feedChunksBoxed.Get() > boxed; used == inPlace {
				t.Fatalf("in place %v: boxed read used = %v", inPlace, used)
			}
			got := map[string][]int64{"": counts}
			if len(want) == 0 || !reflect.DeepEqual(got[""], want[""]) {
				t.Fatalf("%s %s in place %v: dense %v, SQL %v", tz, interval, inPlace, got, want)
			}
		}
	}
	f(time.UTC, "day", 20)
	f(berlin, "day", 20)
	f(berlin, "hour", 2)
	f(berlin, "week", 20)
	// A person id near the dense bound: the page estimate sends hourly DAU
	// to the SQL path before any scan.
	if _, err := s.db.Exec(`INSERT INTO persons VALUES (?, 1, TIMESTAMP '2026-01-01', '{}')`, maxDensePersons-1); err != nil {
		t.Fatal(err)
	}
	chunks := feedChunksInPlace.Get() + feedChunksBoxed.Get()
	r2 := insight.Range{From: from, To: from.AddDate(0, 0, 2)}
	if _, ok, err := s.activePerPeriod(ctx, newSource(1, &r2, "view"), insight.Buckets(r2.From, r2.To, time.UTC, "hour")); ok || err != nil {
		t.Fatalf("ok = %v, err = %v", ok, err)
	}
	if feedChunksInPlace.Get()+feedChunksBoxed.Get() != chunks {
		t.Fatal("the dense plan scanned although its pages could not fit")
	}
	if _, err := s.db.Exec(`DELETE FROM persons WHERE id = ?`, maxDensePersons-1); err != nil {
		t.Fatal(err)
	}
	// Under a query memory cap smaller than the pages, the same.
	if pageLimit(ctx) != maxPages || pageLimit(insight.WithMemoryCap(ctx, 3*pageBytes)) != 3 {
		t.Fatalf("page limits %d, %d", pageLimit(ctx), pageLimit(insight.WithMemoryCap(ctx, 3*pageBytes)))
	}
	if _, ok, err := s.activePerPeriod(insight.WithMemoryCap(ctx, pageBytes), newSource(1, &r2, "view"), insight.Buckets(r2.From, r2.To, time.UTC, "hour")); ok || err != nil {
		t.Fatalf("capped: ok = %v, err = %v", ok, err)
	}
	if feedChunksInPlace.Get()+feedChunksBoxed.Get() != chunks {
		t.Fatal("the dense plan scanned although its pages could not fit under the memory cap")
	}
	// A person id past the dense range: the SQL path answers.
	if _, err := s.db.Exec(`UPDATE events SET person_id = person_id + ? WHERE distinct_id = 'anon-1'`, maxDensePersons); err != nil {
		t.Fatal(err)
	}
	r := insight.Range{From: from, To: from.AddDate(0, 0, 20)}
	src := newSource(1, &r, "view")
	if _, ok, err := s.activePerPeriod(ctx, src, insight.Buckets(r.From, r.To, time.UTC, "day")); ok || err != nil {
		t.Fatalf("ok = %v, err = %v", ok, err)
	}
	q := &insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Interval: "day", Range: r}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Trend(ctx, 1, time.UTC, q)
	if err != nil || len(res.Series) != 1 || res.Series[0].Points[0].Value == 0 {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
}

// countsOf adds up count rows into breakdown value → count per period.
func countsOf(rows []insight.CountRow, n int) map[string][]int64 {
	out := map[string][]int64{}
	for _, r := range rows {
		if out[r.Breakdown] == nil {
			out[r.Breakdown] = make([]int64, n)
		}
		out[r.Breakdown][r.Period] += int64(r.Value)
	}
	return out
}
