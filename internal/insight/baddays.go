package insight

import (
	"fmt"
	"time"
)

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

// BadDaysCounts is a store's counts for a bad-days query over its days
// (periods of interval day): rows (Measure, Period, Value) with Measure
// CountActive for the actors active on day Period, CountBad for those of
// them with a bad event; and the actors with the most bad days (then the
// most active days, then by actor), at most q.Top, in that order.
type BadDaysCounts func(days Periods) ([]CountRow, []BadDaysActor, error)

// RunBadDays answers a bad-days query from a store's counts: the rate of
// each day and of the whole range, and the top actors.
func RunBadDays(q *BadDays, tz *time.Location, now time.Time, counts BadDaysCounts) (*BadDaysResult, error) {
	days := NewPeriods(q.From, q.To, tz, "day", now)
	res := &BadDaysResult{Kind: "bad_days", Days: make([]BadDay, days.Len()), TopPersons: []BadDaysActor{}}
	for i := range res.Days {
		res.Days[i].T = days.Label(i)
	}
	if days.Len() == 0 {
		return res, nil
	}
	rows, top, err := counts(days)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Period < 0 || r.Period >= len(res.Days) || r.Measure != CountActive && r.Measure != CountBad {
			return nil, fmt.Errorf("bad days: %q count for day %d out of range", r.Measure, r.Period)
		}
		if d := &res.Days[r.Period]; r.Measure == CountBad {
			d.Bad += int64(r.Value)
		} else {
			d.Active += int64(r.Value)
		}
	}
	var totalBad, totalActive int64
	for d := range res.Days {
		day := &res.Days[d]
		if day.Active > 0 {
			day.Rate = float64(day.Bad) / float64(day.Active)
		}
		totalBad += day.Bad
		totalActive += day.Active
	}
	if totalActive > 0 {
		res.Rate = float64(totalBad) / float64(totalActive)
	}
	res.TopPersons = append(res.TopPersons, top...)
	return res, nil
}
