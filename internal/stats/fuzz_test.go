package stats

import (
	"errors"
	"math"
	"testing"
)

// FuzzCompare feeds arbitrary sums to Compare. Whatever the input, it must
// not panic; it either refuses it with an *InputError or returns a result
// whose numbers are all usable: finite (but for the open end of a one-sided
// interval), probabilities in [0, 1], a positive SE, an ordered interval.
//
// mode picks the metric kind (mode%4: mean, proportion, ratio, CUPED), the
// method (mode/4%3) and the sides (mode/12%3); x1..x3 fill the denominator
// or covariate moments and their cross-product.
func FuzzCompare(f *testing.F) {
	seeds := []struct {
		nA, sA, qA, nB, sB, qB, x1, x2, x3 float64
		mode                               uint8
		rel                                bool
	}{
		{3407, 1396.87, 52377.9767, 3461, 2422.7, 134698.29, 0, 0, 0, 0, true},
		{28, 14, 14, 30, 16, 16, 0, 0, 0, 1, true},
		{100, 270, 848.79, 120, 300, 869, 510, 2700, 1500, 2, false},
		{3001, 300, 600, 3000, 222, 555, 210, 415, -20, 3, true},
		{1000, 100, 100, 1000, 120, 120, 0, 0, 0, 1 + 4, false},      // proportion, sequential
		{1000, 100, 100, 1000, 120, 120, 0, 0, 0, 1 + 8, true},       // proportion, bayesian
		{500, 50, 900, 500, 70, 950, 0, 0, 0, 4 + 12, false},         // sequential greater
		{500, 50, 900, 500, 70, 950, 0, 0, 0, 24, true},              // frequentist less
		{2, 1, 1, 2, 1, 1, 0, 0, 0, 0, false},                        // zero variance
		{1e300, 1e300, 1e300, 1e300, 1e300, 1e300, 1, 1, 1, 0, true}, // extreme
		{5, -3, 9, 5, 2, 8, 1, 2, 1, 2, true},
		{1e6, 1e-300, 1e-300, 1e6, 2e-300, 3e-300, 0, 0, 0, 8, true},
	}
	for _, s := range seeds {
		f.Add(s.nA, s.sA, s.qA, s.nB, s.sB, s.qB, s.x1, s.x2, s.x3, s.mode, s.rel)
	}
	f.Fuzz(func(t *testing.T, nA, sA, qA, nB, sB, qB, x1, x2, x3 float64, mode uint8, rel bool) {
		a, b := fuzzStats(mode%4, nA, sA, qA, x1, x2, x3), fuzzStats(mode%4, nB, sB, qB, x1*1.1, x2*1.3, x3*0.9)
		opt := Options{
			Method:   []Method{Frequentist, Sequential, Bayesian}[mode/4%3],
			Sided:    []Sided{TwoSided, Greater, Less}[mode/12%3],
			Relative: rel,
		}
		if opt.Method == Bayesian {
			opt.Sided = TwoSided
			opt.Prior = Prior{Mean: 0.01, Variance: 0.3, Proper: mode&1 == 1}
		}
		res, err := Compare(a, b, opt)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error is not an *InputError: %v", err)
			}
			return
		}
		checkResult(t, res, opt)
	})
}

func fuzzStats(kind uint8, n, sum, sumSquares, x1, x2, x3 float64) Stats {
	switch kind {
	case 1:
		return Proportion(n, sum)
	case 2:
		return Ratio(n, Moments{Sum: sum, SumSquares: sumSquares}, Moments{Sum: x1, SumSquares: x2}, x3)
	case 3:
		return CUPED(n, Moments{Sum: sum, SumSquares: sumSquares}, Moments{Sum: x1, SumSquares: x2}, x3)
	}
	return Mean(n, sum, sumSquares)
}

func checkResult(t *testing.T, r Result, opt Options) {
	t.Helper()
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(r.Effect) || bad(r.SE) || !(r.SE > 0) || bad(r.DF) || bad(r.ControlMean) || bad(r.TreatmentMean) || bad(r.Theta) {
		t.Fatalf("unusable result %+v", r)
	}
	lo, hi := r.CI[0], r.CI[1]
	if math.IsNaN(lo) || math.IsNaN(hi) || lo > hi {
		t.Fatalf("interval %v", r.CI)
	}
	if (opt.Sided != Less && bad(lo)) || (opt.Sided != Greater && bad(hi)) {
		t.Fatalf("interval %v for sides %q", r.CI, opt.Sided)
	}
	prob := func(p *float64) bool { return p != nil && *p >= 0 && *p <= 1 }
	if opt.Method == Bayesian {
		if !prob(r.ChanceToWin) || r.Risk == nil || r.Risk[0] < 0 || r.Risk[1] < 0 || bad(r.Risk[0]) || bad(r.Risk[1]) || r.PValue != nil {
			t.Fatalf("bayesian result %+v", r)
		}
		return
	}
	if !prob(r.PValue) || r.ChanceToWin != nil || r.Risk != nil {
		t.Fatalf("frequentist result %+v", r)
	}
}
