package stats

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidInput is wrapped by every *InputError so callers can map any
// bad-input failure to a 400 with errors.Is.
var ErrInvalidInput = errors.New("invalid input")

// InputError reports unusable input. Field is a dotted path in the JSON
// spelling of the input ("treatment.value.sum_squares", "weights[2]") so an
// API can point the user at what to fix.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return "stats: " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Unwrap() error { return ErrInvalidInput }

func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Moments are the sufficient statistics of one per-unit value in one arm:
// its sum and its sum of squares over the arm's N units. Binomial marks a
// 0/1 value (a conversion): Sum is then the number of conversions,
// SumSquares is ignored (it equals Sum), and the variance is p(1-p) as in
// GrowthBook's ProportionStatistic rather than the n-1 sample variance.
type Moments struct {
	Sum        float64 `json:"sum"`
	SumSquares float64 `json:"sum_squares"`
	Binomial   bool    `json:"binomial,omitempty"`
}

// Products are per-arm sums of products of two per-unit values, Σ x·y,
// which the delta method and CUPED need for covariances. Only the ones the
// metric uses are read:
//
//	ratio:        ValueDenominator
//	CUPED:        ValuePre
//	CUPED ratio:  all six
type Products struct {
	ValueDenominator          float64 `json:"value_denominator,omitempty"`           // Σ value·denominator
	ValuePre                  float64 `json:"value_pre,omitempty"`                   // Σ value·pre
	ValuePreDenominator       float64 `json:"value_pre_denominator,omitempty"`       // Σ value·pre_denominator
	DenominatorPre            float64 `json:"denominator_pre,omitempty"`             // Σ denominator·pre
	DenominatorPreDenominator float64 `json:"denominator_pre_denominator,omitempty"` // Σ denominator·pre_denominator
	PrePreDenominator         float64 `json:"pre_pre_denominator,omitempty"`         // Σ pre·pre_denominator
}

// Stats are the sufficient statistics of one arm. Which optional parts are
// set selects the metric kind, and both arms must agree:
//
//	mean or proportion: Value
//	ratio Σvalue/Σdenominator: Value, Denominator, Products.ValueDenominator
//	CUPED: Value (post-exposure), Pre (pre-exposure covariate), Products.ValuePre
//	CUPED ratio: all four Moments and all six Products
type Stats struct {
	N              float64  `json:"n"`
	Value          Moments  `json:"value"`
	Denominator    *Moments `json:"denominator,omitempty"`
	Pre            *Moments `json:"pre,omitempty"`
	PreDenominator *Moments `json:"pre_denominator,omitempty"`
	Products       Products `json:"products"`
}

// Mean builds the statistics of a mean metric from n, Σx and Σx².
func Mean(n, sum, sumSquares float64) Stats {
	return Stats{N: n, Value: Moments{Sum: sum, SumSquares: sumSquares}}
}

// Proportion builds the statistics of a conversion metric: n units of which
// conversions converted (binomial, so Σx = Σx² = conversions).
func Proportion(n, conversions float64) Stats {
	return Stats{N: n, Value: Binomial(conversions)}
}

// Binomial is the Moments of a 0/1 value with the given number of ones.
func Binomial(conversions float64) Moments {
	return Moments{Sum: conversions, SumSquares: conversions, Binomial: true}
}

// Ratio builds a ratio metric Σnumerator/Σdenominator (e.g. revenue per
// order with users as units); sumProducts is Σ numerator·denominator.
func Ratio(n float64, numerator, denominator Moments, sumProducts float64) Stats {
	d := denominator
	return Stats{N: n, Value: numerator, Denominator: &d, Products: Products{ValueDenominator: sumProducts}}
}

// CUPED builds a regression-adjusted metric: post is the metric during the
// experiment, pre the same metric before exposure, sumProducts Σ post·pre.
func CUPED(n float64, post, pre Moments, sumProducts float64) Stats {
	p := pre
	return Stats{N: n, Value: post, Pre: &p, Products: Products{ValuePre: sumProducts}}
}

// metricKind is what a Stats describes; both arms must be the same kind.
type metricKind int

