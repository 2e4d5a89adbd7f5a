package stats

import "math"

// Defaults for experiment planning when SampleSizeInput leaves them zero.
const (
	DefaultPower = 0.8
)

// SampleSizeInput describes the experiment to plan. All tests are
// two-sided at level Alpha and arms are of equal size.
type SampleSizeInput struct {
	// Baseline is the control conversion rate (Proportion) or mean.
	Baseline float64 `json:"baseline"`
	// Variance is the per-unit variance of a mean metric; proportions use
	// p(1-p) and ignore it.
	Variance   float64 `json:"variance,omitempty"`
	Proportion bool    `json:"proportion,omitempty"`
	// MDE is the minimum detectable effect: an absolute difference, or a
	// lift over Baseline when Relative (0.05 = +5%). Its sign is the
	// direction of the change; a two-sided test needs the same n either way
	// for means.
	MDE      float64 `json:"mde"`
	Relative bool    `json:"relative,omitempty"`
	Alpha    float64 `json:"alpha,omitempty"` // default 0.05
	Power    float64 `json:"power,omitempty"` // default 0.8
}

func (in SampleSizeInput) withDefaults() (SampleSizeInput, error) {
	if in.Alpha == 0 {
		in.Alpha = DefaultAlpha
	}
	if in.Power == 0 {
		in.Power = DefaultPower
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"baseline", in.Baseline}, {"variance", in.Variance}, {"mde", in.MDE}, {"alpha", in.Alpha}, {"power", in.Power}} {
		if err := finite(f.name, f.v); err != nil {
			return in, err
		}
	}
	switch {
	case in.Alpha <= 0 || in.Alpha >= 1:
		return in, inputErr("alpha", "must be in (0, 1) (got %v)", in.Alpha)
	case in.Power <= 0 || in.Power >= 1:
		return in, inputErr("power", "must be in (0, 1) (got %v)", in.Power)
	case in.Proportion && (in.Baseline <= 0 || in.Baseline >= 1):
		return in, inputErr("baseline", "a conversion rate must be in (0, 1) (got %v)", in.Baseline)
	case !in.Proportion && in.Variance <= 0:
		return in, inputErr("variance", "must be positive for a mean metric (got %v)", in.Variance)
	case in.Relative && in.Baseline == 0:
		return in, inputErr("baseline", "must not be 0 for a relative MDE")
	}
	return in, nil
}

// delta is the MDE on the absolute scale.
func (in SampleSizeInput) delta() float64 {
	if in.Relative {
		return in.MDE * math.Abs(in.Baseline)
	}
	return in.MDE
}

// SampleSize is the number of units needed in each arm to detect the MDE
// with the given power. Proportions use the classic two-proportion formula
// (pooled variance under the null, unpooled under the alternative):
//
//	n = (z_{1-α/2}·sqrt(2p̄(1-p̄)) + z_{power}·sqrt(p1(1-p1)+p2(1-p2)))² / δ²
//
// and means n = 2σ²(z_{1-α/2} + z_{power})² / δ². The result is rounded up.
func SampleSize(in SampleSizeInput) (int, error) {
	in, err := in.withDefaults()
	if err != nil {
		return 0, err
	}
	d := in.delta()
	if d == 0 {
		return 0, inputErr("mde", "must not be 0")
	}
	if in.Proportion {
		if p2 := in.Baseline + d; p2 <= 0 || p2 >= 1 {
			return 0, inputErr("mde", "moves the conversion rate to %v, outside (0, 1)", p2)
		}
	}
	n := in.continuousN(d)
	if n > math.MaxInt32 {
		return 0, inputErr("mde", "is too small: the sample size (%v) is out of range", n)
	}
	return int(math.Ceil(n - 1e-9)), nil // the slack keeps exact integers from rounding up
}

// continuousN is the per-arm sample size before rounding, for an absolute
// effect d.
func (in SampleSizeInput) continuousN(d float64) float64 {
	za := NormalQuantile(1 - in.Alpha/2)
	zb := NormalQuantile(in.Power)
	if !in.Proportion {
		return 2 * in.Variance * (za + zb) * (za + zb) / (d * d)
	}
	p1, p2 := in.Baseline, in.Baseline+d
	pbar := (p1 + p2) / 2
	s := za*math.Sqrt(2*pbar*(1-pbar)) + zb*math.Sqrt(p1*(1-p1)+p2*(1-p2))
	return s * s / (d * d)
}

// MinimumDetectableEffect is the smallest upward effect that perArm units
// per arm detect with the given power: the inverse of SampleSize. in.MDE is
// ignored; the answer is relative when in.Relative. Means have a closed
// form; proportions are solved by bisection since p2 enters the variance.
func MinimumDetectableEffect(perArm float64, in SampleSizeInput) (float64, error) {
	in.MDE = 0
	in, err := in.withDefaults()
	if err != nil {
		return 0, err
	}
	if err := finite("n", perArm); err != nil {
		return 0, err
	}
	if perArm < 2 {
		return 0, inputErr("n", "must be at least 2 (got %v)", perArm)
	}
	var d float64
	if in.Proportion {
		d, err = proportionMDE(perArm, in)
		if err != nil {
			return 0, err
		}
	} else {
		za, zb := NormalQuantile(1-in.Alpha/2), NormalQuantile(in.Power)
		d = (za + zb) * math.Sqrt(2*in.Variance/perArm)
	}
	if in.Relative {
		return d / math.Abs(in.Baseline), nil
	}
	return d, nil
}

// proportionMDE bisects d in (0, 1-p1), on which the needed n decreases.
func proportionMDE(perArm float64, in SampleSizeInput) (float64, error) {
	lo, hi := 0.0, 1-in.Baseline
	if in.continuousN(hi*(1-1e-12)) > perArm {
		return 0, inputErr("n", "is too small to detect any increase of the conversion rate")
	}
	for i := 0; i < 200 && hi-lo > 1e-15; i++ {
		mid := 0.5 * (lo + hi)
		if in.continuousN(mid) > perArm {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// RuntimeDays is how many days the experiment must run for every one of
// arms arms to reach perArm units, when dailyUsers units enter the
// experiment per day split evenly across arms. Rounded up to whole days.
func RuntimeDays(perArm float64, arms int, dailyUsers float64) (int, error) {
	if err := finite("per_arm", perArm); err != nil {
		return 0, err
	}
	if err := finite("daily_users", dailyUsers); err != nil {
		return 0, err
	}
	switch {
	case perArm <= 0:
		return 0, inputErr("per_arm", "must be positive (got %v)", perArm)
	case arms < 2:
		return 0, inputErr("arms", "an experiment needs at least 2 arms (got %d)", arms)
	case dailyUsers <= 0:
		return 0, inputErr("daily_users", "must be positive (got %v)", dailyUsers)
	}
	days := math.Ceil(perArm*float64(arms)/dailyUsers - 1e-9)
	if days > math.MaxInt32 {
		return 0, inputErr("daily_users", "is too small: the runtime (%v days) is out of range", days)
	}
	return int(days), nil
}
