package insight

import (
	"fmt"
	"time"
)

// EventMatch selects events: one event name and filters on its properties
// (the query's own filters apply as well). Retention start/return, the
// series of a stickiness and the bad and active events of bad days use it.
type EventMatch struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Filters  []Filter   `json:"filters,omitempty"`
	// Label names a stickiness series (default: the event).
	Label string `json:"label,omitempty"`
}

func (m *EventMatch) validate(field string, r *Range) error {
	if err := eventOrAction(field, m.Event, &m.Action, &m.ActionID); err != nil {
		return err
	}
	if m.Label == "" {
		m.Label = labelOf(m.Event, m.Action)
	}
	if r.GroupType() != "" {
		for i, f := range m.Filters {
			if f.Type == "cohort" {
				return bad(fmt.Sprintf("%s.filters[%d].type", field, i), "cohorts are sets of persons; they cannot filter a query whose unit is %s", r.Unit)
			}
		}
	}
	return validateFilters(field+".filters", m.Filters, false)
}

// Retention is {"kind":"retention"}: of the actors who did Start in a
// period (a cohort), how many did Return in each of the following periods.
type Retention struct {
	Start  EventMatch `json:"start"`
	Return EventMatch `json:"return"`
	// Period is day, week (starting Monday) or month, in the project
	// timezone; default day.
	Period string `json:"period"`
	// Periods is how many periods each cohort reports, the cohort's own
	// included: 1..52, default 8.
	Periods int `json:"periods"`
	// Mode: first_time (default; an actor's only cohort is the period of
	// their first ever start event, which must lie in the range) or
	// recurring (an actor is in the cohort of every period they did the
	// start event in).
	Mode string `json:"mode"`
	Range
}

// Retention modes.
const (
	RetentionFirstTime = "first_time"
	RetentionRecurring = "recurring"
)

// MaxRetentionPeriods bounds Retention.Periods.
const MaxRetentionPeriods = 52

// Validate fills defaults and checks the query; errors are *Error.
func (r *Retention) Validate() error {
	if err := r.Range.validate(); err != nil {
		return err
	}
	if err := r.Start.validate("start", &r.Range); err != nil {
		return err
	}
	if err := r.Return.validate("return", &r.Range); err != nil {
		return err
	}
	switch r.Period {
	case "":
		r.Period = "day"
	case "day", "week", "month":
	default:
		return bad("period", "unknown period %q (day, week, month)", r.Period)
	}
	if r.Periods == 0 {
		r.Periods = 8
	}
	if r.Periods < 1 || r.Periods > MaxRetentionPeriods {
		return bad("periods", "must be 1..%d", MaxRetentionPeriods)
	}
	switch r.Mode {
	case "":
		r.Mode = RetentionFirstTime
	case RetentionFirstTime, RetentionRecurring:
	default:
		return bad("mode", "unknown mode %q (first_time, recurring)", r.Mode)
	}
	return nil
}

// RetentionCohort is the actors whose cohort period starts at Start (a
// date in the project timezone). Retained[k] is how many of them did the
// return event in period k after it; Retained[0] is Size. Only periods
// that started before the query's `to` (and before now) have an entry.
type RetentionCohort struct {
	Start    string  `json:"start"`
	Size     int64   `json:"size"`
	Retained []int64 `json:"retained"`
}

// RetentionBreakdown is the cohorts of one breakdown value.
type RetentionBreakdown struct {
	Value   string            `json:"value"`
	Cohorts []RetentionCohort `json:"cohorts"`
}

// RetentionResult is the answer to a Retention. Cohorts has one entry per
// period starting in [from, to), empty ones included. With a breakdown,
// Cohorts still counts every actor once per cohort and Breakdown splits
// them by the property's value on their start event ("$none" when
// unset; values beyond the limit are merged into "$other").
type RetentionResult struct {
	Kind      string               `json:"kind"`
	Cohorts   []RetentionCohort    `json:"cohorts"`
	Breakdown []RetentionBreakdown `json:"breakdown,omitempty"`
}

// Breakdown values for an unset property and for values beyond the limit.
const (
	BreakdownNone  = "$none"
	BreakdownOther = "$other"
)

// noBreakdown rejects a breakdown for kinds that do not support one.
func noBreakdown(r *Range, kind string) error {
	if r.Breakdown != nil {
		return bad("breakdown", "not supported for %s", kind)
	}
	return nil
}

func validateMatches(field string, ms []EventMatch, r *Range, min, max int) error {
	if len(ms) < min {
		return bad(field, "at least %d needed", min)
	}
	if len(ms) > max {
		return bad(field, "at most %d", max)
	}
	for i := range ms {
		if err := ms[i].validate(fmt.Sprintf("%s[%d]", field, i), r); err != nil {
			return err
		}
	}
	return nil
}

// MatchEvents returns the distinct event names of ms (their actions'
// steps' for actions), in order.
func MatchEvents(ms []EventMatch) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range ms {
		for _, e := range EventNames(m.Event, m.Action) {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// CohortBounds returns the starts of the cohort periods: the periods (in
// tz) that start in [From, min(To, now)), and that end, min(To, now).
func (r *Retention) CohortBounds(tz *time.Location, now time.Time) ([]time.Time, time.Time) {
	to := r.To
	if now.Before(to) {
		to = now
	}
	var bounds []time.Time
	for _, b := range Buckets(r.From, to, tz, r.Period) {
		if !b.Before(r.From) {
			bounds = append(bounds, b)
		}
	}
	return bounds, to
}
