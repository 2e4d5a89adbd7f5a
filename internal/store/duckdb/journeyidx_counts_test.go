package duckdb

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// TestJourneyIndexStickinessLifecycle: stickiness and lifecycle (event
// names, actions of event names only) on the index answer as the SQL
// plans on random journeys with merges; queries with filters, property
// conditions in an action's step or a group unit do not read the index
// and answer the same.
//
// Both ways the index reads: period masks (journeyidx.ScanMasks, up to
// 64 periods) and, with masks off, each actor's events.
func TestJourneyIndexStickinessLifecycle(t *testing.T) {
	now := func() time.Time { return day0.AddDate(0, 0, 9) }
	off, err := Open("", Options{Plan: Plan{Now: now, NoJourneyIndex: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	journeyData(t, off, 5)
	for _, masks := range []int{0, -1} {
		t.Run(map[int]string{0: "masks", -1: "events"}[masks], func(t *testing.T) {
			on, err := Open("", Options{Plan: Plan{Now: now, MaskPeriods: masks}})
			if err != nil {
				t.Fatal(err)
			}
			defer on.Close()
			journeyData(t, on, 5)
			stickinessLifecycle(t, on, off)
		})
	}
}

func stickinessLifecycle(t *testing.T, on, off *Store) {
	ctx := context.Background()
	var err error
	ny, _ := time.LoadLocation("America/New_York")
	// reads says whether f read the index, failing when it should and did not.
	reads := func(what string, want bool, f func()) {
		t.Helper()
		n := journeyIndexQueries.Get()
		f()
		if got := journeyIndexQueries.Get() != n; got != want {
			t.Fatalf("%s: read the journey index %v, want %v", what, got, want)
		}
	}
	viewOrBuy := &insight.ActionDef{ID: 3, Name: "vb", Steps: []insight.ActionStep{{Event: "view"}, {Event: "buy"}}}
	withURL := &insight.ActionDef{ID: 4, Name: "u", Steps: []insight.ActionStep{{Event: "view"}, {Event: "buy", URL: "/x"}}}
	noURL := []insight.Filter{{Property: "$current_url", Op: "neq", Value: "/nowhere"}}
	ranges := []insight.Range{
		{From: day0.Add(13 * time.Hour), To: day0.AddDate(0, 0, 8)},
		{From: day0.AddDate(0, 0, 2), To: day0.AddDate(0, 0, 5).Add(7 * time.Hour)}, // history before it
	}
	nonEmpty := 0
	for _, tz := range []*time.Location{time.UTC, ny} {
		for _, interval := range []string{"day", "week"} {
			for ri, rng := range ranges {
				type stick struct {
					series []insight.EventMatch
					range_ insight.Range
					index  bool
				}
				withFilter := rng
				withFilter.Filters = noURL
				grouped := rng
				grouped.Unit = "group:company"
				for ci, c := range []stick{
					{[]insight.EventMatch{{Event: "view"}, {Event: "buy"}, {Event: "nothing"}}, rng, true},
					{[]insight.EventMatch{{Action: viewOrBuy}, {Event: "view"}}, rng, true},
					{[]insight.EventMatch{{Event: "view"}, {Action: withURL}}, rng, false},
					{[]insight.EventMatch{{Event: "view", Filters: noURL}}, rng, false},
					{[]insight.EventMatch{{Event: "view"}}, withFilter, false},
					{[]insight.EventMatch{{Event: "view"}}, grouped, false},
				} {
					q := &insight.Stickiness{Series: c.series, Interval: interval, Range: c.range_}
					if err := q.Validate(); err != nil {
						t.Fatal(err)
					}
					var got *insight.StickinessResult
					reads("stickiness", c.index, func() {
						if got, err = on.Stickiness(ctx, 1, tz, q); err != nil {
							t.Fatal(err)
						}
					})
					want, err := off.Stickiness(ctx, 1, tz, q)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("stickiness %d %s %s range %d:\n index %+v\n   sql %+v", ci, interval, tz, ri, got, want)
					}
					if pts := got.Series[0].Points; c.index && len(pts) > 1 && pts[0].Count > 0 && pts[1].Count > 0 {
						nonEmpty++
					}
				}
				type life struct {
					event  string
					action *insight.ActionDef
					range_ insight.Range
					index  bool
				}
				for ci, c := range []life{
					{"view", nil, rng, true},
					{"buy", nil, rng, true},
					{"nothing", nil, rng, true},
					{"", viewOrBuy, rng, true},
					{"", withURL, rng, false},
					{"view", nil, withFilter, false},
					{"view", nil, grouped, false},
				} {
					q := &insight.Lifecycle{Event: c.event, Action: c.action, Interval: interval, Range: c.range_}
					if err := q.Validate(); err != nil {
						t.Fatal(err)
					}
					var got *insight.LifecycleResult
					reads("lifecycle", c.index, func() {
						if got, err = on.Lifecycle(ctx, 1, tz, q); err != nil {
							t.Fatal(err)
						}
					})
					want, err := off.Lifecycle(ctx, 1, tz, q)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("lifecycle %d %s %s range %d:\n index %+v\n   sql %+v", ci, interval, tz, ri, got, want)
					}
					if c.index && c.event == "view" {
						var n, r, z, d int64
						for _, pt := range got.Points {
							n, r, z, d = n+pt.New, r+pt.Returning, z+pt.Resurrecting, d+pt.Dormant
						}
						if n > 0 && r > 0 && d < 0 && (z > 0 || interval == "week") {
							nonEmpty++
						}
					}
				}
			}
		}
	}
	if nonEmpty < 8 {
		t.Fatalf("only %d of the indexed answers had every kind of count: the data tests little", nonEmpty)
	}
}

// TestJourneyIndexFallbacks: retention and trends with property filters,
// a breakdown or an action step with property conditions do not read the
// index, and answer as without it.
func TestJourneyIndexFallbacks(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return day0.AddDate(0, 0, 9) }
	on, err := Open("", Options{Plan: Plan{Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	off, err := Open("", Options{Plan: Plan{Now: now, NoJourneyIndex: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	journeyData(t, on, 6)
	journeyData(t, off, 6)
	rng := insight.Range{From: day0, To: day0.AddDate(0, 0, 8)}
	noURL := []insight.Filter{{Property: "$current_url", Op: "neq", Value: "/nowhere"}}
	filtered := rng
	filtered.Filters = noURL
	broken := rng
	broken.Breakdown = &insight.Breakdown{Property: "$browser"}
	viewOrBuy := &insight.ActionDef{ID: 3, Steps: []insight.ActionStep{{Event: "view"}, {Event: "buy"}}}
	withText := &insight.ActionDef{ID: 5, Steps: []insight.ActionStep{{Event: "view", Text: "Buy"}}}
	check := func(what string, index bool, run func(s *Store) (any, error)) {
		t.Helper()
		n := journeyIndexQueries.Get()
		got, err := run(on)
		if err != nil {
			t.Fatal(err)
		}
		if read := journeyIndexQueries.Get() != n; read != index {
			t.Fatalf("%s: read the journey index %v, want %v", what, read, index)
		}
		want, err := run(off)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n index %+v\n   sql %+v", what, got, want)
		}
	}
	for _, c := range []struct {
		what  string
		index bool
		q     insight.Trend
	}{
		{"trend dau action", true, insight.Trend{Series: []insight.Series{{Action: viewOrBuy, Math: "dau"}}, Range: rng}},
		{"trend filters", false, insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Range: filtered}},
		{"trend series filters", false, insight.Trend{Series: []insight.Series{{Event: "view", Math: "wau", Filters: noURL}}, Range: rng}},
		{"trend breakdown", false, insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Range: broken}},
		{"trend action text", false, insight.Trend{Series: []insight.Series{{Action: withText}}, Range: rng}},
	} {
		q := c.q
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		check(c.what, c.index, func(s *Store) (any, error) { return s.Trend(ctx, 1, time.UTC, &q) })
	}
	for _, c := range []struct {
		what  string
		index bool
		q     insight.Retention
	}{
		{"retention action", true, insight.Retention{Start: insight.EventMatch{Action: viewOrBuy}, Return: insight.EventMatch{Event: "buy"}, Range: rng}},
		{"retention filters", false, insight.Retention{Start: insight.EventMatch{Event: "view"}, Return: insight.EventMatch{Event: "buy"}, Range: filtered}},
		{"retention start filters", false, insight.Retention{Start: insight.EventMatch{Event: "view", Filters: noURL}, Return: insight.EventMatch{Event: "buy"}, Range: rng}},
		{"retention breakdown", false, insight.Retention{Start: insight.EventMatch{Event: "view"}, Return: insight.EventMatch{Event: "buy"}, Range: broken}},
		{"retention action text", false, insight.Retention{Start: insight.EventMatch{Event: "view"}, Return: insight.EventMatch{Action: withText}, Range: rng}},
	} {
		q := c.q
		q.Period, q.Periods = "day", 5
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		check(c.what, c.index, func(s *Store) (any, error) { return s.Retention(ctx, 1, time.UTC, &q) })
	}
}

// TestJourneyIndexRetentionTrendsMasks: retention and DAU on the index
// read period masks (TestJourneyIndexRetentionTrends, at most 64
// periods); with masks off they walk each actor's events, and both answer
// as the SQL plans (DAU also past 64 periods: hourly).
func TestJourneyIndexRetentionTrendsMasks(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return day0.AddDate(0, 0, 9) }
	off, err := Open("", Options{Plan: Plan{Now: now, NoJourneyIndex: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	journeyData(t, off, 7)
	noMasks, err := Open("", Options{Plan: Plan{Now: now, MaskPeriods: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer noMasks.Close()
	journeyData(t, noMasks, 7)
	ny, _ := time.LoadLocation("America/New_York")
	for _, tz := range []*time.Location{time.UTC, ny} {
		for _, mode := range []string{insight.RetentionFirstTime, insight.RetentionRecurring} {
			for _, period := range []string{"day", "week"} {
				q := &insight.Retention{Start: insight.EventMatch{Event: "view"}, Return: insight.EventMatch{Event: "buy"}, Period: period, Periods: 5, Mode: mode,
					Range: insight.Range{From: day0.Add(12 * time.Hour), To: day0.AddDate(0, 0, 8)}}
				if err := q.Validate(); err != nil {
					t.Fatal(err)
				}
				want, err := off.Retention(ctx, 1, tz, q)
				if err != nil {
					t.Fatal(err)
				}
				n := journeyIndexQueries.Get()
				got, err := noMasks.Retention(ctx, 1, tz, q)
				if err != nil {
					t.Fatal(err)
				}
				if journeyIndexQueries.Get() == n {
					t.Fatal("retention did not read the index")
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("retention %s %s %s without masks:\n index %+v\n   sql %+v", mode, period, tz, got, want)
				}
			}
		}
		for _, interval := range []string{"hour", "day"} {
			q := &insight.Trend{Series: []insight.Series{{Event: "view", Math: "dau"}}, Interval: interval,
				Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 6)}}
			if err := q.Validate(); err != nil {
				t.Fatal(err)
			}
			want, err := off.Trend(ctx, 1, tz, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := noMasks.Trend(ctx, 1, tz, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("dau %s %s without masks:\n index %+v\n   sql %+v", interval, tz, got, want)
			}
		}
	}
}

// TestBitCounts: the vertical counter counts each bit as countBits does,
// over masks from empty to full and a count past a carry of many planes.
func TestBitCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var c bitCounts
	want := make([]int64, 64)
	for i := range 300_000 {
		m := rng.Uint64() & rng.Uint64()
		switch i % 1000 {
		case 0:
			m = 0
		case 1:
			m = ^uint64(0)
		}
		c.add(m)
		countBits(want, m)
	}
	got := make([]int64, 64)
	c.addTo(got)
	if !slices.Equal(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}
