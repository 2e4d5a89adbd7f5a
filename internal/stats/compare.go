package stats

import (
	"encoding/json"
	"math"
)

// Method selects the inference engine of Compare.
type Method string

const (
	// Frequentist is a fixed-horizon Welch t test: valid when the data are
	// looked at once, at a sample size fixed in advance.
	Frequentist Method = "frequentist"
	// Sequential uses asymptotic confidence sequences, valid however often
	// results are peeked at, at the price of wider intervals.
	Sequential Method = "sequential"
	// Bayesian gives a Gaussian posterior of the effect, chance to win and
	// expected loss.
	Bayesian Method = "bayesian"
)

// Sided selects the alternative hypothesis of the frequentist methods.
type Sided string

const (
	TwoSided Sided = ""        // effect != 0: CI [lower, upper]
	Greater  Sided = "greater" // effect > 0: CI [lower, +Inf)
	Less     Sided = "less"    // effect < 0: CI (-Inf, upper]
)

// Defaults applied to zero-valued Options fields.
const (
	DefaultAlpha            = 0.05
	DefaultSequentialTuning = 5000
)

// Prior is a Gaussian prior on the effect for the Bayesian method. A prior
// that is not Proper is flat: the posterior is then the normal likelihood.
// Absolute says Mean and Variance are on the absolute scale; otherwise they
// are on the relative (lift) scale, as in GrowthBook, and are rescaled by
// the control mean when an absolute effect is analysed (and vice versa).
type Prior struct {
	Mean     float64 `json:"mean"`
	Variance float64 `json:"variance"`
	Proper   bool    `json:"proper"`
	Absolute bool    `json:"absolute,omitempty"`
}

// Options configure Compare. The zero value is a two-sided fixed-horizon
// test of the absolute effect at alpha 0.05.
type Options struct {
	Method   Method  `json:"method,omitempty"`   // default Frequentist
	Alpha    float64 `json:"alpha,omitempty"`    // 1 - confidence level; default 0.05
	Relative bool    `json:"relative,omitempty"` // lift (treatment-control)/|control| instead of the difference
	Sided    Sided   `json:"sided,omitempty"`    // frequentist and sequential only
	// SequentialTuning is N*, the total sample size at which the
	// confidence sequence is tightest; default 5000 as in GrowthBook.
	SequentialTuning float64 `json:"sequential_tuning,omitempty"`
	Prior            Prior   `json:"prior"`             // Bayesian only
	Inverse          bool    `json:"inverse,omitempty"` // Bayesian: lower is better (chance to win and risk flip)
}

// Interval is a confidence or credible interval. One-sided intervals have an
// infinite end, which JSON cannot carry, so it marshals as null.
type Interval [2]float64

// MarshalJSON writes infinite ends as null.
func (iv Interval) MarshalJSON() ([]byte, error) {
	var out [2]*float64
	for i, v := range iv {
		if !math.IsInf(v, 0) {
			v := v
			out[i] = &v
		}
	}
	return json.Marshal(out)
}

// Result of one comparison. Effect, CI and SE are on the scale asked for
// (absolute or relative). Frequentist methods set PValue; the Bayesian
// method sets ChanceToWin and Risk instead.
type Result struct {
	Effect float64  `json:"effect"` // point estimate; posterior mean for Bayesian
	CI     Interval `json:"ci"`
	// SE is the standard error of the effect (posterior sd for Bayesian).
	SE float64 `json:"se"`
	// PValue is two-sided or one-sided as Sided asks. For Sequential it is
	// always-valid and below Alpha exactly when the CI excludes 0.
	PValue *float64 `json:"p_value,omitempty"`
	// ChanceToWin is P(effect > 0 | data), or P(effect < 0) for Inverse.
	ChanceToWin *float64 `json:"chance_to_win,omitempty"`
	// Risk is the expected loss [choosing control, choosing treatment]:
	// E[max(effect, 0)] and E[max(-effect, 0)] (swapped for Inverse).
	Risk *[2]float64 `json:"risk,omitempty"`
	// DF is the Welch-Satterthwaite degrees of freedom (Frequentist only).
	DF float64 `json:"df,omitempty"`
	// ControlMean and TreatmentMean are the unadjusted arm means (ratios
	// for ratio metrics).
	ControlMean   float64 `json:"control_mean"`
	TreatmentMean float64 `json:"treatment_mean"`
	// Theta is the CUPED coefficient used; 0 when no adjustment applied.
	Theta float64 `json:"theta,omitempty"`
}

