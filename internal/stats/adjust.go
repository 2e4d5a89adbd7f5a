package stats

import (
	"fmt"
	"math"
	"sort"
)

// Multiple-comparison corrections. Testing many metrics or arms at level α
// makes some false positive likely; the adjusted p-values below can be
// compared with α directly.
const (
	// HolmBonferroni controls the family-wise error rate (the chance of any
	// false positive), uniformly more powerful than plain Bonferroni.
	HolmBonferroni = "holm-bonferroni"
	// BenjaminiHochberg controls the false discovery rate (the expected
	// share of false positives among the significant results).
	BenjaminiHochberg = "benjamini-hochberg"
)

// Adjust returns the adjusted p-values, in the order of p, for method
// HolmBonferroni ("holm" also accepted) or BenjaminiHochberg ("bh"). The
// step-up/step-down formulas and the monotonicity passes are those of
// GrowthBook's adjustPValuesHolmBonferroni and adjustPValuesBenjaminiHochberg.
func Adjust(method string, p []float64) ([]float64, error) {
	for i, v := range p {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return nil, inputErr(indexed("p", i), "must be a probability in [0, 1] (got %v)", v)
		}
	}
	switch method {
	case HolmBonferroni, "holm":
		return holm(p), nil
	case BenjaminiHochberg, "bh":
		return benjaminiHochberg(p), nil
	}
	return nil, inputErr("method", "must be %q or %q (got %q)", HolmBonferroni, BenjaminiHochberg, method)
}

// holm: with p sorted ascending, the i-th (0-based) of m is multiplied by
// m-i, capped at 1, and made non-decreasing so a smaller raw p-value never
// gets a larger adjusted one.
func holm(p []float64) []float64 {
	m := len(p)
	order := sortedIndex(p, func(a, b float64) bool { return a < b })
	out := make([]float64, m)
	running := 0.0
	for i, idx := range order {
		running = math.Max(running, math.Min(1, p[idx]*float64(m-i)))
		out[idx] = running
	}
	return out
}

// benjaminiHochberg: with p sorted descending, the i-th (0-based) of m, whose
// ascending rank is m-i, is multiplied by m/(m-i), capped at 1, and made
// non-increasing along that order.
func benjaminiHochberg(p []float64) []float64 {
	m := len(p)
	order := sortedIndex(p, func(a, b float64) bool { return a > b })
	out := make([]float64, m)
	running := 1.0
	for i, idx := range order {
		running = math.Min(running, math.Min(1, p[idx]*float64(m)/float64(m-i)))
		out[idx] = running
	}
	return out
}

// sortedIndex returns the indices of p ordered by less, ties kept in input
// order.
func sortedIndex(p []float64, less func(a, b float64) bool) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return less(p[idx[a]], p[idx[b]]) })
	return idx
}

func indexed(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
