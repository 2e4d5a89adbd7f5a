package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Cohorts holds cohort definitions in PostHog's local-evaluation shape
// (what /flags/definitions?send_cohorts serves):
//
//	{"<id>": {"type":"AND"|"OR", "values":[ property, or nested group, … ]}}
//
// with person properties ({"key","value","operator","type":"person",
// "negation"}) and references to other cohorts ({"key":"id",
// "type":"cohort","value":<id>}). It is a CohortMatcher: membership is
// computed from the subject's person properties. A cohort it has no
// definition for, or one with filters it cannot compute (behavioural,
// static), goes to Fallback.
//
// Each membership check computes every cohort it needs once (a cohort
// referenced twice is not computed twice), and spends at most
// MaxRegexWork on regexes; ForEvaluation extends both to every check of
// one evaluation.
type Cohorts struct {
	defs map[string]*cohortDef
	loc  *time.Location
	// Fallback answers the cohorts the definitions cannot (nil: an error).
	Fallback CohortMatcher
	session  *cohortSession // ForEvaluation's; nil: one per InCohort
}

type cohortDef struct {
	root        cgroup
	unsupported string // why membership cannot be computed here
	refs        []string
	regexInsts  int // MaxFlagRegexProgram, per definition
}

// cohortSession is what membership checks for one subject at one time
// share: the cohorts computed so far and the regex budget left.
type cohortSession struct {
	subject *Subject
	now     time.Time
	memo    map[string]cohortResult
	work    budget
}

type cohortResult struct {
	in  bool
	err error
}

type cgroup struct {
	and   bool
	items []citem
}

type citem struct {
	group *cgroup
	prop  *prop
}

// ErrUnknownCohort is wrapped by the error for a cohort that is neither
// defined nor answered by a Fallback.
var ErrUnknownCohort = errors.New("cohort cannot be evaluated")

// maxCohortDepth bounds nesting (groups within groups, cohorts within
// cohorts).
const maxCohortDepth = 32

