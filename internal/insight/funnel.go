package insight

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FunnelStep is one step of a funnel: an event with optional filters.
type FunnelStep struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Filters  []Filter   `json:"filters,omitempty"`
	Label    string     `json:"label,omitempty"`
}

// FunnelExclusion removes from the funnel every actor who does Event
// (matching Filters) between steps FromStep and ToStep (1-based) of their
// attempt. When the actor never reached ToStep, "between" ends at the
// attempt's start plus the window (PostHog semantics).
type FunnelExclusion struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Filters  []Filter   `json:"filters,omitempty"`
	FromStep int        `json:"from_step"`
	ToStep   int        `json:"to_step"`
}

// Funnel is {"kind":"funnel"}.
type Funnel struct {
	Steps []FunnelStep `json:"steps"` // 2..MaxFunnelSteps
	// Window is the time allowed from step 1 to the last step: a number
	// and a unit s, m, h, d or w ("30s", "24h", "14d"); default "14d".
	Window string `json:"window"`
	// Order: "ordered" (default; ClickHouse windowFunnel), "strict"
	// (windowFunnel 'strict_order') or "unordered".
	Order      string            `json:"order"`
	Exclusions []FunnelExclusion `json:"exclusions,omitempty"`
	// Persons asks for the actors instead of only the counts:
	// "converted:N" (reached step N) or "dropped:N" (reached step N, not N+1).
	Persons string `json:"persons,omitempty"`
	// Limit and Offset page the persons (default 100, at most 10000).
	Limit  int `json:"limit,omitempty"`
	Offset int `json:"offset,omitempty"`
	// OverTime ("day" or "week") adds conversion by the day or week, in
	// the project timezone, in which each actor's attempt started.
	OverTime string `json:"over_time,omitempty"`
	Range

	WindowDur time.Duration `json:"-"`
}

// Funnel limits.
const (
	MaxFunnelSteps      = 20
	MaxFunnelExclusions = 10
	MaxFunnelPersons    = 10000
	DefaultFunnelWindow = "14d"
)

// FunnelStepResult is one step of a funnel result. Conversion is the share
// of step 1's count, StepConversion the share of the previous step's.
// MedianSeconds and P90Seconds are the time from the previous step over
// the actors who reached this step; nil for step 1 or when nobody did.
type FunnelStepResult struct {
	Event          string   `json:"event"`
	Label          string   `json:"label"`
	Count          int64    `json:"count"`
	Conversion     float64  `json:"conversion"`
	StepConversion float64  `json:"step_conversion"`
	MedianSeconds  *float64 `json:"median_seconds"`
	P90Seconds     *float64 `json:"p90_seconds"`
}

// FunnelBreakdown is the funnel of the actors whose breakdown property
// had Value ("$other" for the values past the breakdown limit, "$none"
// when the property was not set).
type FunnelBreakdown struct {
	Value string             `json:"value"`
	Steps []FunnelStepResult `json:"steps"`
}

// FunnelPoint is the conversion of the attempts started in one day or
// week: Started reached step 1, Converted the last step.
type FunnelPoint struct {
	T          string  `json:"t"`
	Started    int64   `json:"started"`
	Converted  int64   `json:"converted"`
	Conversion float64 `json:"conversion"`
}

// PersonList is one page of actor ids (person ids, or group keys for unit
// group:<type>) in ascending order; Total counts all pages.
type PersonList struct {
	IDs     []any `json:"ids"`
	Total   int64 `json:"total"`
	HasMore bool  `json:"has_more"`
}

// FunnelResult is the answer to a Funnel.
type FunnelResult struct {
	Kind      string             `json:"kind"`
	Steps     []FunnelStepResult `json:"steps"`
	Breakdown []FunnelBreakdown  `json:"breakdown,omitempty"`
	OverTime  []FunnelPoint      `json:"over_time,omitempty"`
	Persons   *PersonList        `json:"persons,omitempty"`
}

