package stats

import "math"

// welchDF is the Welch-Satterthwaite degrees of freedom of a difference of
// two means with unequal variances.
func welchDF(a, b armStat) float64 {
	va, vb := a.variance/a.n, b.variance/b.n
	return (va + vb) * (va + vb) / (vb*vb/(b.n-1) + va*va/(a.n-1))
}

// welchTest is the fixed-horizon t test of the effect against 0. The t
// statistic uses the delta-method standard error (so it also covers
// relative effects, ratios and CUPED), with Welch's degrees of freedom.
func welchTest(est estimate, opt Options) Result {
	se := est.se()
	df := welchDF(est.control, est.treat)
	t := est.effect / se
	res := Result{Effect: est.effect, SE: se, DF: df}
	switch opt.Sided {
	case Greater:
		res.PValue = ptr(StudentTSF(t, df))
		res.CI = Interval{est.effect - StudentTQuantile(1-opt.Alpha, df)*se, math.Inf(1)}
	case Less:
		res.PValue = ptr(StudentTCDF(t, df))
		res.CI = Interval{math.Inf(-1), est.effect + StudentTQuantile(1-opt.Alpha, df)*se}
	default:
		res.PValue = ptr(math.Min(1, 2*StudentTSF(math.Abs(t), df)))
		h := StudentTQuantile(1-opt.Alpha/2, df) * se
		res.CI = Interval{est.effect - h, est.effect + h}
	}
	return res
}
