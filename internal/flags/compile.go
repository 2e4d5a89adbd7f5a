package flags

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits on one flag definition.
const (
	MaxKeyLen     = 400
	MaxNameLen    = 10000
	MaxGroups     = 1000
	MaxProperties = 1000
	MaxVariants   = 1000
	MaxListValues = 10000
	// MaxRegexLen bounds a regex's source.
	MaxRegexLen = 10000
	// MaxRegexProgram bounds what one regex compiles to, in regexp/syntax
	// instructions: bounded repeats multiply their operand, so a short
	// source ((?:.{1000}){900} is 11 bytes a group) can compile to
	// millions of instructions, megabytes kept with the flag and matched
	// in time proportional to program size × value length.
	MaxRegexProgram = 10_000
	// MaxFlagRegexProgram bounds the instructions of all the regexes of
	// one flag (or of one cohort definition) together.
	MaxFlagRegexProgram = 50_000
	// MaxPayloadBytes bounds a flag's payloads together (compact JSON):
	// every /flags answer carries the payloads of the values it answers.
	MaxPayloadBytes  = 64 << 10
	maxPropertyKeyLn = 1000
)

// Compiled is a flag prepared for evaluation: regexes compiled, absolute
// dates parsed, thresholds and variant ranges computed. It is immutable
// and safe for concurrent use.
type Compiled struct {
	flag       *Flag
	hashPrefix string // key + "."
	agg        int    // -1: persons
	conds      []cond
	variants   []variantRange
	payloads   map[string]json.RawMessage
	loc        *time.Location
	deps       bool // some condition depends on another flag
	regexInsts int  // the instructions of all the flag's regexes
}

type cond struct {
	props []prop
	// threshold is rollout/100; all is rollout 100 (or none).
	threshold float64
	all       bool
	variant   string // a valid override, or ""
	agg       int    // -1: persons
}

type variantRange struct {
	key string
	max float64 // the range is [previous max, max)
}

// Flag is the definition c was compiled from; do not modify it.
func (c *Compiled) Flag() *Flag { return c.flag }

// Key is the flag's key.
func (c *Compiled) Key() string { return c.flag.Key }

// Compile validates f and prepares it for evaluation; naive dates (no
// offset) in its conditions and in person properties are UTC.
func Compile(f *Flag) (*Compiled, error) { return CompileIn(f, time.UTC) }

