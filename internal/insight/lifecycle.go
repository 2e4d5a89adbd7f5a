package insight

import (
	"fmt"
	"time"
)

// Lifecycle is {"kind":"lifecycle"}: for each interval, the actors who did
// the event split into new, returning and resurrecting, and those who
// stopped (dormant), PostHog style.
type Lifecycle struct {
	Event string `json:"event,omitempty"`
	// Action, or ActionID, names an action instead of Event.
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	// Interval is day (default), week (starting Monday) or month, in the
	// project timezone.
	Interval string `json:"interval"`
	Range
}

// Validate fills defaults and checks the query; errors are *Error.
func (l *Lifecycle) Validate() error {
	if err := l.Range.validate(); err != nil {
		return err
	}
	if err := noBreakdown(&l.Range, "lifecycle"); err != nil {
		return err
	}
	if err := eventOrAction("", l.Event, &l.Action, &l.ActionID); err != nil {
		return err
	}
	switch l.Interval {
	case "":
		l.Interval = "day"
	case "day", "week", "month":
	default:
		return bad("interval", "unknown interval %q (day, week, month)", l.Interval)
	}
	return nil
}

// LifecyclePoint is one interval, T its start in the project timezone:
// New did the event for the first time ever; Returning did it in this and
// the previous interval; Resurrecting did it in this interval, not in the
// previous one, but at some time before; Dormant (negative) did it in the
// previous interval and not in this one.
type LifecyclePoint struct {
	T            string `json:"t"`
	New          int64  `json:"new"`
	Returning    int64  `json:"returning"`
	Resurrecting int64  `json:"resurrecting"`
	Dormant      int64  `json:"dormant"`
}

// LifecycleResult is the answer to a Lifecycle: a point per interval of
// the range.
type LifecycleResult struct {
	Kind   string           `json:"kind"`
	Points []LifecyclePoint `json:"points"`
}

// LifecycleCounts is a store's counts for a lifecycle query over periods
// p: rows (Measure, Period, Value) with Measure CountActive for the actors
// active in a period (-1, the one before the range, to p.Len()-1),
// CountReturning for those active in it and the one before, CountNew for
// those whose first period ever it is (0 to p.Len()-1). Whether an actor
// is new depends on all their history: stores read the event from the
// beginning of time up to the range's end, and count activity in the
// first period from its start even when the range starts later.
type LifecycleCounts func(p Periods) ([]CountRow, error)

// RunLifecycle answers a lifecycle query from a store's counts: per
// period t, new = N(t), returning = R(t), resurrecting = A(t) - R(t) -
// N(t) and dormant = -(A(t-1) - R(t)).
func RunLifecycle(q *Lifecycle, tz *time.Location, now time.Time, counts LifecycleCounts) (*LifecycleResult, error) {
	p := NewPeriods(q.From, q.To, tz, q.Interval, now)
	n := p.Len()
	res := &LifecycleResult{Kind: "lifecycle", Points: make([]LifecyclePoint, n)}
	for i := range res.Points {
		res.Points[i].T = p.Label(i)
	}
	if n == 0 {
		return res, nil
	}
	rows, err := counts(p)
	if err != nil {
		return nil, err
	}
	active := make([]int64, n+1) // period t at t+1
	returning := make([]int64, n)
	newActors := make([]int64, n)
	for _, r := range rows {
		dst, i := returning, r.Period
		switch r.Measure {
		case CountActive:
			dst, i = active, i+1
		case CountNew:
			dst = newActors
		case CountReturning:
		default:
			dst = nil
		}
		if i < 0 || i >= len(dst) {
			return nil, fmt.Errorf("lifecycle: %q count for period %d out of range", r.Measure, r.Period)
		}
		dst[i] += int64(r.Value)
	}
	for t := range res.Points {
		pt := &res.Points[t]
		pt.New, pt.Returning = newActors[t], returning[t]
		pt.Resurrecting = active[t+1] - returning[t] - newActors[t]
		pt.Dormant = -(active[t] - returning[t])
	}
	return res, nil
}
