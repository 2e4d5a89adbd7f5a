package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Matching limits. A property value comes from the caller (a /flags
// request) or from stored properties anyone with the public token can set,
// so its size is the client's; a regex's cost is its program size times
// the value's length.
const (
	// MaxMatchLen bounds the text of a property value (a string, or a
	// list or object as compact JSON) the operators compare: a longer
	// value is not compared, and the filter does not match (negated or
	// not) and reports ErrNotCompared.
	MaxMatchLen = 64 << 10
	// MaxRegexWork bounds the regex matching of one evaluation (one
	// EvaluateAll, one Cohorts membership check): each match costs its
	// program's instructions × the value's bytes (Go's RE2 runs in time
	// proportional to both), about 14 ns a unit at worst. Past it, the
	// remaining regex filters do not match and report ErrNotCompared.
	MaxRegexWork = 1 << 23
)

// ErrNotCompared is wrapped by the error of a property filter that was not
// compared: its value is over MaxMatchLen, or the evaluation spent
// MaxRegexWork. The filter does not match.
var ErrNotCompared = errors.New("property value not compared")

// budget is what one evaluation may still spend on regexes.
type budget struct{ regex int }

func newBudget() budget { return budget{regex: MaxRegexWork} }

// spend takes n units, or reports false (taking none) when fewer are left.
func (b *budget) spend(n int) bool {
	if n > b.regex {
		return false
	}
	b.regex -= n
	return true
}

// matchValue matches a person or group property value (present: the
// key is in the properties) against the filter, with the semantics of
// PostHog's flags service, which holds the full properties:
//   - a missing property matches only the negative operators (is_not,
//     is_not_set, not_icontains, not_regex, not_starts_with, …);
//   - a null value is set (is_set), compares as "null" for exact and
//     is_not, and matches no other operator;
//   - strings compare case-insensitively except in regexes; numbers and
//     booleans compare as their text ("true", "42");
//   - gt/gte/lt/lte compare numbers, numeric strings coerced; a value
//     that is no number does not match;
//   - dates: see dateOf; semver: see parseSemver; a value that does not
//     parse does not match.
//
// A value over MaxMatchLen, or a regex past the evaluation's budget b, is
// not compared: false, with an error wrapping ErrNotCompared.
func (p *prop) matchValue(v any, present bool, now time.Time, loc *time.Location, b *budget) (bool, error) {
	if !present {
		return p.op.negative(), nil
	}
	switch p.op {
	case opIsSet:
		return true, nil
	case opIsNotSet:
		return false, nil
	}
	if n, ok := textLen(v); !ok {
		return false, fmt.Errorf("%w: property %.100q is over %d bytes", ErrNotCompared, p.key, MaxMatchLen)
	} else if p.re != nil && b != nil && !b.spend((n+1)*p.insts) {
		return false, fmt.Errorf("%w: property %.100q: the evaluation's regex budget is spent", ErrNotCompared, p.key)
	}
	return p.compare(v, now, loc), nil
}

// textLen is the length of v's text (stringOf), or false when that is
// over MaxMatchLen; lists and objects are measured without being encoded.
func textLen(v any) (int, bool) {
	switch x := v.(type) {
	case string:
		return len(x), len(x) <= MaxMatchLen
	case json.Number:
		return len(x), len(x) <= MaxMatchLen
	case map[string]any, []any, []string:
		left := MaxMatchLen
		if !fitsJSON(x, &left, 0) {
			return 0, false
		}
		return MaxMatchLen - left, true
	}
	return 32, true // numbers, booleans, null, times: short
}

// fitsJSON takes v's compact JSON size (escapes aside) from left,
// and reports false as soon as it does not fit.
func fitsJSON(v any, left *int, depth int) bool {
	take := func(n int) bool { *left -= n; return *left >= 0 }
	if depth > 64 {
		return false
	}
	switch x := v.(type) {
	case string:
		return take(len(x) + 2)
	case map[string]any:
		if !take(2) {
			return false
		}
		for k, e := range x {
			if !take(len(k)+4) || !fitsJSON(e, left, depth+1) {
				return false
			}
		}
		return true
	case []any:
		if !take(2) {
			return false
		}
		for _, e := range x {
			if !take(1) || !fitsJSON(e, left, depth+1) {
				return false
			}
		}
		return true
	case []string:
		if !take(2) {
			return false
		}
		for _, e := range x {
			if !take(len(e) + 3) {
				return false
			}
		}
		return true
	}
	return take(32)
}

// compare is matchValue for a present value of bounded size.
func (p *prop) compare(v any, now time.Time, loc *time.Location) bool {
	switch p.op {
	case opExact:
		return p.in(stringOf(v))
	case opIsNot:
		return !p.in(stringOf(v))
	}
	if v == nil {
		return false
	}
	switch p.op {
	case opIContains:
		return strings.Contains(lower(stringOf(v)), p.s)
	case opNotIContains:
		return !strings.Contains(lower(stringOf(v)), p.s)
	case opIContainsMulti, opNotIContainsMulti:
		s := lower(stringOf(v))
		hit := false
		for _, x := range p.strs {
			if strings.Contains(s, x) {
				hit = true
				break
			}
		}
		return hit == (p.op == opIContainsMulti)
	case opStartsWith:
		return strings.HasPrefix(lower(stringOf(v)), p.s)
	case opNotStartsWith:
		return !strings.HasPrefix(lower(stringOf(v)), p.s)
	case opEndsWith:
		return strings.HasSuffix(lower(stringOf(v)), p.s)
	case opNotEndsWith:
		return !strings.HasSuffix(lower(stringOf(v)), p.s)
	case opRegex:
		return p.re.MatchString(stringOf(v))
	case opNotRegex:
		return !p.re.MatchString(stringOf(v))
	case opGt, opGte, opLt, opLte:
		x, ok := numberOf(v)
		if !ok {
			return false
		}
		switch p.op {
		case opGt:
			return x > p.lo
		case opGte:
			return x >= p.lo
		case opLt:
			return x < p.lo
		default:
			return x <= p.lo
		}
	case opBetween, opNotBetween:
		x, ok := numberOf(v)
		if !ok || math.IsNaN(x) {
			return false
		}
		in := x >= p.lo && x <= p.hi
		return in == (p.op == opBetween)
	case opDateBefore, opDateAfter, opDateExact:
		t, ok := dateOf(v, loc)
		if !ok {
			return false
		}
		ref := p.date
		if p.isRel {
			ref = p.rel.from(now, loc)
		}
		switch p.op {
		case opDateBefore:
			return t.Before(ref)
		case opDateAfter:
			return t.After(ref)
		default:
			return t.Equal(ref)
		}
	case opSemverEq, opSemverNeq, opSemverGt, opSemverGte, opSemverLt, opSemverLte,
		opSemverTilde, opSemverCaret, opSemverWildcard:
		sv, ok := parseSemver(stringOf(v))
		if !ok {
			return false
		}
		c := sv.cmp(p.svLo)
		switch p.op {
		case opSemverEq:
			return c == 0
		case opSemverNeq:
			return c != 0
		case opSemverGt:
			return c > 0
		case opSemverGte:
			return c >= 0
		case opSemverLt:
			return c < 0
		case opSemverLte:
			return c <= 0
		default:
			return c >= 0 && sv.cmp(p.svHi) < 0
		}
	}
	return false
}

// in reports whether s equals one of the filter's values, ignoring case.
func (p *prop) in(s string) bool {
	if p.set != nil {
		_, ok := p.set[lower(s)]
		return ok
	}
	for _, x := range p.strs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
