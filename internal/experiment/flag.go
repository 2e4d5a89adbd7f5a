package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/journey-dev/journey/internal/flags"
)

// Assignment stays PostHog's: an experiment runs on a multivariate flag
// whose variants are its arms, bucketed by PostHog's hash (so posthog-js
// and /flags agree). Layers and the holdout are bucket filters (package
// flags, type "bucket") added to every condition of that flag when the
// experiment starts:
//
//	{"type":"bucket","key":"layer:<layer id>","operator":"in_range","value":[from, to]}
//	{"type":"bucket","key":"holdout:<project id>","operator":"not_in_range","value":[0, percent/100]}
//
// The salts do not depend on the flag, so every experiment of a layer
// splits ids the same way (disjoint shares are disjoint sets of persons)
// and the holdout is the same persons for every experiment of the
// project. Server SDKs' local evaluation cannot decide these filters and
// asks /flags (see flags.TypeBucket), so the server decides.

// LayerSalt is the bucket salt of a layer.
func LayerSalt(layerID int64) string { return "layer:" + strconv.FormatInt(layerID, 10) }

// HoldoutSalt is the bucket salt of a project's holdout.
func HoldoutSalt(projectID int64) string { return "holdout:" + strconv.FormatInt(projectID, 10) }

// journeySalt reports whether a bucket filter is one Assign writes.
func journeySalt(p flags.Property) bool {
	return p.Type == flags.TypeBucket && (strings.HasPrefix(p.Key, "layer:") || strings.HasPrefix(p.Key, "holdout:"))
}

// percentages turns weights (summing to 1) into rollout percentages
// summing to exactly 100 (the last takes the rounding).
func percentages(vs []Variant) []float64 {
	out := make([]float64, len(vs))
	left := 100.0
	for i, v := range vs {
		if i == len(vs)-1 {
			out[i] = left
			break
		}
		out[i] = v.Weight * 100
		left -= out[i]
	}
	return out
}

// NewFlag is the flag an experiment creates for its variants: one
// condition for everyone, the variants by weight, inactive until the
// experiment starts.
func NewFlag(key, name string, vs []Variant) *flags.Flag {
	all := 100.0
	f := &flags.Flag{Key: key, Name: name, Active: false, Filters: flags.Filters{
		Groups:       []flags.Condition{{Properties: []flags.Property{}, RolloutPercentage: &all}},
		Multivariate: &flags.Multivariate{},
	}}
	for i, p := range percentages(vs) {
		f.Filters.Multivariate.Variants = append(f.Filters.Multivariate.Variants, flags.Variant{Key: vs[i].Key, RolloutPercentage: p})
	}
	return f
}

// Arms are an existing flag's variants as the experiment's arms (first
// is control), weighted by their rollout percentages.
func Arms(f *flags.Flag) ([]Variant, error) {
	if f.Filters.Multivariate == nil || len(f.Filters.Multivariate.Variants) < 2 {
		return nil, fmt.Errorf("flag %q is not a multivariate flag with a control and a treatment", f.Key)
	}
	var out []Variant
	for _, v := range f.Filters.Multivariate.Variants {
		if v.RolloutPercentage > 0 {
			out = append(out, Variant{Key: v.Key, Weight: v.RolloutPercentage / 100})
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("flag %q gives traffic to fewer than two variants", f.Key)
	}
	if len(out) > 10 {
		return nil, fmt.Errorf("flag %q has more than 10 variants with traffic", f.Key)
	}
	return normalise(out), nil
}

// Assign returns a copy of f that runs the experiment: in every
// condition, the Journey bucket filters it had are replaced by the
// layer's share (when layer is set) and the holdout (when percent > 0) of
// project projectID. The flag's own targeting and variants are kept (a
// flag without conditions gets one for everyone).
func Assign(f *flags.Flag, projectID int64, layer *LayerShare, holdoutPercent float64) *flags.Flag {
	out := *f
	out.Filters.Groups = make([]flags.Condition, len(f.Filters.Groups))
	var extra []flags.Property
	if layer != nil {
		extra = append(extra, flags.BucketProperty(LayerSalt(layer.ID), layer.From, layer.To, true))
	}
	if holdoutPercent > 0 {
		extra = append(extra, flags.BucketProperty(HoldoutSalt(projectID), 0, holdoutPercent/100, false))
	}
	groups := f.Filters.Groups
	if len(groups) == 0 {
		// No condition is nobody; an experiment's flag targets everyone.
		all := 100.0
		groups = []flags.Condition{{RolloutPercentage: &all}}
		out.Filters.Groups = make([]flags.Condition, 1)
	}
	for i, g := range groups {
		props := make([]flags.Property, 0, len(g.Properties)+len(extra))
		for _, p := range g.Properties {
			if !journeySalt(p) {
				props = append(props, p)
			}
		}
		g.Properties = append(props, extra...)
		out.Filters.Groups[i] = g
	}
	return &out
}

// SameArms reports whether a flag still has the arms' variant keys, in
// order, with traffic.
func SameArms(f *flags.Flag, vs []Variant) error {
	arms, err := Arms(f)
	if err != nil {
		return err
	}
	if len(arms) != len(vs) {
		return fmt.Errorf("flag %q now has %d variants with traffic, the experiment %d", f.Key, len(arms), len(vs))
	}
	for i := range arms {
		if arms[i].Key != vs[i].Key {
			return fmt.Errorf("flag %q's variant %d is now %q, the experiment's %q", f.Key, i, arms[i].Key, vs[i].Key)
		}
	}
	return nil
}

// Ship returns a copy of f that serves variant to everyone the flag
// targets, as a decided experiment ships its winner: the experiment's
// layer and holdout filters go, each condition keeps its own targeting
// and rolls out to 100% with variant as its override.
func Ship(f *flags.Flag, variant string) *flags.Flag {
	out := *f
	all := 100.0
	v := variant
	groups := f.Filters.Groups
	if len(groups) == 0 {
		groups = []flags.Condition{{}}
	}
	out.Filters.Groups = make([]flags.Condition, len(groups))
	for i, g := range groups {
		props := make([]flags.Property, 0, len(g.Properties))
		for _, p := range g.Properties {
			if !journeySalt(p) {
				props = append(props, p)
			}
		}
		g.Properties, g.RolloutPercentage, g.Variant = props, &all, &v
		out.Filters.Groups[i] = g
	}
	return &out
}