// withDefaults fills zero values and rejects settings no method can use.
func (o Options) withDefaults() (Options, error) {
	if o.Method == "" {
		o.Method = Frequentist
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.SequentialTuning == 0 {
		o.SequentialTuning = DefaultSequentialTuning
	}
	switch {
	case o.Method != Frequentist && o.Method != Sequential && o.Method != Bayesian:
		return o, inputErr("method", "must be frequentist, sequential or bayesian (got %q)", o.Method)
	case math.IsNaN(o.Alpha) || o.Alpha <= 0 || o.Alpha >= 1:
		return o, inputErr("alpha", "must be in (0, 1) (got %v)", o.Alpha)
	case o.Sided != TwoSided && o.Sided != Greater && o.Sided != Less:
		return o, inputErr("sided", "must be empty (two-sided), greater or less (got %q)", o.Sided)
	case o.Sided != TwoSided && o.Method == Bayesian:
		return o, inputErr("sided", "does not apply to the bayesian method")
	case math.IsNaN(o.SequentialTuning) || math.IsInf(o.SequentialTuning, 0) || o.SequentialTuning <= 0:
		return o, inputErr("sequential_tuning", "must be a positive number (got %v)", o.SequentialTuning)
	case o.Method == Sequential && o.Sided != TwoSided && o.Alpha >= 0.5:
		return o, inputErr("alpha", "must be below 0.5 for a one-sided sequential test (got %v)", o.Alpha)
	}
	if err := o.Prior.validate(); err != nil {
		return o, err
	}
	return o, nil
}

func (p Prior) validate() error {
	if err := finite("prior.mean", p.Mean); err != nil {
		return err
	}
	if err := finite("prior.variance", p.Variance); err != nil {
		return err
	}
	if p.Proper && p.Variance <= 0 {
		return inputErr("prior.variance", "must be positive for a proper prior (got %v)", p.Variance)
	}
	return nil
}

// Compare analyses treatment against control with the method, scale and
// alternative in opt. It returns an *InputError for unusable input,
// including metrics without variance and relative effects over a zero
// control mean.
func Compare(control, treatment Stats, opt Options) (Result, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := validatePair(control, treatment); err != nil {
		return Result{}, err
	}
	est, err := estimateEffect(control, treatment, opt.Relative)
	if err != nil {
		return Result{}, err
	}
	var res Result
	switch opt.Method {
	case Frequentist:
		res = welchTest(est, opt)
	case Sequential:
		res = sequentialTest(est, opt)
	case Bayesian:
		res, err = bayesianTest(est, opt)
		if err != nil {
			return Result{}, err
		}
	}
	res.ControlMean, res.TreatmentMean = est.control.unadjusted, est.treat.unadjusted
	res.Theta = est.theta
	if !res.finite() {
		return Result{}, inputErr("treatment", "inputs out of numeric range: the result is not finite")
	}
	return res, nil
}

// finite reports whether every number of the result is usable; one-sided
// intervals are allowed their infinite end.
func (r Result) finite() bool {
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	vals := []float64{r.Effect, r.SE, r.DF}
	if r.PValue != nil {
		vals = append(vals, *r.PValue)
	}
	if r.ChanceToWin != nil {
		vals = append(vals, *r.ChanceToWin)
	}
	if r.Risk != nil {
		vals = append(vals, r.Risk[0], r.Risk[1])
	}
	for _, v := range vals {
		if !ok(v) {
			return false
		}
	}
	return !math.IsNaN(r.CI[0]) && !math.IsNaN(r.CI[1]) && !math.IsInf(r.CI[0], 1) && !math.IsInf(r.CI[1], -1)
}

func ptr[T any](v T) *T { return &v }
