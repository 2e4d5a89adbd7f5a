package stats

import "math"

// The Bayesian method follows GrowthBook's EffectBayesianABTest: the
// estimated effect is treated as a normal likelihood N(effect, se²) and
// combined with a Gaussian prior on the effect itself. A flat (improper)
// prior leaves the estimate unchanged, so the credible interval equals the
// normal-approximation confidence interval; a proper prior shrinks the
// effect toward the prior mean by precision weighting.

// scaledPrior expresses the prior on the scale being analysed. A relative
// prior (a lift) is multiplied by the control mean for an absolute
// analysis, and an absolute prior divided by it for a relative one.
func scaledPrior(p Prior, relative bool, controlMean float64) (Prior, error) {
	if !p.Proper || p.Absolute == !relative {
		return p, nil
	}
	if controlMean == 0 {
		return p, inputErr("prior", "cannot rescale a proper prior: control mean is 0")
	}
	c := math.Abs(controlMean)
	if relative { // absolute prior, relative analysis
		return Prior{Mean: p.Mean / c, Variance: p.Variance / (c * c), Proper: true, Absolute: false}, nil
	}
	return Prior{Mean: p.Mean * c, Variance: p.Variance * c * c, Proper: true, Absolute: true}, nil
}

// posterior is the normal-normal update of the effect.
func posterior(effect, variance float64, prior Prior) (mean, sd float64) {
	if !prior.Proper {
		return effect, math.Sqrt(variance)
	}
	prec := 1/variance + 1/prior.Variance
	mean = (effect/variance + prior.Mean/prior.Variance) / prec
	return mean, math.Sqrt(1 / prec)
}

// expectedLoss is [E[max(X,0)], E[max(-X,0)]] for X ~ N(mu, sigma²): the
// loss of keeping control when treatment is better, and of shipping
// treatment when it is worse. The closed forms μΦ(z)+σφ(z) and
// σφ(z)-μΦ(-z), z = μ/σ, replace GrowthBook's truncated-normal means;
// beyond |z| > 37 the normal tails underflow and the limit is exact.
func expectedLoss(mu, sigma float64) [2]float64 {
	if math.Abs(mu/sigma) > 37 {
		return [2]float64{math.Max(mu, 0), math.Max(-mu, 0)}
	}
	z := mu / sigma
	ctrl := mu*NormalCDF(z) + sigma*NormalPDF(z)
	trt := sigma*NormalPDF(z) - mu*NormalSF(z)
	return [2]float64{math.Max(ctrl, 0), math.Max(trt, 0)}
}

func bayesianTest(est estimate, opt Options) (Result, error) {
	prior, err := scaledPrior(opt.Prior, opt.Relative, est.control.unadjusted)
	if err != nil {
		return Result{}, err
	}
	mu, sd := posterior(est.effect, est.variance, prior)
	z := NormalQuantile(1 - opt.Alpha/2)
	ctw := NormalSF(-mu / sd) // P(effect > 0)
	risk := expectedLoss(mu, sd)
	if opt.Inverse { // lower is better: winning means effect < 0
		ctw = NormalCDF(-mu / sd)
		risk[0], risk[1] = risk[1], risk[0]
	}
	return Result{
		Effect:      mu,
		CI:          Interval{mu - z*sd, mu + z*sd},
		SE:          sd,
		ChanceToWin: &ctw,
		Risk:        &risk,
	}, nil
}
