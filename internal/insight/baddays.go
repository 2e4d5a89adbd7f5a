package insight

// BadDays is {"kind":"bad_days"}: the share of actor-days that had a bad
// event (an exception, a failed payment…) among the actor-days with any
// activity.
type BadDays struct {
	Bad []EventMatch `json:"bad"`
	// Active are the events that make a day active; none means any event.
	// A bad event makes its day active too.
	Active []EventMatch `json:"active,omitempty"`
	// Top is how many actors with the most bad days to list: 1..1000,
	// default 10.
	Top int `json:"top"`
	Range
}

// Limits of BadDays.
const (
	MaxBadDaysMatches = 20
	MaxBadDaysTop     = 1000
)

// Validate fills defaults and checks the query; errors are *Error.
func (b *BadDays) Validate() error {
	if err := b.Range.validate(); err != nil {
		return err
	}
	if err := noBreakdown(&b.Range, "bad_days"); err != nil {
		return err
	}
	if b.Bad == nil { // the SPEC's default bad event
		b.Bad = []EventMatch{{Event: "$exception"}}
	}
	if err := validateMatches("bad", b.Bad, &b.Range, 1, MaxBadDaysMatches); err != nil {
		return err
	}
	if err := validateMatches("active", b.Active, &b.Range, 0, MaxBadDaysMatches); err != nil {
		return err
	}
	if b.Top == 0 {
		b.Top = 10
	}
	if b.Top < 1 || b.Top > MaxBadDaysTop {
		return bad("top", "must be 1..%d", MaxBadDaysTop)
	}
	return nil
}

// BadDay is one day of the range (T, in the project timezone): Active
// actors had activity, Bad of them a bad event; Rate is Bad/Active (0
// when no one was active).
type BadDay struct {
	T      string  `json:"t"`
	Rate   float64 `json:"rate"`
	Bad    int64   `json:"bad"`
	Active int64   `json:"active"`
}

// BadDaysActor is an actor with bad days: a person id or a group key.
type BadDaysActor struct {
	Actor      string `json:"actor"`
	BadDays    int64  `json:"bad_days"`
	ActiveDays int64  `json:"active_days"`
}

// BadDaysResult is the answer to a BadDays. Rate is over the whole range:
// bad actor-days ÷ active actor-days. TopPersons lists the actors with the
// most bad days (then most active days), at most Top of them.
type BadDaysResult struct {
	Kind       string         `json:"kind"`
	Rate       float64        `json:"rate"`
	Days       []BadDay       `json:"days"`
	TopPersons []BadDaysActor `json:"top_persons"`
}
