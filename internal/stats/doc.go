// Package stats is the experiment statistics engine: pure functions over
// per-arm sufficient statistics, with no I/O, so HTTP handlers and batch jobs
// can share one implementation and tests can pin it to published numbers.
//
// The formulas follow GrowthBook's gbstats (packages/stats) so results are
// comparable with that tool and its published test vectors:
//
//   - Compare runs one control/treatment comparison: a fixed-horizon Welch t
//     test (two- or one-sided), an always-valid sequential test (asymptotic
//     confidence sequences of Waudby-Smith et al.), or a Gaussian Bayesian
//     analysis of the effect with a flat or proper prior. Effects are
//     absolute (treatment - control) or relative (lift, via the delta
//     method). Metrics may be means, proportions, ratios of two per-unit
//     sums (delta method) and CUPED regression-adjusted versions of both.
//   - SRM tests a traffic split with a chi-square test.
//   - Adjust applies Holm-Bonferroni or Benjamini-Hochberg corrections.
//   - SampleSize, MinimumDetectableEffect and RuntimeDays plan experiments.
//   - Capping winsorizes values at an absolute or a percentile cap.
//
// Inputs are sums, never raw rows: for a unit-level value x the caller
// passes n, Σx and Σx² per arm (and Σxy for every pair of values whose
// covariance a ratio or CUPED needs). Invalid input is reported as an
// *InputError naming the offending field.
package stats
