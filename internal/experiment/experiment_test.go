package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

func decode(t *testing.T, js string) *Definition {
	t.Helper()
	var d Definition
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return &d
}

func TestValidateDefaults(t *testing.T) {
	d := decode(t, `{"variants":[{"key":"control","weight":50},{"key":"test","weight":50}],
		"metrics":{"primary":[{"kind":"conversion","event":"purchase"}],"guardrail":[{"kind":"count","event":"ticket","lower_is_better":true}]}}`)
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Method != stats.Frequentist || d.Alpha != 0.05 || d.Correction != CorrectionHolm || !d.CUPED.On() || d.CUPED.PreDays != 14 {
		t.Errorf("defaults: %+v", d)
	}
	if d.Variants[0].Weight != 0.5 || d.Variants[1].Weight != 0.5 {
		t.Errorf("weights: %+v", d.Variants)
	}
	if m := d.Metrics.Primary[0]; m.Name != "purchase" || m.Window != "7d" {
		t.Errorf("metric defaults: %+v", m)
	}
	if g := d.Metrics.Guardrail[0]; !g.LowerIsBetter || g.Name != "ticket" {
		t.Errorf("guardrail: %+v", g)
	}
	b, _ := json.Marshal(d)
	if !strings.Contains(string(b), `"guardrail":[{"name":"ticket","kind":"count","event":"ticket","window":"7d","lower_is_better":true}]`) {
		t.Errorf("stored shape: %s", b)
	}
	q := d.Query("f", time.Now().Add(-time.Hour), time.Now())
	if len(q.Metrics) != 2 || q.PreDays != 14 || q.Variants[1] != "test" || q.FlagKey != "f" {
		t.Errorf("query: %+v", q)
	}
	if !d.Metrics.HasEvent("PURCH") || d.Metrics.HasEvent("signup") || !d.Metrics.HasMetric("Tick") {
		t.Error("HasEvent / HasMetric")
	}
}

func TestValidateFieldErrors(t *testing.T) {
	const vs = `"variants":[{"key":"control","weight":1},{"key":"test","weight":1}]`
	const prim = `"metrics":{"primary":[{"kind":"conversion","event":"e"}]}`
	for js, field := range map[string]string{
		`{` + prim + `}`: "variants",
		`{"variants":[{"key":"control","weight":1},{"key":"control","weight":1}],` + prim + `}`: "variants[1].key",
		`{"variants":[{"key":"control","weight":1},{"key":"t","weight":0}],` + prim + `}`:       "variants[1].weight",
		`{"variants":[{"key":"control","weight":1},{"key":"a b","weight":1}],` + prim + `}`:     "variants[1].key",
		`{` + vs + `}`: "metrics.primary",
		`{` + vs + `,"metrics":{"primary":[{"kind":"conversion"}]}}`: "metrics.primary[0].event",
		`{` + vs + `,"metrics":{"primary":[{"kind":"conversion","event":"e"}],"secondary":[{"kind":"count","event":"x"},{"kind":"count","event":"y","window":"soon"}]}}`: "metrics.secondary[1].window",
		`{` + vs + `,"metrics":{"primary":[{"kind":"conversion","event":"e"}],"guardrail":[{"kind":"mean","event":"x"}]}}`:                                               "metrics.guardrail[0].property",
		`{` + vs + `,` + prim + `,"method":"magic"}`:                      "method",
		`{` + vs + `,` + prim + `,"alpha":0.7}`:                           "alpha",
		`{` + vs + `,` + prim + `,"correction":"bonferroni"}`:             "correction",
		`{` + vs + `,` + prim + `,"cuped":{"pre_days":400}}`:              "cuped.pre_days",
		`{` + vs + `,` + prim + `,"layer":{"id":1,"from":0.5,"to":0.5}}`:  "layer.to",
		`{` + vs + `,` + prim + `,"layer":{"id":0,"from":0,"to":0.5}}`:    "layer.id",
		`{` + vs + `,` + prim + `,"layer":{"id":1,"from":-0.1,"to":0.5}}`: "layer.from",
	} {
		err := decode(t, js).Validate()
		var e *insight.Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want field %s", js, err, field)
		}
	}
}

// counts are hand-built store counts: per variant (n, conversions) of a
// conversion metric, no CUPED.
func counts(keys []string, metrics []string, arms ...[]float64) *insight.ExperimentCounts {
	c := &insight.ExperimentCounts{Kind: "experiment", FlagKey: "f", Days: []string{"2026-03-01"}}
	for _, m := range metrics {
		c.Metrics = append(c.Metrics, insight.ExperimentMetricInfo{Name: m, Kind: insight.MetricConversion})
	}
	for i, k := range keys {
		v := insight.ExperimentVariant{Key: k, Exposed: int64(arms[i][0]), Exposures: []int64{int64(arms[i][0])}}
		for j := range metrics {
			v.Metrics = append(v.Metrics, stats.Proportion(arms[i][0], arms[i][1+j]))
		}
		c.Variants = append(c.Variants, v)
	}
	return c
}