// ParseFunnel decodes and validates a funnel query body.
func ParseFunnel(body []byte) (*Funnel, error) {
	var f Funnel
	if err := strictDecode(body, &f); err != nil {
		if e, ok := err.(*Error); ok && e.Field == "" {
			e.Field = "body" // the body is not an object
		}
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks the funnel and fills its defaults (window, order,
// labels, persons paging, WindowDur).
func (f *Funnel) Validate() error {
	if err := f.Range.validate(); err != nil {
		return err
	}
	if len(f.Steps) < 2 {
		return bad("steps", "a funnel needs at least 2 steps")
	}
	if len(f.Steps) > MaxFunnelSteps {
		return bad("steps", "at most %d steps", MaxFunnelSteps)
	}
	for i := range f.Steps {
		s := &f.Steps[i]
		field := fmt.Sprintf("steps[%d]", i)
		if err := eventOrAction(field, s.Event, &s.Action, &s.ActionID); err != nil {
			return err
		}
		if s.Label == "" {
			s.Label = labelOf(s.Event, s.Action)
		}
		if err := validateFilters(field+".filters", s.Filters, false); err != nil {
			return err
		}
	}
	if f.Window == "" {
		f.Window = DefaultFunnelWindow
	}
	d, err := ParseWindow(f.Window)
	if err != nil {
		return bad("window", "%v", err)
	}
	f.WindowDur = d
	switch f.Order {
	case "":
		f.Order = "ordered"
	case "ordered", "strict", "unordered":
	default:
		return bad("order", "unknown order %q (ordered, strict, unordered)", f.Order)
	}
	if len(f.Exclusions) > MaxFunnelExclusions {
		return bad("exclusions", "at most %d exclusions", MaxFunnelExclusions)
	}
	for i, x := range f.Exclusions {
		field := fmt.Sprintf("exclusions[%d]", i)
		if err := eventOrAction(field, x.Event, &f.Exclusions[i].Action, &f.Exclusions[i].ActionID); err != nil {
			return err
		}
		if err := validateFilters(field+".filters", x.Filters, false); err != nil {
			return err
		}
		if x.FromStep < 1 || x.FromStep >= len(f.Steps) {
			return bad(field+".from_step", "must be a step number from 1 to %d", len(f.Steps)-1)
		}
		if x.ToStep <= x.FromStep || x.ToStep > len(f.Steps) {
			return bad(field+".to_step", "must be a step number from %d to %d", x.FromStep+1, len(f.Steps))
		}
		if f.Order == "unordered" && (x.FromStep != 1 || x.ToStep != len(f.Steps)) {
			return bad(field+".from_step", "unordered funnels take exclusions over the whole funnel only (from_step 1, to_step %d)", len(f.Steps))
		}
	}
	if f.Persons != "" {
		if _, _, err := parsePersons(f.Persons, len(f.Steps)); err != nil {
			return bad("persons", "%v", err)
		}
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > MaxFunnelPersons {
		return bad("limit", "must be 1..%d", MaxFunnelPersons)
	}
	if f.Offset < 0 {
		return bad("offset", "must not be negative")
	}
	switch f.OverTime {
	case "", "day", "week":
	default:
		return bad("over_time", "unknown interval %q (day, week)", f.OverTime)
	}
	return nil
}

// PersonsQuery returns the validated persons request: mode "" (none),
// "converted" or "dropped", and its 1-based step.
func (f *Funnel) PersonsQuery() (mode string, step int) {
	mode, step, err := parsePersons(f.Persons, len(f.Steps))
	if err != nil {
		return "", 0
	}
	return mode, step
}

func parsePersons(s string, steps int) (string, int, error) {
	if s == "" {
		return "", 0, nil
	}
	mode, n, ok := strings.Cut(s, ":")
	if !ok || (mode != "converted" && mode != "dropped") {
		return "", 0, fmt.Errorf("want converted:N or dropped:N, got %q", s)
	}
	step, err := strconv.Atoi(n)
	if err != nil || n != strconv.Itoa(step) {
		return "", 0, fmt.Errorf("bad step number in %q", s)
	}
	max := steps
	if mode == "dropped" {
		max = steps - 1 // nobody drops after the last step
	}
	if step < 1 || step > max {
		return "", 0, fmt.Errorf("step must be 1..%d for %s", max, mode)
	}
	return mode, step, nil
}

var windowUnits = map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}

// ParseWindow parses a funnel window: a positive whole number and a unit
// s, m, h, d or w, at most MaxRange.
func ParseWindow(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("want a number and a unit s, m, h, d or w, like \"14d\"; got %q", s)
	}
	unit, ok := windowUnits[s[len(s)-1]]
	num := s[:len(s)-1]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || num != strconv.FormatInt(n, 10) {
		return 0, fmt.Errorf("want a number and a unit s, m, h, d or w, like \"14d\"; got %q", s)
	}
	if n < 1 || n > int64(MaxRange/unit) {
		return 0, fmt.Errorf("must be positive and at most %s", MaxRange)
	}
	return time.Duration(n) * unit, nil
}

// EventNames returns the event names the funnel reads, each once, its
// actions' steps' included: the steps' first (stepEvents of them: the
// names that break a strict chain), then the exclusions' other names.
// Stores use it instead of funnelwalk.Plan.Events, which knows no actions.
func (f *Funnel) EventNames() (events []string, stepEvents int) {
	seen := map[string]bool{}
	add := func(names []string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				events = append(events, n)
			}
		}
	}
	for _, s := range f.Steps {
		add(EventNames(s.Event, s.Action))
	}
	stepEvents = len(events)
	for _, x := range f.Exclusions {
		add(EventNames(x.Event, x.Action))
	}
	return events, stepEvents
}

// HasActions reports whether a step or exclusion is an action: rows of
// its events may then match nothing (funnelwalk.Plan.MaskCanBeZero cannot
// tell).
func (f *Funnel) HasActions() bool {
	for _, s := range f.Steps {
		if s.Action != nil {
			return true
		}
	}
	for _, x := range f.Exclusions {
		if x.Action != nil {
			return true
		}
	}
	return false
}
