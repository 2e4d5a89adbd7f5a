package flags

import (
	"math"
	"strings"
	"time"
)

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
func (p *prop) matchValue(v any, present bool, now time.Time, loc *time.Location) bool {
	if !present {
		return p.op.negative()
	}
	switch p.op {
	case opIsSet:
		return true
	case opIsNotSet:
		return false
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