func TestAnalyze(t *testing.T) {
	d := decode(t, `{"variants":[{"key":"control","weight":1},{"key":"test","weight":1}],"cuped":{"enabled":false},
		"metrics":{"primary":[{"kind":"conversion","event":"buy"},{"kind":"conversion","event":"share"}],
		"guardrail":[{"kind":"conversion","event":"ticket","lower_is_better":true}]}}`)
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// buy 20% → 25%; share 10% → 10.4%; ticket 5% → 8%.
	c := counts(d.Keys(), []string{"buy", "share", "ticket"}, []float64{2500, 500, 250, 125}, []float64{2500, 625, 260, 200})
	r, err := Analyze(d, c, now.Add(-24*time.Hour), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Metrics.Primary) != 2 || len(r.Metrics.Secondary) != 0 || len(r.Metrics.Guardrail) != 1 {
		t.Fatalf("comparisons: %+v", r.Metrics)
	}
	buy := r.Metrics.Primary[0]
	if buy.Metric != "buy" || buy.Variant != "test" || buy.NControl != 2500 || buy.NTreatment != 2500 ||
		*buy.ControlMean != 0.2 || *buy.TreatmentMean != 0.25 || math.Abs(*buy.Effect-0.05) > 1e-12 || math.Abs(*buy.Lift-0.25) > 1e-12 {
		t.Fatalf("buy: %+v", buy)
	}
	if !buy.Significant || buy.Direction != DirectionUp || !buy.Better || (*buy.CI)[0] > 0.05 || (*buy.CI)[1] < 0.05 {
		t.Errorf("buy decision: %+v", buy)
	}
	// Holm over two p-values: the smaller doubled, the larger kept (at least the smaller's).
	share := r.Metrics.Primary[1]
	if share.Significant || share.Direction != DirectionNone {
		t.Errorf("share: %+v", share)
	}
	if math.Abs(*buy.PValueAdjusted-2**buy.PValue) > 1e-15 || *share.PValueAdjusted != math.Max(*share.PValue, *buy.PValueAdjusted) {
		t.Errorf("holm: buy %v → %v, share %v → %v", *buy.PValue, *buy.PValueAdjusted, *share.PValue, *share.PValueAdjusted)
	}
	// Welch by hand: se = sqrt(.2*.8/2500 + .25*.75/2500).
	if se := math.Sqrt(0.2*0.8/2500 + 0.25*0.75/2500); math.Abs(*buy.SE-se) > 1e-12 {
		t.Errorf("se %v, want %v", *buy.SE, se)
	}
	g := r.Metrics.Guardrail[0]
	if !g.Significant || g.Direction != DirectionUp || g.Better || *g.PValueAdjusted != *g.PValue {
		t.Errorf("ticket guardrail: %+v", g)
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Metric != "ticket" || r.Warnings[0].Variant != "test" {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	if r.SRM.Mismatch || r.SRM.PValue != 1 || r.Exposed != 5000 || r.SRM.Expected[0] != 2500 {
		t.Errorf("srm: %+v exposed %d", r.SRM, r.Exposed)
	}

	// 60/40 for 50/50 weights is a mismatch.
	c = counts(d.Keys(), []string{"buy", "share", "ticket"}, []float64{3000, 600, 300, 150}, []float64{2000, 400, 200, 100})
	if r, err = Analyze(d, c, now.Add(-24*time.Hour), now, now); err != nil || !r.SRM.Mismatch || r.SRM.PValue > 1e-10 {
		t.Errorf("60/40: %+v %v", r.SRM, err)
	}
	// Nobody exposed: every comparison says why it has no numbers.
	c = counts(d.Keys(), []string{"buy", "share", "ticket"}, []float64{0, 0, 0, 0}, []float64{0, 0, 0, 0})
	r, err = Analyze(d, c, now.Add(-24*time.Hour), now, now)
	if err != nil || r.Metrics.Primary[0].Effect != nil || r.Metrics.Primary[0].Error == "" || r.Metrics.Primary[0].ControlMean != nil || r.SRM.Mismatch {
		t.Errorf("empty: %+v %v", r, err)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"effect":null,"ci":null`) {
		t.Errorf("empty answer: %s", b)
	}

	// Bayesian: chance to win, no p-values; lower is better flips it.
	d.Method = stats.Bayesian
	c = counts(d.Keys(), []string{"buy", "share", "ticket"}, []float64{2500, 500, 250, 125}, []float64{2500, 625, 260, 200})
	r, err = Analyze(d, c, now.Add(-24*time.Hour), now, now)
	if err != nil {
		t.Fatal(err)
	}
	buy, g = r.Metrics.Primary[0], r.Metrics.Guardrail[0]
	if buy.PValue != nil || buy.ChanceToWin == nil || *buy.ChanceToWin < 0.99 || !buy.Significant || !buy.Better {
		t.Errorf("bayesian buy: %+v", buy)
	}
	if *g.ChanceToWin > 0.01 || !g.Significant || g.Better || len(r.Warnings) != 1 {
		t.Errorf("bayesian ticket: ctw %v %+v", *g.ChanceToWin, r.Warnings)
	}
}

func TestFlagAndAssign(t *testing.T) {
	vs := normalise([]Variant{{"control", 1}, {"a", 1}, {"b", 1}})
	f := NewFlag("exp-flag", "Experiment", vs)
	if err := flags.Validate(f); err != nil {
		t.Fatal(err)
	}
	if f.Active || len(f.Filters.Groups) != 1 || f.Filters.Multivariate.Variants[2].RolloutPercentage < 33.33 {
		t.Fatalf("new flag: %+v", f)
	}
	arms, err := Arms(f)
	if err != nil || len(arms) != 3 || math.Abs(arms[1].Weight-1.0/3) > 1e-12 {
		t.Fatalf("arms: %v %v", arms, err)
	}
	if err := SameArms(f, vs); err != nil {
		t.Error(err)
	}
	if err := SameArms(f, vs[:2]); err == nil {
		t.Error("other arms are the same")
	}

	// An existing flag's own targeting stays; Journey's filters are replaced.
	f.Filters.Groups = []flags.Condition{
		{Properties: []flags.Property{{Key: "plan", Value: "pro"}, flags.BucketProperty("layer:9", 0, 1, true)}},
		{},
	}
	run := Assign(f, 4, &LayerShare{ID: 2, From: 0.5, To: 1}, 10)
	if err := flags.Validate(run); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(run.Filters.Groups)
	want := `[{"properties":[{"key":"plan","value":"pro"},` +
		`{"key":"layer:2","value":[0.5,1],"operator":"in_range","type":"bucket"},` +
		`{"key":"holdout:4","value":[0,0.1],"operator":"not_in_range","type":"bucket"}],"rollout_percentage":null,"variant":null},` +
		`{"properties":[{"key":"layer:2","value":[0.5,1],"operator":"in_range","type":"bucket"},` +
		`{"key":"holdout:4","value":[0,0.1],"operator":"not_in_range","type":"bucket"}],"rollout_percentage":null,"variant":null}]`
	if string(b) != want {
		t.Errorf("assigned groups:\n%s\nwant\n%s", b, want)
	}
	if len(f.Filters.Groups[0].Properties) != 2 {
		t.Error("Assign changed its argument")
	}
	// Evaluated: held-out ids and ids outside the share never get a variant.
	run.Active = true
	c := flags.MustCompile(run)
	in := 0
	for i := range 4000 {
		id := fmt.Sprintf("p%d", i)
		r := flags.Evaluate(c, &flags.Subject{DistinctID: id}, nil)
		want := flags.InBucket("layer:2", id, 0.5, 1) && !flags.InBucket("holdout:4", id, 0, 0.1)
		if r.Enabled != want {
			t.Fatalf("%s: %+v, want enabled %v", id, r, want)
		}
		if r.Enabled {
			in++
		}
	}
	if in < 1650 || in > 1950 { // 4000 × 0.5 × 0.9 = 1800
		t.Errorf("%d of 4000 in the experiment, want about 1800", in)
	}
	// No layer, no holdout: Journey's filters go, nothing is added; a
	// flag without conditions gets one for everyone.
	plain := Assign(run, 4, nil, 0)
	if len(plain.Filters.Groups[0].Properties) != 1 || len(plain.Filters.Groups[1].Properties) != 0 {
		t.Errorf("plain: %+v", plain.Filters.Groups)
	}
	f.Filters.Groups = nil
	if g := Assign(f, 4, nil, 5).Filters.Groups; len(g) != 1 || len(g[0].Properties) != 1 {
		t.Errorf("no conditions: %+v", g)
	}
	if !(LayerShare{1, 0, 0.5}).Overlaps(LayerShare{1, 0.4, 1}) || (LayerShare{1, 0, 0.5}).Overlaps(LayerShare{1, 0.5, 1}) ||
		(LayerShare{1, 0, 0.5}).Overlaps(LayerShare{2, 0, 0.5}) {
		t.Error("Overlaps")
	}
}

// TestShip: the shipped flag serves the winner to everyone its own
// targeting matches — held-out ids and ids outside the layer share too —
// and nobody else.
func TestShip(t *testing.T) {
	vs := normalise([]Variant{{"control", 1}, {"test", 1}})
	f := NewFlag("exp-flag", "Experiment", vs)
	f.Filters.Groups = []flags.Condition{{Properties: []flags.Property{{Key: "plan", Value: "pro"}}}}
	run := Assign(f, 4, &LayerShare{ID: 2, From: 0, To: 0.5}, 20)
	run.Active = true
	shipped := Ship(run, "test")
	if err := flags.Validate(shipped); err != nil {
		t.Fatal(err)
	}
	if len(run.Filters.Groups[0].Properties) != 3 {
		t.Fatal("Ship changed its argument")
	}
	c := flags.MustCompile(shipped)
	for i := range 2000 {
		id := fmt.Sprintf("p%d", i)
		plan := []string{"pro", "free"}[i%2]
		r := flags.Evaluate(c, &flags.Subject{DistinctID: id, PersonProperties: map[string]any{"plan": plan}}, nil)
		if want := plan == "pro"; r.Enabled != want || (want && r.Variant != "test") {
			t.Fatalf("%s (%s): %+v", id, plan, r)
		}
	}
}
