package experiment

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

// Result is an experiment's results: computed from events while it runs,
// frozen (Frozen true) into meta.Experiment.Result when it stops.
type Result struct {
	ComputedAt time.Time `json:"computed_at"`
	// From and To are the period analysed: from the start to now, or to
	// the stop.
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Frozen bool      `json:"frozen"`

	Method     stats.Method `json:"method"`
	Alpha      float64      `json:"alpha"`
	Correction string       `json:"correction"`
	Relative   bool         `json:"relative"`
	CUPED      bool         `json:"cuped"`

	// Days are the local days of the period, for Variants' Exposures.
	Days     []string        `json:"days"`
	Variants []VariantResult `json:"variants"`
	// Exposed counts the persons analysed (exposed to one variant only).
	Exposed int64 `json:"exposed"`
	// MultipleExposures counts the persons excluded for seeing several
	// variants, and by pair of variants.
	MultipleExposures insight.ExperimentMultiple `json:"multiple_exposures"`
	SRM               SRM                        `json:"srm"`
	Metrics           MetricResults              `json:"metrics"`
	// Warnings are the guardrail metrics a treatment made significantly
	// worse.
	Warnings []Warning `json:"warnings"`
}

// VariantResult is one arm's exposures.
type VariantResult struct {
	Key    string  `json:"key"`
	Weight float64 `json:"weight"`
	// Exposed counts the persons exposed to this variant only.
	Exposed int64 `json:"exposed"`
	// Exposures are Exposed by the local day of first exposure (Days).
	Exposures []int64 `json:"exposures"`
	// MultipleExposures counts the excluded persons who saw this variant
	// and another.
	MultipleExposures int64 `json:"multiple_exposures"`
}

// SRM is the sample ratio mismatch check of the exposed persons against
// the variants' weights: a chi-square test, a mismatch below p 0.001.
type SRM struct {
	PValue   float64   `json:"p_value"`
	Mismatch bool      `json:"mismatch"`
	Expected []float64 `json:"expected"` // persons each variant should have
}

// MetricResults are the comparisons by metric role.
type MetricResults struct {
	Primary   []Comparison `json:"primary"`
	Secondary []Comparison `json:"secondary"`
	Guardrail []Comparison `json:"guardrail"`
}

// Comparison is one metric for one treatment variant against control.
// Effect, CI and SE are absolute (treatment - control) or relative, as
// the definition says; the frequentist and sequential methods give
// p-values (PValueAdjusted after the correction, which applies to the
// primary metrics; the others' equals PValue), the Bayesian method chance
// to win and risk. Fields the data cannot give (no exposed persons, no
// variance) are null and Error says why.
type Comparison struct {
	Metric        string   `json:"metric"`
	Kind          string   `json:"kind"`
	Variant       string   `json:"variant"`
	LowerIsBetter bool     `json:"lower_is_better,omitempty"`
	ControlMean   *float64 `json:"control_mean"`
	TreatmentMean *float64 `json:"treatment_mean"`
	NControl      int64    `json:"n_control"`
	NTreatment    int64    `json:"n_treatment"`
	// Lift is (treatment_mean - control_mean) / |control_mean|, unadjusted.
	Lift           *float64        `json:"lift"`
	Effect         *float64        `json:"effect"`
	CI             *stats.Interval `json:"ci"`
	SE             *float64        `json:"se"`
	PValue         *float64        `json:"p_value"`
	PValueAdjusted *float64        `json:"p_value_adjusted"`
	ChanceToWin    *float64        `json:"chance_to_win"`
	Risk           *[2]float64     `json:"risk"`
	// Significant: adjusted p-value below alpha, or a chance to win of at
	// least 1 - alpha or at most alpha.
	Significant bool `json:"significant"`
	// Direction is up or down (the sign of the effect) when significant,
	// else none.
	Direction string `json:"direction"`
	// Better says a significant effect is in the good direction (false
	// when not significant).
	Better bool   `json:"better"`
	Error  string `json:"error,omitempty"`
}

// Directions.
const (
	DirectionUp   = "up"
	DirectionDown = "down"
	DirectionNone = "none"
)

// Warning is a guardrail metric made significantly worse by a variant.
type Warning struct {
	Metric  string `json:"metric"`
	Variant string `json:"variant"`
	Message string `json:"message"`
}

