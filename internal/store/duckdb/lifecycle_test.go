package duckdb

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestLifecycle(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(day, hour, minute int) time.Time {
		return day0.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	l.Load(1,
		ev("$pageview", "a", at(0, 10, 0), nil), ev("$pageview", "a", at(1, 10, 0), nil), ev("$pageview", "a", at(3, 10, 0), nil),
		ev("$pageview", "b", at(-4, 10, 0), nil), ev("$pageview", "b", at(-1, 10, 0), nil), ev("$pageview", "b", at(0, 10, 0), nil),
		ev("$pageview", "c", at(-4, 10, 0), nil), ev("$pageview", "c", at(1, 10, 0), nil),
		ev("$pageview", "d", at(-1, 10, 0), nil),
		// 23:30 UTC on Jan 7 is Jan 8 in Berlin.
		ev("$pageview", "e", at(2, 23, 30), nil),
		ev("$pageview", "h", time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC), nil), ev("$pageview", "h", at(8, 10, 0), nil),
		ev("signed_up", "z", at(0, 10, 0), nil),
	)
	type pt = insight.LifecyclePoint
	f := func(project int64, q insight.Lifecycle, tz *time.Location, want ...pt) {
		t.Helper()
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Lifecycle(context.Background(), project, tz, &q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != "lifecycle" || !reflect.DeepEqual(res.Points, want) {
				t.Fatalf("%s plan, %s in %s:\n got %s\nwant %s", plan, q.Interval, tz, dumpJSON(res.Points), dumpJSON(want))
			}
		})
	}
	days := insight.Range{From: day0, To: day0.AddDate(0, 0, 4)}
	f(1, insight.Lifecycle{Event: "$pageview", Range: days}, time.UTC,
		pt{T: "2026-01-05", New: 1, Returning: 1, Dormant: -1},
		pt{T: "2026-01-06", Returning: 1, Resurrecting: 1, Dormant: -1},
		pt{T: "2026-01-07", New: 1, Dormant: -2},
		pt{T: "2026-01-08", Resurrecting: 1, Dormant: -1},
	)
	berlinDays := insight.Range{From: time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), To: time.Date(2026, 1, 9, 0, 0, 0, 0, berlin)}
	f(1, insight.Lifecycle{Event: "$pageview", Range: berlinDays}, berlin,
		pt{T: "2026-01-05", New: 1, Returning: 1, Dormant: -1},
		pt{T: "2026-01-06", Returning: 1, Resurrecting: 1, Dormant: -1},
		pt{T: "2026-01-07", Dormant: -2},
		pt{T: "2026-01-08", New: 1, Resurrecting: 1},
	)
	weeks := insight.Range{From: day0, To: day0.AddDate(0, 0, 14)}
	f(1, insight.Lifecycle{Event: "$pageview", Interval: "week", Range: weeks}, time.UTC,
		pt{T: "2026-01-05", New: 2, Returning: 2, Dormant: -1},
		pt{T: "2026-01-12", Resurrecting: 1, Dormant: -4},
	)
	// Whole intervals: a from inside Jan 5 still sees all of Jan 5.
	late := insight.Range{From: day0.Add(12 * time.Hour), To: day0.AddDate(0, 0, 2)}
	f(1, insight.Lifecycle{Event: "$pageview", Range: late}, time.UTC,
		pt{T: "2026-01-05", New: 1, Returning: 1, Dormant: -1},
		pt{T: "2026-01-06", Returning: 1, Resurrecting: 1, Dormant: -1},
	)
	hostile := days
	hostile.Filters = []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}
	f(1, insight.Lifecycle{Event: "$pageview", Range: hostile}, time.UTC,
		pt{T: "2026-01-05"}, pt{T: "2026-01-06"}, pt{T: "2026-01-07"}, pt{T: "2026-01-08"})

	// A merge arriving after the events: the user's first day is the
	// anonymous one, so the second is returning, not new.
	l.Load(2, ev("$pageview", "anon", at(0, 10, 0), nil), ev("$pageview", "user", at(1, 10, 0), nil))
	two := insight.Range{From: day0, To: day0.AddDate(0, 0, 2)}
	f(2, insight.Lifecycle{Event: "$pageview", Range: two}, time.UTC,
		pt{T: "2026-01-05", New: 1}, pt{T: "2026-01-06", New: 1, Dormant: -1})
	l.Load(2, ev("$identify", "user", at(1, 11, 0), map[string]any{"$anon_distinct_id": "anon"}))
	f(2, insight.Lifecycle{Event: "$pageview", Range: two}, time.UTC,
		pt{T: "2026-01-05", New: 1}, pt{T: "2026-01-06", Returning: 1})

	// Groups: acme's first event was by u1, its second day by u2.
	acme := map[string]any{"$groups": map[string]any{"company": "acme"}}
	l.Load(3, ev("$pageview", "u1", at(0, 10, 0), acme), ev("$pageview", "u2", at(1, 10, 0), acme), ev("$pageview", "u3", at(1, 10, 0), nil))
	two.Unit = "group:company"
	f(3, insight.Lifecycle{Event: "$pageview", Range: two}, time.UTC,
		pt{T: "2026-01-05", New: 1}, pt{T: "2026-01-06", Returning: 1})
}
