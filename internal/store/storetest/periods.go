package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// periodsDST: periods follow the project timezone across DST changes in
// every kind that counts by period: an hourly trend through Berlin's
// autumn change has two distinct "02:00" hours, months and US weeks start
// at local midnight, and a 23-hour day is a whole day.
func periodsDST(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	la, _ := time.LoadLocation("America/Los_Angeles")
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	var evs []event.Raw
	// Berlin leaves summer time at 01:00 UTC on Oct 25: the hours from
	// 22:00 UTC on Oct 24 are 00:00, 01:00, 02:00 (CEST), 02:00 (CET) and
	// 03:00 local. Hour i has i+1 events, each by its own person.
	for i := range 5 {
		for j := range i + 1 {
			evs = append(evs, Ev("tick", fmt.Sprintf("h%d-%d", i, j), utc(10, 24, 22, 30).Add(time.Duration(i)*time.Hour), nil))
		}
	}
	evs = append(evs,
		// Months in Berlin: 22:30 UTC on Mar 31 is Apr 1 (CEST), 21:30
		// UTC still Mar 31.
		Ev("m", "p", utc(3, 15, 12, 0), nil), Ev("m", "p", utc(3, 31, 22, 30), nil),
		Ev("m", "q", utc(3, 31, 21, 30), nil), Ev("m", "q", utc(4, 15, 12, 0), nil),
		Ev("m", "r", utc(3, 31, 22, 30), nil),
		// Weeks in Los Angeles (summer time from Mar 8): a on Mar 1 and 9,
		// b on Mar 1 (23:30 PST) and 3, c on Mar 8 (23:30 PDT), local.
		Ev("w", "a", utc(3, 2, 4, 0), nil), Ev("w", "a", utc(3, 10, 1, 0), nil),
		Ev("w", "b", utc(3, 2, 7, 30), nil), Ev("w", "b", utc(3, 3, 20, 0), nil),
		Ev("w", "c", utc(3, 9, 6, 30), nil),
		// Days in Los Angeles: Mar 8 has 23 hours.
		Ev("$pageview", "x", utc(3, 8, 8, 30), nil), Ev("$exception", "x", utc(3, 9, 6, 30), nil),
		Ev("$pageview", "y", utc(3, 10, 6, 30), nil),
	)
	l.Load(1, evs...)
	ctx := context.Background()

	for _, math := range []string{"total", "dau"} {
		q := &insight.Trend{Series: []insight.Series{{Event: "tick", Math: math}}, Interval: "hour",
			Range: insight.Range{From: time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), To: utc(10, 25, 3, 0)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Trend(ctx, 1, berlin, q)
		if err != nil {
			t.Fatal(err)
		}
		want := []insight.Point{{T: "2026-10-25T00:00", Value: 1}, {T: "2026-10-25T01:00", Value: 2}, {T: "2026-10-25T02:00", Value: 3}, {T: "2026-10-25T02:00", Value: 4}, {T: "2026-10-25T03:00", Value: 5}}
		if len(res.Series) != 1 || !reflect.DeepEqual(res.Series[0].Points, want) {
			t.Fatalf("hourly %s across the DST change = %+v, want %+v", math, res.Series, want)
		}
	}

	st := &insight.Stickiness{Series: []insight.EventMatch{{Event: "m"}}, Interval: "month",
		Range: insight.Range{From: time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), To: time.Date(2026, 5, 1, 0, 0, 0, 0, berlin)}}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	sres, err := s.Stickiness(ctx, 1, berlin, st)
	if err != nil {
		t.Fatal(err)
	}
	// p and q in both months, r in April only.
	if want := []insight.StickinessPoint{{Days: 1, Count: 1}, {Days: 2, Count: 2}}; len(sres.Series) != 1 || !reflect.DeepEqual(sres.Series[0].Points, want) {
		t.Fatalf("monthly stickiness in Berlin = %+v, want %+v", sres.Series, want)
	}

	lc := &insight.Lifecycle{Event: "w", Interval: "week",
		Range: insight.Range{From: time.Date(2026, 3, 2, 0, 0, 0, 0, la), To: time.Date(2026, 3, 16, 0, 0, 0, 0, la)}}
	if err := lc.Validate(); err != nil {
		t.Fatal(err)
	}
	lres, err := s.Lifecycle(ctx, 1, la, lc)
	if err != nil {
		t.Fatal(err)
	}
	// [new, returning, resurrecting, dormant]. Week of Mar 2: c is new, b
	// returns, a (week of Feb 23) goes dormant; week of Mar 9: a
	// resurrects, b and c go dormant.
	if want := []insight.LifecyclePoint{{T: "2026-03-02", New: 1, Returning: 1, Dormant: -1}, {T: "2026-03-09", Resurrecting: 1, Dormant: -2}}; !reflect.DeepEqual(lres.Points, want) {
		t.Fatalf("weekly lifecycle in Los Angeles = %+v, want %+v", lres.Points, want)
	}

	bd := &insight.BadDays{Active: []insight.EventMatch{{Event: "$pageview"}}, Range: insight.Range{From: time.Date(2026, 3, 8, 0, 0, 0, 0, la), To: time.Date(2026, 3, 10, 0, 0, 0, 0, la)}}
	if err := bd.Validate(); err != nil {
		t.Fatal(err)
	}
	bres, err := s.BadDays(ctx, 1, la, bd)
	if err != nil {
		t.Fatal(err)
	}
	// x's pageview and exception are both on Mar 8; y is on Mar 9.
	wantDays := []insight.BadDay{{T: "2026-03-08", Rate: 1, Bad: 1, Active: 1}, {T: "2026-03-09", Active: 1}}
	wantTop := []insight.BadDaysActor{{Actor: personID(t, s, "x"), BadDays: 1, ActiveDays: 1}}
	if bres.Rate != 0.5 || !reflect.DeepEqual(bres.Days, wantDays) || !reflect.DeepEqual(bres.TopPersons, wantTop) {
		t.Fatalf("bad days in Los Angeles = %+v", bres)
	}
}

// trendBreakdownDistinct: a DAU breakdown beyond its limit folds the rest
// into "$other", counted distinct again (c is one actor on both days).
func trendBreakdownDistinct(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	src := func(v string) map[string]any { return map[string]any{"src": v} }
	l.Load(1,
		Ev("view", "a", at(0, 1), src("ads")), Ev("view", "a", at(0, 2), src("ads")), Ev("view", "b", at(0, 3), src("ads")),
		Ev("view", "c", at(0, 4), src("mail")), Ev("view", "c", at(1, 4), src("mail")), Ev("view", "d", at(1, 5), src("seo")),
	)
	q := insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Range: insight.Range{Breakdown: &insight.Breakdown{Property: "src", Limit: 1}}}
	want := map[string][]float64{"view - ads": {2, 0, 0}, "view - $other": {1, 2, 0}}
	if got := Values(t, s, time.UTC, q); !reflect.DeepEqual(got, want) {
		t.Fatalf("dau by src, limit 1 = %v, want %v", got, want)
	}
}
