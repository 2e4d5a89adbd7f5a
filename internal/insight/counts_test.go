package insight

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// The Run<Kind> assemblers on hand-written counts: no store involved.

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var testNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// trendPoints is series label (+ compare) → point labels and values.
func trendPoints(res *TrendResult) map[string][]Point {
	out := map[string][]Point{}
	for _, sr := range res.Series {
		out[sr.Label+sr.Compare] = sr.Points
	}
	return out
}

func TestPeriodsDST(t *testing.T) {
	loc := berlin(t)
	// Oct 25 2026 has 25 hours in Berlin: 02:00 comes twice.
	p := NewPeriods(time.Date(2026, 10, 25, 0, 0, 0, 0, loc), time.Date(2026, 10, 25, 4, 0, 0, 0, loc), loc, "hour", testNow)
	var labels []string
	for i := range p.Len() {
		labels = append(labels, p.Label(i))
	}
	if want := []string{"2026-10-25T00:00", "2026-10-25T01:00", "2026-10-25T02:00", "2026-10-25T02:00", "2026-10-25T03:00"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("hours = %v, want %v", labels, want)
	}
	if got := p.Starts[3].Sub(p.Starts[2]); got != time.Hour {
		t.Fatalf("the two 02:00 hours are %v apart", got)
	}
	// Days across the spring change start at local midnight; Mar 29 has 23
	// hours.
	p = NewPeriods(time.Date(2026, 3, 28, 12, 0, 0, 0, loc), time.Date(2026, 3, 31, 0, 0, 0, 0, loc), loc, "day", testNow)
	want := []time.Time{time.Date(2026, 3, 28, 0, 0, 0, 0, loc), time.Date(2026, 3, 29, 0, 0, 0, 0, loc), time.Date(2026, 3, 30, 0, 0, 0, 0, loc)}
	if !reflect.DeepEqual(p.Starts, want) || p.Starts[2].Sub(p.Starts[1]) != 23*time.Hour {
		t.Fatalf("days = %v, want %v", p.Starts, want)
	}
	if b := p.Before(); !b.Equal(time.Date(2026, 3, 27, 0, 0, 0, 0, loc)) {
		t.Fatalf("period before = %v", b)
	}
	if p.Location() != loc {
		t.Fatalf("location = %v", p.Location())
	}
}

