package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
)

// fixNow sets the clock queries cut periods at, for the rest of the test.
func fixNow(s *Store, now time.Time) {
	s.plan.Now = func() time.Time { return now }
}

// bothPlans runs check with every retention plan: without breakdown the
// person bitsets, then actors' activity kept as bitmasks in SQL, then the
// (actor, period) pairs plan used for long ranges.
func bothPlans(t *testing.T, s *Store, check func(plan string)) {
	t.Helper()
	old := s.plan
	defer func() { s.plan = old }()
	s.plan.MaskPeriods, s.plan.NoDenseRetention = 0, false
	check("dense")
	s.plan.NoDenseRetention = true
	check("mask")
	s.plan.MaskPeriods = -1
	check("pairs")
}

// co is a cohort; retained[0] is its size.
func co(start string, retained ...int64) insight.RetentionCohort {
	return insight.RetentionCohort{Start: start, Size: retained[0], Retained: retained}
}

func dumpJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRetention(t *testing.T) {
	s := testdb(t)
	fixNow(s, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	l := newLoader(t, s)
	at := func(day, hour int) time.Time { return day0.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour) }
	pro, free := map[string]any{"plan": "pro"}, map[string]any{"plan": "free"}
	l.Load(1,
		ev("signed_up", "a", at(0, 10), pro), ev("product_viewed", "a", at(1, 10), nil), ev("product_viewed", "a", at(3, 10), nil),
		ev("signed_up", "b", at(0, 12), free), ev("signed_up", "b", at(1, 12), pro), ev("product_viewed", "b", at(2, 10), nil),
		ev("signed_up", "c", at(1, 9), free), ev("product_viewed", "c", at(1, 10), nil), ev("product_viewed", "c", at(2, 15), nil),
		// d signed up before the range: no first_time cohort.
		ev("signed_up", "d", at(-1, 9), nil), ev("signed_up", "d", at(1, 9), nil), ev("product_viewed", "d", at(2, 9), nil),
		ev("product_viewed", "e", at(1, 9), nil),
		// f's return is on Jan 9, at `to`: not counted (and no entry).
		ev("signed_up", "f", at(3, 9), pro), ev("product_viewed", "f", at(4, 9), nil),
	)
	base := insight.Retention{
		Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"},
		Period: "day", Periods: 3, Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 4)},
	}
	f := func(name string, q insight.Retention, want []insight.RetentionCohort, wantBreakdown []insight.RetentionBreakdown) {
		t.Helper()
		if err := q.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Retention(context.Background(), 1, time.UTC, &q)
			if err != nil {
				t.Fatalf("%s (%s plan): %v", name, plan, err)
			}
			if res.Kind != "retention" || !reflect.DeepEqual(res.Cohorts, want) || !reflect.DeepEqual(res.Breakdown, wantBreakdown) {
				t.Fatalf("%s (%s plan):\n got %s %s\nwant %s %s", name, plan, dumpJSON(res.Cohorts), dumpJSON(res.Breakdown), dumpJSON(want), dumpJSON(wantBreakdown))
			}
		})
	}
	firstTime := []insight.RetentionCohort{co("2026-01-05", 2, 1, 1), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}
	recurring := []insight.RetentionCohort{co("2026-01-05", 2, 1, 1), co("2026-01-06", 3, 3, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}
	q := base
	q.Mode = "first_time"
	f("first_time", q, firstTime, nil)
	q.Mode = ""
	f("default mode", q, firstTime, nil)
	q.Mode = "recurring"
	f("recurring", q, recurring, nil)

	// A from inside a day: that day is no cohort (it starts before from).
	q = base
	q.From = day0.Add(time.Hour)
	f("unaligned from", q, firstTime[1:], nil)
	// Fewer periods: each cohort reports at most that many.
	q = base
	q.Periods = 1
	f("one period", q, []insight.RetentionCohort{co("2026-01-05", 2), co("2026-01-06", 1), co("2026-01-07", 0), co("2026-01-08", 1)}, nil)

	// Start filters pick the start events: b's first pro sign-up is Jan 6.
	q = base
	q.Start.Filters = []insight.Filter{{Property: "plan", Op: "eq", Value: "pro"}}
	f("start filter", q, []insight.RetentionCohort{co("2026-01-05", 1, 1, 0), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}, nil)
	// Cohort filters apply to the whole query (everyone but b); on the
	// start or return event they are refused at validation.
	q = base
	q.Filters = []insight.Filter{{Type: "cohort", Op: "not_in", Cohort: &insight.CohortDef{DistinctIDs: []string{"b"}}}}
	f("query cohort", q, []insight.RetentionCohort{co("2026-01-05", 1, 1, 0), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}, nil)
	q = base
	q.Start.Filters = []insight.Filter{{Type: "cohort", Cohort: &insight.CohortDef{DistinctIDs: []string{"a", "c"}}}}
	if err := q.Validate(); err == nil {
		t.Fatal("a cohort filter on the start event passed validation")
	}
	q = base
	q.Filters = []insight.Filter{{Type: "cohort", Value: json.Number("7")}} // unresolved: matches nothing
	f("unresolved cohort", q, []insight.RetentionCohort{co("2026-01-05", 0, 0, 0), co("2026-01-06", 0, 0, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}, nil)

	// Hostile property names are data: they match nothing.
	q = base
	q.Start.Filters = []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}
	f("hostile filter", q, []insight.RetentionCohort{co("2026-01-05", 0, 0, 0), co("2026-01-06", 0, 0, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}, nil)
	q = base
	q.Return.Filters = []insight.Filter{{Property: `x') OR 1=1 --`, Op: "is_set"}}
	f("hostile return filter", q, []insight.RetentionCohort{co("2026-01-05", 2, 0, 0), co("2026-01-06", 1, 0, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}, nil)

	// Breakdown by the start event's plan: first_time takes the value of
	// the first start event, recurring that of each cohort's.
	q = base
	q.Breakdown = &insight.Breakdown{Property: "plan"}
	f("first_time breakdown", q, firstTime, []insight.RetentionBreakdown{
		{Value: "free", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 0, 1), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}},
		{Value: "pro", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 1, 0), co("2026-01-06", 0, 0, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}},
	})
	q.Mode = "recurring"
	f("recurring breakdown", q, recurring, []insight.RetentionBreakdown{
		{Value: "pro", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 1, 0), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}},
		{Value: "free", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 0, 1), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}},
		{Value: "$none", Cohorts: []insight.RetentionCohort{co("2026-01-05", 0, 0, 0), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}},
	})
	q.Breakdown = &insight.Breakdown{Property: "plan", Limit: 1}
	f("recurring breakdown limit 1", q, recurring, []insight.RetentionBreakdown{
		{Value: "pro", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 1, 0), co("2026-01-06", 1, 1, 0), co("2026-01-07", 0, 0), co("2026-01-08", 1)}},
		{Value: "$other", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 0, 1), co("2026-01-06", 2, 2, 0), co("2026-01-07", 0, 0), co("2026-01-08", 0)}},
	})
	q = base
	q.Breakdown = &insight.Breakdown{Property: `x') OR 1=1 --`}
	f("hostile breakdown", q, firstTime, []insight.RetentionBreakdown{{Value: "$none", Cohorts: firstTime}})

	// Now cuts the periods: a query up to Jan 20 run at Jan 7 noon has
	// cohorts up to Jan 7, and c's return at 15:00 has not happened yet.
	fixNow(s, at(2, 12))
	q = base
	q.To = day0.AddDate(0, 0, 15)
	f("cut at now", q, []insight.RetentionCohort{co("2026-01-05", 2, 1, 1), co("2026-01-06", 1, 0), co("2026-01-07", 0)}, nil)
	fixNow(s, day0.Add(-time.Hour))
	f("all in the future", q, []insight.RetentionCohort{}, nil)
}

