package insight

import (
	"fmt"
	"time"
)

// Condition is one requirement on an actor within a period: it did the
// event (Did, the default) or did not; with FirstTime the actor's first
// ever such event falls in the period ("accounts created this month").
type Condition struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action    *ActionDef `json:"action,omitempty"`
	ActionID  int64      `json:"action_id,omitempty"`
	Filters   []Filter   `json:"filters,omitempty"`
	Did       *bool      `json:"did,omitempty"`
	FirstTime bool       `json:"first_time,omitempty"`
}

// ActorSet is a set of actors defined by conditions that all hold.
type ActorSet struct {
	Conditions []Condition `json:"conditions"`
}

// KPI is {"kind":"kpi"}: the share of the denominator's actors that also
// meet the numerator's conditions, over the range and per interval — e.g.
// "share of accounts created this month that completed onboarding without
// a support ticket".
type KPI struct {
	Numerator   ActorSet `json:"numerator"`
	Denominator ActorSet `json:"denominator"`
	Interval    string   `json:"interval,omitempty"` // day, week, month (default month)
	Range
}

// KPIPoint is the KPI for one period.
type KPIPoint struct {
	T           string  `json:"t"`
	Value       float64 `json:"value"`
	Numerator   int64   `json:"numerator"`
	Denominator int64   `json:"denominator"`
}

// KPIResult is the answer to KPI.
type KPIResult struct {
	Kind        string     `json:"kind"`
	Value       float64    `json:"value"`
	Numerator   int64      `json:"numerator"`
	Denominator int64      `json:"denominator"`
	Points      []KPIPoint `json:"points"`
}

// Validate checks a KPI.
func (k *KPI) Validate() error {
	if err := k.Range.validate(); err != nil {
		return err
	}
	if k.Interval == "" {
		k.Interval = "month"
	}
	if k.Interval != "day" && k.Interval != "week" && k.Interval != "month" {
		return bad("interval", "unknown interval %q (day, week, month)", k.Interval)
	}
	if err := validateSet("denominator", k.Denominator, true); err != nil {
		return err
	}
	return validateSet("numerator", k.Numerator, false)
}

func validateSet(field string, s ActorSet, needPositive bool) error {
	if len(s.Conditions) == 0 && needPositive {
		return bad(field+".conditions", "at least one condition is needed")
	}
	if len(s.Conditions) > 10 {
		return bad(field+".conditions", "at most 10 conditions")
	}
	positive := false
	for i := range s.Conditions {
		c := &s.Conditions[i]
		name := fmt.Sprintf("%s.conditions[%d]", field, i)
		if err := eventOrAction(name, c.Event, &c.Action, &c.ActionID); err != nil {
			return err
		}
		if err := validateFilters(name+".filters", c.Filters, false); err != nil {
			return err
		}
		if c.Did == nil || *c.Did {
			positive = true
		} else if c.FirstTime {
			return bad(name+".first_time", "cannot be combined with did: false")
		}
	}
	if needPositive && !positive {
		return bad(field+".conditions", "needs a condition the actors did (a set cannot be only what they did not do)")
	}
	return nil
}

// Ratio divides safely.
func Ratio(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// RunKPI runs a KPI through a store's query, which counts numerator and
// denominator actors per period label for the given conditions (the
// denominator's, then the numerator's): once over the whole range
// (interval ""), once per interval.
func RunKPI(q *KPI, tz *time.Location, query func(conds []Condition, interval string) (map[string]KPIPoint, error)) (*KPIResult, error) {
	conds := append(append([]Condition(nil), q.Denominator.Conditions...), q.Numerator.Conditions...)
	overall, err := query(conds, "")
	if err != nil {
		return nil, err
	}
	var total KPIPoint
	for _, p := range overall {
		total = p
	}
	points, err := query(conds, q.Interval)
	if err != nil {
		return nil, err
	}
	return kpiResult(q, tz, total, points), nil
}

// kpiResult assembles a KPI result from a store's counts: overall, and
// per bucket label (buckets without actors get zeros).
func kpiResult(q *KPI, tz *time.Location, overall KPIPoint, points map[string]KPIPoint) *KPIResult {
	res := &KPIResult{Kind: "kpi", Numerator: overall.Numerator, Denominator: overall.Denominator, Points: []KPIPoint{}}
	res.Value = Ratio(res.Numerator, res.Denominator)
	for _, b := range Buckets(q.From, q.To, tz, q.Interval) {
		label := Label(b, q.Interval)
		p := points[label]
		p.T = label
		p.Value = Ratio(p.Numerator, p.Denominator)
		res.Points = append(res.Points, p)
	}
	return res
}