// Analyze builds the results of definition d from the counts of
// d.Query(…) over [from, to), at now.
func Analyze(d *Definition, c *insight.ExperimentCounts, from, to, now time.Time) (*Result, error) {
	all, refs := d.Metrics.flatten()
	if len(c.Variants) != len(d.Variants) || len(c.Metrics) != len(all) {
		return nil, fmt.Errorf("experiment: counts for %d variants and %d metrics, want %d and %d",
			len(c.Variants), len(c.Metrics), len(d.Variants), len(all))
	}
	r := &Result{
		ComputedAt: now.UTC(), From: from.UTC(), To: to.UTC(),
		Method: d.Method, Alpha: d.Alpha, Correction: d.Correction, Relative: d.Relative, CUPED: d.CUPED.On(),
		Days: c.Days, MultipleExposures: c.MultipleExposures,
		Metrics:  MetricResults{Primary: []Comparison{}, Secondary: []Comparison{}, Guardrail: []Comparison{}},
		Warnings: []Warning{},
	}
	if r.Days == nil {
		r.Days = []string{}
	}
	if r.MultipleExposures.Pairs == nil {
		r.MultipleExposures.Pairs = []insight.ExperimentPair{}
	}
	users := make([]float64, len(c.Variants))
	for i, v := range c.Variants {
		if v.Key != d.Variants[i].Key {
			return nil, fmt.Errorf("experiment: counts of variant %q where %q was asked", v.Key, d.Variants[i].Key)
		}
		exp := v.Exposures
		if exp == nil {
			exp = []int64{}
		}
		r.Variants = append(r.Variants, VariantResult{Key: v.Key, Weight: d.Variants[i].Weight, Exposed: v.Exposed,
			Exposures: exp, MultipleExposures: v.MultipleExposures})
		r.Exposed += v.Exposed
		users[i] = float64(v.Exposed)
	}
	p, err := stats.SRM(users, d.Weights())
	if err != nil {
		return nil, fmt.Errorf("experiment: srm: %w", err)
	}
	r.SRM = SRM{PValue: p, Mismatch: stats.SRMFlag(p), Expected: make([]float64, len(users))}
	for i, w := range d.Weights() {
		r.SRM.Expected[i] = w * float64(r.Exposed)
	}

	// Every metric × treatment, in role order.
	var comps []*Comparison
	var roles []string
	for k, m := range all {
		for t := 1; t < len(c.Variants); t++ {
			cmp := d.compare(c, k, t, m)
			comps = append(comps, &cmp)
			roles = append(roles, refs[k].role)
		}
	}
	if err := d.adjust(comps, roles); err != nil {
		return nil, err
	}
	for i, cmp := range comps {
		d.decide(cmp)
		switch roles[i] {
		case Primary:
			r.Metrics.Primary = append(r.Metrics.Primary, *cmp)
		case Secondary:
			r.Metrics.Secondary = append(r.Metrics.Secondary, *cmp)
		default:
			r.Metrics.Guardrail = append(r.Metrics.Guardrail, *cmp)
			if cmp.Significant && !cmp.Better {
				r.Warnings = append(r.Warnings, Warning{Metric: cmp.Metric, Variant: cmp.Variant,
					Message: fmt.Sprintf("guardrail %q is significantly worse in %q (%s)", cmp.Metric, cmp.Variant, cmp.Direction)})
			}
		}
	}
	return r, nil
}

func ptr[T any](v T) *T { return &v }

// mean is an arm's unadjusted mean (a ratio's Σvalue/Σdenominator), nil
// when undefined.
func mean(s stats.Stats) *float64 {
	if s.N == 0 {
		return nil
	}
	if s.Denominator != nil {
		if s.Denominator.Sum == 0 {
			return nil
		}
		return ptr(s.Value.Sum / s.Denominator.Sum)
	}
	return ptr(s.Value.Sum / s.N)
}

// compare is metric k for treatment t, before correction.
func (d *Definition) compare(c *insight.ExperimentCounts, k, t int, m Metric) Comparison {
	ctl, trt := c.Variants[0].Metrics[k], c.Variants[t].Metrics[k]
	out := Comparison{
		Metric: c.Metrics[k].Name, Kind: c.Metrics[k].Kind, Variant: c.Variants[t].Key, LowerIsBetter: m.LowerIsBetter,
		ControlMean: mean(ctl), TreatmentMean: mean(trt), NControl: int64(ctl.N), NTreatment: int64(trt.N),
		Direction: DirectionNone,
	}
	if out.Metric == "" {
		out.Metric = m.Name
	}
	if out.ControlMean != nil && out.TreatmentMean != nil && *out.ControlMean != 0 {
		out.Lift = ptr((*out.TreatmentMean - *out.ControlMean) / math.Abs(*out.ControlMean))
	}
	opt := stats.Options{Method: d.Method, Alpha: d.Alpha, Relative: d.Relative}
	if d.Method == stats.Bayesian {
		opt.Inverse = m.LowerIsBetter
	}
	res, err := stats.Compare(ctl, trt, opt)
	if err != nil {
		var in *stats.InputError
		if errors.As(err, &in) {
			out.Error = in.Field + ": " + in.Reason
		} else {
			out.Error = err.Error()
		}
		return out
	}
	out.Effect, out.CI, out.SE = ptr(res.Effect), ptr(res.CI), ptr(res.SE)
	out.PValue, out.ChanceToWin, out.Risk = res.PValue, res.ChanceToWin, res.Risk
	return out
}

// adjust sets the adjusted p-values: corrected over the primary
// comparisons, as they are for the others.
func (d *Definition) adjust(comps []*Comparison, roles []string) error {
	var idx []int
	var ps []float64
	for i, c := range comps {
		if c.PValue == nil {
			continue
		}
		c.PValueAdjusted = ptr(*c.PValue)
		if roles[i] == Primary {
			idx, ps = append(idx, i), append(ps, *c.PValue)
		}
	}
	if d.Correction == CorrectionNone || len(ps) < 2 {
		return nil
	}
	adj, err := stats.Adjust(d.Correction, ps)
	if err != nil {
		return fmt.Errorf("experiment: correction: %w", err)
	}
	for j, i := range idx {
		comps[i].PValueAdjusted = ptr(adj[j])
	}
	return nil
}

// decide sets Significant, Direction and Better.
func (d *Definition) decide(c *Comparison) {
	if c.Effect == nil {
		return
	}
	switch {
	case c.PValueAdjusted != nil:
		c.Significant = *c.PValueAdjusted < d.Alpha
	case c.ChanceToWin != nil:
		c.Significant = *c.ChanceToWin >= 1-d.Alpha || *c.ChanceToWin <= d.Alpha
	}
	if !c.Significant || *c.Effect == 0 {
		c.Significant = c.Significant && *c.Effect != 0
		return
	}
	c.Direction = DirectionUp
	if *c.Effect < 0 {
		c.Direction = DirectionDown
	}
	c.Better = (*c.Effect > 0) != c.LowerIsBetter
}