func TestRetentionTimezoneAndDST(t *testing.T) {
	s := testdb(t)
	fixNow(s, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Days: 23:30 UTC on Jan 5 is 00:30 on Jan 6 in Berlin.
	l.Load(1,
		ev("signed_up", "g", day0.Add(10*time.Hour), nil),
		ev("product_viewed", "g", day0.Add(23*time.Hour+30*time.Minute), nil),
	)
	// Weeks over the DST change of Sunday March 29 (CET → CEST): the week
	// of Monday March 23 lasts 167 hours. Local midnight of March 23 is
	// 23:00 UTC on March 22, of March 30 22:00 UTC on March 29.
	mar := func(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC) }
	l.Load(2,
		ev("signed_up", "h", mar(23, 10, 0), nil), ev("product_viewed", "h", mar(29, 22, 30), nil), // Mar 30 00:30 CEST: week 2
		ev("signed_up", "i", mar(23, 10, 0), nil), ev("product_viewed", "i", mar(29, 21, 30), nil), // Mar 29 23:30 CEST: week 1
		ev("signed_up", "j", mar(22, 23, 30), nil), ev("product_viewed", "j", time.Date(2026, 4, 5, 21, 59, 0, 0, time.UTC), nil), // Mar 23 00:30 CET; Apr 5 23:59 CEST
		ev("signed_up", "k", mar(22, 22, 30), nil), ev("product_viewed", "k", mar(24, 10, 0), nil), // Mar 22 23:30 CET: before the range
	)
	f := func(project int64, q insight.Retention, tz *time.Location, want []insight.RetentionCohort) {
		t.Helper()
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Retention(context.Background(), project, tz, &q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Cohorts, want) {
				t.Fatalf("%s %s %s plan:\n got %s\nwant %s", q.Mode, tz, plan, dumpJSON(res.Cohorts), dumpJSON(want))
			}
		})
	}
	q := insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "day", Periods: 2}
	q.From, q.To = day0, day0.AddDate(0, 0, 2)
	f(1, q, time.UTC, []insight.RetentionCohort{co("2026-01-05", 1, 0), co("2026-01-06", 0)})
	q.From, q.To = time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 7, 0, 0, 0, 0, berlin)
	f(1, q, berlin, []insight.RetentionCohort{co("2026-01-05", 1, 1), co("2026-01-06", 0)})
	// The same range in a UTC project: Jan 4 (UTC) starts before from and
	// is no cohort; the return is on the sign-up's day.
	f(1, q, time.UTC, []insight.RetentionCohort{co("2026-01-05", 1, 0), co("2026-01-06", 0)})

	q = insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "week", Periods: 4}
	q.From, q.To = time.Date(2026, 3, 23, 0, 0, 0, 0, berlin), time.Date(2026, 4, 6, 0, 0, 0, 0, berlin)
	for _, mode := range []string{"first_time", "recurring"} {
		q.Mode = mode
		f(2, q, berlin, []insight.RetentionCohort{co("2026-03-23", 3, 2), co("2026-03-30", 0)})
	}
	// A month period, in Berlin.
	q.Period, q.Mode = "month", "first_time"
	q.From, q.To = time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), time.Date(2026, 5, 1, 0, 0, 0, 0, berlin)
	f(2, q, berlin, []insight.RetentionCohort{co("2026-03-01", 4, 1), co("2026-04-01", 0)})
}

