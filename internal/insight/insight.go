// Package insight defines the query specs of POST /api/v1/query (SPEC §4),
// their validation, and their results. Stores compile a spec into their own
// SQL; nothing here is store specific.
package insight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is a bad query: the API answers 400 naming Field.
type Error struct {
	Field, Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid field %q: %s", e.Field, e.Msg) }

func bad(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Bad returns an *Error for a query a store refuses (the API answers 400).
func Bad(field, format string, args ...any) *Error { return bad(field, format, args...) }

// Filter is a property filter. Ops: eq, neq, contains, gt, lt, is_set, in,
// regex (RE2). Type says whose property it is: "event" (the default) or
// "person"; or "element": Property is text, href, selector or tag_name of
// the event's $elements_chain (see ElementProperties); or it is "cohort":
// the actor is in (op "in", the default) or not in ("not_in") a cohort
// given by id in Value (resolved by the API) or inline in Cohort.
type Filter struct {
	Type     string     `json:"type,omitempty"`
	Property string     `json:"property,omitempty"`
	Op       string     `json:"op,omitempty"`
	Value    any        `json:"value,omitempty"`
	Cohort   *CohortDef `json:"cohort,omitempty"`
}

// CohortDef defines a cohort: a static list of distinct ids, or persons who
// did (or did not) do an event at least MinCount times in the Days before
// the query's end.
type CohortDef struct {
	DistinctIDs []string  `json:"distinct_ids,omitempty"`
	Behavior    *Behavior `json:"behavior,omitempty"`
}

// Behavior is a behavioural cohort rule.
type Behavior struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Did      *bool      `json:"did,omitempty"`
	Days     int        `json:"days"`
	MinCount int        `json:"min_count,omitempty"`
}

// Validate checks a cohort definition.
func (c *CohortDef) Validate(field string) error {
	switch {
	case c.Behavior == nil && len(c.DistinctIDs) == 0:
		return bad(field, "give distinct_ids or behavior")
	case c.Behavior != nil && len(c.DistinctIDs) > 0:
		return bad(field, "give distinct_ids or behavior, not both")
	case len(c.DistinctIDs) > 10_000:
		return bad(field+".distinct_ids", "at most 10000 ids")
	case c.Behavior != nil:
		b := c.Behavior
		if err := eventOrAction(field+".behavior", b.Event, &b.Action, &b.ActionID); err != nil {
			return err
		}
		if b.Days < 1 || b.Days > 3660 {
			return bad(field+".behavior.days", "must be 1..3660")
		}
		if b.MinCount == 0 {
			b.MinCount = 1
		}
		if b.MinCount < 1 {
			return bad(field+".behavior.min_count", "must be at least 1")
		}
	}
	return nil
}

// CohortID returns the id of a cohort filter that still needs resolving.
func (f *Filter) CohortID() (int64, bool) {
	if f.Type != "cohort" || f.Cohort != nil {
		return 0, false
	}
	switch v := f.Value.(type) {
	case json.Number:
		id, err := v.Int64()
		return id, err == nil
	case float64:
		return int64(v), true
	}
	return 0, false
}

// Range is the [From, To) time range every query has, with the filters,
// unit and breakdown every kind accepts.
type Range struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Filters []Filter  `json:"filters,omitempty"`
	// Unit is what is counted: "person" (default) or "group:<type>".
	Unit      string     `json:"unit,omitempty"`
	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// Breakdown splits results by a property's values (top Limit, the rest
// as "$other").
type Breakdown struct {
	Type     string `json:"type,omitempty"` // event (default) or person
	Property string `json:"property"`
	Limit    int    `json:"limit,omitempty"`
}

// GroupType returns the group type when the unit is "group:<type>".
func (r *Range) GroupType() string {
	t, _ := strings.CutPrefix(r.Unit, "group:")
	if t == r.Unit {
		return ""
	}
	return t
}

// Series is one line of a trend.
type Series struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Math     string     `json:"math,omitempty"`
	Property string     `json:"property,omitempty"`
	Filters  []Filter   `json:"filters,omitempty"`
	Label    string     `json:"label,omitempty"`
}

