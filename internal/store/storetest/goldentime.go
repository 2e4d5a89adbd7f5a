package storetest

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// goldenTime: the golden-time report (trigger → goal delays) and the
// engagement by local hour that best times read, every number computed
// by hand below.
func goldenTime(t *testing.T, s store.Store) {
	t.Run("Delays", func(t *testing.T) { goldenDelays(t, s) })
	t.Run("Engagement", func(t *testing.T) { engagementHours(t, s) })
}

// goldenDelays: triggers added_to_cart, goals purchase matched on item,
// horizon 72 h, range [Day0, Day0+7d) (hours from Day0 below).
func goldenDelays(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h float64) time.Time { return Day0.Add(time.Duration(h * float64(time.Hour))) }
	cart := func(id string, h float64, item string) event.Raw {
		if item == "" {
			return Ev("added_to_cart", id, at(h), map[string]any{"price": 5})
		}
		return Ev("added_to_cart", id, at(h), map[string]any{"item": item})
	}
	buy := func(id string, h float64, item string) event.Raw {
		return Ev("purchase", id, at(h), map[string]any{"item": item})
	}
	// d exists before; its anonymous id carts, then identifies: a merge
	// after the events are stored. It buys as d.
	l.Load(1, Ev("login", "d", at(-100), nil))
	l.Load(1,
		// a: buys another item first (no conversion), then X after 90 min.
		cart("a", 10, "X"), buy("a", 10.5, "Y"), buy("a", 11.5, "X"),
		// b: 30 h.
		cart("b", 20, "X"), buy("b", 50, "X"),
		// c: carts X and Y, buys only Y, 15 min after its cart.
		cart("c", 5, "X"), cart("c", 6, "Y"), buy("c", 6.25, "Y"),
		cart("anon-d", 30, "X"),
		// e: buys after 80 h, past the horizon.
		cart("e", 40, "X"), buy("e", 120, "X"),
		// f: a purchase at the trigger's instant is not after it; the
		// next, 2 h later, is.
		cart("f", 100, "X"), buy("f", 100, "X"), buy("f", 102, "X"),
		// g: carts near the range's end, buys after it (10 h).
		cart("g", 160, "X"), buy("g", 170, "X"),
		// h: carted before the range.
		cart("h", -5, "X"), buy("h", 1, "X"),
		// i: a cart without item (no trigger when matching on item).
		cart("i", 50, ""), buy("i", 51, "X"),
		// j: carts twice, buys once: two triggers, 3 h and 1 h.
		cart("j", 60, "X"), cart("j", 62, "X"), buy("j", 63, "X"),
	)
	l.Load(1, Ev("$identify", "d", at(31), map[string]any{"$anon_distinct_id": "anon-d"}))
	// d buys X 50 h after anon-d's cart; its own cart of Y is another
	// trigger of the same person.
	l.Load(1, cart("d", 70, "Y"), buy("d", 80, "X"))
	// Another project: its e's purchase is no goal of project 1's e, its
	// z no trigger of project 1.
	l.Load(2, buy("e", 41, "X"), cart("z", 10, "X"))

	run := func(project int64, match string, trigger []insight.Filter) *insight.GoldenTimeResult {
		t.Helper()
		q := &insight.GoldenTime{Trigger: insight.GoldenEvent{Event: "added_to_cart", Filters: trigger},
			Goal: insight.GoldenEvent{Event: "purchase"}, Match: match, Horizon: "72h",
			Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 7)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.GoldenTime(ctx, project, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Matched on item, per trigger (minutes): a 90, b 1800, c X none,
	// c Y 15, d X 3000, d Y none, e none (4800 ≥ 72 h), f 120, g 600, j
	// 180 and 60: 11 triggers of 8 persons (anon-d and d are one).
	// Sorted: 15 60 90 120 180 600 1800 3000; the median is at rank 3.5
	// (150 min), p75 at rank 5.25 (600 + 0.25·1200 = 900 min).
	res := run(1, "item", nil)
	type totals struct {
		Triggers, Persons, Converted, ConvertedPersons int64
		Conversion                                     float64
	}
	if got, want := (totals{res.Triggers, res.Persons, res.Converted, res.ConvertedPersons, res.Conversion}), (totals{11, 8, 8, 7, 8.0 / 11}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	if res.Kind != "golden_time" || res.HorizonHours != 72 || res.MedianHours == nil || *res.MedianHours != 2.5 || res.P75Hours == nil || *res.P75Hours != 15 {
		t.Fatalf("kind %q, horizon %d, median %v, p75 %v; want 2.5 h and 15 h", res.Kind, res.HorizonHours, ptr(res.MedianHours), ptr(res.P75Hours))
	}
	// Histogram: 0h 1, 1h 2, 2h 1, 3h 1, 10h 1, 30h 1, 2d 1; the rate
	// divides by the triggers not yet converted (11, 10, 8, 7, 6 …).
	if len(res.Histogram) != 49 || res.Histogram[48].Label != "2d" || res.Histogram[48].FromHours != 48 || res.Histogram[48].ToHours != 72 {
		t.Fatalf("%d buckets, last %+v; want 48 hourly and 2d", len(res.Histogram), res.Histogram[len(res.Histogram)-1])
	}
	got := map[string][2]float64{}
	for _, b := range res.Histogram {
		if b.Conversions > 0 {
			got[b.Label] = [2]float64{float64(b.Conversions), round(b.Rate)}
		}
		if b.Share != float64(b.Conversions)/11 {
			t.Errorf("bucket %s share %v", b.Label, b.Share)
		}
	}
	wantBuckets := map[string][2]float64{"0h": {1, round(1.0 / 11)}, "1h": {2, 0.2}, "2h": {1, 0.125}, "3h": {1, round(1.0 / 7)},
		"10h": {1, round(1.0 / 6)}, "30h": {1, 0.2}, "2d": {1, 0.25}}
	if !reflect.DeepEqual(got, wantBuckets) {
		t.Fatalf("histogram (conversions, rate) %v, want %v", got, wantBuckets)
	}
	if r := res.Histogram[5]; r.Label != "5h" || r.Conversions != 0 || r.Rate != 0 {
		t.Fatalf("empty bucket %+v", r)
	}
	cum := map[int]int64{}
	for _, p := range res.Cumulative {
		cum[p.Hours] = p.Converted
		if p.Share != float64(p.Converted)/11 {
			t.Errorf("cumulative %d h share %v", p.Hours, p.Share)
		}
	}
	if len(res.Cumulative) != 72 || cum[1] != 1 || cum[2] != 3 || cum[3] != 4 || cum[4] != 5 || cum[10] != 5 || cum[11] != 6 ||
		cum[30] != 6 || cum[31] != 7 || cum[50] != 7 || cum[51] != 8 || cum[72] != 8 {
		t.Fatalf("cumulative %v", cum)
	}

	// Triggers of item X only: c's and d's Y (and c's conversion) go.
	res = run(1, "item", []insight.Filter{{Property: "item", Op: "eq", Value: "X"}})
	if got, want := (totals{res.Triggers, res.Persons, res.Converted, res.ConvertedPersons, round(res.Conversion)}), (totals{9, 8, 7, 6, round(7.0 / 9)}); got != want {
		t.Fatalf("item X totals %+v, want %+v", got, want)
	}

	// Without match, any purchase converts, and i's cart is a trigger:
	// a 30, b 1800, c 75 and 15, d 3000 and 600, e none, f 120, g 600, i
	// 60, j 180 and 60. Sorted 15 30 60 60 75 120 180 600 600 1800 3000:
	// the median (rank 5) is 120 min; 2 in hour 0, 3 in hour 1.
	res = run(1, "", nil)
	if got, want := (totals{res.Triggers, res.Persons, res.Converted, res.ConvertedPersons, round(res.Conversion)}), (totals{12, 9, 11, 8, round(11.0 / 12)}); got != want {
		t.Fatalf("unmatched totals %+v, want %+v", got, want)
	}
	if *res.MedianHours != 2 || res.Histogram[0].Conversions != 2 || res.Histogram[1].Conversions != 3 {
		t.Fatalf("unmatched median %v, 0h %d, 1h %d; want 2 h, 2, 3", *res.MedianHours, res.Histogram[0].Conversions, res.Histogram[1].Conversions)
	}

	// Project 2: z's cart, no purchase of z.
	res = run(2, "item", nil)
	if res.Triggers != 1 || res.Persons != 1 || res.Converted != 0 || res.MedianHours != nil || len(res.Histogram) != 49 {
		t.Fatalf("project 2: %+v", res)
	}
}

// engagementHours: each person's events by local hour in their
// $timezone (else the project's, Asia/Tokyo), across the DST changes of
// 2026 (Berlin: 29 March and 25 October at 01:00 UTC; Los Angeles: 8
// March at 10:00 UTC).
func engagementHours(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	utc := func(v string) time.Time {
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	tzSet := func(id, v, zone string) event.Raw {
		return Ev("$pageview", id, utc(v), map[string]any{"$set": map[string]any{"$timezone": zone}})
	}
	view := func(id, v string) event.Raw { return Ev("$pageview", id, utc(v), nil) }
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	since := utc("2026-03-01T00:00:00Z")
	l.Load(1,
		tzSet("ber", "2026-03-28T19:00:00Z", "Europe/Berlin"),       // 20:00 CET
		view("ber", "2026-03-29T19:00:00Z"),                         // 21:00 CEST
		view("ber", "2026-03-29T00:30:00Z"),                         // 01:30 CET
		view("ber", "2026-03-29T01:30:00Z"),                         // 03:30 CEST
		view("ber", "2026-10-25T00:30:00Z"),                         // 02:30 CEST
		view("ber", "2026-10-25T01:30:00Z"),                         // 02:30 CET
		tzSet("la", "2026-03-08T09:30:00Z", "America/Los_Angeles"),  // 01:30 PST
		view("la", "2026-03-08T10:30:00Z"),                          // 03:30 PDT
		view("la", "2026-03-10T03:00:00Z"),                          // 20:00 PDT on 9 March
		view("la", "2026-02-27T12:00:00Z"),                          // before since
		Ev("$message_sent", "la", utc("2026-03-12T12:00:00Z"), nil), // Journey's own: not engagement
		view("none", "2026-03-20T12:00:00Z"),                        // 21:00 in Tokyo
		tzSet("bad", "2026-03-20T00:00:00Z", "Mars/Olympus"),        // no zone: 09:00 in Tokyo
		tzSet("kol", "2026-03-20T18:40:00Z", "Asia/Kolkata"),        // 00:10 on 21 March (+05:30)
		view("anon-ber", "2026-03-20T10:00:00Z"),                    // 11:00 CET, once merged
	)
	l.Load(1, Ev("$identify", "ber", utc("2026-03-20T10:30:00Z"), map[string]any{"$anon_distinct_id": "anon-ber"})) // 11:30 CET
	// Another project's ber and its events are no one's of project 1.
	l.Load(2, tzSet("ber", "2026-03-20T10:00:00Z", "Europe/Berlin"), view("ber", "2026-03-20T11:00:00Z"))

	ids := map[string]int64{}
	var persons []int64
	for _, d := range []string{"ber", "la", "none", "bad", "kol"} {
		id, err := strconv.ParseInt(personID(t, s, d), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids[d] = id
		persons = append(persons, id)
	}
	got, err := s.EngagementHours(ctx, 1, tokyo, append(persons, 987654321), since)
	if err != nil {
		t.Fatal(err)
	}
	hours := func(hs map[int]float64) [24]float64 {
		var out [24]float64
		for h, n := range hs {
			out[h] = n
		}
		return out
	}
	want := map[int64][24]float64{
		ids["ber"]:  hours(map[int]float64{20: 1, 21: 1, 1: 1, 3: 1, 2: 2, 11: 2}),
		ids["la"]:   hours(map[int]float64{1: 1, 3: 1, 20: 1}),
		ids["none"]: hours(map[int]float64{21: 1}),
		ids["bad"]:  hours(map[int]float64{9: 1}),
		ids["kol"]:  hours(map[int]float64{0: 1}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("engagement hours\n got %v\nwant %v", got, want)
	}
	// One person only; none at all.
	got, err = s.EngagementHours(ctx, 1, tokyo, []int64{ids["la"]}, since)
	if err != nil || !reflect.DeepEqual(got, map[int64][24]float64{ids["la"]: want[ids["la"]]}) {
		t.Fatalf("la alone: %v %v", got, err)
	}
	if got, err := s.EngagementHours(ctx, 1, tokyo, nil, since); err != nil || len(got) != 0 {
		t.Fatalf("no persons: %v %v", got, err)
	}
	// In UTC for persons without a zone.
	got, err = s.EngagementHours(ctx, 1, time.UTC, []int64{ids["none"], ids["bad"]}, since)
	if err != nil || !reflect.DeepEqual(got, map[int64][24]float64{ids["none"]: hours(map[int]float64{12: 1}), ids["bad"]: hours(map[int]float64{0: 1})}) {
		t.Fatalf("in UTC: %v %v", got, err)
	}
	if _, err := s.EngagementHours(ctx, 1, tokyo, make([]int64, insight.MaxEngagementPersons+1), since); err == nil {
		t.Fatal("more than MaxEngagementPersons persons accepted")
	}

	// The project's histogram is the sum of its persons'.
	var sum [24]float64
	for _, h := range want {
		for i, n := range h {
			sum[i] += n
		}
	}
	project, err := s.ProjectEngagementHours(ctx, 1, tokyo, since)
	if err != nil || project != sum {
		t.Fatalf("project engagement %v %v, want %v", project, err, sum)
	}
	project, err = s.ProjectEngagementHours(ctx, 2, tokyo, since)
	if err != nil || project != hours(map[int]float64{11: 1, 12: 1}) {
		t.Fatalf("project 2 engagement %v %v", project, err)
	}
}

func ptr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// round is f to 9 decimals, for shares computed in different orders.
func round(f float64) float64 { return math.Round(f*1e9) / 1e9 }