func TestRunTrendDSTAndZeroFill(t *testing.T) {
	loc := berlin(t)
	q := &Trend{Series: []Series{{Event: "e", Math: "total", Label: "e"}}, Interval: "hour",
		Range: Range{From: time.Date(2026, 10, 25, 0, 0, 0, 0, loc), To: time.Date(2026, 10, 25, 4, 0, 0, 0, loc)}}
	res, err := RunTrend(q, loc, testNow, func(r Range, s Series, p Periods) ([]CountRow, error) {
		// Values for both 02:00 hours, none for 01:00; a row outside the
		// periods is dropped.
		return []CountRow{{Period: 0, Value: 1}, {Period: 2, Value: 3}, {Period: 3, Value: 4}, {Period: 4, Value: 2}, {Period: 4, Value: 3}, {Period: 9, Value: 100}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{"2026-10-25T00:00", 1}, {"2026-10-25T01:00", 0}, {"2026-10-25T02:00", 3}, {"2026-10-25T02:00", 4}, {"2026-10-25T03:00", 5}}
	if res.Kind != "trend" || !reflect.DeepEqual(trendPoints(res), map[string][]Point{"e": want}) {
		t.Fatalf("trend = %+v", res)
	}
	// No rows at all: every period is there, zero.
	res, err = RunTrend(q, loc, testNow, func(Range, Series, Periods) ([]CountRow, error) { return nil, nil })
	if err != nil || len(res.Series) != 1 || len(res.Series[0].Points) != 5 || res.Series[0].Points[4] != (Point{"2026-10-25T03:00", 0}) {
		t.Fatalf("empty trend = %+v, %v", res, err)
	}
	// A store's error is the answer's.
	boom := errors.New("boom")
	if _, err := RunTrend(q, loc, testNow, func(Range, Series, Periods) ([]CountRow, error) { return nil, boom }); err != boom {
		t.Fatalf("err = %v", err)
	}
}

func TestRunTrendBreakdownOrder(t *testing.T) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	q := &Trend{Series: []Series{{Event: "e", Math: "total", Label: "e"}}, Interval: "day",
		Range: Range{From: day0, To: day0.AddDate(0, 0, 3), Breakdown: &Breakdown{Property: "src", Limit: 2}}}
	res, err := RunTrend(q, time.UTC, testNow, func(r Range, s Series, p Periods) ([]CountRow, error) {
		// The store folded what is beyond the limit into $other.
		return []CountRow{
			{Breakdown: "$other", Period: 0, Value: 50},
			{Breakdown: "mail", Period: 1, Value: 3}, {Breakdown: "mail", Period: 2, Value: 1},
			{Breakdown: "ads", Period: 0, Value: 4},
			{Breakdown: "$none", Period: 2, Value: 4},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, sr := range res.Series {
		order = append(order, *sr.BreakdownValue)
	}
	// By total (ties by value), "$other" last whatever its total.
	if want := []string{"$none", "ads", "mail", "$other"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	if got := trendPoints(res)["e - mail"]; !reflect.DeepEqual(got, []Point{{"2026-01-05", 0}, {"2026-01-06", 3}, {"2026-01-07", 1}}) {
		t.Fatalf("mail = %v", got)
	}

	// wau: the store hands back every value by window; insight keeps the
	// top ones by their sum (distinct counts do not add up into $other).
	q.Series[0].Math = "wau"
	res, err = RunTrend(q, time.UTC, testNow, func(r Range, s Series, p Periods) ([]CountRow, error) {
		w, ok := p.Windows(s.Math)
		if !ok || w.Days != 7 || !w.From.Equal(day0.AddDate(0, 0, -7)) || !reflect.DeepEqual(w.Ends, []string{"2026-01-05", "2026-01-06", "2026-01-07"}) {
			t.Fatalf("windows = %+v, %v", w, ok)
		}
		return []CountRow{
			{Breakdown: "a", Period: 0, Value: 2}, {Breakdown: "a", Period: 2, Value: 2},
			{Breakdown: "b", Period: 1, Value: 5},
			{Breakdown: "c", Period: 0, Value: 1},
			{Breakdown: "d", Period: 2, Value: 4},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Point{
		"e - b": {{"2026-01-05", 0}, {"2026-01-06", 5}, {"2026-01-07", 0}},
		"e - a": {{"2026-01-05", 2}, {"2026-01-06", 0}, {"2026-01-07", 2}}, // 4, ties with d: by value
	}
	if got := trendPoints(res); !reflect.DeepEqual(got, want) {
		t.Fatalf("wau top 2 = %v, want %v", got, want)
	}
}

func TestWindows(t *testing.T) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	// Weeks: each window ends on its week's last day, the last one on the
	// range's last day.
	p := NewPeriods(day0, day0.AddDate(0, 0, 10), time.UTC, "week", testNow)
	w, ok := p.Windows("mau")
	if !ok || w.Days != 30 || !reflect.DeepEqual(w.Ends, []string{"2026-01-11", "2026-01-14"}) || !reflect.DeepEqual(w.period, []int{0, 1}) {
		t.Fatalf("weekly windows = %+v", w)
	}
	// Hours of one day share their window end: the later period shows it.
	p = NewPeriods(day0.Add(21*time.Hour), day0.Add(25*time.Hour), time.UTC, "hour", testNow)
	w, _ = p.Windows("wau")
	if !reflect.DeepEqual(w.Ends, []string{"2026-01-04", "2026-01-05"}) || !reflect.DeepEqual(w.period, []int{1, 3}) {
		t.Fatalf("hourly windows = %+v", w)
	}
	if _, ok := p.Windows("dau"); ok {
		t.Fatal("dau has windows")
	}
}

func TestRunTrendCompareFormula(t *testing.T) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	q := &Trend{Series: []Series{{Event: "a", Label: "a"}, {Event: "b", Label: "b"}}, Interval: "day", Formula: "B*100/A", Compare: true,
		Range: Range{From: day0, To: day0.AddDate(0, 0, 2)}}
	var ranges []time.Time
	res, err := RunTrend(q, time.UTC, testNow, func(r Range, s Series, p Periods) ([]CountRow, error) {
		ranges = append(ranges, r.From)
		if r.From.Before(day0) { // the previous period
			return []CountRow{{Period: 1, Value: map[string]float64{"a": 4, "b": 1}[s.Event]}}, nil
		}
		return []CountRow{{Period: 0, Value: map[string]float64{"a": 2, "b": 1}[s.Event]}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Point{
		"B*100/A":         {{"2026-01-05", 50}, {"2026-01-06", 0}},
		"B*100/Aprevious": {{"2026-01-03", 0}, {"2026-01-04", 25}},
	}
	if got := trendPoints(res); !reflect.DeepEqual(got, want) {
		t.Fatalf("formula with compare = %v, want %v", got, want)
	}
	if len(ranges) != 4 || !ranges[2].Equal(day0.AddDate(0, 0, -2)) {
		t.Fatalf("ranges counted = %v", ranges)
	}
}

// TestRunClock: a query run reads the clock once and every count function
// call sees that reading. The four kinds do not cut periods at it: a
// range that reaches past now keeps its later periods, empty.
func TestRunClock(t *testing.T) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	now := day0.Add(36 * time.Hour) // during the second of three days
	reads := 0
	clock := Clock(func() time.Time { reads++; return now })
	if got := clock.Now(); !got.Equal(now) || reads != 1 {
		t.Fatalf("clock read %v (%d reads)", got, reads)
	}
	if (Clock(nil)).Now().IsZero() {
		t.Fatal("the nil clock reads zero")
	}
	r := Range{From: day0, To: day0.AddDate(0, 0, 3)}
	seen := func(p Periods) {
		t.Helper()
		if !p.Now.Equal(now) || p.Len() != 3 {
			t.Fatalf("periods %+v: now %v, %d periods", p, p.Now, p.Len())
		}
	}
	tr, err := RunTrend(&Trend{Series: []Series{{Event: "e", Label: "e"}}, Interval: "day", Compare: true, Range: r}, time.UTC, now,
		func(_ Range, _ Series, p Periods) ([]CountRow, error) {
			seen(p)
			return []CountRow{{Period: 0, Value: 1}}, nil
		})
	if err != nil || len(tr.Series) != 2 || len(tr.Series[0].Points) != 3 || tr.Series[0].Points[2] != (Point{"2026-01-07", 0}) {
		t.Fatalf("trend = %+v, %v", tr, err)
	}
	st, err := RunStickiness(&Stickiness{Series: []EventMatch{{Event: "e", Label: "e"}}, Interval: "day", Range: r}, time.UTC, now,
		func(p Periods) ([]CountRow, error) { seen(p); return nil, nil })
	if err != nil || len(st.Series[0].Points) != 3 {
		t.Fatalf("stickiness = %+v, %v", st, err)
	}
	lc, err := RunLifecycle(&Lifecycle{Event: "e", Interval: "day", Range: r}, time.UTC, now,
		func(p Periods) ([]CountRow, error) { seen(p); return nil, nil })
	if err != nil || len(lc.Points) != 3 || lc.Points[2].T != "2026-01-07" {
		t.Fatalf("lifecycle = %+v, %v", lc, err)
	}
	bd, err := RunBadDays(&BadDays{Top: 10, Range: r}, time.UTC, now,
		func(p Periods) ([]CountRow, []BadDaysActor, error) { seen(p); return nil, nil, nil })
	if err != nil || len(bd.Days) != 3 || bd.TopPersons == nil {
		t.Fatalf("bad days = %+v, %v", bd, err)
	}
}

func TestRunStickiness(t *testing.T) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	q := &Stickiness{Series: []EventMatch{{Event: "a", Label: "A"}, {Event: "b", Label: "B"}}, Interval: "week", Range: Range{From: day0, To: day0.AddDate(0, 0, 21)}}
	res, err := RunStickiness(q, time.UTC, testNow, func(p Periods) ([]CountRow, error) {
		if p.Interval != "week" || p.Len() != 3 {
			t.Fatalf("periods %+v", p)
		}
		return []CountRow{{Series: 0, Period: 1, Value: 5}, {Series: 0, Period: 3, Value: 2}, {Series: 1, Period: 2, Value: 1}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &StickinessResult{Kind: "stickiness", Series: []StickinessSeries{
		{Label: "A", Points: []StickinessPoint{{1, 5}, {2, 0}, {3, 2}}},
		{Label: "B", Points: []StickinessPoint{{1, 0}, {2, 1}, {3, 0}}},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("stickiness = %+v, want %+v", res, want)
	}
	for _, bad := range []CountRow{{Series: 2, Period: 1}, {Period: 0}, {Period: 4}} {
		if _, err := RunStickiness(q, time.UTC, testNow, func(Periods) ([]CountRow, error) { return []CountRow{bad}, nil }); err == nil {
			t.Fatalf("row %+v accepted", bad)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	loc := berlin(t)
	// Months in Berlin: the counts are of February (the period before),
	// March and April.
	q := &Lifecycle{Event: "e", Interval: "month", Range: Range{From: time.Date(2026, 3, 10, 0, 0, 0, 0, loc), To: time.Date(2026, 5, 1, 0, 0, 0, 0, loc)}}
	res, err := RunLifecycle(q, loc, testNow, func(p Periods) ([]CountRow, error) {
		if !p.Before().Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, loc)) || !p.Starts[0].Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, loc)) {
			t.Fatalf("periods %+v", p)
		}
		// Feb: 4 active. Mar: 5 active, 3 of them in Feb too, 1 new.
		// Apr: 2 active (as two partial counts), both returning.
		return []CountRow{
			{Measure: CountActive, Period: -1, Value: 4},
			{Measure: CountActive, Period: 0, Value: 5}, {Measure: CountReturning, Period: 0, Value: 3}, {Measure: CountNew, Period: 0, Value: 1},
			{Measure: CountActive, Period: 1, Value: 1}, {Measure: CountActive, Period: 1, Value: 1}, {Measure: CountReturning, Period: 1, Value: 2},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &LifecycleResult{Kind: "lifecycle", Points: []LifecyclePoint{
		{T: "2026-03-01", New: 1, Returning: 3, Resurrecting: 1, Dormant: -1},
		{T: "2026-04-01", New: 0, Returning: 2, Resurrecting: 0, Dormant: -3},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("lifecycle = %+v, want %+v", res, want)
	}
	for _, bad := range []CountRow{{Measure: CountActive, Period: -2}, {Measure: CountNew, Period: -1}, {Measure: CountReturning, Period: 2}, {Measure: "other"}} {
		if _, err := RunLifecycle(q, loc, testNow, func(Periods) ([]CountRow, error) { return []CountRow{bad}, nil }); err == nil {
			t.Fatalf("row %+v accepted", bad)
		}
	}
}

func TestRunBadDays(t *testing.T) {
	loc := berlin(t)
	q := &BadDays{Top: 2, Range: Range{From: time.Date(2026, 3, 28, 0, 0, 0, 0, loc), To: time.Date(2026, 3, 31, 0, 0, 0, 0, loc)}}
	top := []BadDaysActor{{Actor: "p1", BadDays: 2, ActiveDays: 3}, {Actor: "p2", BadDays: 1, ActiveDays: 1}}
	res, err := RunBadDays(q, loc, testNow, func(days Periods) ([]CountRow, []BadDaysActor, error) {
		if days.Interval != "day" || days.Len() != 3 || days.Starts[2].Sub(days.Starts[1]) != 23*time.Hour {
			t.Fatalf("days %+v", days)
		}
		return []CountRow{
			{Measure: CountActive, Period: 0, Value: 4}, {Measure: CountBad, Period: 0, Value: 1},
			{Measure: CountActive, Period: 2, Value: 2}, {Measure: CountBad, Period: 2, Value: 1}, {Measure: CountBad, Period: 2, Value: 1},
		}, top, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &BadDaysResult{Kind: "bad_days", Rate: 0.5, Days: []BadDay{
		{T: "2026-03-28", Rate: 0.25, Bad: 1, Active: 4}, {T: "2026-03-29"}, {T: "2026-03-30", Rate: 1, Bad: 2, Active: 2},
	}, TopPersons: top}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("bad days = %+v, want %+v", res, want)
	}
	for _, bad := range []CountRow{{Measure: CountBad, Period: 3}, {Measure: CountNew, Period: 0}} {
		if _, err := RunBadDays(q, loc, testNow, func(Periods) ([]CountRow, []BadDaysActor, error) { return []CountRow{bad}, nil, nil }); err == nil {
			t.Fatalf("row %+v accepted", bad)
		}
	}
}