// Trend is {"kind":"trend"}.
type Trend struct {
	Series   []Series `json:"series"`
	Interval string   `json:"interval"`
	// Formula combines series by letter (A is the first), e.g. "B/A*100";
	// the result then holds the formula's series only.
	Formula string `json:"formula,omitempty"`
	// Compare adds the previous period of the same length.
	Compare bool `json:"compare,omitempty"`
	Range
}

// Point is one bucket of a series; T is the bucket start in the project
// timezone, formatted as a date (or date and hour for hourly trends).
type Point struct {
	T     string  `json:"t"`
	Value float64 `json:"value"`
}

// SeriesResult is one series of a trend result.
type SeriesResult struct {
	Label          string  `json:"label"`
	Points         []Point `json:"points"`
	BreakdownValue *string `json:"breakdown_value,omitempty"`
	Compare        string  `json:"compare,omitempty"` // "previous" for the comparison period
	index          int     // which Series it came from, for formulas
}

// TrendResult is the answer to a Trend.
type TrendResult struct {
	Kind   string         `json:"kind"`
	Series []SeriesResult `json:"series"`
}

// Spec is a query of one kind.
type Spec interface {
	Validate() error
}

// Query is a parsed, validated query.
type Query struct {
	Kind string
	Spec Spec
}

// kinds maps "kind" to a new empty spec.
var kinds = map[string]func() Spec{
	"trend":      func() Spec { return &Trend{} },
	"sql":        func() Spec { return &SQL{} },
	"paths":      func() Spec { return &Paths{} },
	"journey":    func() Spec { return &Journey{} },
	"kpi":        func() Spec { return &KPI{} },
	"funnel":     func() Spec { return &Funnel{} },
	"retention":  func() Spec { return &Retention{} },
	"stickiness": func() Spec { return &Stickiness{} },
	"lifecycle":  func() Spec { return &Lifecycle{} },
	"bad_days":   func() Spec { return &BadDays{} },
}

// Kinds lists the query kinds, for error messages and docs.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MaxRange bounds a query's time range so one request cannot scan forever.
const MaxRange = 5 * 366 * 24 * time.Hour

// Parse decodes and validates a query body.
func Parse(body []byte) (*Query, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, bad("body", "cannot decode JSON: %v", err)
	}
	if head.Kind == "" {
		return nil, bad("kind", "missing (one of %s)", strings.Join(Kinds(), ", "))
	}
	newSpec, ok := kinds[head.Kind]
	if !ok {
		return nil, bad("kind", "unknown kind %q (one of %s)", head.Kind, strings.Join(Kinds(), ", "))
	}
	spec := newSpec()
	if err := strictDecode(body, spec); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return &Query{Kind: head.Kind, Spec: spec}, nil
}

// Filters returns the query-level filters of a spec (nil for sql), so
// the API can resolve cohort ids in one place.
func Filters(spec Spec) []Filter {
	if r, ok := spec.(interface{ rangeOf() *Range }); ok {
		return r.rangeOf().Filters
	}
	return nil
}

func (r *Range) rangeOf() *Range { return r }

func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			return bad(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		return bad("body", "cannot decode query: %v", err)
	}
	return nil
}

func (r *Range) validate() error {
	if r.From.IsZero() {
		return bad("from", "missing (RFC 3339 time)")
	}
	if r.To.IsZero() {
		return bad("to", "missing (RFC 3339 time)")
	}
	if !r.To.After(r.From) {
		return bad("to", "must be after from")
	}
	if r.To.Sub(r.From) > MaxRange {
		return bad("to", "range longer than %s", MaxRange)
	}
	switch {
	case r.Unit == "", r.Unit == "person":
	case strings.HasPrefix(r.Unit, "group:") && len(r.Unit) > len("group:"):
	default:
		return bad("unit", "unknown unit %q (person or group:<type>)", r.Unit)
	}
	if b := r.Breakdown; b != nil {
		if b.Property == "" {
			return bad("breakdown.property", "missing")
		}
		if b.Type != "" && b.Type != "event" && b.Type != "person" {
			return bad("breakdown.type", "unknown type %q (event, person)", b.Type)
		}
		if b.Limit == 0 {
			b.Limit = 10
		}
		if b.Limit < 1 || b.Limit > 100 {
			return bad("breakdown.limit", "must be 1..100")
		}
	}
	if r.GroupType() != "" {
		for i, f := range r.Filters {
			if f.Type == "cohort" {
				return bad(fmt.Sprintf("filters[%d].type", i), "cohorts are sets of persons; they cannot filter a query whose unit is %s", r.Unit)
			}
		}
	}
	return validateFilters("filters", r.Filters, true)
}

