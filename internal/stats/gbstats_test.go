package stats

import (
	"errors"
	"math"
	"testing"
)

// The cases below are the published test vectors of GrowthBook's gbstats
// (packages/stats/tests/...) and of its app (packages/back-end/test/stats.test.ts,
// packages/shared/test/experiments.test.ts). Each case is named
// "<file>:<TestClass>.<test_method>". gbstats rounds to 5 decimals in
// tests/frequentist and tests/bayesian and to 9 in tests/test_gbstats.py;
// the tolerances follow.

const (
	tol5 = 5e-6
	tol9 = 5e-10
)

type gbCase struct {
	name               string
	control, treatment Stats
	opt                Options
	tol                float64
	effect, se         float64
	ci                 *[2]float64 // nil: not published
	p, ctw             *float64
	risk               *[2]float64
	riskTreatmentOnly  bool // test_gbstats publishes only risk[1]
	skipSE             bool
}

func f(v float64) *float64 { return &v }

func iv(lo, hi float64) *[2]float64 { return &[2]float64{lo, hi} }

// Shared inputs of tests/frequentist/test_tests.py.
var (
	gbMeanA3407 = Mean(3407, 1396.87, 52377.9767)
	gbMeanA3000 = Mean(3000, 1396.87, 52377.9767)
	gbMeanB     = Mean(3461, 2422.7, 134698.29)
	inf         = math.Inf(1)
)

// gbRatioRA are the RegressionAdjustedRatioStatistic inputs shared by
// TestTwoSidedTTest.test_two_sided_ttest_test_runs_ratio_ra and
// TestSequentialTTest.test_sequential_test_runs_ratio_ra.
func gbRatioRA() (Stats, Stats) {
	a := Stats{N: 100,
		Value:          Moments{Sum: 485.112236689623, SumSquares: 2715.484666118136},
		Denominator:    &Moments{Sum: 679.9093275844917, SumSquares: 4939.424001640236},
		Pre:            &Moments{Sum: 192.59138069991536, SumSquares: 460.076026390857},
		PreDenominator: &Moments{Sum: 290.1398399750233, SumSquares: 920.9461385038898},
		Products: Products{
			ValueDenominator:          3602.146836776702,
			ValuePre:                  1113.6215759318352,
			ValuePreDenominator:       1559.2878434944676,
			DenominatorPre:            1460.3181079276983,
			DenominatorPreDenominator: 2130.9404074446747,
			PrePreDenominator:         634.239482353647,
		}}
	b := Stats{N: 100,
		Value:          Moments{Sum: 514.7757826608777, SumSquares: 2994.897482705013},
		Denominator:    &Moments{Sum: 705.4090874383759, SumSquares: 5291.36604146392},
		Pre:            &Moments{Sum: 206.94157227402536, SumSquares: 514.2903702246757},
		PreDenominator: &Moments{Sum: 302.54389139107326, SumSquares: 994.4506208125663},
		Products: Products{
			ValueDenominator:          3918.1561431600717,
			ValuePre:                  1237.0953021125997,
			ValuePreDenominator:       1701.0287270040265,
			DenominatorPre:            1604.0759503266522,
			DenominatorPreDenominator: 2292.081739775257,
			PrePreDenominator:         698.4173425817908,
		}}
	return a, b
}

