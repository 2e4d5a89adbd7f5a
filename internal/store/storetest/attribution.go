package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// attribution: a campaign report's read (touches, conversions and goal
// value per person, per day), every number computed by hand below.
// Touches are $message_sent of campaign 1, goals purchase matched on
// item with its revenue, window 72 h, range [Day0, Day0+7d) in days.
func attribution(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h float64) time.Time { return Day0.Add(time.Duration(h * float64(time.Hour))) }
	sent := func(id string, h float64, item string, campaign int) event.Raw {
		return Ev("$message_sent", id, at(h), map[string]any{"campaign_id": campaign, "item": item})
	}
	buy := func(id string, h float64, item string, revenue any) event.Raw {
		return Ev("purchase", id, at(h), map[string]any{"item": item, "revenue": revenue})
	}
	l.Load(1, Ev("login", "g", at(-100), nil))
	l.Load(1,
		// a: X at 11 h and 20 h (35), another item Y (100) not its.
		sent("a", 10, "X", 1), buy("a", 11, "X", 30), buy("a", 12, "Y", 100), buy("a", 20, "X", 5),
		// b: buys 80 h after: past the window.
		sent("b", 30, "X", 1), buy("b", 110, "X", 50),
		// c: two touches (days 0 and 2), one purchase counted once, its
		// revenue a numeric string.
		sent("c", 5, "X", 1), sent("c", 50, "X", 1), buy("c", 60, "X", "12.5"),
		// d: another campaign's message.
		sent("d", 100, "X", 2), buy("d", 101, "X", 1000),
		// e: touched on the last day, buys after the range; its revenue
		// is no number.
		sent("e", 160, "Z", 1), buy("e", 170, "Z", "abc"),
		// f: two touches at one instant; a purchase at that instant is
		// not after them, the next is.
		sent("f", 40, "W", 1), sent("f", 40, "W", 1), buy("f", 40, "W", 7), buy("f", 41, "W", 3),
		// h: touched before the range.
		sent("h", -5, "X", 1), buy("h", 1, "X", 9),
		sent("anon-g", 20, "X", 1),
	)
	// anon-g turns out to be g (a merge after its touch is stored); g buys.
	l.Load(1, Ev("$identify", "g", at(21), map[string]any{"$anon_distinct_id": "anon-g"}))
	l.Load(1, buy("g", 22, "X", 8))
	// Another project: no touch, no goal of project 1.
	l.Load(2, sent("a", 10, "X", 1), buy("a", 11, "X", 1000))

	run := func(project int64, goal, match, value string, buckets bool) *insight.AttributionResult {
		t.Helper()
		q := &insight.Attribution{
			Touch: insight.GoldenEvent{Event: "$message_sent", Filters: []insight.Filter{{Type: "event", Property: "campaign_id", Op: "eq", Value: "1"}}},
			Goal:  insight.GoldenEvent{Event: goal}, Match: match, Value: value, Window: 72 * time.Hour,
			From: Day0, To: Day0.AddDate(0, 0, 7)}
		if buckets {
			q.Starts = insight.Buckets(q.From, q.To, time.UTC, "day")
		}
		res, err := s.Attribution(ctx, project, q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	c := func(touches, converted, persons, convertedPersons int64) insight.AttributionCounts {
		return insight.AttributionCounts{Touches: touches, Converted: converted, Persons: persons, ConvertedPersons: convertedPersons}
	}

	// Touches a, b, c ×2, e, f ×2, g: 8 of 6 persons; all but b's
	// convert (7), persons a c e f g (5). Values: a 35, b 0, c 12.5, e 0,
	// f 3, g 8: Σx 58.5, Σx² 1225 + 156.25 + 9 + 64 = 1454.25.
	res := run(1, "purchase", "item", "revenue", true)
	if res.AttributionCounts != c(8, 7, 6, 5) || round(res.ValueSum) != 58.5 || round(res.ValueSquares) != 1454.25 {
		t.Fatalf("totals %+v, Σx %v, Σx² %v; want 8 7 6 5, 58.5, 1454.25", res.AttributionCounts, res.ValueSum, res.ValueSquares)
	}
	// Days: 0 a c g; 1 b f ×2 (f converts); 2 c; 6 e.
	want := []insight.AttributionCounts{c(3, 3, 3, 3), c(3, 2, 2, 1), c(1, 1, 1, 1), {}, {}, {}, c(1, 1, 1, 1)}
	if !reflect.DeepEqual(res.Buckets, want) {
		t.Fatalf("buckets %+v, want %+v", res.Buckets, want)
	}
	// Without match a's Y counts (135): Σx 158.5; without buckets none.
	res = run(1, "purchase", "", "revenue", false)
	if res.AttributionCounts != c(8, 7, 6, 5) || round(res.ValueSum) != 158.5 || res.Buckets != nil {
		t.Fatalf("unmatched: %+v Σx %v buckets %v", res.AttributionCounts, res.ValueSum, res.Buckets)
	}
	// Without a goal: touches only.
	res = run(1, "", "", "", true)
	if res.AttributionCounts != c(8, 0, 6, 0) || res.ValueSum != 0 || !reflect.DeepEqual(res.Buckets[1], c(3, 0, 2, 0)) {
		t.Fatalf("no goal: %+v Σx %v buckets %+v", res.AttributionCounts, res.ValueSum, res.Buckets)
	}
	// Project 2 sees its own touch and goal only.
	res = run(2, "purchase", "item", "revenue", false)
	if res.AttributionCounts != c(1, 1, 1, 1) || round(res.ValueSum) != 1000 || round(res.ValueSquares) != 1e6 {
		t.Fatalf("project 2: %+v Σx %v", res.AttributionCounts, res.ValueSum)
	}
	// Nothing touched: zeros, every bucket present.
	res = run(3, "purchase", "item", "revenue", true)
	if res.AttributionCounts != (insight.AttributionCounts{}) || res.ValueSum != 0 || len(res.Buckets) != 7 {
		t.Fatalf("empty project: %+v", res)
	}
}
