// Package experiment is the domain logic of A/B tests on feature flags
// (SPEC §5): an experiment's definition and its checks, the multivariate
// flag it runs on with the layer and holdout filters that keep it
// exclusive, and its results built from an event store's counts
// (insight.ExperimentCounts) with the stats engine: effects, intervals,
// corrected p-values or chances to win, sample ratio mismatch and
// guardrail warnings. It does no I/O; internal/api stores and serves it.
package experiment

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

// Definition is what an experiment runs and how it is analysed; it is
// meta.Experiment.Definition. Field errors name the JSON paths of the
// experiment body (variants[1].weight, metrics.primary[0].event,
// cuped.pre_days, layer.to).
type Definition struct {
	// Variants are the arms, control first, with their traffic weights
	// (fractions summing to 1 once validated).
	Variants []Variant `json:"variants"`
	// FlagCreated says the experiment created its flag (from Variants)
	// rather than taking an existing one.
	FlagCreated bool    `json:"flag_created,omitempty"`
	Metrics     Metrics `json:"metrics"`
	// Method is frequentist (default), bayesian or sequential.
	Method stats.Method `json:"method"`
	// Alpha is the significance level (default 0.05); for the Bayesian
	// method a chance to win of at least 1 - Alpha (or at most Alpha) is
	// significant.
	Alpha float64 `json:"alpha"`
	// Correction is holm (default), bh or none: the multiple-comparison
	// correction over the primary metrics × treatment variants
	// (frequentist and sequential methods).
	Correction string `json:"correction"`
	// Relative analyses lifts ((treatment - control) / |control|) instead
	// of absolute differences.
	Relative bool  `json:"relative,omitempty"`
	CUPED    CUPED `json:"cuped"`
	// Layer is the share of a layer's traffic the experiment takes.
	Layer *LayerShare `json:"layer,omitempty"`
	// HoldoutPercent is the project holdout in force when the experiment
	// started (its flag keeps those ids out).
	HoldoutPercent float64 `json:"holdout_percent,omitempty"`
}

// Variant is one arm: a variant key of the flag and its weight.
type Variant struct {
	Key    string  `json:"key"`
	Weight float64 `json:"weight"`
}

// Metrics are the experiment's metrics by role.
type Metrics struct {
	// Primary decide the experiment; at least one.
	Primary []Metric `json:"primary"`
	// Secondary are watched, not corrected for.
	Secondary []Metric `json:"secondary"`
	// Guardrail must not get worse: a significant move in the bad
	// direction is a warning.
	Guardrail []Metric `json:"guardrail"`
}

// Metric is an experiment metric (insight.ExperimentMetric: conversion,
// count, sum, mean or ratio) with the direction that is good.
type Metric struct {
	insight.ExperimentMetric
	// LowerIsBetter: a decrease is the good direction (errors, support
	// tickets, latency). The Bayesian chance to win is then the chance of
	// a decrease.
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
}

// CUPED is the variance reduction by each person's pre-exposure value.
type CUPED struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// PreDays is the period before exposure, 1..365 days (default 14).
	PreDays int `json:"pre_days,omitempty"`
}

// On reports whether CUPED is enabled.
func (c CUPED) On() bool { return c.Enabled == nil || *c.Enabled }

