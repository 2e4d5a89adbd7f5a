package stats

import (
	"math"
	"slices"
)

// Capping (winsorization) limits each unit's value before it is summed, so
// a handful of extreme users (bots, bulk buyers) cannot dominate a mean and
// its variance. GrowthBook offers the same two kinds of cap.
type CapType string

const (
	// CapAbsolute caps at a fixed value.
	CapAbsolute CapType = "absolute"
	// CapPercentile caps at a percentile of the observed values, e.g. 0.99.
	CapPercentile CapType = "percentile"
)

// Capping configures a cap on the upper end of the values.
type Capping struct {
	Type CapType `json:"type"`
	// Value is the cap for CapAbsolute, or the percentile in (0, 1] for
	// CapPercentile.
	Value float64 `json:"value"`
	// IgnoreZeros computes the percentile over non-zero values only, so a
	// metric where most users have 0 is capped among those who have any.
	IgnoreZeros bool `json:"ignore_zeros,omitempty"`
}

// Threshold is the value at which values are capped. For CapPercentile it
// is the percentile of values with linear interpolation between order
// statistics (SQL PERCENTILE_CONT). values is not modified.
func (c Capping) Threshold(values []float64) (float64, error) {
	if err := finite("value", c.Value); err != nil {
		return 0, err
	}
	switch c.Type {
	case CapAbsolute:
		return c.Value, nil
	case CapPercentile:
		if c.Value <= 0 || c.Value > 1 {
			return 0, inputErr("value", "a percentile must be in (0, 1] (got %v)", c.Value)
		}
		return percentile(values, c.Value, c.IgnoreZeros)
	}
	return 0, inputErr("type", "must be %q or %q (got %q)", CapAbsolute, CapPercentile, c.Type)
}

// Apply returns a capped copy of values and the threshold used.
func (c Capping) Apply(values []float64) ([]float64, float64, error) {
	t, err := c.Threshold(values)
	if err != nil {
		return nil, 0, err
	}
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = Cap(v, t)
	}
	return out, t, nil
}

// Cap is min(v, threshold): the per-value step, for callers that stream
// values (e.g. while building sums) after computing the threshold once.
func Cap(v, threshold float64) float64 { return math.Min(v, threshold) }

func percentile(values []float64, q float64, ignoreZeros bool) (float64, error) {
	xs := make([]float64, 0, len(values))
	for i, v := range values {
		if err := finite(indexed("values", i), v); err != nil {
			return 0, err
		}
		if ignoreZeros && v == 0 {
			continue
		}
		xs = append(xs, v)
	}
	if len(xs) == 0 {
		return 0, inputErr("values", "no values to take a percentile of")
	}
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	if lo == len(xs)-1 {
		return xs[lo], nil
	}
	frac := pos - float64(lo)
	return xs[lo] + frac*(xs[lo+1]-xs[lo]), nil
}
