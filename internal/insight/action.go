package insight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ActionDef is an action, PostHog's named event matcher: an event matches
// it when it matches any of its steps. A query names one where it could
// name an event, as {"action": 12} or {"action_id": 12}; the API resolves
// the id into the stored definition before a store runs the query, as it
// does cohorts. An inline definition ({"action": {"steps": […]}}) needs no
// resolving.
type ActionDef struct {
	ID    int64        `json:"id,omitempty"`
	Name  string       `json:"name,omitempty"`
	Steps []ActionStep `json:"steps,omitempty"`
}

// ActionStep matches the events named Event that meet every condition it
// gives (PostHog's action step; the element conditions read the event's
// $elements_chain):
//   - Text: the text of an element of the chain (text_matching exact, the
//     default; contains, case-insensitive; or regex),
//   - Href: the first link target of the chain (href_matching as text's),
//   - Selector: a CSS selector the chain matches (see SelectorRegex),
//   - TagName: an element of the chain has this tag,
//   - URL: $current_url (url_matching contains, the default and case
//     sensitive as PostHog's; exact; or regex),
//   - Filters: property filters on the event (types event and element).
//
// Unlike PostHog, which reads element conditions only on $autocapture
// steps, they apply to any event that carries a chain ($rageclick,
// $dead_click…); an event without one matches no element condition.
type ActionStep struct {
	Event        string   `json:"event"`
	Text         string   `json:"text,omitempty"`
	TextMatching string   `json:"text_matching,omitempty"`
	Href         string   `json:"href,omitempty"`
	HrefMatching string   `json:"href_matching,omitempty"`
	Selector     string   `json:"selector,omitempty"`
	TagName      string   `json:"tag_name,omitempty"`
	URL          string   `json:"url,omitempty"`
	URLMatching  string   `json:"url_matching,omitempty"`
	Filters      []Filter `json:"filters,omitempty"`
}

// Action limits.
const (
	MaxActionSteps = 50
	maxPatternLen  = 2000 // a selector, text, href or URL condition
)

// Matching modes of a step's conditions.
const (
	MatchExact    = "exact"
	MatchContains = "contains"
	MatchRegex    = "regex"
)

// UnmarshalJSON takes an action id (a bare number) or a definition.
func (a *ActionDef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		id, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("cannot read action id %s: want an integer", b)
		}
		*a = ActionDef{ID: id}
		return nil
	}
	type plain ActionDef // without this method
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // as strictDecode: filter values keep their text
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*a = ActionDef(p)
	return nil
}

// Resolved reports whether the definition is there (not only an id).
func (a *ActionDef) Resolved() bool { return a != nil && len(a.Steps) > 0 }

// Label is how results name the action: its name, else its id.
func (a *ActionDef) Label() string {
	switch {
	case a == nil:
		return ""
	case a.Name != "":
		return a.Name
	case a.ID != 0:
		return "action " + strconv.FormatInt(a.ID, 10)
	}
	return "action"
}

// Events returns the event names of the action's steps, each once.
func (a *ActionDef) Events() []string {
	var out []string
	for _, s := range a.Steps {
		if !slices.Contains(out, s.Event) {
			out = append(out, s.Event)
		}
	}
	return out
}

// EventNames returns the event names an event or action matches: the
// event, or the action's steps' events (none for an unresolved action).
func EventNames(event string, a *ActionDef) []string {
	if a != nil {
		return a.Events()
	}
	return []string{event}
}

// Validate checks an action at field. An id alone passes (the API
// resolves it and validates again); a definition must have valid steps.
func (a *ActionDef) Validate(field string) error {
	if len(a.Steps) == 0 {
		if a.ID > 0 {
			return nil
		}
		return bad(field, "give an action id or steps")
	}
	return ValidateSteps(field+".steps", a.Steps)
}

