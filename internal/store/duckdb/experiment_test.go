package duckdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestExperimentPlantedLift generates 20,000 persons split 50/50 with a
// planted +2 percentage point conversion lift in treatment, runs the
// experiment on DuckDB and compares the arms: the counts are exactly
// the generated ones, the traffic split passes the SRM check, the effect
// is positive and its 95% CI covers +0.02, and CUPED (purchases before
// exposure share the persons' latent propensity) narrows the CI.
func TestExperimentPlantedLift(t *testing.T) {
	const persons, lift = 20000, 0.02
	s := testdb(t)
	l := storetest.NewLoader(t, s)
	rng := rand.New(rand.NewPCG(14, 3))
	from := day0
	var batch []event.Raw
	flush := func() {
		if len(batch) > 0 {
			l.Load(1, batch...)
			batch = nil
		}
	}
	var exposed, converted [2]float64
	for i := range persons {
		id := fmt.Sprintf("u%d", i)
		arm := rng.IntN(2)
		// 30% of persons buy much more often, before and after exposure:
		// 0.3·0.2167 + 0.7·0.05 = 0.1 in control.
		pre, post := 0.05, 0.05
		if rng.Float64() < 0.3 {
			pre, post = 0.3, 0.2167
		}
		if arm == 1 {
			post += lift
		}
		t0 := from.Add(time.Duration(rng.Int64N(int64(7 * 24 * time.Hour))))
		variant := []string{"control", "test"}[arm]
		batch = append(batch, storetest.Ev("$feature_flag_called", id, t0, map[string]any{"$feature_flag": "checkout", "$feature_flag_response": variant}))
		if rng.Float64() < pre {
			batch = append(batch, storetest.Ev("purchase", id, t0.Add(-time.Second-time.Duration(rng.Int64N(int64(14*24*time.Hour-2*time.Second)))), nil))
		}
		exposed[arm]++
		if rng.Float64() < post {
			converted[arm]++
			batch = append(batch, storetest.Ev("purchase", id, t0.Add(time.Duration(rng.Int64N(int64(7*24*time.Hour)))), nil))
		}
		if len(batch) >= 5000 {
			flush()
		}
	}
	flush()

	run := func(cuped bool) *insight.ExperimentCounts {
		t.Helper()
		q := &insight.Experiment{FlagKey: "checkout", Variants: []string{"control", "test"}, CUPED: &cuped,
			Metrics: []insight.ExperimentMetric{{Kind: insight.MetricConversion, Event: "purchase"}},
			Range:   insight.Range{From: from, To: from.AddDate(0, 0, 14)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Experiment(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(true)
	for arm, v := range res.Variants {
		if float64(v.Exposed) != exposed[arm] || v.Metrics[0].N != exposed[arm] || v.Metrics[0].Value.Sum != converted[arm] {
			t.Fatalf("%s: exposed %d, n %v, conversions %v; generated %v and %v", v.Key, v.Exposed, v.Metrics[0].N, v.Metrics[0].Value.Sum, exposed[arm], converted[arm])
		}
	}
	p, err := stats.SRM([]float64{float64(res.Variants[0].Exposed), float64(res.Variants[1].Exposed)}, []float64{0.5, 0.5})
	if err != nil || stats.SRMFlag(p) {
		t.Fatalf("SRM p = %v, %v", p, err)
	}
	withCUPED, err := res.Compare(0, 1, stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := run(false).Compare(0, 1, stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]stats.Result{"CUPED": withCUPED, "plain": plain} {
		t.Logf("%s: effect %.4f, 95%% CI [%.4f, %.4f], p %.2g, θ %.3f", name, r.Effect, r.CI[0], r.CI[1], *r.PValue, r.Theta)
		if r.Effect <= 0 || r.CI[0] > lift || r.CI[1] < lift {
			t.Errorf("%s: effect %v, CI %v: want a positive effect and a CI covering %v", name, r.Effect, r.CI, lift)
		}
	}
	if withCUPED.Theta <= 0 || withCUPED.SE >= plain.SE {
		t.Errorf("CUPED: θ %v, SE %v vs %v without: want a positive θ and a smaller SE", withCUPED.Theta, withCUPED.SE, plain.SE)
	}
}

// TestExperimentExposureText checks the exposures' one-parse read and
// its prefilter on stored text that no loader writes: escapes in the
// flag key and the response, a number, a boolean, an object and a nested
// or duplicate key. Each row is one person's only exposure.
func TestExperimentExposureText(t *testing.T) {
	s := testdb(t)
	rows := []struct {
		person int
		props  string
	}{
		{1, `{"$feature_flag":"new-checkout","$feature_flag_response":"control"}`},
		{2, `{"$feature_flag":"new\u002dcheckout","$feature_flag_response":"test"}`},                    // an escaped key
		{3, `{"\u0024feature_flag":"new-checkout","$feature_flag_response":"te\u0073t"}`},               // escaped names and response
		{4, `{"$feature_flag":"new-checkout","$feature_flag":"other","$feature_flag_response":"test"}`}, // the first of duplicates
		{5, `{"$feature_flag":"other","$feature_flag":"new-checkout","$feature_flag_response":"test"}`}, // not the flag's
		{6, `{"x":{"$feature_flag":"new-checkout"},"$feature_flag_response":"test"}`},                   // nested: not the flag's
		{7, `{"$feature_flag":"new-checkout","$feature_flag_response":"Test"}`},                         // no variant
		{8, `{"$feature_flag":1e2,"$feature_flag_response":"control"}`},                                 // flag "100.0"
		{9, `{"$feature_flag":true,"$feature_flag_response":"control"}`},                                // flag "true"
		{10, `{"$feature_flag":{"a": [1, "b"]},"$feature_flag_response":"control"}`},                    // flag `{"a":[1,"b"]}`
		{11, `{"$feature_flag":"x\"y","$feature_flag_response":"control"}`},                             // flag `x"y`
	}
	for _, r := range rows {
		if _, err := s.db.Exec(`INSERT INTO events VALUES (1, uuid(), '$feature_flag_called', ?, ?, ?, ?, ?)`,
			fmt.Sprint("d", r.person), r.person, day0.Add(time.Hour), r.props, day0); err != nil {
			t.Fatal(err)
		}
	}
	// Written around Apply: flag_exposures is recomputed from the events,
	// and both plans (it, and the events alone) must read the text alike.
	if err := s.RebuildFlagExposures(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, noSide := range []bool{false, true} {
		s.plan.NoFlagExposures = noSide
		exposureTextCases(t, s)
	}
}

func exposureTextCases(t *testing.T, s *Store) {
	for _, c := range []struct {
		flag    string
		exposed [2]int64 // control, test
	}{
		{"new-checkout", [2]int64{1, 3}}, // persons 1; 2, 3, 4
		{"100.0", [2]int64{1, 0}},
		{"true", [2]int64{1, 0}},
		{`{"a":[1,"b"]}`, [2]int64{1, 0}},
		{`x"y`, [2]int64{1, 0}},
		{"other", [2]int64{0, 1}}, // person 5
	} {
		off := false
		q := &insight.Experiment{FlagKey: c.flag, Variants: []string{"control", "test"}, CUPED: &off,
			Metrics: []insight.ExperimentMetric{{Kind: insight.MetricConversion, Event: "purchase"}},
			Range:   insight.Range{From: day0, To: day0.AddDate(0, 0, 1)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Experiment(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]int64{res.Variants[0].Exposed, res.Variants[1].Exposed}; got != c.exposed {
			t.Errorf("flag %q (NoFlagExposures %v): exposed %v, want %v", c.flag, s.plan.NoFlagExposures, got, c.exposed)
		}
	}
}

func TestFlagPrefilter(t *testing.T) {
	for key, want := range map[string]bool{
		"new-checkout": true, "null-test": true, "x\"y": true, "é": true,
		"": false, "100.0": false, "1e2": false, "-0": false, "1e400": false, "NaN": false, "-Infinity": false, "inf": false,
		"true": false, "False": false, "null": false, `{"a":1}`: false, "[1]": false, "\xff": false,
	} {
		if got := flagPrefilter(key); got != want {
			t.Errorf("flagPrefilter(%q) = %v, want %v", key, got, want)
		}
	}
}
