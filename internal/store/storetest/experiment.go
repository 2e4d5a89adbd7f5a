package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// experiment: exposures (first one, double exposures excluded, other
// flags, responses and projects ignored, a merge), each metric kind with
// its window, CUPED covariates and caps, every number computed by hand
// below. Hours are from Day0; the range is [Day0, Day0+7d), so To is
// hour 168; the CUPED period is 14 days (336 h) before each exposure.
func experiment(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h float64) time.Time { return Day0.Add(time.Duration(h * float64(time.Hour))) }
	ff := func(id string, h float64, flag, variant string) event.Raw {
		return Ev("$feature_flag_called", id, at(h), map[string]any{"$feature_flag": flag, "$feature_flag_response": variant})
	}
	chrome := func(e event.Raw) event.Raw {
		e.Properties = json.RawMessage(strings.Replace(string(e.Properties), "{", `{"$browser":"Chrome",`, 1))
		return e
	}
	ev := func(name, id string, h float64) event.Raw { return Ev(name, id, at(h), nil) }
	buy := func(id string, h float64, amount any) event.Raw {
		return Ev("purchase", id, at(h), map[string]any{"amount": amount})
	}
	const flag = "new-checkout"
	// t2 exists before the experiment; its anonymous id is exposed, then
	// identifies: a merge, after the events are stored.
	l.Load(1, ev("login", "t2", -100))
	l.Load(1,
		// c1, control: exposed at 10 in Chrome (and again at 20: the first
		// counts). Its purchase at 5 is before exposure (covariate only);
		// signup at 10 then view at 11 is the funnel in the wrong order.
		chrome(ff("c1", 10, flag, "control")), ff("c1", 20, flag, "control"),
		buy("c1", 5, 100), ev("signup", "c1", 10), ev("view", "c1", 11), buy("c1", 12, 30), buy("c1", 30, 50),
		// c2, control: exposed at 30, buys at exposure, 23 h and 24 h
		// after (the 1d window ends before the last).
		ff("c2", 30, flag, "control"), buy("c2", 30, 20), buy("c2", 53, 5), buy("c2", 54, 7),
		// c3, control: exposed at 40; buys at To only.
		ff("c3", 40, flag, "control"), buy("c3", 168, 1),
		// t1, test, on plan pro: exposed at 10 in Chrome; did the funnel
		// before exposure (1, 1.5, 2) and after (11, 12, 13); the purchase
		// at 15 has no numeric amount (counted, not summed).
		chrome(ff("t1", 10, flag, "test")), ev("view", "t1", 1), ev("signup", "t1", 1.5), buy("t1", 2, 8),
		Ev("view", "t1", at(11), map[string]any{"$set": map[string]any{"plan": "pro"}}), ev("signup", "t1", 12), buy("t1", 13, 40), buy("t1", 14, 60), buy("t1", 15, "n/a"),
		// anon-t2, test: exposed at 15, viewed at 14 (before exposure).
		ff("anon-t2", 15, flag, "test"), ev("view", "anon-t2", 14),
		// d1 and d2 saw control and test: excluded, purchases and all.
		ff("d1", 10, flag, "control"), ff("d1", 12, flag, "test"), buy("d1", 13, 1000),
		ff("d2", 20, flag, "test"), ff("d2", 21, flag, "control"), buy("d2", 22, 1000),
		// Not exposed: a response that is no variant, another flag.
		ff("u1", 10, flag, "unknown"), buy("u1", 11, 1000),
		ff("o1", 10, "other-flag", "test"), buy("o1", 11, 1000),
	)
	l.Load(1, Ev("$identify", "t2", at(16), map[string]any{"$anon_distinct_id": "anon-t2"}))
	l.Load(1, buy("t2", 17, 10))
	// A boolean flag's responses are JSON booleans.
	l.Load(1, Ev("$feature_flag_called", "b1", at(10), map[string]any{"$feature_flag": "bool-flag", "$feature_flag_response": true}),
		Ev("$feature_flag_called", "b2", at(10), map[string]any{"$feature_flag": "bool-flag", "$feature_flag_response": false}),
		Ev("$feature_flag_called", "b3", at(10), map[string]any{"$feature_flag": "bool-flag", "$feature_flag_response": true}))
	// Another project's c1, in control, is no person of project 1.
	l.Load(2, ff("c1", 10, flag, "control"), buy("c1", 11, 999), ev("view", "c1", 11))

	// Per person, window 7d unless said (post; pre):
	//             c1        c2       c3   t1          t2
	// bought      1; 1      1; 0     0    1; 1        1; 0
	// purchases1d 2; 1      2; 0     0    3; 1        1; 0   (12,30 | 30,53 | 13,14,15 | 17)
	// purchases   2; 1      3; 0     0    3; 1        1; 0
	// amount      80; 100   32; 0    0    100; 8      10; 0
	// priced      2; 1      3; 0     0    2; 1        1; 0   (purchases with a numeric amount)
	// views       1; 0      0; 0     0    1; 1        0; 1
	// funnel      0; 0      0; 0     0    1; 1        0; 0
	metric := func(js string) insight.ExperimentMetric {
		var m insight.ExperimentMetric
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	q := &insight.Experiment{FlagKey: flag, Variants: []string{"control", "test", "empty"},
		Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 7)},
		Metrics: []insight.ExperimentMetric{
			metric(`{"kind": "conversion", "event": "purchase"}`),
			metric(`{"kind": "count", "event": "purchase", "window": "1d"}`),
			metric(`{"kind": "sum", "event": "purchase", "property": "amount"}`),
			metric(`{"kind": "mean", "event": "purchase", "property": "amount"}`),
			metric(`{"kind": "ratio", "numerator": {"kind": "sum", "event": "purchase", "property": "amount"}, "denominator": {"kind": "count", "event": "view"}}`),
			metric(`{"kind": "conversion", "steps": [{"event": "view"}, {"event": "signup"}, {"event": "purchase"}]}`),
			metric(`{"kind": "count", "event": "purchase", "cap": {"type": "absolute", "value": 2}}`),
			// amounts of all five persons [0 10 32 80 100]: the 0.625
			// quantile is at rank 2.5, 32 + 0.5·48 = 56; without zeros
			// [10 32 80 100] at rank 1.875, 32 + 0.875·48 = 74.
			metric(`{"kind": "sum", "event": "purchase", "property": "amount", "cap": {"type": "percentile", "value": 0.625}}`),
			metric(`{"kind": "sum", "event": "purchase", "property": "amount", "cap": {"type": "percentile", "value": 0.625, "ignore_zeros": true}}`),
		}}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Experiment(ctx, 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "experiment" || len(res.Days) != 7 || res.Days[0] != "2026-01-05" || res.Days[6] != "2026-01-11" {
		t.Fatalf("kind %q, days %v", res.Kind, res.Days)
	}
	type exposure struct {
		Key               string
		Exposed           int64
		Exposures         []int64
		MultipleExposures int64
	}
	var got []exposure
	for _, v := range res.Variants {
		got = append(got, exposure{v.Key, v.Exposed, v.Exposures, v.MultipleExposures})
	}
	want := []exposure{
		{"control", 3, []int64{1, 2, 0, 0, 0, 0, 0}, 2}, // c1 on day 0, c2 and c3 on day 1
		{"test", 2, []int64{2, 0, 0, 0, 0, 0, 0}, 2},    // t1 and t2 (one person) on day 0
		{"empty", 0, []int64{0, 0, 0, 0, 0, 0, 0}, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("exposures = %+v, want %+v", got, want)
	}
	multi := insight.ExperimentMultiple{Persons: 2, Pairs: []insight.ExperimentPair{{Variants: [2]string{"control", "test"}, Persons: 2}}}
	if !reflect.DeepEqual(res.MultipleExposures, multi) {
		t.Fatalf("multiple exposures = %+v, want %+v", res.MultipleExposures, multi)
	}

	m := func(sum, squares float64) stats.Moments { return stats.Moments{Sum: sum, SumSquares: squares} }
	bin := stats.Binomial
	cuped := func(n float64, x, p stats.Moments, xp float64) stats.Stats {
		return stats.Stats{N: n, Value: x, Pre: &p, Products: stats.Products{ValuePre: xp}}
	}
	ratio := func(n float64, x, y, p, q stats.Moments, pr stats.Products) stats.Stats {
		return stats.Stats{N: n, Value: x, Denominator: &y, Pre: &p, PreDenominator: &q, Products: pr}
	}
	wantStats := [][2]stats.Stats{ // control, test
		// bought: control c1, c2 (c1 also before); test t1, t2 (t1 before).
		{cuped(3, bin(2), bin(1), 1), cuped(2, bin(2), bin(1), 1)},
		// purchases1d: control 2+2, squares 4+4, pre c1 1, Σxp 2·1;
		// test 3+1, 9+1, pre t1 1, Σxp 3·1.
		{cuped(3, m(4, 8), m(1, 1), 2), cuped(2, m(4, 10), m(1, 1), 3)},
		// amount: control 80+32, 6400+1024, pre 100, Σxp 80·100; test
		// 100+10, 10000+100, pre 8, Σxp 100·8.
		{cuped(3, m(112, 7424), m(100, 10000), 8000), cuped(2, m(110, 10100), m(8, 64), 800)},
		// mean amount = amount / priced. Control: y 2+3, 4+9, Σxy
		// 80·2+32·3; p 100, q 1 (c1); Σxp 8000, Σxq 80, Σyp 200, Σyq 2,
		// Σpq 100. Test: y 2+1, 4+1, Σxy 200+10; p 8, q 1 (t1); Σxp 800,
		// Σxq 100, Σyp 16, Σyq 2, Σpq 8.
		{ratio(3, m(112, 7424), m(5, 13), m(100, 10000), m(1, 1),
			stats.Products{ValueDenominator: 256, ValuePre: 8000, ValuePreDenominator: 80, DenominatorPre: 200, DenominatorPreDenominator: 2, PrePreDenominator: 100}),
			ratio(2, m(110, 10100), m(3, 5), m(8, 64), m(1, 1),
				stats.Products{ValueDenominator: 210, ValuePre: 800, ValuePreDenominator: 100, DenominatorPre: 16, DenominatorPreDenominator: 2, PrePreDenominator: 8})},
		// amount / views. Control: y c1 1, Σxy 80, q 0; Σxp 8000, Σyp
		// 1·100. Test: y t1 1, Σxy 100; q t1 1 + t2 1 (its anonymous
		// view before exposure); Σxp 800, Σxq 100+10, Σyp 8, Σyq 1, Σpq 8.
		{ratio(3, m(112, 7424), m(1, 1), m(100, 10000), m(0, 0),
			stats.Products{ValueDenominator: 80, ValuePre: 8000, DenominatorPre: 100}),
			ratio(2, m(110, 10100), m(1, 1), m(8, 64), m(2, 2),
				stats.Products{ValueDenominator: 100, ValuePre: 800, ValuePreDenominator: 110, DenominatorPre: 8, DenominatorPreDenominator: 1, PrePreDenominator: 8})},
		// funnel view → signup → purchase: only t1, after and before.
		{cuped(3, bin(0), bin(0), 0), cuped(2, bin(1), bin(1), 1)},
		// purchases capped at 2: control 2+2 (c2's 3), pre c1 1; test
		// 2+1 (t1's 3), pre t1 1.
		{cuped(3, m(4, 8), m(1, 1), 2), cuped(2, m(3, 5), m(1, 1), 2)},
		// amount capped at 56: control 56+32 (pre 56: c1's 100 capped),
		// Σxp 56·56; test 56+10, pre 8, Σxp 56·8.
		{cuped(3, m(88, 3136+1024), m(56, 3136), 3136), cuped(2, m(66, 3136+100), m(8, 64), 448)},
		// amount capped at 74: control 74+32, pre 74, Σxp 74·74; test
		// 74+10, pre 8, Σxp 74·8.
		{cuped(3, m(106, 5476+1024), m(74, 5476), 5476), cuped(2, m(84, 5476+100), m(8, 64), 592)},
	}
	for k, w := range wantStats {
		for v := range 2 {
			if g := res.Variants[v].Metrics[k]; !reflect.DeepEqual(g, w[v]) {
				t.Errorf("metric %d (%s), %s:\n got %+v\nwant %+v", k, res.Metrics[k].Name, res.Variants[v].Key, show(g), show(w[v]))
			}
		}
		if e := res.Variants[2].Metrics[k]; e.N != 0 || e.Value.Sum != 0 || e.Pre == nil || e.Pre.Sum != 0 {
			t.Errorf("metric %d of the variant nobody saw: %+v", k, show(e))
		}
	}
	caps := []*float64{res.Metrics[6].Cap, res.Metrics[7].Cap, res.Metrics[8].Cap}
	if caps[0] == nil || caps[1] == nil || caps[2] == nil || *caps[0] != 2 || *caps[1] != 56 || *caps[2] != 74 || res.Metrics[2].Cap != nil {
		t.Errorf("caps = %v %v %v (uncapped %v), want 2 56 74", caps[0], caps[1], caps[2], res.Metrics[2].Cap)
	}
	if n := res.Metrics[5].Name; n != "view → signup → purchase" {
		t.Errorf("funnel metric's name = %q", n)
	}
	if r, err := res.Compare(2, 1, stats.Options{}); err != nil || r.ControlMean == 0 {
		t.Errorf("compare amount: %+v %v", r, err)
	}

	// Without CUPED: no covariates. In Tokyo (UTC+9) the range's days
	// are 8 local days; c3's exposure at 40 h is 01:00 on the third,
	// t2's at 15 h midnight of the second.
	off := false
	q2 := &insight.Experiment{FlagKey: flag, Variants: []string{"control", "test"}, CUPED: &off,
		Range:   insight.Range{From: Day0, To: Day0.AddDate(0, 0, 7)},
		Metrics: []insight.ExperimentMetric{metric(`{"kind": "conversion", "event": "purchase"}`), metric(`{"kind": "mean", "event": "purchase", "property": "amount"}`)}}
	if err := q2.Validate(); err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Experiment(ctx, 1, tokyo, q2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Days) != 8 || res.Days[0] != "2026-01-05" ||
		!reflect.DeepEqual(res.Variants[0].Exposures, []int64{1, 1, 1, 0, 0, 0, 0, 0}) ||
		!reflect.DeepEqual(res.Variants[1].Exposures, []int64{1, 1, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("Tokyo days %v, exposures %v %v", res.Days, res.Variants[0].Exposures, res.Variants[1].Exposures)
	}
	plain := []stats.Stats{{N: 3, Value: bin(2)}, {N: 2, Value: bin(2)}}
	means := []stats.Stats{
		stats.Ratio(3, m(112, 7424), m(5, 13), 256),
		stats.Ratio(2, m(110, 10100), m(3, 5), 210),
	}
	for v := range 2 {
		if g := res.Variants[v].Metrics[0]; !reflect.DeepEqual(g, plain[v]) {
			t.Errorf("without CUPED, bought, %s = %+v, want %+v", res.Variants[v].Key, show(g), show(plain[v]))
		}
		if g := res.Variants[v].Metrics[1]; !reflect.DeepEqual(g, means[v]) {
			t.Errorf("without CUPED, mean amount, %s = %+v, want %+v", res.Variants[v].Key, show(g), show(means[v]))
		}
	}

	// The query's filters select exposures, not metric events: in Chrome,
	// c1 (its first exposure) and t1, whose purchases carry no $browser;
	// on plan pro, t1 alone.
	for _, c := range []struct {
		filter insight.Filter
		want   []stats.Stats
	}{
		{insight.Filter{Property: "$browser", Op: "eq", Value: "Chrome"}, []stats.Stats{{N: 1, Value: bin(1)}, {N: 1, Value: bin(1)}}},
		{insight.Filter{Type: "person", Property: "plan", Op: "eq", Value: "pro"}, []stats.Stats{{N: 0, Value: bin(0)}, {N: 1, Value: bin(1)}}},
	} {
		q3 := *q2
		q3.Metrics = q2.Metrics[:1]
		q3.Filters = []insight.Filter{c.filter}
		res, err = s.Experiment(ctx, 1, time.UTC, &q3)
		if err != nil {
			t.Fatal(err)
		}
		for v := range 2 {
			if g := res.Variants[v].Metrics[0]; !reflect.DeepEqual(g, c.want[v]) {
				t.Errorf("filter %+v, %s = %s, want %s", c.filter, res.Variants[v].Key, show(g), show(c.want[v]))
			}
		}
		if res.MultipleExposures.Persons != 0 || res.Variants[0].Exposed != int64(c.want[0].N) {
			t.Errorf("filter %+v: exposed %d, multiple %d", c.filter, res.Variants[0].Exposed, res.MultipleExposures.Persons)
		}
	}

	// A boolean flag: responses compare as "false" and "true".
	q2.FlagKey, q2.Variants = "bool-flag", []string{"false", "true"}
	res, err = s.Experiment(ctx, 1, time.UTC, q2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Variants[0].Exposed != 1 || res.Variants[1].Exposed != 2 || res.Variants[1].Metrics[0].N != 2 {
		t.Errorf("boolean flag: exposed %d and %d, want 1 and 2", res.Variants[0].Exposed, res.Variants[1].Exposed)
	}

	// A flag nobody saw: every variant empty, no metric read.
	q2.FlagKey = "never-called"
	res, err = s.Experiment(ctx, 1, time.UTC, q2)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Variants {
		if v.Exposed != 0 || v.Metrics[0].N != 0 || len(v.Exposures) != 7 {
			t.Errorf("flag nobody saw: %+v", v)
		}
	}
}

// show renders stats with their pointers' values, for messages.
func show(s stats.Stats) string {
	b, _ := json.Marshal(s)
	return string(b)
}