// ValidateSteps checks an action's steps (at least one) and fills their
// defaults.
func ValidateSteps(field string, steps []ActionStep) error {
	if len(steps) == 0 {
		return bad(field, "an action needs at least one step")
	}
	if len(steps) > MaxActionSteps {
		return bad(field, "at most %d steps", MaxActionSteps)
	}
	for i := range steps {
		if err := steps[i].validate(fmt.Sprintf("%s[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *ActionStep) validate(field string) error {
	if s.Event == "" {
		return bad(field+".event", "missing (a step matches one event name, e.g. $autocapture or $pageview)")
	}
	for _, c := range []struct {
		name, value string
		mode        *string
		def         string
	}{
		{"text", s.Text, &s.TextMatching, MatchExact},
		{"href", s.Href, &s.HrefMatching, MatchExact},
		{"url", s.URL, &s.URLMatching, MatchContains},
	} {
		if err := validMatching(field, c.name, c.value, c.mode, c.def); err != nil {
			return err
		}
	}
	if len(s.Selector) > maxPatternLen {
		return bad(field+".selector", "at most %d bytes", maxPatternLen)
	}
	if s.Selector != "" {
		if _, err := SelectorRegex(s.Selector); err != nil {
			return bad(field+".selector", "%v", err)
		}
	}
	if s.TagName != "" && !tagName.MatchString(s.TagName) {
		return bad(field+".tag_name", "%q is not a tag name", s.TagName)
	}
	for i, f := range s.Filters {
		if f.Type != "" && f.Type != "event" && f.Type != "element" {
			return bad(fmt.Sprintf("%s.filters[%d].type", field, i), "an action step filters its event: type event or element, not %q", f.Type)
		}
	}
	return validateFilters(field+".filters", s.Filters, false)
}

// validMatching checks one text/href/url condition and defaults its mode.
func validMatching(field, name, value string, mode *string, def string) error {
	if *mode == "" {
		*mode = def
	}
	switch *mode {
	case MatchExact, MatchContains:
	case MatchRegex:
		if value != "" {
			if err := validRegex(value); err != nil {
				return bad(field+"."+name, "%v", err)
			}
		}
	default:
		return bad(field+"."+name+"_matching", "unknown matching %q (exact, contains, regex)", *mode)
	}
	if len(value) > maxPatternLen {
		return bad(field+"."+name, "at most %d bytes", maxPatternLen)
	}
	return nil
}

// validRegex accepts the RE2 syntax both stores' engines share (DuckDB's
// regexp_matches and ClickHouse's match are RE2, as Go's regexp is).
func validRegex(re string) error {
	if len(re) > maxPatternLen {
		return fmt.Errorf("regex longer than %d bytes", maxPatternLen)
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("cannot compile regex %q: %w", re, err)
	}
	return nil
}

var tagName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// TagRegex is the condition "an element of the chain has tag" as a regex
// over $elements_chain: the tag starts an element (whole elements skipped
// from the start, so never inside a quoted value), and classes,
// attributes or the element's end follow it.
func TagRegex(tag string) string {
	return `^(?:` + wholeElement + `)*` + regexp.QuoteMeta(strings.ToLower(tag)) + `(?:[.:;]|$)`
}

// eventOrAction checks a place that names an event or an action: exactly
// one of them, action_id folded into action.
func eventOrAction(field, event string, action **ActionDef, actionID *int64) error {
	at := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	if *actionID != 0 {
		if *action != nil && (*action).ID != *actionID {
			return bad(at("action_id"), "give action or action_id, not both")
		}
		if *action == nil {
			*action = &ActionDef{ID: *actionID}
		}
		*actionID = 0
	}
	switch {
	case *action == nil && event == "":
		return bad(at("event"), "missing (give an event or an action)")
	case *action != nil && event != "":
		return bad(at("action"), "give event or action, not both")
	case *action != nil:
		return (*action).Validate(at("action"))
	}
	return nil
}

// labelOf is the default label of a place naming event or action.
func labelOf(event string, a *ActionDef) string {
	if a != nil {
		if !a.Resolved() && a.Name == "" {
			return "" // the API resolves it, then validates again
		}
		return a.Label()
	}
	return event
}

// ActionAt is an action a spec names and where: Field as errors name it.
type ActionAt struct {
	Field  string
	Action *ActionDef
}

// Actions returns every action a spec names, wherever it stands (series,
// steps, exclusions, retention and stickiness events, bad and active
// events, lifecycle, journey stages, KPI conditions and the behaviour of
// inline or resolved cohorts), so the API can resolve their ids.
func Actions(spec Spec) []ActionAt {
	var out []ActionAt
	add := func(a *ActionDef, format string, args ...any) {
		if a != nil {
			out = append(out, ActionAt{Field: fmt.Sprintf(format, args...) + "action", Action: a})
		}
	}
	matches := func(field string, ms []EventMatch) {
		for i := range ms {
			add(ms[i].Action, "%s[%d].", field, i)
		}
	}
	switch q := spec.(type) {
	case *Trend:
		for i := range q.Series {
			add(q.Series[i].Action, "series[%d].", i)
		}
	case *Funnel:
		for i := range q.Steps {
			add(q.Steps[i].Action, "steps[%d].", i)
		}
		for i := range q.Exclusions {
			add(q.Exclusions[i].Action, "exclusions[%d].", i)
		}
	case *Retention:
		add(q.Start.Action, "start.")
		add(q.Return.Action, "return.")
	case *Stickiness:
		matches("series", q.Series)
	case *BadDays:
		matches("bad", q.Bad)
		matches("active", q.Active)
	case *Lifecycle:
		add(q.Action, "")
	case *Journey:
		for i := range q.Stages {
			for k := range q.Stages[i].Events {
				add(q.Stages[i].Events[k].Action, "stages[%d].events[%d].", i, k)
			}
		}
	case *KPI:
		for _, set := range []struct {
			name string
			s    *ActorSet
		}{{"numerator", &q.Numerator}, {"denominator", &q.Denominator}} {
			for i := range set.s.Conditions {
				add(set.s.Conditions[i].Action, "%s.conditions[%d].", set.name, i)
			}
		}
	}
	for i, f := range Filters(spec) {
		if f.Cohort != nil && f.Cohort.Behavior != nil {
			add(f.Cohort.Behavior.Action, "filters[%d].cohort.behavior.", i)
		}
	}
	return out
}