func gbCases() []gbCase {
	raA, raB := gbRatioRA()
	seqRAa := CUPED(3000, Moments{Sum: 1396.87, SumSquares: 52377.9767}, Moments{Sum: 16.87, SumSquares: 527.9767}, 1)
	seqRAb := CUPED(3461, Moments{Sum: 2422.7, SumSquares: 134698.29}, Moments{Sum: 22.7, SumSquares: 1348.29}, 1)
	normA, normB := Mean(10, 100, 1002.25), Mean(10, 105, 1111.5)
	dimA, dimB := Mean(100, 270, 848.79), Mean(120, 300, 869)
	raCountA := CUPED(3001, Moments{Sum: 300, SumSquares: 600}, Moments{Sum: 210, SumSquares: 415}, -20)
	raCountB := CUPED(3000, Moments{Sum: 222, SumSquares: 555}, Moments{Sum: 120, SumSquares: 405}, -10)
	raPropA := CUPED(3001, Binomial(300), Binomial(210), -20)
	raPropB := CUPED(3000, Binomial(222), Binomial(120), -10)
	rel := Options{Relative: true}
	seqRel := Options{Relative: true, Method: Sequential}
	bayesRel := Options{Relative: true, Method: Bayesian}
	const ft = "tests/frequentist/test_tests.py:"
	const bt = "tests/bayesian/test_tests.py:"
	const gt = "tests/test_gbstats.py:"
	return []gbCase{
		// tests/frequentist/test_tests.py
		{name: ft + "TestTwoSidedTTest.test_two_sided_ttest", control: gbMeanA3407, treatment: gbMeanB, opt: rel, tol: tol5,
			effect: 0.70732, ci: iv(-0.03526, 1.44989), se: 0.37879, p: f(0.06191)},
		{name: ft + "TestTwoSidedTTest.test_two_sided_ttest_absolute", control: gbMeanA3407, treatment: gbMeanB, tol: tol5,
			effect: 0.29, ci: iv(0.04538, 0.53462), se: 0.12478, p: f(0.02016)},
		{name: ft + "TestTwoSidedTTest.test_two_sided_ttest_binom", control: Proportion(28, 14), treatment: Proportion(30, 16), opt: rel, tol: tol5,
			effect: 0.06667, ci: iv(-0.47767, 0.61101), se: 0.2717, p: f(0.80707)},
		{name: ft + "TestTwoSidedTTest.test_two_sided_ttest_test_runs_ratio_ra", control: raA, treatment: raB, opt: rel, tol: tol5,
			effect: -0.0007, ci: iv(-0.00841, 0.00700), se: 0.00391, p: f(0.85771)},
		{name: ft + "TestSequentialTTest.test_sequential_test_runs", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Relative: true, Method: Sequential, SequentialTuning: 1000}, tol: tol5,
			effect: 0.50336, ci: iv(-0.55844, 1.56516), se: 0.33341, p: f(1)},
		{name: ft + "TestSequentialTTest.test_sequential_test_runs_prop", control: Proportion(3000, 1396), treatment: Proportion(3461, 2422), opt: seqRel, tol: tol5,
			effect: 0.50386, ci: iv(0.40098, 0.60675), se: 0.03386, p: f(0)},
		{name: ft + "TestSequentialTTest.test_sequential_test_runs_ra", control: seqRAa, treatment: seqRAb, opt: seqRel, tol: tol5,
			effect: 0.50338, ci: iv(-0.50969, 1.51646), se: 0.33341, p: f(1)},
		{name: ft + "TestSequentialTTest.test_sequential_test_runs_ratio_ra", control: raA, treatment: raB, opt: seqRel, tol: tol5,
			effect: -0.0007, ci: iv(-0.02063, 0.01923), se: 0.00391, p: f(1)},
		{name: ft + "TestOneSidedGreaterTTest.test_one_sided_ttest", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Relative: true, Sided: Greater}, tol: tol5,
			effect: 0.5033610858562358, ci: iv(-0.045136675850396046, inf), se: 0.3334122146400735, p: f(0.06558262868467746)},
		{name: ft + "TestOneSidedGreaterTTest.test_one_sided_ttest_absolute", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Sided: Greater}, tol: tol5,
			effect: 0.23437666666666668, ci: iv(0.020791480063255735, inf), se: 0.12983081254184736, p: f(0.03554272489873023)},
		{name: ft + "TestOneSidedLesserTTest.test_one_sided_ttest", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Relative: true, Sided: Less}, tol: tol5,
			effect: 0.5033610858562358, ci: iv(-inf, 1.0518588475628676), se: 0.3334122146400735, p: f(0.9344173713153225)},
		{name: ft + "TestOneSidedLesserTTest.test_one_sided_ttest_absolute", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Sided: Less}, tol: tol5,
			effect: 0.23437666666666668, ci: iv(-inf, 0.44796185327007765), se: 0.12983081254184736, p: f(0.9644572751012698)},
		{name: ft + "TestSequentialOneSidedGreaterTTest.test_one_sided_ttest", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Relative: true, Sided: Greater, Method: Sequential}, tol: tol5,
			effect: 0.5033610858562358, ci: iv(-0.42356454602790883, inf), se: 0.3334122146400735, p: f(0.4999)},
		// The published p-value of ...test_one_sided_ttest_absolute (0.46316) is a
		// bisection result that leaves the CI bound 1.6e-5 away from 0; this
		// package inverts the interval in closed form. See
		// TestSequentialOneSidedPValueInvertsCI for the exact check.
		{name: ft + "TestSequentialOneSidedGreaterTTest.test_one_sided_ttest_absolute (CI only)", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Sided: Greater, Method: Sequential}, tol: tol5,
			effect: 0.23437666666666668, ci: iv(-0.12656844172804982, inf), se: 0.12983081254184736},
		{name: ft + "TestSequentialOneSidedLesserTTest.test_one_sided_ttest", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Relative: true, Sided: Less, Method: Sequential}, tol: tol5,
			effect: 0.5033610858562358, ci: iv(-inf, 1.4302867177403806), se: 0.3334122146400735, p: f(0.4999)},
		{name: ft + "TestSequentialOneSidedLesserTTest.test_one_sided_ttest_absolute", control: gbMeanA3000, treatment: gbMeanB,
			opt: Options{Sided: Less, Method: Sequential}, tol: tol5,
			effect: 0.23437666666666668, ci: iv(-inf, 0.5953217750613832), se: 0.12983081254184736, p: f(0.4999)},

		// tests/bayesian/test_tests.py
		{name: bt + "TestBinom.test_bayesian_binomial_ab_test", control: Proportion(100, 49), treatment: Proportion(100, 51), opt: bayesRel, tol: tol5,
			effect: 0.04082, ci: iv(-0.24779, 0.32943), se: 0.14725, ctw: f(0.60918), risk: iv(0.0814, 0.04058)},
		{name: bt + "TestNorm.test_bayesian_gaussian_ab_test", control: normA, treatment: normB, opt: bayesRel, tol: tol5,
			effect: 0.05, ci: iv(-0.02, 0.12), se: 0.03572, ctw: f(0.91923), risk: iv(0.05131, 0.00131)},
		{name: bt + "TestNorm.test_bayesian_gaussian_ab_test_informative", control: normA, treatment: normB,
			opt: Options{Relative: true, Method: Bayesian, Prior: Prior{Mean: 0.1, Variance: 0.1, Proper: true}}, tol: tol5,
			effect: 0.05063, ci: iv(-0.01893, 0.12019), se: 0.03549, ctw: f(0.92315), risk: iv(0.05186, 0.00123)},

		// tests/test_gbstats.py (analyze_metric_df end to end, dimension "one")
		{name: gt + "TestAnalyzeMetricDfBayesian.test_get_metric_dfs_new", control: dimA, treatment: dimB, opt: bayesRel, tol: tol9,
			effect: -0.074074074, ctw: f(0.071834168), risk: iv(0, 0.075691131), riskTreatmentOnly: true, skipSE: true},
		{name: gt + "TestAnalyzeMetricDfBayesian.test_get_metric_dfs_inverse", control: dimA, treatment: dimB,
			opt: Options{Relative: true, Method: Bayesian, Inverse: true}, tol: tol9,
			effect: -0.074074074, ctw: f(1 - 0.071834168), risk: iv(0, 0.001617057), riskTreatmentOnly: true, skipSE: true},
		{name: gt + "TestAnalyzeMetricDfFrequentist.test_get_metric_dfs_frequentist", control: dimA, treatment: dimB, opt: rel, tol: tol9,
			effect: -0.074074074, p: f(0.145219005), skipSE: true},
		{name: gt + "TestAnalyzeMetricDfSequential.test_analyze_metric_df_sequential", control: dimA, treatment: dimB,
			opt: Options{Relative: true, Method: Sequential, SequentialTuning: 600}, tol: tol9,
			effect: -0.074074074, p: f(0.892332229), ci: iv(-0.233322085, math.NaN()), skipSE: true},
		{name: gt + "TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra", control: raCountA, treatment: raCountB, opt: rel, tol: tol9,
			effect: -0.281707154, p: f(0.003732549), skipSE: true},
		{name: gt + "TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra_proportion", control: raPropA, treatment: raPropB, opt: rel, tol: tol9,
			effect: -0.31620216, p: f(0.000000353), skipSE: true},
		{name: gt + "TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ratio_ra", control: raA, treatment: raB, opt: rel, tol: tol9,
			effect: -0.000701483, p: f(0.857710405), skipSE: true},
	}
}

