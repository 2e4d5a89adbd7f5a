package stats

import "math"

// Sequential testing with asymptotic confidence sequences (Waudby-Smith et
// al., "Time-uniform central limit theory", arXiv 2103.06476, as used by
// GrowthBook). The interval at total sample size n is
//
//	effect ± se·sqrt(n) · sqrt(2(nρ²+1)/(nρ)² · ln(sqrt(nρ²+1)/α))
//
// and holds simultaneously for all n with probability 1-α, so results may be
// checked after every batch of data. ρ is tuned so the sequence is tightest
// at n = N* (Options.SequentialTuning).

// sequentialRho is ρ for tuning N* (eq. 161); a one-sided sequence spends
// all of α on one side, which enters as 2α.
func sequentialRho(alpha, tuning float64, twoSided bool) float64 {
	a := alpha
	if !twoSided {
		a = 2 * alpha
	}
	l := -2 * math.Log(a)
	return math.Sqrt((l + math.Log(l+1)) / tuning)
}

// sequentialParts holds n·(se²) and nρ²+1, shared by intervals and p-values.
type sequentialParts struct {
	n, s2, rho, tr2p1 float64
}

func newSequentialParts(est estimate, rho float64) sequentialParts {
	n := est.control.n + est.treat.n
	return sequentialParts{n: n, s2: est.variance * n, rho: rho, tr2p1: n*rho*rho + 1}
}

// halfwidth of the two-sided sequence (eq. 9).
func (p sequentialParts) halfwidth(alpha float64) float64 {
	nr := p.n * p.rho
	return math.Sqrt(p.s2 * 2 * p.tr2p1 / (nr * nr) * math.Log(math.Sqrt(p.tr2p1)/alpha))
}

// halfwidthOneSided of a one-sided sequence (eq. 134).
func (p sequentialParts) halfwidthOneSided(alpha float64) float64 {
	nr := p.n * p.rho
	return math.Sqrt(p.s2 * 2 * p.tr2p1 / (nr * nr) * math.Log1p(math.Sqrt(p.tr2p1)/(2*alpha)))
}

// pValueTwoSided is 1/e-value of the mixture martingale (eq. 155). It is the
// smallest α whose sequence excludes 0, so p < α exactly when the CI does.
func (p sequentialParts) pValueTwoSided(effect float64) float64 {
	st2 := effect * effect * p.n / p.s2 * p.n // (effect/se)² · n
	logE := p.rho*p.rho*st2/(2*p.tr2p1) - 0.5*math.Log(p.tr2p1)
	return math.Min(1, math.Exp(-logE))
}

// Bounds GrowthBook puts on one-sided sequential p-values: it searches α in
// this range, so its answers never leave it.
const (
	seqOneSidedMinP = 1e-5
	seqOneSidedMaxP = 0.4999
)

// pValueOneSided inverts halfwidthOneSided in closed form: the α at which
// the interval's finite end touches 0. toward is +1 when the alternative is
// effect > 0 and -1 when it is effect < 0. An effect on the wrong side is
// never significant. GrowthBook finds this α by bisection within
// [1e-5, 0.4999]; the same clamp keeps the numbers comparable.
func (p sequentialParts) pValueOneSided(effect, toward float64) float64 {
	if effect*toward <= 0 {
		return seqOneSidedMaxP
	}
	nr := p.n * p.rho
	k := p.s2 * 2 * p.tr2p1 / (nr * nr)
	alpha := math.Sqrt(p.tr2p1) / (2 * math.Expm1(effect*effect/k))
	return math.Max(seqOneSidedMinP, math.Min(seqOneSidedMaxP, alpha))
}

func sequentialTest(est estimate, opt Options) Result {
	twoSided := opt.Sided == TwoSided
	p := newSequentialParts(est, sequentialRho(opt.Alpha, opt.SequentialTuning, twoSided))
	res := Result{Effect: est.effect, SE: est.se()}
	switch opt.Sided {
	case Greater:
		res.CI = Interval{est.effect - p.halfwidthOneSided(opt.Alpha), math.Inf(1)}
		res.PValue = ptr(p.pValueOneSided(est.effect, 1))
	case Less:
		res.CI = Interval{math.Inf(-1), est.effect + p.halfwidthOneSided(opt.Alpha)}
		res.PValue = ptr(p.pValueOneSided(est.effect, -1))
	default:
		h := p.halfwidth(opt.Alpha)
		res.CI = Interval{est.effect - h, est.effect + h}
		res.PValue = ptr(p.pValueTwoSided(est.effect))
	}
	return res
}