// countMaths need no property.
var countMaths = map[string]bool{"total": true, "dau": true, "wau": true, "mau": true}

var intervals = map[string]bool{"hour": true, "day": true, "week": true, "month": true}

// Maths supported by trends.
var Maths = map[string]bool{"total": true, "dau": true, "wau": true, "mau": true, "sum": true, "avg": true, "min": true, "max": true, "p50": true, "p90": true, "p99": true}

// Validate fills defaults and checks the fields.
func (t *Trend) Validate() error {
	if err := t.Range.validate(); err != nil {
		return err
	}
	if t.Interval == "" {
		t.Interval = "day"
	}
	if !intervals[t.Interval] {
		return bad("interval", "unknown interval %q (hour, day, week, month)", t.Interval)
	}
	if t.Interval == "hour" && t.To.Sub(t.From) > 31*24*time.Hour {
		return bad("interval", "hourly trends cover at most 31 days")
	}
	if len(t.Series) == 0 {
		return bad("series", "at least one series is needed")
	}
	if len(t.Series) > 20 {
		return bad("series", "at most 20 series")
	}
	if t.Formula != "" {
		if _, err := parseFormula(t.Formula, len(t.Series)); err != nil {
			return bad("formula", "%v", err)
		}
	}
	for i := range t.Series {
		s := &t.Series[i]
		field := fmt.Sprintf("series[%d]", i)
		if err := eventOrAction(field, s.Event, &s.Action, &s.ActionID); err != nil {
			return err
		}
		if s.Math == "" {
			s.Math = "total"
		}
		if !Maths[s.Math] {
			return bad(field+".math", "unknown math %q", s.Math)
		}
		if !countMaths[s.Math] && s.Property == "" {
			return bad(field+".property", "math %q needs a property", s.Math)
		}
		if s.Label == "" {
			s.Label = labelOf(s.Event, s.Action)
		}
		if err := validateFilters(field+".filters", s.Filters, false); err != nil {
			return err
		}
	}
	return nil
}

var ops = map[string]bool{"eq": true, "neq": true, "contains": true, "gt": true, "lt": true, "is_set": true, "in": true, "regex": true}

// ElementProperties are what an element filter reads of the chain, with
// the ops each takes: text (any element's text) and href (the first link
// target, as PostHog reads it) compare as strings, contains ignoring case;
// selector (a CSS selector, see SelectorRegex) and tag_name match or not.
var ElementProperties = map[string]map[string]bool{
	"text":     {"eq": true, "neq": true, "contains": true, "regex": true, "in": true, "is_set": true},
	"href":     {"eq": true, "neq": true, "contains": true, "regex": true, "in": true, "is_set": true},
	"selector": {"eq": true, "neq": true},
	"tag_name": {"eq": true, "neq": true},
}

// validateFilters checks filters; cohort filters are allowed only in the
// query's top-level filters (top), where the API resolves their ids.
func validateFilters(field string, fs []Filter, top bool) error {
	for i, f := range fs {
		name := fmt.Sprintf("%s[%d]", field, i)
		switch f.Type {
		case "", "event", "person":
		case "element":
			if err := validateElementFilter(name, f); err != nil {
				return err
			}
			continue
		case "cohort":
			if !top {
				return bad(name+".type", "a cohort filter applies to the whole query: put it in the top-level filters")
			}
			if f.Op != "" && f.Op != "in" && f.Op != "not_in" {
				return bad(name+".op", "unknown op %q for a cohort (in, not_in)", f.Op)
			}
			if f.Cohort != nil {
				if err := f.Cohort.Validate(name + ".cohort"); err != nil {
					return err
				}
			} else if _, ok := f.CohortID(); !ok {
				return bad(name+".value", "a cohort filter needs a cohort id or an inline cohort")
			}
			continue
		default:
			return bad(name+".type", "unknown filter type %q (event, person, element, cohort)", f.Type)
		}
		if f.Property == "" {
			return bad(name+".property", "missing")
		}
		if !ops[f.Op] {
			return bad(name+".op", "unknown op %q (eq, neq, contains, gt, lt, is_set, in, regex)", f.Op)
		}
		if err := validateValue(name, f); err != nil {
			return err
		}
	}
	return nil
}