// LayerShare is [From, To) of a layer's traffic (fractions of 1).
type LayerShare struct {
	ID   int64   `json:"id"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// Overlaps reports whether two shares of the same layer take some
// traffic in common.
func (a LayerShare) Overlaps(b LayerShare) bool {
	return a.ID == b.ID && a.From < b.To && b.From < a.To
}

// Metric roles, as the results and field paths name them.
const (
	Primary   = "primary"
	Secondary = "secondary"
	Guardrail = "guardrail"
)

// Corrections.
const (
	CorrectionHolm = "holm"
	CorrectionBH   = "bh"
	CorrectionNone = "none"
)

// Defaults and limits.
const (
	DefaultAlpha = 0.05
	MaxAlpha     = 0.5
	// MaxHoldoutPercent bounds the project holdout.
	MaxHoldoutPercent = 50
)

// metricRef is where metric k of the flattened list comes from.
type metricRef struct {
	role  string
	index int
}

// roles lists the metric lists in the order Query flattens them.
func (m *Metrics) roles() []struct {
	name string
	list *[]Metric
} {
	return []struct {
		name string
		list *[]Metric
	}{{Primary, &m.Primary}, {Secondary, &m.Secondary}, {Guardrail, &m.Guardrail}}
}

// flatten lists every metric (primary, secondary, guardrail) with where
// it comes from.
func (m *Metrics) flatten() ([]Metric, []metricRef) {
	var out []Metric
	var refs []metricRef
	for _, r := range m.roles() {
		for i, x := range *r.list {
			out = append(out, x)
			refs = append(refs, metricRef{r.name, i})
		}
	}
	return out, refs
}

// Count is the number of metrics.
func (m *Metrics) Count() int { return len(m.Primary) + len(m.Secondary) + len(m.Guardrail) }

// Keys are the variant keys, control first.
func (d *Definition) Keys() []string {
	out := make([]string, len(d.Variants))
	for i, v := range d.Variants {
		out[i] = v.Key
	}
	return out
}

// Weights are the variants' weights.
func (d *Definition) Weights() []float64 {
	out := make([]float64, len(d.Variants))
	for i, v := range d.Variants {
		out[i] = v.Weight
	}
	return out
}

// Variant reports whether key is one of the variants.
func (d *Definition) Variant(key string) bool {
	for _, v := range d.Variants {
		if v.Key == key {
			return true
		}
	}
	return false
}

func bad(field, format string, args ...any) error { return insight.Bad(field, format, args...) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks the definition and fills its defaults (method, alpha,
// correction, CUPED, weights normalised, metric names and windows). The
// metrics may name actions by id, unresolved: the caller resolves them
// (Query(…).Actions()) to check they exist.
func (d *Definition) Validate() error {
	if err := ValidateVariants(d.Variants); err != nil {
		return err
	}
	d.Variants = normalise(d.Variants)
	switch d.Method {
	case "":
		d.Method = stats.Frequentist
	case stats.Frequentist, stats.Bayesian, stats.Sequential:
	default:
		return bad("method", "must be frequentist, bayesian or sequential, not %q", d.Method)
	}
	if d.Alpha == 0 {
		d.Alpha = DefaultAlpha
	}
	if !finite(d.Alpha) || d.Alpha <= 0 || d.Alpha > MaxAlpha {
		return bad("alpha", "must be in (0, %v] (got %v)", MaxAlpha, d.Alpha)
	}
	switch d.Correction {
	case "":
		d.Correction = CorrectionHolm
	case CorrectionHolm, CorrectionBH, CorrectionNone:
	default:
		return bad("correction", "must be holm, bh or none, not %q", d.Correction)
	}
	if d.CUPED.On() {
		if d.CUPED.PreDays == 0 {
			d.CUPED.PreDays = insight.DefaultPreDays
		}
		if d.CUPED.PreDays < 1 || d.CUPED.PreDays > insight.MaxPreDays {
			return bad("cuped.pre_days", "must be 1..%d days (got %d)", insight.MaxPreDays, d.CUPED.PreDays)
		}
	} else {
		d.CUPED.PreDays = 0
	}
	if l := d.Layer; l != nil {
		switch {
		case l.ID <= 0:
			return bad("layer.id", "must name a layer (POST /api/v1/layers)")
		case !finite(l.From) || l.From < 0 || l.From >= 1:
			return bad("layer.from", "must be in [0, 1) (got %v)", l.From)
		case !finite(l.To) || l.To <= l.From || l.To > 1:
			return bad("layer.to", "must be in (from, 1] (got %v)", l.To)
		}
	}
	if !finite(d.HoldoutPercent) || d.HoldoutPercent < 0 || d.HoldoutPercent > MaxHoldoutPercent {
		return bad("holdout_percent", "must be 0..%d", MaxHoldoutPercent)
	}
	return d.validateMetrics()
}

// ValidateVariants checks arms: 2..insight.MaxExperimentVariants flag
// variant keys, each once, with positive weights.
func ValidateVariants(vs []Variant) error {
	if len(vs) < 2 {
		return bad("variants", "a control and at least one treatment are needed")
	}
	if len(vs) > insight.MaxExperimentVariants {
		return bad("variants", "at most %d variants", insight.MaxExperimentVariants)
	}
	seen := map[string]bool{}
	for i, v := range vs {
		f := fmt.Sprintf("variants[%d]", i)
		switch {
		case v.Key == "":
			return bad(f+".key", "missing")
		case !flags.ValidKey(v.Key):
			return bad(f+".key", "must be 1 to %d letters, digits, '-' or '_'", flags.MaxKeyLen)
		case seen[v.Key]:
			return bad(f+".key", "%q is given twice", v.Key)
		case !finite(v.Weight) || v.Weight <= 0:
			return bad(f+".weight", "must be a positive number (got %v)", v.Weight)
		}
		seen[v.Key] = true
	}
	return nil
}

// normalise scales weights to sum to 1.
func normalise(vs []Variant) []Variant {
	var sum float64
	for _, v := range vs {
		sum += v.Weight
	}
	out := make([]Variant, len(vs))
	for i, v := range vs {
		out[i] = Variant{Key: v.Key, Weight: v.Weight / sum}
	}
	return out
}

// validateMetrics checks the metrics as insight does an experiment query,
// naming fields by role (metrics.secondary[1].window).
func (d *Definition) validateMetrics() error {
	if len(d.Metrics.Primary) == 0 {
		return bad("metrics.primary", "at least one primary metric is needed")
	}
	if n := d.Metrics.Count(); n > insight.MaxExperimentMetrics {
		return bad("metrics", "at most %d metrics in all (got %d)", insight.MaxExperimentMetrics, n)
	}
	now := time.Now()
	q := d.Query("validate", now.Add(-time.Hour), now)
	_, refs := d.Metrics.flatten()
	if err := q.Validate(); err != nil {
		return d.MetricError(err)
	}
	// Keep what validation filled in (names, windows).
	for k, ref := range refs {
		for _, r := range d.Metrics.roles() {
			if r.name == ref.role {
				(*r.list)[ref.index].ExperimentMetric = q.Metrics[k]
			}
		}
	}
	return nil
}

// MetricError renames the field of an insight error about the query's
// metric k ("metrics[3].event") to the experiment's
// ("metrics.secondary[1].event"); pre_days becomes cuped.pre_days.
func (d *Definition) MetricError(err error) error {
	e, ok := err.(*insight.Error)
	if !ok {
		return err
	}
	field := e.Field
	if rest, ok := strings.CutPrefix(field, "metrics["); ok {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			if k, err := strconv.Atoi(rest[:end]); err == nil {
				_, refs := d.Metrics.flatten()
				if k >= 0 && k < len(refs) {
					field = fmt.Sprintf("metrics.%s[%d]%s", refs[k].role, refs[k].index, rest[end+1:])
				}
			}
		}
	} else if field == "pre_days" {
		field = "cuped.pre_days"
	}
	return &insight.Error{Field: field, Msg: e.Msg}
}

// Query is the event-store query of the experiment's counts over
// [from, to): its flag's exposures to the variants and every metric
// (primary, then secondary, then guardrail).
func (d *Definition) Query(flagKey string, from, to time.Time) *insight.Experiment {
	all, _ := d.Metrics.flatten()
	q := &insight.Experiment{FlagKey: flagKey, Variants: d.Keys(), Range: insight.Range{From: from, To: to}}
	for _, m := range all {
		q.Metrics = append(q.Metrics, m.ExperimentMetric)
	}
	if d.CUPED.On() {
		q.PreDays = d.CUPED.PreDays
	} else {
		off := false
		q.CUPED = &off
	}
	return q
}

// HasEvent reports whether a metric counts event (case-insensitively, as
// a substring): its event, a funnel step's, a ratio part's, or an inline
// action step's.
func (m *Metrics) HasEvent(event string) bool {
	event = strings.ToLower(event)
	var walk func(x *insight.ExperimentMetric) bool
	has := func(name string) bool { return name != "" && strings.Contains(strings.ToLower(name), event) }
	action := func(a *insight.ActionDef) bool {
		if a == nil {
			return false
		}
		for _, s := range a.Steps {
			if has(s.Event) {
				return true
			}
		}
		return false
	}
	walk = func(x *insight.ExperimentMetric) bool {
		if x == nil {
			return false
		}
		if has(x.Event) || action(x.Action) {
			return true
		}
		for _, s := range x.Steps {
			if has(s.Event) || action(s.Action) {
				return true
			}
		}
		return walk(x.Numerator) || walk(x.Denominator)
	}
	all, _ := m.flatten()
	for i := range all {
		if walk(&all[i].ExperimentMetric) {
			return true
		}
	}
	return false
}

// HasMetric reports whether a metric's name contains name
// (case-insensitively).
func (m *Metrics) HasMetric(name string) bool {
	name = strings.ToLower(name)
	all, _ := m.flatten()
	for _, x := range all {
		if strings.Contains(strings.ToLower(x.Name), name) {
			return true
		}
	}
	return false
}
