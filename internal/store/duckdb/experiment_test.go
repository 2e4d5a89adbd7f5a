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
