package flags

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Subject is who a flag is evaluated for.
type Subject struct {
	DistinctID string
	// HashOverride is the id the person was first bucketed with (their
	// anonymous id), stored by the caller; flags with experience
	// continuity bucket by it instead of DistinctID.
	HashOverride string
	// PersonProperties are the person's properties (request overrides
	// already merged in); numbers may be float64, json.Number or any Go
	// number, dates strings, Unix seconds or time.Time.
	PersonProperties map[string]any
	// Groups maps a group type name to the group key ("company" → "acme").
	Groups map[string]string
	// GroupProperties maps a group type name to that group's properties.
	GroupProperties map[string]map[string]any
}

// Env is what evaluation needs beyond the subject; the zero value works.
type Env struct {
	// GroupTypes maps a group type index to its name (PostHog's
	// group_type_mapping).
	GroupTypes map[int]string
	// Cohorts answers cohort filters; nil fails them (with Result.Err).
	Cohorts CohortMatcher
	// Flags resolves flag dependencies by key (or id); nil means the
	// flags given to EvaluateAll.
	Flags map[string]*Compiled
	// Now anchors relative dates; zero means time.Now().
	Now time.Time
}

// CohortMatcher decides cohort membership. *Cohorts (PostHog's
// local-evaluation cohort definitions) is one; a caller with stored
// memberships (static or computed cohorts) brings its own.
type CohortMatcher interface {
	InCohort(id string, s *Subject, now time.Time) (bool, error)
}

// CohortFunc adapts a function to CohortMatcher.
type CohortFunc func(id string, s *Subject, now time.Time) (bool, error)

// InCohort calls f.
func (f CohortFunc) InCohort(id string, s *Subject, now time.Time) (bool, error) {
	return f(id, s, now)
}

// Reason is why a flag has its value: PostHog's reason codes.
type Reason string

// Reasons, in PostHog's order of precedence when no condition matches.
const (
	ReasonConditionMatch   Reason = "condition_match"
	ReasonOutOfRollout     Reason = "out_of_rollout_bound"
	ReasonNoConditionMatch Reason = "no_condition_match"
	ReasonNoGroupType      Reason = "no_group_type"
	ReasonDisabled         Reason = "flag_disabled"
)

func (r Reason) score() int {
	switch r {
	case ReasonConditionMatch:
		return 4
	case ReasonOutOfRollout:
		return 3
	case ReasonNoConditionMatch:
		return 2
	case ReasonNoGroupType:
		return 1
	}
	return 0
}

// Description is PostHog's text for the reason (condition is the
// condition index, -1 for none).
func (r Reason) Description(condition int) string {
	switch r {
	case ReasonConditionMatch:
		if condition < 0 {
			condition = 0
		}
		return "Matched condition set " + strconv.Itoa(condition+1)
	case ReasonNoConditionMatch:
		return "No matching condition set"
	case ReasonOutOfRollout:
		return "Out of rollout bound"
	case ReasonNoGroupType:
		return "No group type"
	case ReasonDisabled:
		return "Feature flag is disabled"
	}
	return string(r)
}

// Result is one flag's value for one subject.
type Result struct {
	Key     string
	ID      int64
	Version int64
	Enabled bool
	// Variant is the variant of an enabled multivariate flag, else "".
	Variant string
	// Payload is the payload of the value ("true" or the variant), or nil.
	Payload json.RawMessage
	Reason  Reason
	// ConditionIndex is the deciding condition, -1 for none.
	ConditionIndex int
	// Err says some filter could not be evaluated (a cohort the matcher
	// failed on, a missing or circular flag dependency); such filters do
	// not match, and the answer may differ from a complete one
	// (/flags' errorsWhileComputingFlags).
	Err error
}

// Value is the flag's value as the SDKs see it: the variant, or whether
// it is enabled.
func (r Result) Value() any {
	if r.Enabled && r.Variant != "" {
		return r.Variant
	}
	return r.Enabled
}

// Evaluate evaluates one flag for s.
func Evaluate(c *Compiled, s *Subject, env *Env) Result {
	e := newEvaluator(s, env, nil)
	return e.eval(c)
}

