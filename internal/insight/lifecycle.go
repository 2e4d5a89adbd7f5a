package insight

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