// validateElementFilter checks a filter on the elements chain.
func validateElementFilter(name string, f Filter) error {
	allowed, ok := ElementProperties[f.Property]
	if !ok {
		return bad(name+".property", "unknown element property %q (text, href, selector, tag_name)", f.Property)
	}
	if !allowed[f.Op] {
		return bad(name+".op", "op %q does not apply to element %s", f.Op, f.Property)
	}
	if err := validateValue(name, f); err != nil {
		return err
	}
	s, _ := f.Value.(string)
	if len(s) > maxPatternLen {
		return bad(name+".value", "at most %d bytes", maxPatternLen)
	}
	switch f.Property {
	case "selector":
		if _, err := SelectorRegex(s); err != nil {
			return bad(name+".value", "%v", err)
		}
	case "tag_name":
		if !tagName.MatchString(s) {
			return bad(name+".value", "%q is not a tag name", s)
		}
	}
	return nil
}

// validateValue checks a filter's value for its op.
func validateValue(name string, f Filter) error {
	switch f.Op {
	case "in":
		if _, ok := f.Value.([]any); !ok {
			return bad(name+".value", "op in needs a list")
		}
	case "is_set":
	case "regex":
		s, ok := f.Value.(string)
		if !ok {
			return bad(name+".value", "op regex needs a string")
		}
		if err := validRegex(s); err != nil {
			return bad(name+".value", "%v", err)
		}
	default:
		if f.Value == nil {
			return bad(name+".value", "missing")
		}
		if _, ok := f.Value.(string); !ok && (f.Type == "element") {
			return bad(name+".value", "want a string")
		}
	}
	return nil
}

// Buckets lists the bucket starts of [from, to) in loc for an interval,
// so a trend has a point for every bucket, empty ones included.
func Buckets(from, to time.Time, loc *time.Location, interval string) []time.Time {
	var out []time.Time
	for t := Truncate(from.In(loc), interval); t.Before(to); t = next(t, interval) {
		out = append(out, t)
	}
	return out
}

// Truncate returns the start of the bucket holding t (t in the project zone).
func Truncate(t time.Time, interval string) time.Time {
	y, m, d := t.Date()
	loc := t.Location()
	switch interval {
	case "hour":
		return time.Date(y, m, d, t.Hour(), 0, 0, 0, loc)
	case "week": // ISO weeks start on Monday
		wd := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-wd, 0, 0, 0, 0, loc)
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
}

// BucketEnd returns the start of the bucket after the one starting at t.
func BucketEnd(t time.Time, interval string) time.Time { return next(t, interval) }

func next(t time.Time, interval string) time.Time {
	y, m, d := t.Date()
	switch interval {
	case "hour":
		return t.Add(time.Hour)
	case "week":
		return time.Date(y, m, d+7, 0, 0, 0, 0, t.Location())
	case "month":
		return time.Date(y, m+1, 1, 0, 0, 0, 0, t.Location())
	default:
		return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
	}
}

// Label formats a bucket start as the result's "t".
func Label(t time.Time, interval string) string {
	if interval == "hour" {
		return t.Format("2006-01-02T15:00")
	}
	return t.Format("2006-01-02")
}

// ValueString renders a filter value the way stores render a stored JSON
// value as text, so 5, "5" and true compare as users expect.
func ValueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// ValueFloat reads a filter value as a number (0 when it is not one).
func ValueFloat(v any) float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case float64:
		return x
	case int:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f
	}
	return 0
}