// EvaluateAll evaluates each flag for s, in order; a flag may depend on
// another in the list (or in env.Flags).
func EvaluateAll(cs []*Compiled, s *Subject, env *Env) []Result {
	e := newEvaluator(s, env, cs)
	out := make([]Result, len(cs))
	for i, c := range cs {
		out[i] = e.eval(c)
	}
	return out
}

type evaluator struct {
	s     *Subject
	env   *Env
	now   time.Time
	list  []*Compiled
	byKey map[string]*Compiled // lazily, for dependencies
	memo  map[*Compiled]Result
	busy  map[*Compiled]bool
	work  budget // regex matching left (MaxRegexWork)
}

var emptySubject Subject

var emptyEnv Env

func newEvaluator(s *Subject, env *Env, list []*Compiled) evaluator {
	if s == nil {
		s = &emptySubject
	}
	if env == nil {
		env = &emptyEnv
	}
	now := env.Now
	if now.IsZero() {
		now = time.Now()
	}
	return evaluator{s: s, env: env, now: now, list: list, work: newBudget()}
}

func (e *evaluator) eval(c *Compiled) Result {
	if r, ok := e.memo[c]; ok {
		return r
	}
	if c.deps {
		// A flag in a dependency cycle finds itself busy.
		if e.busy == nil {
			e.busy = map[*Compiled]bool{}
		}
		e.busy[c] = true
		defer delete(e.busy, c)
	}
	r := e.compute(c)
	if e.memo != nil {
		e.memo[c] = r
	}
	return r
}

func (e *evaluator) compute(c *Compiled) Result {
	f := c.flag
	r := Result{Key: f.Key, ID: f.ID, Version: f.Version, ConditionIndex: -1}
	if !f.Active {
		r.Reason = ReasonDisabled
		return r
	}
	if len(c.conds) == 0 {
		r.Reason = ReasonNoConditionMatch
		return r
	}
	best, bestIdx := ReasonNoGroupType, -1
	for i := range c.conds {
		cd := &c.conds[i]
		id, ok := e.bucketID(c, cd.agg)
		reason := ReasonNoGroupType
		matched := false
		if ok {
			matched, reason = e.condition(c, cd, id, &r)
		}
		// PostHog keeps the most telling reason, the later condition on a tie.
		if reason.score() >= best.score() {
			best, bestIdx = reason, i
		}
		if matched {
			variant := cd.variant
			if variant == "" {
				variant = c.variantFor(id)
			}
			r.Enabled, r.Variant = true, variant
			r.Reason, r.ConditionIndex = ReasonConditionMatch, i
			key := variant
			if key == "" {
				key = "true"
			}
			r.Payload = c.payloads[key]
			return r
		}
	}
	r.Reason, r.ConditionIndex = best, bestIdx
	return r
}

// bucketID is the id a condition hashes: the group key for a group
// aggregation (false when the subject has none), else the hash override
// for experience continuity, else the distinct id.
func (e *evaluator) bucketID(c *Compiled, agg int) (string, bool) {
	if agg >= 0 {
		name, ok := e.env.GroupTypes[agg]
		if !ok {
			return "", false
		}
		key := e.s.Groups[name]
		return key, key != ""
	}
	if c.flag.EnsureExperienceContinuity && e.s.HashOverride != "" {
		return e.s.HashOverride, true
	}
	return e.s.DistinctID, true
}

func (e *evaluator) condition(c *Compiled, cd *cond, id string, r *Result) (bool, Reason) {
	for i := range cd.props {
		ok, err := e.property(c, cd, &cd.props[i], id)
		if err != nil && r.Err == nil {
			r.Err = err
		}
		if !ok {
			return false, ReasonNoConditionMatch
		}
	}
	if cd.all || bucket(c.hashPrefix, id, "") <= cd.threshold {
		return true, ReasonConditionMatch
	}
	return false, ReasonOutOfRollout
}