func TestRetentionMergeAfterEvents(t *testing.T) {
	s := testdb(t)
	fixNow(s, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	l := newLoader(t, s)
	// The anonymous visitor signs up, the identified user returns, and
	// only then does the merge arrive.
	l.Load(1, ev("signed_up", "anon-1", day0.Add(time.Hour), nil))
	l.Load(1, ev("product_viewed", "user-1", day0.Add(25*time.Hour), map[string]any{"$set": map[string]any{"email": "u@x"}}))
	q := insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "day", Periods: 2,
		Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 2)}}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	// A person filter on the return event reads the merged person.
	withEmail := q
	withEmail.Return.Filters = []insight.Filter{{Type: "person", Property: "email", Op: "is_set"}}
	f := func(want []insight.RetentionCohort) {
		t.Helper()
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Retention(context.Background(), 1, time.UTC, &q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Cohorts, want) {
				t.Fatalf("%s plan: got %s, want %s", plan, dumpJSON(res.Cohorts), dumpJSON(want))
			}
			res, err = s.Retention(context.Background(), 1, time.UTC, &withEmail)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Cohorts, want) {
				t.Fatalf("%s plan: got %s, want %s", plan, dumpJSON(res.Cohorts), dumpJSON(want))
			}
		})
	}
	f([]insight.RetentionCohort{co("2026-01-05", 1, 0), co("2026-01-06", 0)})
	l.Load(1, ev("$identify", "user-1", day0.Add(26*time.Hour), map[string]any{"$anon_distinct_id": "anon-1"}))
	f([]insight.RetentionCohort{co("2026-01-05", 1, 1), co("2026-01-06", 0)})

	// A person property breakdown reads the merged person too.
	byEmail := q
	byEmail.Breakdown = &insight.Breakdown{Type: "person", Property: "email", Limit: 10}
	res, err := s.Retention(context.Background(), 1, time.UTC, &byEmail)
	want := []insight.RetentionBreakdown{{Value: "u@x", Cohorts: []insight.RetentionCohort{co("2026-01-05", 1, 1), co("2026-01-06", 0)}}}
	if err != nil || !reflect.DeepEqual(res.Breakdown, want) {
		t.Fatalf("person breakdown: %s, %v", dumpJSON(res), err)
	}
}

