package stats

import "math"

// CUPED (regression adjustment) subtracts θ·(pre-exposure covariate) from
// the metric. θ is estimated once from both arms pooled, as GrowthBook's
// RegressionAdjustedStatistic does, so the adjustment is the same in each
// arm and cannot itself create an effect. When the pooled data carry no
// variance to regress on, θ is 0 and the analysis falls back to the
// unadjusted metric.

// pooled adds the moments of both arms; the result is binomial only when
// both are, so its variance formula matches theirs.
func pooled(a, b Moments) Moments {
	return Moments{Sum: a.Sum + b.Sum, SumSquares: a.SumSquares + b.SumSquares, Binomial: a.Binomial && b.Binomial}
}

// cupedTheta is Cov(post, pre)/Var(pre) over both arms pooled.
func cupedTheta(a, b Stats) float64 {
	n := a.N + b.N
	post := pooled(a.Value, b.Value)
	pre := pooled(*a.Pre, *b.Pre)
	vPre := pre.variance(n)
	if vPre == 0 || post.variance(n) == 0 {
		return 0
	}
	return covariance(n, post, pre, a.Products.ValuePre+b.Products.ValuePre) / vPre
}

// cupedParts are one arm's post/pre moments under a given θ.
type cupedParts struct {
	n, postMean, preMean, postVar, preVar, cov float64
}

func newCupedParts(s Stats) cupedParts {
	return cupedParts{
		n:        s.N,
		postMean: s.Value.mean(s.N),
		preMean:  s.Pre.mean(s.N),
		postVar:  s.Value.variance(s.N),
		preVar:   s.Pre.variance(s.N),
		cov:      covariance(s.N, s.Value, *s.Pre, s.Products.ValuePre),
	}
}

// arm is the adjusted mean post - θ·pre and its per-unit variance
// Var(post) + θ²Var(pre) - 2θCov(post, pre).
func (c cupedParts) arm(theta float64) armStat {
	return armStat{
		n:          c.n,
		mean:       c.postMean - theta*c.preMean,
		unadjusted: c.postMean,
		variance:   math.Max(0, c.postVar+theta*theta*c.preVar-2*theta*c.cov),
	}
}

func cupedEstimate(control, treatment Stats, relative bool) (estimate, error) {
	theta := cupedTheta(control, treatment)
	if theta == 0 {
		return plainEstimate(meanArm(control), meanArm(treatment), relative)
	}
	pa, pb := newCupedParts(control), newCupedParts(treatment)
	a, b := pa.arm(theta), pb.arm(theta)
	est, err := plainEstimate(a, b, relative)
	est.theta = theta
	if err != nil || !relative {
		return est, err
	}
	est.variance = cupedRelativeVariance(pa, pb, b.variance, theta)
	return est, nil
}

// cupedRelativeVariance is GrowthBook's delta-method variance of
// (adjusted_b - adjusted_a)/control_post_mean. As there, the gradient with
// respect to the control post mean uses -treatment_post_mean (it drops the
// θ·(pre_a - pre_b) term, which is zero in expectation under
// randomization).
func cupedRelativeVariance(a, b cupedParts, adjVarB, theta float64) float64 {
	u := a.postMean
	vTrt := adjVarB / (b.n * u * u)
	c := -b.postMean
	num := a.postVar*c*c/(u*u) + 2*theta*a.cov*c/u + theta*theta*a.preVar
	return vTrt + num/(a.n*u*u)
}

// ratioRA is one arm of a CUPED ratio metric: the means of
// (value, denominator, pre, pre_denominator) and their 4x4 per-unit
// covariance matrix, from which the delta method gives everything else.
type ratioRA struct {
	n                   float64
	beta                [4]float64
	lambda              [4][4]float64
	ratioPost, ratioPre float64
}

func newRatioRA(s Stats) ratioRA {
	m := [4]Moments{s.Value, *s.Denominator, *s.Pre, *s.PreDenominator}
	p := s.Products
	// products[i][j] = Σ m_i·m_j for i != j, in the order above
	prod := [4][4]float64{
		{0, p.ValueDenominator, p.ValuePre, p.ValuePreDenominator},
		{p.ValueDenominator, 0, p.DenominatorPre, p.DenominatorPreDenominator},
		{p.ValuePre, p.DenominatorPre, 0, p.PrePreDenominator},
		{p.ValuePreDenominator, p.DenominatorPreDenominator, p.PrePreDenominator, 0},
	}
	r := ratioRA{n: s.N, ratioPost: m[0].Sum / m[1].Sum, ratioPre: m[2].Sum / m[3].Sum}
	for i := range m {
		r.beta[i] = m[i].mean(s.N)
		for j := range m {
			if i == j {
				r.lambda[i][j] = m[i].variance(s.N)
			} else {
				r.lambda[i][j] = covariance(s.N, m[i], m[j], prod[i][j])
			}
		}
	}
	return r
}

