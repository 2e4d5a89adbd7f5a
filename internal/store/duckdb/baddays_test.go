package duckdb

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestBadDays(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(day, hour, minute int) time.Time {
		return day0.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	handled := map[string]any{"handled": true}
	l.Load(1,
		ev("$pageview", "a", at(0, 10, 0), nil), ev("$exception", "a", at(0, 11, 0), nil), ev("$pageview", "a", at(1, 10, 0), nil),
		ev("$pageview", "b", at(0, 10, 0), nil), ev("$exception", "b", at(1, 10, 0), nil),
		ev("$pageview", "c", at(0, 10, 0), nil), ev("$pageview", "c", at(1, 10, 0), nil), ev("$pageview", "c", at(2, 10, 0), nil),
		ev("$exception", "d", at(1, 10, 0), handled), ev("$exception", "d", at(2, 10, 0), handled),
		// 23:30 UTC on Jan 5 is Jan 6 in Berlin.
		ev("$pageview", "e", at(0, 10, 0), nil), ev("$exception", "e", at(0, 23, 30), nil),
		ev("ping", "f", at(2, 10, 0), nil),
		ev("$exception", "g", at(3, 10, 0), nil), // after the range
	)
	id := func(distinct string) string {
		p, _, err := s.PersonByDistinctID(context.Background(), 1, distinct)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(p.ID)
	}
	type day = insight.BadDay
	type actor = insight.BadDaysActor
	f := func(project int64, q insight.BadDays, tz *time.Location, rate float64, days []day, top []actor) {
		t.Helper()
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.BadDays(context.Background(), project, tz, &q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != "bad_days" || res.Rate != rate || !reflect.DeepEqual(res.Days, days) || !reflect.DeepEqual(res.TopPersons, top) {
				t.Fatalf("%s plan in %s:\n got %s\nwant %s", plan, tz, dumpJSON(res), dumpJSON(insight.BadDaysResult{Kind: "bad_days", Rate: rate, Days: days, TopPersons: top}))
			}
		})
	}
	exceptions := []insight.EventMatch{{Event: "$exception"}}
	rng := insight.Range{From: day0, To: day0.AddDate(0, 0, 3)}
	// Any event makes a day active.
	f(1, insight.BadDays{Bad: exceptions, Range: rng}, time.UTC, 5.0/11,
		[]day{{T: "2026-01-05", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-06", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-07", Rate: 1.0 / 3, Bad: 1, Active: 3}},
		[]actor{{Actor: id("d"), BadDays: 2, ActiveDays: 2}, {Actor: id("a"), BadDays: 1, ActiveDays: 2}, {Actor: id("b"), BadDays: 1, ActiveDays: 2}, {Actor: id("e"), BadDays: 1, ActiveDays: 1}})
	// Only page views (and bad events) make a day active; top 2.
	f(1, insight.BadDays{Bad: exceptions, Active: []insight.EventMatch{{Event: "$pageview"}}, Top: 2, Range: rng}, time.UTC, 0.5,
		[]day{{T: "2026-01-05", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-06", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-07", Rate: 0.5, Bad: 1, Active: 2}},
		[]actor{{Actor: id("d"), BadDays: 2, ActiveDays: 2}, {Actor: id("a"), BadDays: 1, ActiveDays: 2}})
	// Filters on the bad events: handled exceptions are not bad (d's days
	// stay active when any event counts, not when only page views do).
	unhandled := []insight.EventMatch{{Event: "$exception", Filters: []insight.Filter{{Property: "handled", Op: "neq", Value: true}}}}
	f(1, insight.BadDays{Bad: unhandled, Range: rng}, time.UTC, 3.0/11,
		[]day{{T: "2026-01-05", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-06", Rate: 0.25, Bad: 1, Active: 4}, {T: "2026-01-07", Bad: 0, Active: 3}},
		[]actor{{Actor: id("a"), BadDays: 1, ActiveDays: 2}, {Actor: id("b"), BadDays: 1, ActiveDays: 2}, {Actor: id("e"), BadDays: 1, ActiveDays: 1}})
	f(1, insight.BadDays{Bad: unhandled, Active: []insight.EventMatch{{Event: "$pageview"}}, Range: rng}, time.UTC, 3.0/8,
		[]day{{T: "2026-01-05", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-06", Rate: 1.0 / 3, Bad: 1, Active: 3}, {T: "2026-01-07", Bad: 0, Active: 1}},
		[]actor{{Actor: id("a"), BadDays: 1, ActiveDays: 2}, {Actor: id("b"), BadDays: 1, ActiveDays: 2}, {Actor: id("e"), BadDays: 1, ActiveDays: 1}})
	// Days in Berlin: e's exception moves to Jan 6.
	berlinRange := insight.Range{From: time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), To: time.Date(2026, 1, 8, 0, 0, 0, 0, berlin)}
	f(1, insight.BadDays{Bad: exceptions, Range: berlinRange}, berlin, 5.0/12,
		[]day{{T: "2026-01-05", Rate: 0.25, Bad: 1, Active: 4}, {T: "2026-01-06", Rate: 0.6, Bad: 3, Active: 5}, {T: "2026-01-07", Rate: 1.0 / 3, Bad: 1, Active: 3}},
		[]actor{{Actor: id("d"), BadDays: 2, ActiveDays: 2}, {Actor: id("a"), BadDays: 1, ActiveDays: 2}, {Actor: id("b"), BadDays: 1, ActiveDays: 2}, {Actor: id("e"), BadDays: 1, ActiveDays: 2}})
	// Hostile property names are data.
	hostile := []insight.EventMatch{{Event: "$exception", Filters: []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}}}
	f(1, insight.BadDays{Bad: hostile, Active: hostile, Range: rng}, time.UTC, 0,
		[]day{{T: "2026-01-05"}, {T: "2026-01-06"}, {T: "2026-01-07"}}, []actor{})

	// Groups: acme had a bad day and an active one.
	acme := map[string]any{"$groups": map[string]any{"company": "acme"}}
	l.Load(2, ev("$exception", "u1", at(0, 10, 0), acme), ev("$pageview", "u2", at(1, 10, 0), acme), ev("$pageview", "u3", at(1, 10, 0), nil))
	groups := insight.Range{From: day0, To: day0.AddDate(0, 0, 2), Unit: "group:company"}
	f(2, insight.BadDays{Bad: exceptions, Range: groups}, time.UTC, 0.5,
		[]day{{T: "2026-01-05", Rate: 1, Bad: 1, Active: 1}, {T: "2026-01-06", Bad: 0, Active: 1}},
		[]actor{{Actor: "acme", BadDays: 1, ActiveDays: 2}})
}