func TestGrowthBookVectors(t *testing.T) {
	for _, c := range gbCases() {
		t.Run(c.name, func(t *testing.T) {
			res, err := Compare(c.control, c.treatment, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkGB(t, c, res)
		})
	}
}

func checkGB(t *testing.T, c gbCase, res Result) {
	t.Helper()
	near := func(what string, got, want float64) {
		t.Helper()
		if math.IsNaN(want) {
			return // end not published
		}
		if math.IsInf(want, 0) && got == want {
			return
		}
		if !(math.Abs(got-want) <= c.tol) {
			t.Errorf("%s = %.10g, want %.10g (±%g)", what, got, want, c.tol)
		}
	}
	near("effect", res.Effect, c.effect)
	if !c.skipSE {
		near("se", res.SE, c.se)
	}
	if c.ci != nil {
		near("ci[0]", res.CI[0], c.ci[0])
		near("ci[1]", res.CI[1], c.ci[1])
	}
	if c.p != nil {
		if res.PValue == nil {
			t.Fatal("no p-value")
		}
		near("p", *res.PValue, *c.p)
	}
	if c.ctw != nil {
		if res.ChanceToWin == nil || res.Risk == nil {
			t.Fatal("no chance to win / risk")
		}
		near("chance to win", *res.ChanceToWin, *c.ctw)
	}
	if c.risk != nil {
		if !c.riskTreatmentOnly {
			near("risk[0]", res.Risk[0], c.risk[0])
		}
		near("risk[1]", res.Risk[1], c.risk[1])
	}
	if (c.opt.Method == Bayesian) != (res.PValue == nil) {
		t.Errorf("p-value set for %q: %v", c.opt.Method, res.PValue)
	}
}

// tests/test_gbstats.py:TestAnalyzeMetricDfBayesian.test_get_metric_dfs_bayesian_ratio
// and TestAnalyzeMetricDfFrequentist.test_get_metric_dfs_frequentist_ratio use a
// denominator with n=100, sum=510, sum_squares=810: Σx² < (Σx)²/n, which no
// real data can produce (its variance is negative). Compare refuses it with
// an error naming the field; the delta-method core still reproduces the
// published numbers on it, which pins the formula.
func TestGrowthBookRatioVectors(t *testing.T) {
	control := Ratio(100, Moments{Sum: 270, SumSquares: 848.79}, Moments{Sum: 510, SumSquares: 810}, -900)
	treatment := Ratio(120, Moments{Sum: 300, SumSquares: 869}, Moments{Sum: 500, SumSquares: 800}, -905)

	_, err := Compare(control, treatment, Options{Relative: true})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "control.denominator.sum_squares" {
		t.Fatalf("impossible sums: err = %v, want InputError on control.denominator.sum_squares", err)
	}

	est, err := estimateEffect(control, treatment, true)
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := Options{Relative: true}.withDefaults()
	freq := welchTest(est, opt)
	checkGB(t, gbCase{tol: tol9, effect: 0.133333333, p: f(0.610663339), skipSE: true}, freq)

	opt.Method = Bayesian
	bayes, err := bayesianTest(est, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkGB(t, gbCase{opt: opt, tol: tol9, effect: 0.133333333, ctw: f(0.694926359),
		risk: iv(0, 0.050934045), riskTreatmentOnly: true, skipSE: true}, bayes)
}

// tests/frequentist/test_tests.py:TestTwoSidedTTest.test_two_sided_ttest_missing_variance
// (n=2 with sums whose variance is negative) and
// tests/bayesian/test_tests.py:TestBinom.test_missing_data / TestNorm.test_missing_data
// (n=0): gbstats returns its uninformative default; Compare returns an
// InputError naming the field instead.
func TestGrowthBookDegenerateInputs(t *testing.T) {
	cases := []struct {
		name               string
		control, treatment Stats
		opt                Options
		field              string
	}{
		{"test_two_sided_ttest_missing_variance", Mean(2, 1396.87, 52377.9767), gbMeanB, Options{Relative: true}, "control.value.sum_squares"},
		{"TestBinom.test_missing_data", Proportion(0, 0), Proportion(0, 0), Options{Method: Bayesian, Relative: true}, "control.n"},
		{"TestNorm.test_missing_data", Mean(0, 0, 0), Mean(0, 0, 0), Options{Method: Bayesian, Relative: true}, "control.n"},
	}
	for _, c := range cases {
		_, err := Compare(c.control, c.treatment, c.opt)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: err = %v, want InputError on %s", c.name, err, c.field)
		}
	}
}

// tests/frequentist/test_tests.py:TestSequentialTTest.test_sequential_test_tuning_as_expected:
// the interval is narrowest when N* is near the actual sample size (6461).
func TestGrowthBookSequentialTuning(t *testing.T) {
	ci := func(tuning float64) Interval {
		r, err := Compare(gbMeanA3000, gbMeanB, Options{Relative: true, Method: Sequential, SequentialTuning: tuning})
		if err != nil {
			t.Fatal(err)
		}
		return r.CI
	}
	below, near, above := ci(10), ci(6461), ci(10000)
	contains := func(outer, inner Interval) bool { return outer[0] < inner[0] && outer[1] > inner[1] }
	if !contains(below, above) || !contains(below, near) || !contains(above, near) {
		t.Errorf("CIs below=%v near=%v above=%v are not nested as expected", below, near, above)
	}
}

// tests/bayesian/test_tests.py:TestGaussianEffectRelativeAbsolutePriors.test_bayesian_effect_relative_effect:
// a relative prior rescaled to the absolute scale keeps chance to win close.
func TestGrowthBookRelativeAbsolutePriors(t *testing.T) {
	c, tr := Mean(100, 1000, 200000), Mean(100, 1100, 200005)
	prior := Prior{Mean: 1, Variance: 1, Proper: true}
	abs, err := Compare(c, tr, Options{Method: Bayesian, Prior: prior})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Compare(c, tr, Options{Method: Bayesian, Relative: true, Prior: prior})
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(*abs.ChanceToWin - *rel.ChanceToWin); d >= 0.005 {
		t.Errorf("chance to win absolute %v vs relative %v", *abs.ChanceToWin, *rel.ChanceToWin)
	}
}

// tests/bayesian/test_tests.py:TestGetRiskNumericalStability (both tests).
func TestGrowthBookRisk(t *testing.T) {
	if got := expectedLoss(0.01, 4.5e-9); got != [2]float64{0.01, 0} {
		t.Errorf("expectedLoss(0.01, 4.5e-9) = %v", got)
	}
	if got := expectedLoss(-0.01, 4.5e-9); got != [2]float64{0, 0.01} {
		t.Errorf("expectedLoss(-0.01, 4.5e-9) = %v", got)
	}
	got := expectedLoss(0.1, 0.05)
	want := [2]float64{0.1004245351308, 0.0004245351308414}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 5e-11 {
			t.Errorf("expectedLoss(0.1, 0.05)[%d] = %.13g, want %.13g", i, got[i], want[i])
		}
	}
}