// nabla is the gradient of value/denominator - θ·pre/pre_denominator with
// respect to the four means.
func (r ratioRA) nabla(theta float64) [4]float64 {
	b := r.beta
	return [4]float64{1 / b[1], -b[0] / (b[1] * b[1]), -theta / b[3], theta * b[2] / (b[3] * b[3])}
}

// quad is Σ x_i Λ_ij y_j over i in xs and j in ys.
func (r ratioRA) quad(x [4]float64, xs []int, y [4]float64, ys []int) float64 {
	var s float64
	for _, i := range xs {
		for _, j := range ys {
			s += x[i] * r.lambda[i][j] * y[j]
		}
	}
	return s
}

var (
	idxAll  = []int{0, 1, 2, 3}
	idxPost = []int{0, 1}
	idxPre  = []int{2, 3}
)

func (r ratioRA) arm(theta float64) armStat {
	g := r.nabla(theta)
	return armStat{
		n:          r.n,
		mean:       r.ratioPost - theta*r.ratioPre,
		unadjusted: r.ratioPost,
		variance:   math.Max(0, r.quad(g, idxAll, g, idxAll)),
	}
}

// cupedRatioTheta minimises the adjusted variance over both arms: with θ=1
// the pre part of the gradient is that of -pre/pre_denominator, so
// θ = -Σcov/Σvar over the arms.
func cupedRatioTheta(a, b ratioRA) float64 {
	ga, gb := a.nabla(1), b.nabla(1)
	varPre := a.quad(ga, idxPre, ga, idxPre) + b.quad(gb, idxPre, gb, idxPre)
	if varPre == 0 {
		return 0
	}
	cov := a.quad(ga, idxPre, ga, idxPost) + b.quad(gb, idxPre, gb, idxPost)
	return -cov / varPre
}

func cupedRatioEstimate(control, treatment Stats, relative bool) (estimate, error) {
	for _, arm := range []struct {
		name string
		s    Stats
	}{{"control", control}, {"treatment", treatment}} {
		if arm.s.Denominator.Sum == 0 {
			return estimate{}, inputErr(arm.name+".denominator.sum", "is 0, so the ratio is undefined")
		}
		if arm.s.PreDenominator.Sum == 0 {
			return estimate{}, inputErr(arm.name+".pre_denominator.sum", "is 0, so the pre-exposure ratio is undefined")
		}
	}
	ra, rb := newRatioRA(control), newRatioRA(treatment)
	theta := cupedRatioTheta(ra, rb)
	if math.Abs(theta) < 1e-8 {
		return ratioEstimate(control, treatment, relative)
	}
	a, b := ra.arm(theta), rb.arm(theta)
	est, err := plainEstimate(a, b, relative)
	est.theta = theta
	if err != nil || !relative {
		return est, err
	}
	est.variance = cupedRatioRelativeVariance(ra, rb, a.mean, b.mean, theta)
	return est, nil
}

// cupedRatioRelativeVariance is the delta-method variance of
// (adjusted_b - adjusted_a)/|control post ratio|. The sign of the baseline
// is folded into the gradient so a negative baseline keeps the right sign.
func cupedRatioRelativeVariance(a, b ratioRA, meanA, meanB, theta float64) float64 {
	u := a.ratioPost
	gAbs := (meanB - meanA) * sign(u)
	den := math.Abs(u)
	d := a.beta[1]
	m := a.beta[0]
	ga := a.nabla(theta)
	gradA := [4]float64{
		-(den + gAbs) / d / (den * den),
		(m*den/(d*d) + m*gAbs/(d*d)) / (den * den),
		-ga[2] / den,
		-ga[3] / den,
	}
	gb := b.nabla(theta)
	for i := range gb {
		gb[i] /= den
	}
	return a.quad(gradA, idxAll, gradA, idxAll)/a.n + b.quad(gb, idxAll, gb, idxAll)/b.n
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