func (e *evaluator) property(c *Compiled, cd *cond, p *prop, id string) (bool, error) {
	switch p.src {
	case srcBucket:
		return p.matchBucket(id) != p.negate, nil
	case srcCohort:
		if e.env.Cohorts == nil {
			return false, fmt.Errorf("cohort %s: no cohort definitions or memberships given", p.cohort)
		}
		in, err := e.env.Cohorts.InCohort(p.cohort, e.s, e.now)
		if err != nil {
			return false, err
		}
		return (in != (p.op == opCohortNotIn)) != p.negate, nil
	case srcFlag:
		ok, err := e.dependency(p)
		if err != nil {
			return false, err
		}
		return ok != p.negate, nil
	}
	v, present := e.properties(cd, p)[p.key]
	m, err := p.matchValue(v, present, e.now, c.loc, &e.work)
	if err != nil {
		return false, err
	}
	return m != p.negate, nil
}

func (e *evaluator) properties(cd *cond, p *prop) map[string]any {
	idx := cd.agg
	switch p.src {
	case srcPerson:
		return e.s.PersonProperties
	case srcGroup:
		if p.groupIndex >= 0 {
			idx = p.groupIndex
		}
	default:
		if idx < 0 {
			return e.s.PersonProperties
		}
	}
	name, ok := e.env.GroupTypes[idx]
	if !ok {
		return nil
	}
	return e.s.GroupProperties[name]
}

// ErrDependency is wrapped by the errors of flag dependencies that cannot
// be evaluated (missing or circular).
var ErrDependency = errors.New("flag dependency cannot be evaluated")

func (e *evaluator) dependency(p *prop) (bool, error) {
	dep := e.lookup(p.flagKey)
	if dep == nil {
		return false, fmt.Errorf("%w: flag %q is not defined", ErrDependency, p.flagKey)
	}
	if e.busy[dep] {
		return false, fmt.Errorf("%w: flag %q depends on itself", ErrDependency, dep.flag.Key)
	}
	if e.memo == nil {
		// From here on each flag is evaluated once (a flag evaluated
		// before, and depended on now, is evaluated again).
		e.memo = map[*Compiled]Result{}
	}
	r := e.eval(dep)
	e.memo[dep] = r
	var ok bool
	if p.wantIsBool {
		ok = r.Enabled == p.wantBool
	} else {
		ok = r.Enabled && r.Variant == p.wantStr
	}
	return ok, r.Err
}

func (e *evaluator) lookup(key string) *Compiled {
	if e.env.Flags != nil {
		if c, ok := e.env.Flags[key]; ok {
			return c
		}
		for _, c := range e.env.Flags {
			if c.flag.ID != 0 && strconv.FormatInt(c.flag.ID, 10) == key {
				return c
			}
		}
		return nil
	}
	if e.byKey == nil {
		e.byKey = make(map[string]*Compiled, 2*len(e.list))
		for _, c := range e.list {
			e.byKey[c.flag.Key] = c
		}
		for _, c := range e.list {
			if id := strconv.FormatInt(c.flag.ID, 10); c.flag.ID != 0 {
				if _, taken := e.byKey[id]; !taken {
					e.byKey[id] = c
				}
			}
		}
	}
	return e.byKey[key]
}

func (c *Compiled) variantFor(id string) string {
	if len(c.variants) == 0 {
		return ""
	}
	h := bucket(c.hashPrefix, id, "variant")
	for _, v := range c.variants {
		if h < v.max {
			return v.key
		}
	}
	return ""
}

const longScale = float64(0xFFFFFFFFFFFFFFF)

// Hash is PostHog's bucketing hash of id for the flag key: the first 15
// hex digits of sha1(key + "." + id + salt) over 0xFFFFFFFFFFFFFFF, in
// [0, 1]. Rollouts use salt "", variants "variant".
func Hash(key, id, salt string) float64 { return bucket(key+".", id, salt) }

func bucket(prefix, id, salt string) float64 {
	var buf [192]byte
	b := buf[:0]
	if n := len(prefix) + len(id) + len(salt); n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = append(b, prefix...)
	b = append(b, id...)
	b = append(b, salt...)
	sum := sha1.Sum(b)
	return float64(binary.BigEndian.Uint64(sum[:8])>>4) / longScale
}
