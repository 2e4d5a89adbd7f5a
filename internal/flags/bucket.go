package flags

import (
	"fmt"
	"math"
)

// Bucket properties are Journey's own property type, for experiments'
// mutually exclusive layers and the project holdout:
//
//	{"type":"bucket","key":"<salt>","operator":"in_range","value":[from, to]}
//
// matches when Hash(salt, id, "") is in [from, to) (from and to in
// [0, 1]; to = 1 takes in the hash 1 too, so shares that tile [0, 1]
// cover every id); "not_in_range" is the complement. id is what the
// condition buckets by: the distinct id (the hash key with experience
// continuity, the group key for group aggregation). Salts are
// "layer:<layer id>" for a layer's traffic share and "holdout:<project
// id>" for the holdout, so every flag of a layer (or every experiment of
// a project) splits ids the same way whatever its own key.
//
// PostHog's SDKs do not know the type or the operators. posthog-node
// 5.70.0 (feature-flags.ts isConditionMatch, @posthog/core 1.67.3
// assertFeatureFlagFilterSupported / matchFeatureFlagProperty) sends any
// type but cohort and flag to the property matcher; the key is absent
// from the person properties, and in_range is no known operator, so the
// filter raises InconclusiveMatchError("Unknown operator: in_range"),
// the condition is inconclusive, and a flag with such a filter in every
// condition is not decided locally: getFeatureFlag falls back to remote
// /flags. posthog-go 1.5.2 (featureflags.go matchProperty) does the
// same: InconclusiveMatchError for the missing key or the unknown
// operator, then remote evaluation. So the server stays the one source of
// truth and the SDKs agree with it; callers putting bucket filters on a
// flag put them in every condition (a condition without one could be
// decided locally while another is not).
const TypeBucket = "bucket"

// Bucket operators.
const (
	OpInRange    = "in_range"
	OpNotInRange = "not_in_range"
)

// BucketProperty is the bucket filter admitting the ids whose hash under
// salt is in [from, to) (in is false: the ids outside it).
func BucketProperty(salt string, from, to float64, in bool) Property {
	op := OpInRange
	if !in {
		op = OpNotInRange
	}
	return Property{Type: TypeBucket, Key: salt, Operator: op, Value: []any{from, to}}
}

// InBucket reports whether id's hash under salt is in [from, to), the
// match of an in_range bucket filter.
func InBucket(salt, id string, from, to float64) bool {
	return inRange(bucket(salt+".", id, ""), from, to)
}

func inRange(h, from, to float64) bool {
	return h >= from && (h < to || to == 1 && h == 1)
}

func compileBucketProp(errs *Errors, path string, p *Property, out *prop, ctx propContext) {
	if !ctx.inFlag {
		errs.add(path+".type", "bucket filters apply to flags, not cohorts")
	}
	switch p.Operator {
	case OpInRange:
		out.op = opInRange
	case OpNotInRange:
		out.op = opNotInRange
	default:
		errs.add(path+".operator", fmt.Sprintf("a bucket filter's operator is %s or %s, not %q", OpInRange, OpNotInRange, p.Operator))
	}
	switch {
	case p.Key == "":
		errs.add(path+".key", "must be the bucket's salt")
	case len(p.Key) > maxPropertyKeyLn:
		errs.add(path+".key", fmt.Sprintf("must be at most %d bytes", maxPropertyKeyLn))
	}
	out.s = p.Key + "."
	vp := path + ".value"
	list, isList := asList(p.Value)
	if !isList || len(list) != 2 {
		errs.add(vp, "must be [from, to], a share of [0, 1]")
		return
	}
	lo, ok1 := numberOf(list[0])
	hi, ok2 := numberOf(list[1])
	switch {
	case !ok1 || !ok2 || math.IsNaN(lo) || math.IsNaN(hi):
		errs.add(vp, "must be [from, to] of numbers")
	case lo < 0 || hi > 1 || lo > hi:
		errs.add(vp, "must be [from, to] with 0 <= from <= to <= 1")
	}
	out.lo, out.hi = lo, hi
}

// matchBucket is a bucket filter's match for the condition's id.
func (p *prop) matchBucket(id string) bool {
	in := inRange(bucket(p.s, id, ""), p.lo, p.hi)
	return in == (p.op == opInRange)
}
