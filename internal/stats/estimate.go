package stats

import "math"

// mean of the per-unit value over n units.
func (m Moments) mean(n float64) float64 { return m.Sum / n }

// variance is the per-unit variance: p(1-p) for a binomial value (as
// GrowthBook's ProportionStatistic), otherwise the n-1 sample variance.
// It is not clamped: validation already refuses sums that make it
// negative beyond rounding, and the arm-level checks refuse a metric whose
// final variance is not positive.
func (m Moments) variance(n float64) float64 {
	if m.Binomial {
		p := m.Sum / n
		return p * (1 - p)
	}
	return (m.SumSquares - m.Sum*m.Sum/n) / (n - 1)
}

// covariance of two per-unit values from Σx, Σy and Σxy, matching
// GrowthBook: the 1/n form when both are binomial (consistent with their
// p(1-p) variances), the n-1 sample covariance otherwise.
func covariance(n float64, a, b Moments, sumProducts float64) float64 {
	if a.Binomial && b.Binomial {
		return sumProducts/n - a.Sum*b.Sum/(n*n)
	}
	return (sumProducts - a.Sum*b.Sum/n) / (n - 1)
}

// varianceOfRatios is the delta-method variance of M/D from the moments of M
// and D and their covariance.
func varianceOfRatios(meanM, varM, meanD, varD, covMD float64) float64 {
	return varM/(meanD*meanD) + varD*meanM*meanM/math.Pow(meanD, 4) - 2*covMD*meanM/math.Pow(meanD, 3)
}

// armStat is one arm reduced to what the tests need: the (possibly
// adjusted) mean, the unadjusted mean used as the baseline of relative
// effects, and the per-unit variance, so that Var(mean) = variance/n.
type armStat struct {
	n, mean, unadjusted, variance float64
}

// estimate is the point estimate of the effect and its sampling variance,
// plus the per-arm pieces the Welch degrees of freedom and reports need.
type estimate struct {
	effect, variance float64
	control, treat   armStat
	theta            float64 // CUPED coefficient; 0 when not adjusted
}

// se is the standard error of the effect.
func (e estimate) se() float64 { return math.Sqrt(e.variance) }

// estimateEffect computes the effect of treatment over control for any
// metric kind. Inputs must have passed validatePair.
func estimateEffect(control, treatment Stats, relative bool) (estimate, error) {
	var est estimate
	var err error
	switch control.kind() {
	case kindMean:
		est, err = plainEstimate(meanArm(control), meanArm(treatment), relative)
	case kindRatio:
		est, err = ratioEstimate(control, treatment, relative)
	case kindCUPED:
		est, err = cupedEstimate(control, treatment, relative)
	case kindCUPEDRatio:
		est, err = cupedRatioEstimate(control, treatment, relative)
	}
	if err != nil {
		return est, err
	}
	if !(est.variance > 0) || math.IsInf(est.variance, 0) || math.IsNaN(est.effect) || math.IsInf(est.effect, 0) {
		return est, inputErr("treatment", "the effect has no usable variance (got %v): inputs out of numeric range", est.variance)
	}
	return est, nil
}

func meanArm(s Stats) armStat {
	m := s.Value.mean(s.N)
	return armStat{n: s.N, mean: m, unadjusted: m, variance: s.Value.variance(s.N)}
}

// plainEstimate is the effect of two independent arm means: the difference,
// or the lift over |control| whose variance comes from the delta method
// treating the two means as independent.
func plainEstimate(a, b armStat, relative bool) (estimate, error) {
	if err := checkArmVariances(a, b); err != nil {
		return estimate{}, err
	}
	est := estimate{control: a, treat: b}
	if relative {
		if a.unadjusted == 0 {
			return est, inputErr("control.value.sum", "control mean is 0, so a relative effect is undefined")
		}
		est.effect = (b.mean - a.mean) / math.Abs(a.unadjusted)
		est.variance = varianceOfRatios(b.mean, b.variance/b.n, a.unadjusted, a.variance/a.n, 0)
		return est, nil
	}
	est.effect = b.mean - a.mean
	est.variance = b.variance/b.n + a.variance/a.n
	return est, nil
}

// checkArmVariances refuses arms whose metric does not vary: a t test or a
// posterior on them would divide by zero.
func checkArmVariances(a, b armStat) error {
	if !(a.variance > 0) {
		return inputErr("control", "the metric has zero variance in this arm")
	}
	if !(b.variance > 0) {
		return inputErr("treatment", "the metric has zero variance in this arm")
	}
	return nil
}

// ratioArm is Σvalue/Σdenominator with its delta-method per-unit variance.
func ratioArm(s Stats, field string) (armStat, error) {
	d := *s.Denominator
	if d.Sum == 0 {
		return armStat{}, inputErr(field+".denominator.sum", "is 0, so the ratio is undefined")
	}
	mm, md := s.Value.mean(s.N), d.mean(s.N)
	cov := covariance(s.N, s.Value, d, s.Products.ValueDenominator)
	r := s.Value.Sum / d.Sum
	v := varianceOfRatios(mm, s.Value.variance(s.N), md, d.variance(s.N), cov)
	return armStat{n: s.N, mean: r, unadjusted: r, variance: v}, nil
}

func ratioEstimate(control, treatment Stats, relative bool) (estimate, error) {
	a, err := ratioArm(control, "control")
	if err != nil {
		return estimate{}, err
	}
	b, err := ratioArm(treatment, "treatment")
	if err != nil {
		return estimate{}, err
	}
	return plainEstimate(a, b, relative)
}
