package insight

import (
	"fmt"
	"sort"
)

// Matcher matches events by name and property filters.
type Matcher struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	Filters  []Filter   `json:"filters,omitempty"`
}

// Stage is one stage of the customer journey: an actor reaches it by doing
// any of its events at least MinCount times in the range (and by having
// reached every earlier stage).
type Stage struct {
	Name     string    `json:"name"`
	Events   []Matcher `json:"events"`
	MinCount int       `json:"min_count,omitempty"`
}

// DefaultStages suit an online shop like the demo's; a project stores its
// own in its settings (key "journey").
func DefaultStages() []Stage {
	return []Stage{
		{Name: "Reach", Events: []Matcher{{Event: "$pageview"}, {Event: "$screen"}}, MinCount: 1},
		{Name: "Acquisition", Events: []Matcher{{Event: "signed_up"}}, MinCount: 1},
		{Name: "Activation", Events: []Matcher{{Event: "order_completed"}}, MinCount: 1},
		{Name: "Retention/Engagement", Events: []Matcher{{Event: "order_completed"}}, MinCount: 2},
		{Name: "Loyalty", Events: []Matcher{{Event: "order_completed"}}, MinCount: 4},
	}
}

// Journey is {"kind":"journey"}: the five stages as a funnel, with a
// breakdown by acquisition channel (a property of each actor's first
// stage-1 event; utm_source unless another breakdown is given).
type Journey struct {
	Stages []Stage `json:"stages,omitempty"`
	Range
}

// StageResult is one stage's count and conversion.
type StageResult struct {
	Name           string  `json:"name"`
	Count          int64   `json:"count"`
	Conversion     float64 `json:"conversion"`      // of stage 1
	StepConversion float64 `json:"step_conversion"` // of the previous stage
}

// JourneyBreakdown is the journey of the actors of one channel.
type JourneyBreakdown struct {
	Value  string        `json:"value"`
	Stages []StageResult `json:"stages"`
}

// JourneyResult is the answer to Journey.
type JourneyResult struct {
	Kind      string             `json:"kind"`
	Stages    []StageResult      `json:"stages"`
	Breakdown []JourneyBreakdown `json:"breakdown"`
}

// Validate checks a journey; stages may be empty (the project's are used).
func (j *Journey) Validate() error {
	if j.Breakdown == nil {
		j.Breakdown = &Breakdown{Property: "utm_source"}
	}
	if err := j.Range.validate(); err != nil {
		return err
	}
	return ValidateStages("stages", j.Stages)
}

// ValidateStages checks stage definitions (also used for project settings).
func ValidateStages(field string, stages []Stage) error {
	if len(stages) > 10 {
		return bad(field, "at most 10 stages")
	}
	for i := range stages {
		st := &stages[i]
		name := fmt.Sprintf("%s[%d]", field, i)
		if st.Name == "" {
			return bad(name+".name", "missing")
		}
		if len(st.Events) == 0 {
			return bad(name+".events", "at least one event is needed")
		}
		for k := range st.Events {
			m := &st.Events[k]
			if err := eventOrAction(fmt.Sprintf("%s.events[%d]", name, k), m.Event, &m.Action, &m.ActionID); err != nil {
				return err
			}
			if err := validateFilters(fmt.Sprintf("%s.events[%d].filters", name, k), m.Filters, false); err != nil {
				return err
			}
		}
		if st.MinCount == 0 {
			st.MinCount = 1
		}
		if st.MinCount < 1 {
			return bad(name+".min_count", "must be at least 1")
		}
	}
	return nil
}

// StageResults turns cumulative counts into stage results.
func StageResults(stages []Stage, counts []int64) []StageResult {
	out := make([]StageResult, len(stages))
	for i, st := range stages {
		out[i] = StageResult{Name: st.Name, Count: counts[i]}
		if counts[0] > 0 {
			out[i].Conversion = float64(counts[i]) / float64(counts[0])
		}
		if i == 0 {
			out[i].StepConversion = 1
		} else if counts[i-1] > 0 {
			out[i].StepConversion = float64(counts[i]) / float64(counts[i-1])
		}
	}
	return out
}

// AddCounts records one row of a store's journey query: the cumulative
// stage counts overall, or those of one breakdown value (kept only when
// some actor reached stage 1).
func (r *JourneyResult) AddCounts(stages []Stage, overall bool, value string, counts []int64) {
	if overall {
		r.Stages = StageResults(stages, counts)
	} else if counts[0] > 0 {
		r.Breakdown = append(r.Breakdown, JourneyBreakdown{Value: value, Stages: StageResults(stages, counts)})
	}
}

// Finish fills the stages when no actor was seen, and orders the channels
// by stage-1 count (then value), keeping the top limit.
func (r *JourneyResult) Finish(stages []Stage, limit int) {
	if r.Stages == nil {
		r.Stages = StageResults(stages, make([]int64, len(stages)))
	}
	if r.Breakdown == nil {
		r.Breakdown = []JourneyBreakdown{}
	}
	sort.Slice(r.Breakdown, func(i, j int) bool {
		a, b := r.Breakdown[i], r.Breakdown[j]
		if a.Stages[0].Count != b.Stages[0].Count {
			return a.Stages[0].Count > b.Stages[0].Count
		}
		return a.Value < b.Value
	})
	if limit > 0 && len(r.Breakdown) > limit {
		r.Breakdown = r.Breakdown[:limit]
	}
}
