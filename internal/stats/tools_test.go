package stats

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// Hand-computed sample sizes (z_0.975 = 1.959964, z_0.8 = 0.841621,
// z_0.9 = 1.281552):
//
//	10% -> 12%: p̄ = 0.11,
//	  (1.959964·sqrt(2·0.11·0.89) + 0.841621·sqrt(0.09+0.1056))² / 0.02²
//	  = (0.867270 + 0.372219)² / 0.0004 = 3840.85 -> 3841 per arm
//	5% -> 4.5% (relative -10%): 28407.84 -> 28408
//	means, σ² = 1, δ = 0.5: 2·(2.801585)²/0.25 = 62.79 -> 63
//	means, σ² = 100, δ = 2, power 0.9: 2·100·(3.241516)²/4 = 525.37 -> 526
func TestSampleSize(t *testing.T) {
	cases := []struct {
		name string
		in   SampleSizeInput
		want int
	}{
		{"two proportions 10% -> 12%", SampleSizeInput{Baseline: 0.1, Proportion: true, MDE: 0.02}, 3841},
		{"same as a relative lift of 20%", SampleSizeInput{Baseline: 0.1, Proportion: true, MDE: 0.2, Relative: true}, 3841},
		{"a decrease, relative -10%", SampleSizeInput{Baseline: 0.05, Proportion: true, MDE: -0.1, Relative: true}, 28408},
		{"mean, unit variance, delta 0.5", SampleSizeInput{Baseline: 3, Variance: 1, MDE: 0.5}, 63},
		{"mean, power 0.9", SampleSizeInput{Baseline: 50, Variance: 100, MDE: 2, Power: 0.9, Alpha: 0.05}, 526},
	}
	for _, c := range cases {
		got, err := SampleSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s: SampleSize = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

// MinimumDetectableEffect inverts SampleSize.
func TestMinimumDetectableEffect(t *testing.T) {
	for _, in := range []SampleSizeInput{
		{Baseline: 0.1, Proportion: true},
		{Baseline: 0.1, Proportion: true, Relative: true},
		{Baseline: 20, Variance: 30, Relative: true, Power: 0.9, Alpha: 0.01},
	} {
		for _, n := range []float64{100, 3841, 1e6} {
			mde, err := MinimumDetectableEffect(n, in)
			if err != nil {
				t.Fatal(err)
			}
			in.MDE = mde
			back, err := SampleSize(in)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(back)-n) > 1 {
				t.Errorf("%+v: MDE(%v) = %v gives back n = %d", in, n, mde, back)
			}
		}
	}
	if mde, _ := MinimumDetectableEffect(63, SampleSizeInput{Variance: 1}); math.Abs(mde-0.4992) > 1e-3 {
		t.Errorf("mean MDE at n=63: %v, want ≈0.5", mde)
	}
	if _, err := MinimumDetectableEffect(2, SampleSizeInput{Baseline: 0.5, Proportion: true}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("tiny n should be refused: %v", err)
	}
}

func TestRuntimeDays(t *testing.T) {
	cases := []struct {
		perArm float64
		arms   int
		daily  float64
		want   int
	}{
		{3841, 2, 1000, 8},   // 7682 users at 1000/day
		{3841, 3, 500, 24},   // 11523 users at 500/day
		{500, 2, 1000, 1},    // exactly one day
		{1000, 4, 1e6, 1},    // never less than a day
		{28408, 2, 2500, 23}, // 56816 / 2500 = 22.7
	}
	for _, c := range cases {
		got, err := RuntimeDays(c.perArm, c.arms, c.daily)
		if err != nil || got != c.want {
			t.Errorf("RuntimeDays(%v, %d, %v) = %d, %v; want %d", c.perArm, c.arms, c.daily, got, err, c.want)
		}
	}
}

func TestPlanningErrors(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		field string
	}{
		{"rate above 1", second(SampleSize(SampleSizeInput{Baseline: 1.2, Proportion: true, MDE: 0.1})), "baseline"},
		{"rate pushed out", second(SampleSize(SampleSizeInput{Baseline: 0.95, Proportion: true, MDE: 0.1})), "mde"},
		{"zero mde", second(SampleSize(SampleSizeInput{Baseline: 0.1, Proportion: true})), "mde"},
		{"no variance", second(SampleSize(SampleSizeInput{Baseline: 3, MDE: 1})), "variance"},
		{"power", second(SampleSize(SampleSizeInput{Baseline: 0.1, Proportion: true, MDE: 0.01, Power: 1})), "power"},
		{"alpha NaN", second(SampleSize(SampleSizeInput{Baseline: 0.1, Proportion: true, MDE: 0.01, Alpha: math.NaN()})), "alpha"},
		{"relative on zero", second(SampleSize(SampleSizeInput{Variance: 1, MDE: 0.1, Relative: true})), "baseline"},
		{"arms", second(RuntimeDays(100, 1, 10)), "arms"},
		{"traffic", second(RuntimeDays(100, 2, 0)), "daily_users"},
		{"per arm", second(RuntimeDays(math.NaN(), 2, 10)), "per_arm"},
	}
	for _, c := range cases {
		var ie *InputError
		if !errors.As(c.err, &ie) || ie.Field != c.field {
			t.Errorf("%s: err = %v, want InputError on %s", c.name, c.err, c.field)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestSRMErrors(t *testing.T) {
	cases := []struct {
		name           string
		users, weights []float64
		field          string
	}{
		{"negative users", []float64{10, -1}, []float64{1, 1}, "users[1]"},
		{"negative weight", []float64{10, 10}, []float64{1, -1}, "weights[1]"},
		{"NaN users", []float64{math.NaN(), 10}, []float64{1, 1}, "users[0]"},
		{"Inf weight", []float64{10, 10}, []float64{math.Inf(1), 1}, "weights[0]"},
		{"all weights zero", []float64{10, 10}, []float64{0, 0}, "weights"},
		{"length", []float64{10, 10, 10}, []float64{1, 1}, "weights"},
	}
	for _, c := range cases {
		_, err := SRM(c.users, c.weights)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: err = %v, want InputError on %s", c.name, err, c.field)
		}
	}
	// Weights need not be normalised.
	a, _ := SRM([]float64{1000, 1200}, []float64{1, 1})
	b, _ := SRM([]float64{1000, 1200}, []float64{50, 50})
	if a != b {
		t.Errorf("unnormalised weights: %v vs %v", a, b)
	}
}

func TestAdjustProperties(t *testing.T) {
	p := []float64{0.2, 0.001, 0.04, 0.04, 0.9, 0.011}
	for _, m := range []string{HolmBonferroni, BenjaminiHochberg, "holm", "bh"} {
		adj, err := Adjust(m, p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p {
			if adj[i] < p[i] || adj[i] > 1 {
				t.Errorf("%s: adjusted %v from %v", m, adj[i], p[i])
			}
			for j := range p {
				if p[i] < p[j] && adj[i] > adj[j] {
					t.Errorf("%s: order broken: p %v->%v, p %v->%v", m, p[i], adj[i], p[j], adj[j])
				}
			}
		}
	}
	if got, err := Adjust(HolmBonferroni, nil); err != nil || len(got) != 0 {
		t.Errorf("empty input: %v, %v", got, err)
	}
	if _, err := Adjust("bonferroni-ish", p); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("unknown method: %v", err)
	}
	var ie *InputError
	if _, err := Adjust(BenjaminiHochberg, []float64{0.1, math.NaN()}); !errors.As(err, &ie) || ie.Field != "p[1]" {
		t.Errorf("NaN p: %v", err)
	}
	if _, err := Adjust(BenjaminiHochberg, []float64{1.5}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("p > 1: %v", err)
	}
}

func TestCapping(t *testing.T) {
	values := []float64{0, 0, 0, 1, 2, 3, 4, 100}
	abs, thr, err := Capping{Type: CapAbsolute, Value: 3}.Apply(values)
	if err != nil || thr != 3 || !slices.Equal(abs, []float64{0, 0, 0, 1, 2, 3, 3, 3}) {
		t.Errorf("absolute: %v %v %v", abs, thr, err)
	}
	// PERCENTILE_CONT(0.5) of the 8 values: between 1 and 2.
	if thr, _ := (Capping{Type: CapPercentile, Value: 0.5}).Threshold(values); thr != 1.5 {
		t.Errorf("median threshold %v, want 1.5", thr)
	}
	// Ignoring zeros, the 0.8 percentile of {1,2,3,4,100} is 4 + 0.2*96.
	if thr, _ := (Capping{Type: CapPercentile, Value: 0.8, IgnoreZeros: true}).Threshold(values); math.Abs(thr-23.2) > 1e-12 {
		t.Errorf("ignore zeros threshold %v, want 23.2", thr)
	}
	if thr, _ := (Capping{Type: CapPercentile, Value: 1}).Threshold(values); thr != 100 {
		t.Errorf("p100 threshold %v", thr)
	}
	if values[7] != 100 {
		t.Error("Apply modified its input")
	}
	if Cap(5, 3) != 3 || Cap(-1, 3) != -1 {
		t.Error("Cap")
	}
	for _, c := range []struct {
		cap   Capping
		vals  []float64
		field string
	}{
		{Capping{Type: "soft", Value: 1}, values, "type"},
		{Capping{Type: CapPercentile, Value: 0}, values, "value"},
		{Capping{Type: CapPercentile, Value: 1.2}, values, "value"},
		{Capping{Type: CapAbsolute, Value: math.NaN()}, values, "value"},
		{Capping{Type: CapPercentile, Value: 0.9}, []float64{1, math.Inf(1)}, "values[1]"},
		{Capping{Type: CapPercentile, Value: 0.9, IgnoreZeros: true}, []float64{0, 0}, "values"},
	} {
		_, err := c.cap.Threshold(c.vals)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%+v: err = %v, want InputError on %s", c.cap, err, c.field)
		}
	}
}