func TestRetentionGroups(t *testing.T) {
	s := testdb(t)
	fixNow(s, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	l := newLoader(t, s)
	acme := map[string]any{"$groups": map[string]any{"company": "acme"}}
	globex := map[string]any{"$groups": map[string]any{"company": "globex"}}
	l.Load(1,
		ev("signed_up", "u1", day0.Add(time.Hour), acme),
		ev("product_viewed", "u2", day0.Add(25*time.Hour), acme),
		ev("signed_up", "u3", day0.Add(time.Hour), globex),
		ev("product_viewed", "u4", day0.Add(25*time.Hour), nil),
	)
	f := func(unit string, breakdown *insight.Breakdown, want []insight.RetentionCohort) {
		t.Helper()
		q := insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "day", Periods: 2,
			Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 2), Unit: unit, Breakdown: breakdown}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		bothPlans(t, s, func(plan string) {
			t.Helper()
			res, err := s.Retention(context.Background(), 1, time.UTC, &q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Cohorts, want) {
				t.Fatalf("%s %s plan: got %s, want %s", unit, plan, dumpJSON(res.Cohorts), dumpJSON(want))
			}
		})
	}
	f("group:company", nil, []insight.RetentionCohort{co("2026-01-05", 2, 1), co("2026-01-06", 0)})
	f("", nil, []insight.RetentionCohort{co("2026-01-05", 2, 0), co("2026-01-06", 0)})
	f("group:company", &insight.Breakdown{Property: "$groups"}, []insight.RetentionCohort{co("2026-01-05", 2, 1), co("2026-01-06", 0)})
	f("group:nope", nil, []insight.RetentionCohort{co("2026-01-05", 0, 0), co("2026-01-06", 0)})
}

