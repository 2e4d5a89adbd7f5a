package duckdb

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestStickiness(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(day, hour, minute int) time.Time {
		return day0.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	acme := map[string]any{"$groups": map[string]any{"company": "acme"}}
	l.Load(1,
		ev("$pageview", "a", at(0, 10, 0), nil), ev("$pageview", "a", at(0, 11, 0), nil), ev("$pageview", "a", at(1, 10, 0), nil),
		ev("$pageview", "b", at(0, 10, 0), map[string]any{"src": "ads", "$groups": map[string]any{"company": "acme"}}), ev("$pageview", "b", at(1, 10, 0), nil), ev("$pageview", "b", at(2, 10, 0), nil),
		ev("$pageview", "c", at(2, 10, 0), nil),
		ev("$pageview", "d", at(-1, 10, 0), nil), ev("$pageview", "d", at(3, 10, 0), nil),
		// 23:30 UTC on Jan 5 is Jan 6 in Berlin.
		ev("$pageview", "e", at(0, 23, 30), nil), ev("$pageview", "e", at(1, 10, 0), nil),
		ev("$pageview", "f", at(0, 10, 0), acme), ev("$pageview", "f", at(7, 10, 0), acme),
		ev("signed_up", "a", at(0, 10, 0), nil),
	)
	f := func(q insight.Stickiness, tz *time.Location, want ...[]int64) {
		t.Helper()
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Stickiness(context.Background(), 1, tz, &q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != "stickiness" || len(res.Series) != len(want) {
				t.Fatalf("result %s", dumpJSON(res))
			}
			for i, sr := range res.Series {
				var got []int64
				for k, p := range sr.Points {
					if p.Days != k+1 {
						t.Fatalf("series %d point %d has days %d", i, k, p.Days)
					}
					got = append(got, p.Count)
				}
				if sr.Label != q.Series[i].Label || !reflect.DeepEqual(got, want[i]) {
					t.Fatalf("%s plan, series %d (%s) in %s: got %v, want %v", plan, i, sr.Label, tz, got, want[i])
				}
			}
		})
	}
	days := insight.Range{From: day0, To: day0.AddDate(0, 0, 3)}
	pageviews := []insight.EventMatch{{Event: "$pageview"}}
	// Jan 5 to 7 in UTC (f's second week is out of range): c 1 day; a and e 2; b 3; f 1.
	f(insight.Stickiness{Series: pageviews, Range: days}, time.UTC, []int64{2, 2, 1})
	// In Berlin e's two page views are on one day.
	berlinDays := insight.Range{From: time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), To: time.Date(2026, 1, 8, 0, 0, 0, 0, berlin)}
	f(insight.Stickiness{Series: pageviews, Range: berlinDays}, berlin, []int64{3, 1, 1})
	// Several series in one query; series filters; labels.
	f(insight.Stickiness{Series: []insight.EventMatch{
		{Event: "$pageview"},
		{Event: "$pageview", Label: "from ads", Filters: []insight.Filter{{Property: "src", Op: "eq", Value: "ads"}}},
		{Event: "signed_up"},
		{Event: "$pageview", Label: "hostile", Filters: []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}},
	}, Range: days}, time.UTC, []int64{2, 2, 1}, []int64{1, 0, 0}, []int64{1, 0, 0}, []int64{0, 0, 0})
	// Weeks: everyone is active in the first week only, but f.
	weeks := insight.Range{From: day0, To: day0.AddDate(0, 0, 14)}
	f(insight.Stickiness{Series: pageviews, Interval: "week", Range: weeks}, time.UTC, []int64{5, 1})
	// Groups: acme (b and f) is active both weeks.
	weeks.Unit = "group:company"
	f(insight.Stickiness{Series: pageviews, Interval: "week", Range: weeks}, time.UTC, []int64{0, 1})
	// A merge arriving later joins the anonymous and the identified days.
	l.Load(2, ev("$pageview", "anon", at(0, 10, 0), nil), ev("$pageview", "user", at(1, 10, 0), nil))
	q := insight.Stickiness{Series: pageviews, Range: days}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Stickiness(context.Background(), 2, time.UTC, &q)
	if err != nil || res.Series[0].Points[0].Count != 2 {
		t.Fatalf("before merge: %s, %v", dumpJSON(res), err)
	}
	l.Load(2, ev("$identify", "user", at(1, 11, 0), map[string]any{"$anon_distinct_id": "anon"}))
	res, err = s.Stickiness(context.Background(), 2, time.UTC, &q)
	if err != nil || res.Series[0].Points[0].Count != 0 || res.Series[0].Points[1].Count != 1 {
		t.Fatalf("after merge: %s, %v", dumpJSON(res), err)
	}
}