const (
	kindMean metricKind = iota
	kindRatio
	kindCUPED
	kindCUPEDRatio
)

func (s Stats) kind() metricKind {
	switch {
	case s.Denominator != nil && s.Pre != nil:
		return kindCUPEDRatio
	case s.Denominator != nil:
		return kindRatio
	case s.Pre != nil:
		return kindCUPED
	}
	return kindMean
}

func (k metricKind) String() string {
	return [...]string{"mean", "ratio", "CUPED", "CUPED ratio"}[k]
}

// validate checks one arm; field is its name ("control", "treatment").
func (s Stats) validate(field string) error {
	if err := finite(field+".n", s.N); err != nil {
		return err
	}
	if s.N < 2 {
		return inputErr(field+".n", "must be at least 2 (got %v): a variance needs two units", s.N)
	}
	if (s.Pre == nil) != (s.PreDenominator == nil) && s.Denominator != nil {
		return inputErr(field+".pre_denominator", "a CUPED ratio needs both pre and pre_denominator")
	}
	if s.PreDenominator != nil && s.Denominator == nil {
		return inputErr(field+".pre_denominator", "set only for ratio metrics (denominator is missing)")
	}
	parts := []struct {
		name string
		m    *Moments
	}{{"value", &s.Value}, {"denominator", s.Denominator}, {"pre", s.Pre}, {"pre_denominator", s.PreDenominator}}
	for _, p := range parts {
		if p.m == nil {
			continue
		}
		if err := p.m.validate(field+"."+p.name, s.N); err != nil {
			return err
		}
	}
	return s.Products.validate(field + ".products")
}

func (m Moments) validate(field string, n float64) error {
	if err := finite(field+".sum", m.Sum); err != nil {
		return err
	}
	if m.Binomial {
		if m.Sum < 0 || m.Sum > n {
			return inputErr(field+".sum", "conversions must be between 0 and n (got %v of %v)", m.Sum, n)
		}
		return nil
	}
	if err := finite(field+".sum_squares", m.SumSquares); err != nil {
		return err
	}
	if m.SumSquares < 0 {
		return inputErr(field+".sum_squares", "must not be negative (got %v)", m.SumSquares)
	}
	// Cauchy-Schwarz: Σx² >= (Σx)²/n. A small relative slack absorbs the
	// rounding of sums computed in floating point by a database.
	if lim := m.Sum * m.Sum / n; m.SumSquares < lim*(1-1e-9) {
		return inputErr(field+".sum_squares", "is smaller than sum²/n (%v < %v): inconsistent sums", m.SumSquares, lim)
	}
	return nil
}

func (p Products) validate(field string) error {
	vals := []struct {
		name string
		v    float64
	}{
		{"value_denominator", p.ValueDenominator}, {"value_pre", p.ValuePre},
		{"value_pre_denominator", p.ValuePreDenominator}, {"denominator_pre", p.DenominatorPre},
		{"denominator_pre_denominator", p.DenominatorPreDenominator}, {"pre_pre_denominator", p.PrePreDenominator},
	}
	for _, x := range vals {
		if err := finite(field+"."+x.name, x.v); err != nil {
			return err
		}
	}
	return nil
}

func finite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return inputErr(field, "must be a finite number (got %v)", v)
	}
	return nil
}

// validatePair checks both arms and that they describe the same metric kind
// with the same binomial flags, since pooled CUPED sums mix the two.
func validatePair(control, treatment Stats) error {
	if err := control.validate("control"); err != nil {
		return err
	}
	if err := treatment.validate("treatment"); err != nil {
		return err
	}
	if ck, tk := control.kind(), treatment.kind(); ck != tk {
		return inputErr("treatment", "is a %v metric but control is a %v metric", tk, ck)
	}
	if control.Value.Binomial != treatment.Value.Binomial {
		return inputErr("treatment.value.binomial", "must match control")
	}
	if control.Pre != nil && control.Pre.Binomial != treatment.Pre.Binomial {
		return inputErr("treatment.pre.binomial", "must match control")
	}
	return nil
}