// CompileCohorts reads cohort definitions (naive dates in loc; nil is
// UTC). Errors name the field, e.g. "cohorts.7.values[0].operator".
func CompileCohorts(defs map[string]json.RawMessage, loc *time.Location) (*Cohorts, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Cohorts{defs: make(map[string]*cohortDef, len(defs)), loc: loc}
	var errs Errors
	ids := make([]string, 0, len(defs))
	for id := range defs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var v any
		dec := json.NewDecoder(bytes.NewReader(defs[id]))
		dec.UseNumber()
		path := "cohorts." + id
		if err := dec.Decode(&v); err != nil {
			errs.add(path, "must be a JSON object")
			continue
		}
		def := &cohortDef{}
		cc := cohortCompiler{errs: &errs, loc: loc, def: def}
		if m, ok := v.(map[string]any); ok {
			if inner, has := m["properties"]; has && m["values"] == nil {
				v, path = inner, path+".properties"
			}
		}
		if g, ok := cc.group(path, v, 0); ok {
			def.root = *g
		}
		c.defs[id] = def
	}
	// Cycles would recurse forever.
	state := map[string]int{}
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case 1:
			return false
		case 2:
			return true
		}
		state[id] = 1
		if d := c.defs[id]; d != nil {
			for _, r := range d.refs {
				if !visit(r) {
					return false
				}
			}
		}
		state[id] = 2
		return true
	}
	cycle := false
	for _, id := range ids {
		if !visit(id) {
			errs.add("cohorts."+id, "cohorts refer to each other in a cycle")
			cycle = true
			break
		}
	}
	// Chains of references are bounded as nesting is, here rather than
	// while evaluating, so that a cohort's membership does not depend on
	// where it is referenced from (and can be computed once).
	height := map[string]int{}
	var chain func(id string) int
	chain = func(id string) int {
		if h, ok := height[id]; ok {
			return h
		}
		h := 1
		if d := c.defs[id]; d != nil {
			for _, r := range d.refs {
				h = max(h, 1+chain(r))
			}
		}
		height[id] = h
		return h
	}
	for _, id := range ids {
		if cycle {
			break
		}
		if chain(id) > maxCohortDepth+1 {
			errs.add("cohorts."+id, fmt.Sprintf("cohorts refer to each other more than %d deep", maxCohortDepth))
			break
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

type cohortCompiler struct {
	errs *Errors
	loc  *time.Location
	def  *cohortDef
}

func (cc *cohortCompiler) group(path string, v any, depth int) (*cgroup, bool) {
	if depth > maxCohortDepth {
		cc.errs.add(path, "nested too deeply")
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		cc.errs.add(path, "must be a property group {type, values}")
		return nil, false
	}
	g := &cgroup{and: true}
	if len(m) == 0 {
		return g, true // PostHog's empty group: everyone
	}
	switch m["type"] {
	case "AND":
	case "OR":
		g.and = false
	default:
		cc.errs.add(path+".type", "must be AND or OR")
		return nil, false
	}
	values, ok := m["values"].([]any)
	if !ok && m["values"] != nil {
		cc.errs.add(path+".values", "must be a list")
		return nil, false
	}
	for i, x := range values {
		ip := fmt.Sprintf("%s.values[%d]", path, i)
		xm, ok := x.(map[string]any)
		if !ok {
			cc.errs.add(ip, "must be an object")
			continue
		}
		_, nested := xm["values"]
		if t := xm["type"]; nested || t == "AND" || t == "OR" || len(xm) == 0 {
			if sub, ok := cc.group(ip, xm, depth+1); ok {
				g.items = append(g.items, citem{group: sub})
			}
			continue
		}
		if p, ok := cc.property(ip, xm); ok {
			g.items = append(g.items, citem{prop: p})
		}
	}
	return g, true
}

func (cc *cohortCompiler) property(path string, m map[string]any) (*prop, bool) {
	p := Property{Operator: stringField(m, "operator"), Type: stringField(m, "type"), Value: m["value"]}
	switch k := m["key"].(type) {
	case string:
		p.Key = k
	case json.Number:
		p.Key = string(k)
	}
	if neg, ok := m["negation"].(bool); ok {
		p.Negation = neg
	}
	switch p.Type {
	case "", TypePerson, TypeCohort:
	case TypeFlag:
		cc.errs.add(path+".type", "flag dependencies in cohorts are not supported")
		return nil, false
	default:
		// behavioral, static-cohort, precalculated-cohort, …: membership
		// comes from stored data, not properties.
		if cc.def.unsupported == "" {
			cc.def.unsupported = fmt.Sprintf("%s: %q filters need stored membership", path, p.Type)
		}
		return nil, false
	}
	if p.Type == TypeCohort && p.Operator == "" {
		p.Operator = "in"
	}
	out, ok := compileProp(cc.errs, path, &p, cc.loc, propContext{regexInsts: &cc.def.regexInsts})
	if !ok {
		return nil, false
	}
	if out.src == srcCohort {
		cc.def.refs = append(cc.def.refs, out.cohort)
	}
	return &out, true
}

func stringField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Has reports whether id has a definition membership can be computed from.
func (c *Cohorts) Has(id string) bool {
	d, ok := c.defs[id]
	return ok && d.unsupported == ""
}

// ForEvaluation is c for the membership checks of one evaluation (one
// subject, one time): each cohort is computed once for all of them, the
// Fallback's answers included, and they share one regex budget. The
// subject must not change between checks (a check for another subject or
// time starts afresh). It is not safe for concurrent use; c itself stays
// shareable.
func (c *Cohorts) ForEvaluation() *Cohorts {
	d := *c
	d.session = &cohortSession{}
	return &d
}

// InCohort implements CohortMatcher.
func (c *Cohorts) InCohort(id string, s *Subject, now time.Time) (bool, error) {
	ss := c.session
	if ss == nil {
		ss = &cohortSession{}
	}
	if ss.memo == nil || ss.subject != s || !ss.now.Equal(now) {
		*ss = cohortSession{subject: s, now: now, memo: map[string]cohortResult{}, work: newBudget()}
	}
	return c.in(id, s, now, 0, ss)
}

func (c *Cohorts) in(id string, s *Subject, now time.Time, depth int, ss *cohortSession) (bool, error) {
	if r, ok := ss.memo[id]; ok {
		return r.in, r.err
	}
	in, err := c.compute(id, s, now, depth, ss)
	ss.memo[id] = cohortResult{in, err}
	return in, err
}

func (c *Cohorts) compute(id string, s *Subject, now time.Time, depth int, ss *cohortSession) (bool, error) {
	d, ok := c.defs[id]
	if !ok || d.unsupported != "" {
		if c.Fallback != nil {
			return c.Fallback.InCohort(id, s, now)
		}
		if !ok {
			return false, fmt.Errorf("%w: cohort %s is not defined", ErrUnknownCohort, id)
		}
		return false, fmt.Errorf("%w: cohort %s: %s", ErrUnknownCohort, id, d.unsupported)
	}
	if depth > maxCohortDepth {
		// CompileCohorts refuses such chains; kept as a guard.
		return false, fmt.Errorf("%w: cohort %s nests too deeply", ErrUnknownCohort, id)
	}
	return c.group(&d.root, s, now, depth, ss)
}

// group: AND needs every item, OR one; an item that errors decides
// nothing, and the group errors only if no other item decided it.
func (c *Cohorts) group(g *cgroup, s *Subject, now time.Time, depth int, ss *cohortSession) (bool, error) {
	if len(g.items) == 0 {
		return true, nil // an empty group is everyone
	}
	var firstErr error
	for i := range g.items {
		it := &g.items[i]
		var m bool
		var err error
		switch {
		case it.group != nil:
			m, err = c.group(it.group, s, now, depth, ss)
		case it.prop.src == srcCohort:
			m, err = c.in(it.prop.cohort, s, now, depth+1, ss)
			m = (m != (it.prop.op == opCohortNotIn)) != it.prop.negate
		default:
			v, present := s.PersonProperties[it.prop.key]
			m, err = it.prop.matchValue(v, present, now, c.loc, &ss.work)
			m = m != it.prop.negate
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if m != g.and {
			return m, nil
		}
	}
	if firstErr != nil {
		return false, firstErr
	}
	return g.and, nil
}