// packages/back-end/test/stats.test.ts: "calculates SRM correctly".
func TestGrowthBookSRM(t *testing.T) {
	cases := []struct {
		name           string
		users, weights []float64
		want           float64
	}{
		{"Simple 2-way test", []float64{1000, 1200}, []float64{0.5, 0.5}, 0.000020079},
		{"Another 2-way test", []float64{135, 115}, []float64{0.5, 0.5}, 0.205903211},
		{"Uneven weights", []float64{310, 98}, []float64{0.75, 0.25}, 0.647434186},
		{"Not enough valid weights", []float64{1000, 900, 800}, []float64{1, 0, 0}, 1},
		{"Skip empty weights", []float64{1000, 1200, 900}, []float64{0.5, 0.5, 0}, 0.000020079},
		{"Skip if all users are 0", []float64{0, 0, 0}, []float64{0.34, 0.33, 0.33}, 1},
		{"Use empty users in the test", []float64{0, 10, 10}, []float64{0.34, 0.33, 0.33}, 0.005790624},
		{"More than 2 variations", []float64{500, 500, 600}, []float64{0.34, 0.33, 0.33}, 0.000592638},
		{"Completely equal", []float64{500, 500}, []float64{0.5, 0.5}, 1},
	}
	for _, c := range cases {
		got, err := SRM(c.users, c.weights)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if math.Abs(got-c.want) > 5e-10 {
			t.Errorf("%s: SRM = %.12f, want %.9f", c.name, got, c.want)
		}
	}
	// "Not enough valid variations" passes one user count for two weights;
	// GrowthBook skips the missing arm, SRM reports the mismatch instead.
	if _, err := SRM([]float64{1000}, []float64{0.5, 0.5}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("length mismatch: err = %v", err)
	}
	if !SRMFlag(0.000020079) || SRMFlag(0.0011) {
		t.Error("SRMFlag threshold is not 0.001")
	}
}

// packages/shared/test/experiments.test.ts: "pvalue correction method" and
// "pvalue correction on results".
func TestGrowthBookAdjust(t *testing.T) {
	cases := []struct {
		name, method string
		p, want      []float64
	}{
		{"does HB procedure correctly", HolmBonferroni,
			[]float64{0.01, 0.04, 0.03, 0.005, 0.55, 0.6},
			[]float64{0.05, 0.12, 0.12, 0.03, 1, 1}},
		{"does BH procedure correctly", BenjaminiHochberg,
			[]float64{0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138},
			[]float64{0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415}},
		{"pvals and CIs adjusted in place (HB)", HolmBonferroni, []float64{0.025, 0.03}, []float64{0.05, 0.05}},
		{"pvals and CIs adjusted in place (BH)", BenjaminiHochberg, []float64{0.025, 0.03}, []float64{0.03, 0.03}},
	}
	for _, c := range cases {
		got, err := Adjust(c.method, c.p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 5e-9 {
				t.Errorf("%s: adjusted[%d] = %v, want %v", c.name, i, got[i], c.want[i])
			}
		}
	}
}