// CompileIn is Compile with naive dates read in loc (the project's time
// zone), as PostHog reads them in the team's.
func CompileIn(f *Flag, loc *time.Location) (*Compiled, error) {
	if loc == nil {
		loc = time.UTC
	}
	c, errs := compile(f, loc)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// MustCompile is Compile for definitions known to be valid (tests,
// built-ins); it panics on an invalid one.
func MustCompile(f *Flag) *Compiled {
	c, err := Compile(f)
	if err != nil {
		panic(err)
	}
	return c
}

// Validate reports everything wrong with f as Errors (nil when valid).
func Validate(f *Flag) error {
	_, errs := compile(f, time.UTC)
	return errs.err()
}

// ValidKey reports whether s can be a flag or variant key: 1 to 400
// letters, digits, '-' and '_' (PostHog's rule).
func ValidKey(s string) bool {
	if s == "" || len(s) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

func checkGroupIndex(errs *Errors, field string, idx *int) int {
	if idx == nil {
		return -1
	}
	if *idx < 0 || *idx > MaxGroupTypeIndex {
		errs.add(field, fmt.Sprintf("must be a group type index from 0 to %d", MaxGroupTypeIndex))
		return -1
	}
	return *idx
}

func checkPercent(errs *Errors, field string, p float64) bool {
	if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > 100 {
		errs.add(field, "must be a percentage from 0 to 100")
		return false
	}
	return true
}

func compile(f *Flag, loc *time.Location) (*Compiled, Errors) {
	var errs Errors
	if f == nil {
		errs.add("", "no flag")
		return nil, errs
	}
	c := &Compiled{flag: f, hashPrefix: f.Key + ".", loc: loc}
	switch {
	case f.Key == "":
		errs.add("key", "is required")
	case !ValidKey(f.Key):
		errs.add("key", "must be 1 to 400 letters, digits, '-' or '_'")
	}
	if len(f.Name) > MaxNameLen {
		errs.add("name", fmt.Sprintf("must be at most %d bytes", MaxNameLen))
	}
	if f.ID < 0 {
		errs.add("id", "must not be negative")
	}
	if f.Version < 0 {
		errs.add("version", "must not be negative")
	}
	fs := &f.Filters
	c.agg = checkGroupIndex(&errs, "filters.aggregation_group_type_index", fs.AggregationGroupTypeIndex)

	variantKeys := map[string]bool{}
	if mv := fs.Multivariate; mv != nil {
		path := "filters.multivariate.variants"
		if len(mv.Variants) == 0 {
			errs.add(path, "a multivariate flag needs at least one variant")
		}
		if len(mv.Variants) > MaxVariants {
			errs.add(path, fmt.Sprintf("at most %d variants", MaxVariants))
		}
		sum, cum := 0.0, 0.0
		sumOK := true
		for i, v := range mv.Variants {
			vp := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case v.Key == "":
				errs.add(vp+".key", "is required")
			case !ValidKey(v.Key):
				errs.add(vp+".key", "must be 1 to 400 letters, digits, '-' or '_'")
			case variantKeys[v.Key]:
				errs.add(vp+".key", fmt.Sprintf("duplicate variant key %q", v.Key))
			}
			variantKeys[v.Key] = true
			if len(v.Name) > MaxNameLen {
				errs.add(vp+".name", fmt.Sprintf("must be at most %d bytes", MaxNameLen))
			}
			if !checkPercent(&errs, vp+".rollout_percentage", v.RolloutPercentage) {
				sumOK = false
				continue
			}
			sum += v.RolloutPercentage
			// The same float steps as PostHog's lookup table.
			cum += v.RolloutPercentage / 100
			c.variants = append(c.variants, variantRange{key: v.Key, max: cum})
		}
		if sumOK && len(mv.Variants) > 0 && math.Abs(sum-100) > 1e-9 {
			errs.add(path, fmt.Sprintf("rollout percentages must sum to 100, not %s", strconv.FormatFloat(sum, 'f', -1, 64)))
		}
	}

	if len(fs.Groups) > MaxGroups {
		errs.add("filters.groups", fmt.Sprintf("at most %d condition sets", MaxGroups))
	}
	hasGroupAgg := c.agg >= 0
	for i := range fs.Groups {
		g := &fs.Groups[i]
		gp := fmt.Sprintf("filters.groups[%d]", i)
		cc := cond{agg: c.agg, all: true, threshold: 1}
		if g.AggregationGroupTypeIndex != nil {
			cc.agg = checkGroupIndex(&errs, gp+".aggregation_group_type_index", g.AggregationGroupTypeIndex)
		}
		if r := g.RolloutPercentage; r != nil && checkPercent(&errs, gp+".rollout_percentage", *r) && *r != 100 {
			cc.all, cc.threshold = false, *r/100
		}
		if g.Variant != nil && *g.Variant != "" {
			switch {
			case fs.Multivariate == nil:
				errs.add(gp+".variant", "a boolean flag has no variants to override with")
			case !variantKeys[*g.Variant]:
				errs.add(gp+".variant", fmt.Sprintf("%q is not one of the flag's variants", *g.Variant))
			default:
				cc.variant = *g.Variant
			}
		}
		if len(g.Properties) > MaxProperties {
			errs.add(gp+".properties", fmt.Sprintf("at most %d properties", MaxProperties))
		}
		ctx := propContext{flag: f, groupAgg: hasGroupAgg || cc.agg >= 0, inFlag: true, regexInsts: &c.regexInsts}
		for j := range g.Properties {
			pp := fmt.Sprintf("%s.properties[%d]", gp, j)
			p, ok := compileProp(&errs, pp, &g.Properties[j], loc, ctx)
			if ok {
				cc.props = append(cc.props, p)
				c.deps = c.deps || p.src == srcFlag
			}
		}
		c.conds = append(c.conds, cc)
	}

	payloadKeys := make([]string, 0, len(fs.Payloads))
	for k := range fs.Payloads {
		payloadKeys = append(payloadKeys, k)
	}
	sort.Strings(payloadKeys)
	payloadBytes := 0
	for _, k := range payloadKeys {
		v := fs.Payloads[k]
		payloadBytes += len(v)
		pp := "filters.payloads." + k
		switch {
		case k == "true":
			if fs.Multivariate != nil {
				errs.add(pp, `a multivariate flag's payloads are keyed by variant, not "true"`)
			}
		case !variantKeys[k]:
			if fs.Multivariate == nil {
				errs.add(pp, `a boolean flag's payload is keyed "true"`)
			} else {
				errs.add(pp, fmt.Sprintf("%q is not one of the flag's variants", k))
			}
		}
		if !utf8.Valid(v) || !json.Valid(v) {
			errs.add(pp, "must be valid JSON")
		}
	}
	if payloadBytes > MaxPayloadBytes {
		errs.add("filters.payloads", fmt.Sprintf("the payloads total %d bytes; at most %d (%d KiB) in all, as every answer carries them",
			payloadBytes, MaxPayloadBytes, MaxPayloadBytes>>10))
	}
	c.payloads = fs.Payloads
	return c, errs
}

// propContext is what a property's validity depends on.
type propContext struct {
	flag     *Flag // nil inside a cohort definition
	groupAgg bool  // the condition aggregates by group
	inFlag   bool
	// regexInsts counts the regex instructions of the whole definition
	// (MaxFlagRegexProgram); nil: not counted.
	regexInsts *int
}

type opcode uint8

const (
	opExact opcode = iota
	opIsNot
	opIsSet
	opIsNotSet
	opIContains
	opNotIContains
	opIContainsMulti
	opNotIContainsMulti
	opStartsWith
	opNotStartsWith
	opEndsWith
	opNotEndsWith
	opRegex
	opNotRegex
	opGt
	opGte
	opLt
	opLte
	opBetween
	opNotBetween
	opDateBefore
	opDateAfter
	opDateExact
	opSemverEq
	opSemverNeq
	opSemverGt
	opSemverGte
	opSemverLt
	opSemverLte
	opSemverTilde
	opSemverCaret
	opSemverWildcard
	opCohortIn
	opCohortNotIn
	opFlagIs
	opInRange // bucket filters (bucket.go)
	opNotInRange
)

var operators = map[string]opcode{
	"exact": opExact, "is_not": opIsNot, "is_set": opIsSet, "is_not_set": opIsNotSet,
	"icontains": opIContains, "not_icontains": opNotIContains,
	"icontains_multi": opIContainsMulti, "not_icontains_multi": opNotIContainsMulti,
	"starts_with": opStartsWith, "not_starts_with": opNotStartsWith,
	"ends_with": opEndsWith, "not_ends_with": opNotEndsWith,
	"regex": opRegex, "not_regex": opNotRegex,
	"gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte,
	"between": opBetween, "not_between": opNotBetween,
	"is_date_before": opDateBefore, "is_date_after": opDateAfter, "is_date_exact": opDateExact,
	"semver_eq": opSemverEq, "semver_neq": opSemverNeq, "semver_gt": opSemverGt,
	"semver_gte": opSemverGte, "semver_lt": opSemverLt, "semver_lte": opSemverLte,
	"semver_tilde": opSemverTilde, "semver_caret": opSemverCaret, "semver_wildcard": opSemverWildcard,
}

// negative operators match a missing property (PostHog's server, with
// the person's full properties at hand).
func (o opcode) negative() bool {
	switch o {
	case opIsNot, opIsNotSet, opNotIContains, opNotIContainsMulti, opNotStartsWith,
		opNotEndsWith, opNotRegex, opNotBetween:
		return true
	}
	return false
}

type source uint8

const (
	srcDefault source = iota // the condition's aggregation: person, or its group
	srcPerson
	srcGroup
	srcCohort
	srcFlag
	srcBucket // Journey's layer and holdout buckets (bucket.go)
)

type prop struct {
	key        string
	op         opcode
	src        source
	groupIndex int // for srcGroup; -1: the condition's aggregation
	negate     bool

	strs  []string            // lower-cased values (exact, is_not, *_multi)
	set   map[string]struct{} // strs as a set, for long lists
	s     string              // lower-cased value (contains, prefix, suffix)
	re    *regexp.Regexp
	insts int     // re's program size: the work of a match is insts × value length
	lo    float64 // gt…lte, between
	hi    float64
	date  time.Time
	rel   relDate
	isRel bool
	svLo  semver // semver operators: the value, or the range [svLo, svHi)
	svHi  semver

	cohort     string // cohort id
	flagKey    string // flag dependency: key or id
	wantBool   bool   // flag dependency wants true/false…
	wantIsBool bool
	wantStr    string // …or this variant
}

func compileProp(errs *Errors, path string, p *Property, loc *time.Location, ctx propContext) (prop, bool) {
	n := len(*errs)
	out := prop{key: p.Key, negate: p.Negation, groupIndex: -1}
	switch p.Type {
	case "":
		out.src = srcDefault
	case TypePerson:
		out.src = srcPerson
	case TypeGroup:
		out.src = srcGroup
		if p.GroupTypeIndex != nil {
			out.groupIndex = checkGroupIndex(errs, path+".group_type_index", p.GroupTypeIndex)
		} else if !ctx.groupAgg {
			errs.add(path+".group_type_index", "a group property outside a group-aggregated condition needs its group type index")
		}
		if !ctx.inFlag {
			errs.add(path+".type", "cohort definitions filter persons, not groups")
		}
	case TypeCohort:
		out.src = srcCohort
	case TypeFlag:
		out.src = srcFlag
	case TypeBucket:
		out.src = srcBucket
	default:
		errs.add(path+".type", fmt.Sprintf("unknown property type %q (person, group, cohort, flag or bucket)", p.Type))
		return out, false
	}
	if p.GroupTypeIndex != nil && p.Type != TypeGroup {
		checkGroupIndex(errs, path+".group_type_index", p.GroupTypeIndex)
	}

	switch out.src {
	case srcCohort:
		compileCohortProp(errs, path, p, &out)
	case srcFlag:
		compileFlagProp(errs, path, p, &out, ctx)
	case srcBucket:
		compileBucketProp(errs, path, p, &out, ctx)
	default:
		if p.Key == "" {
			errs.add(path+".key", "is required")
		} else if len(p.Key) > maxPropertyKeyLn {
			errs.add(path+".key", fmt.Sprintf("must be at most %d bytes", maxPropertyKeyLn))
		}
		compileValueProp(errs, path, p, &out, loc)
		if out.re != nil && ctx.regexInsts != nil {
			if *ctx.regexInsts += out.insts; *ctx.regexInsts > MaxFlagRegexProgram {
				errs.add(path+".value", fmt.Sprintf("the regular expressions of this definition compile to %d instructions in all; at most %d",
					*ctx.regexInsts, MaxFlagRegexProgram))
			}
		}
	}
	return out, len(*errs) == n
}

func compileCohortProp(errs *Errors, path string, p *Property, out *prop) {
	switch p.Operator {
	case "", "in", "exact":
		out.op = opCohortIn
	case "not_in":
		out.op = opCohortNotIn
	default:
		errs.add(path+".operator", fmt.Sprintf("a cohort filter's operator is in or not_in, not %q", p.Operator))
	}
	id, ok := cohortID(p.Value)
	if !ok {
		errs.add(path+".value", "must be a cohort id (a whole number or a non-empty string)")
	}
	out.cohort = id
}

func cohortID(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != "" && len(x) <= maxPropertyKeyLn
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return string(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), true
		}
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

func compileFlagProp(errs *Errors, path string, p *Property, out *prop, ctx propContext) {
	if p.Operator != "flag_evaluates_to" {
		errs.add(path+".operator", fmt.Sprintf("a flag dependency's operator is flag_evaluates_to, not %q", p.Operator))
	}
	out.op = opFlagIs
	out.flagKey = p.Key
	switch {
	case p.Key == "":
		errs.add(path+".key", "must name the flag depended on (its key or id)")
	case ctx.flag != nil && (p.Key == ctx.flag.Key || ctx.flag.ID != 0 && p.Key == strconv.FormatInt(ctx.flag.ID, 10)):
		errs.add(path+".key", "a flag cannot depend on itself")
	}
	switch v := p.Value.(type) {
	case bool:
		out.wantIsBool, out.wantBool = true, v
	case string:
		if v == "" {
			errs.add(path+".value", "must be true, false or a variant key")
		}
		out.wantStr = v
	default:
		errs.add(path+".value", "must be true, false or a variant key")
	}
}

func compileValueProp(errs *Errors, path string, p *Property, out *prop, loc *time.Location) {
	opName := p.Operator
	if opName == "" {
		opName = "exact"
	}
	op, ok := operators[opName]
	if !ok {
		errs.add(path+".operator", fmt.Sprintf("unknown operator %q", p.Operator))
		return
	}
	out.op = op
	vp := path + ".value"
	switch op {
	case opIsSet, opIsNotSet:
		// The value is ignored (PostHog sends the operator's name).
	case opExact, opIsNot, opIContainsMulti, opNotIContainsMulti:
		if list, isList := asList(p.Value); isList {
			if len(list) == 0 {
				errs.add(vp, "must not be an empty list")
			}
			if len(list) > MaxListValues {
				errs.add(vp, fmt.Sprintf("at most %d values", MaxListValues))
				return
			}
			for i, x := range list {
				s, ok := scalarString(x)
				if !ok {
					errs.add(fmt.Sprintf("%s[%d]", vp, i), "must be a string, number or boolean")
					continue
				}
				out.strs = append(out.strs, lower(s))
			}
		} else {
			s, ok := scalarString(p.Value)
			if !ok {
				errs.add(vp, "must be a string, number, boolean or a list of them")
				return
			}
			out.strs = []string{lower(s)}
		}
		if len(out.strs) > 8 {
			out.set = make(map[string]struct{}, len(out.strs))
			for _, s := range out.strs {
				out.set[s] = struct{}{}
			}
		}
	case opIContains, opNotIContains, opStartsWith, opNotStartsWith, opEndsWith, opNotEndsWith:
		s, ok := scalarString(p.Value)
		if !ok {
			errs.add(vp, "must be a string, number or boolean")
			return
		}
		out.s = lower(s)
	case opRegex, opNotRegex:
		s, ok := scalarString(p.Value)
		if !ok {
			errs.add(vp, "must be a regular expression")
			return
		}
		if len(s) > MaxRegexLen {
			errs.add(vp, fmt.Sprintf("must be at most %d bytes", MaxRegexLen))
			return
		}
		re, insts, err := compileRegex(s)
		if err != nil {
			errs.add(vp, err.Error())
			return
		}
		out.re, out.insts = re, insts
	case opGt, opGte, opLt, opLte:
		x, ok := numberOf(p.Value)
		if !ok || math.IsInf(x, 0) || math.IsNaN(x) {
			errs.add(vp, "must be a finite number")
			return
		}
		out.lo = x
	case opBetween, opNotBetween:
		list, isList := asList(p.Value)
		if !isList || len(list) != 2 {
			errs.add(vp, "must be [min, max]")
			return
		}
		lo, ok1 := numberOf(list[0])
		hi, ok2 := numberOf(list[1])
		if !ok1 || !ok2 || math.IsNaN(lo) || math.IsNaN(hi) {
			errs.add(vp, "must be [min, max] of numbers")
			return
		}
		if lo > hi {
			errs.add(vp, "min must not be above max")
			return
		}
		out.lo, out.hi = lo, hi
	case opDateBefore, opDateAfter, opDateExact:
		s, ok := p.Value.(string)
		if !ok {
			errs.add(vp, `must be a date ("2024-01-31", "2024-01-31T12:00:00Z") or a relative date ("-7d", "-1h", "-2w", "-1m", "-1y")`)
			return
		}
		if r, ok := parseRelative(s); ok {
			out.rel, out.isRel = r, true
			return
		}
		t, ok := parseDate(s, loc)
		if !ok {
			errs.add(vp, fmt.Sprintf(`%q is not a date ("2024-01-31", "2024-01-31T12:00:00Z") or a relative date ("-7d", "-1h", "-2w", "-1m", "-1y")`, s))
			return
		}
		out.date = t
	case opSemverEq, opSemverNeq, opSemverGt, opSemverGte, opSemverLt, opSemverLte:
		s, ok := scalarString(p.Value)
		v, vok := parseSemver(s)
		if !ok || !vok {
			errs.add(vp, "must be a version like 1.2.3")
			return
		}
		out.svLo = v
	case opSemverTilde, opSemverCaret, opSemverWildcard:
		s, ok := scalarString(p.Value)
		var lo, hi semver
		var bok bool
		switch op {
		case opSemverTilde:
			lo, hi, bok = tildeBounds(s)
		case opSemverCaret:
			lo, hi, bok = caretBounds(s)
		default:
			lo, hi, bok = wildcardBounds(s)
		}
		if !ok || !bok {
			if op == opSemverWildcard {
				errs.add(vp, "must be a version pattern like 1.* or 1.2.*")
			} else {
				errs.add(vp, "must be a version like 1.2.3")
			}
			return
		}
		out.svLo, out.svHi = lo, hi
	}
}

// asList returns v's elements when v is a list.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// compileRegex compiles an RE2 pattern whose program is at most
// MaxRegexProgram instructions, and returns its size. The size is
// estimated from the parse tree first, so that a pattern far over the
// bound is refused before its repeats are expanded (Simplify) at all.
func compileRegex(s string) (*regexp.Regexp, int, error) {
	const syntaxErr = "is not a valid regular expression (RE2 syntax: no lookaround or backreferences): "
	tree, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, 0, fmt.Errorf("%s%v", syntaxErr, err)
	}
	tooLarge := func(what string, n int) error {
		return fmt.Errorf("compiles to a program of %s%d instructions; at most %d (a bounded repeat such as {2,300} "+
			"copies what it repeats: use smaller bounds, or * and +)", what, n, MaxRegexProgram)
	}
	// The estimate is an upper bound, a few times the real size at most:
	// only a pattern far over the bound is refused on it.
	if est := progEstimate(tree, 0); est > 4*MaxRegexProgram {
		return nil, est, tooLarge("up to ", est)
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		return nil, 0, fmt.Errorf("%s%v", syntaxErr, err)
	}
	if n := len(prog.Inst); n > MaxRegexProgram {
		return nil, n, tooLarge("", n)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, 0, fmt.Errorf("%s%v", syntaxErr, err)
	}
	return re, len(prog.Inst), nil
}

// maxEstimate saturates progEstimate.
const maxEstimate = 1 << 30

// progEstimate bounds from above the instructions syntax.Compile emits
// for re once simplified: x{n,m} becomes m copies of x (and m-n
// alternatives), x{n,} n copies and a loop.
func progEstimate(re *syntax.Regexp, depth int) int {
	if depth > 1000 {
		return maxEstimate
	}
	sat := func(n int) int { return min(n, maxEstimate) }
	sum := func() int {
		n := 0
		for _, sub := range re.Sub {
			n = sat(n + progEstimate(sub, depth+1))
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return max(1, len(re.Rune))
	case syntax.OpCapture:
		return sat(2 + sum())
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return sat(1 + sum())
	case syntax.OpConcat:
		return max(1, sum())
	case syntax.OpAlternate:
		return sat(sum() + len(re.Sub))
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		if n == 0 {
			return 1
		}
		per := sat(sum() + 1)
		if per > maxEstimate/n {
			return maxEstimate
		}
		return per * n
	}
	return 1
}