// benchStore opens the DuckDB file JOURNEY_BENCH_DB, or generates
// JOURNEY_BENCH_EVENTS events (default 2M) over the 8 weeks from day0 in
// memory: 1M persons, 5% signed_up, a third product_viewed, 9%
// $exception, the rest $pageview, with a utm_source and a company group.
func benchStore(b *testing.B) *Store {
	b.Helper()
	if path := os.Getenv("JOURNEY_BENCH_DB"); path != "" {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	n := 2_000_000
	if v := os.Getenv("JOURNEY_BENCH_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	s, err := Open("", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	_, err = s.db.Exec(fmt.Sprintf(`INSERT INTO events SELECT * FROM (SELECT 1, uuid(),
			CASE WHEN i %% 20 = 0 THEN 'signed_up' WHEN i %% 3 = 0 THEN 'product_viewed' WHEN i %% 7 = 0 THEN '$exception' ELSE '$pageview' END,
			'd' || (hash(i) %% 1000000)::VARCHAR, (hash(i) %% 1000000)::BIGINT,
			TIMESTAMP '2026-01-05' + to_microseconds((hash(i * 31) %% (56 * 86400000000))::BIGINT) AS ts,
			'{"utm_source":"' || ['ads', 'mail', 'seo', 'direct'][1 + (i %% 4)::INT] || '","$groups":{"company":"c' || (hash(i) %% 5000)::VARCHAR || '"}}',
			TIMESTAMP '2026-01-05'
		FROM range(%d) t(i)) ORDER BY ts;
		INSERT INTO person_overrides SELECT i, 1, i + 1 FROM range(0, 1000000, 50) t(i)`, n))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkRetention(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	rng := insight.Range{From: day0, To: day0.AddDate(0, 0, 56)}
	b.Run("baseline-groupby-actor", func(b *testing.B) {
		src := newSource(1, &rng, "signed_up", "product_viewed")
		from, args := src.sql()
		for i := 0; i < b.N; i++ {
			var n int64
			if err := s.db.QueryRowContext(ctx, "SELECT sum(n) FROM (SELECT actor, count(*) AS n FROM ("+from+") GROUP BY actor)", args...).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	run := func(name string, q insight.Retention, tz *time.Location, masks int) {
		b.Run(name, func(b *testing.B) {
			if err := q.Validate(); err != nil {
				b.Fatal(err)
			}
			old := s.plan.MaskPeriods
			s.plan.MaskPeriods = masks
			defer func() { s.plan.MaskPeriods = old }()
			for i := 0; i < b.N; i++ {
				if _, err := s.Retention(ctx, 1, tz, &q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	q := insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "week", Periods: 8, Range: rng}
	run("first_time-week8", q, time.UTC, 64)
	run("first_time-week8-berlin", q, berlin, 64)
	run("first_time-week8-pairs", q, time.UTC, -1)
	q.Mode = "recurring"
	run("recurring-week8", q, time.UTC, 64)
	run("recurring-week8-pairs", q, time.UTC, -1)
	q.Mode, q.Breakdown = "first_time", &insight.Breakdown{Property: "utm_source"}
	run("first_time-week8-breakdown", q, time.UTC, 64)
	q.Mode = "recurring"
	run("recurring-week8-breakdown", q, time.UTC, 64)
	q = insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "day", Periods: 14, Range: rng}
	run("first_time-day14", q, time.UTC, 64)
}

// TestRetentionDense compares retention from the dense person bitsets
// with the SQL masks plan on random events with late merges, event
// filters, first_time and recurring, by day, week and month across a DST
// change, with the in-place and the boxed feed read.
func TestRetentionDense(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	rng := rand.New(rand.NewPCG(9, 10))
	from := time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC) // Berlin's DST starts on March 29th
	fixNow(s, from.AddDate(0, 3, 0))
	var evs []event.Raw
	for p := range 2000 {
		for range 1 + rng.IntN(10) {
			name := []string{"signed_up", "used", "used", "other"}[rng.IntN(4)]
			props := map[string]any{"plan": []string{"pro", "free"}[rng.IntN(2)]}
			// Some start events come before the range (first_time history).
			evs = append(evs, ev(name, fmt.Sprint("anon-", p), from.Add(time.Duration(rng.IntN(100*24)-10*24)*time.Hour), props))
		}
	}
	l.Load(1, evs...)
	var merges []event.Raw
	for p := 0; p < 2000; p += 4 {
		merges = append(merges, ev("$identify", fmt.Sprint("user-", p%300), from, map[string]any{"$anon_distinct_id": fmt.Sprint("anon-", p)}))
	}
	l.Load(1, merges...)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := func(tz *time.Location, mode, period string, periods int, filtered bool, start string) {
		t.Helper()
		q := insight.Retention{Start: insight.EventMatch{Event: start}, Return: insight.EventMatch{Event: "used"},
			Mode: mode, Period: period, Periods: periods, Range: insight.Range{From: from, To: from.AddDate(0, 0, 90)}}
		if period == "day" { // at most 64 periods
			q.To = from.AddDate(0, 0, 40)
		}
		if filtered {
			q.Return.Filters = []insight.Filter{{Property: "plan", Op: "eq", Value: "pro"}}
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		s.plan.NoDenseRetention = true
		want, err := s.Retention(ctx, 1, tz, &q)
		s.plan.NoDenseRetention = false
		if err != nil {
			t.Fatal(err)
		}
		for _, inPlace := range []bool{true, false} {
			s.plan.NoFeedInPlace = !inPlace
			boxed := feedChunksBoxed.Get()
			bounds, to := q.CohortBounds(tz, s.plan.now())
			got := &insight.RetentionResult{Kind: "retention"}
			ok, err := s.retentionDense(ctx, 1, &q, bounds, to, got)
			s.plan.NoFeedInPlace = false
			if err != nil || !ok {
				t.Fatalf("ok = %v, err = %v", ok, err)
			}
			if used := feedChunksBoxed.Get() > boxed; used == inPlace {
				t.Fatalf("in place %v: boxed read used = %v", inPlace, used)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s %s filtered %v in place %v:\ndense %s\nSQL   %s", tz, mode, period, filtered, inPlace, dumpJSON(got), dumpJSON(want))
			}
		}
		var returned int64
		for _, c := range want.Cohorts {
			for _, n := range c.Retained[1:] {
				returned += n
			}
		}
		if want.Cohorts[0].Size == 0 || returned == 0 {
			t.Fatalf("a degenerate case: %s", dumpJSON(want))
		}
	}
	for _, mode := range []string{insight.RetentionFirstTime, "recurring"} {
		f(time.UTC, mode, "day", 14, false, "signed_up")
		f(berlin, mode, "day", 14, true, "signed_up")
		f(berlin, mode, "week", 8, false, "signed_up")
		f(berlin, mode, "month", 3, true, "signed_up")
		f(berlin, mode, "week", 8, false, "used") // start and return the same event
	}
}
