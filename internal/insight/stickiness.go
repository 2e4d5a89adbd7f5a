package insight

import (
	"fmt"
	"time"
)

// Stickiness is {"kind":"stickiness"}: for each series and each k, how many
// actors did the event on exactly k intervals of the range.
type Stickiness struct {
	Series []EventMatch `json:"series"`
	// Interval is day (default), week (starting Monday) or month, in the
	// project timezone.
	Interval string `json:"interval"`
	Range
}

// MaxStickinessSeries bounds Stickiness.Series.
const MaxStickinessSeries = 20

// Validate fills defaults and checks the query; errors are *Error.
func (s *Stickiness) Validate() error {
	if err := s.Range.validate(); err != nil {
		return err
	}
	if err := noBreakdown(&s.Range, "stickiness"); err != nil {
		return err
	}
	switch s.Interval {
	case "":
		s.Interval = "day"
	case "day", "week", "month":
	default:
		return bad("interval", "unknown interval %q (day, week, month)", s.Interval)
	}
	return validateMatches("series", s.Series, &s.Range, 1, MaxStickinessSeries)
}

// StickinessPoint is how many actors (Count) were active on exactly Days
// intervals (days, weeks or months, as the query's interval says).
type StickinessPoint struct {
	Days  int   `json:"days"`
	Count int64 `json:"count"`
}

// StickinessSeries is one series of a stickiness result: a point for
// every k from 1 to the number of intervals in the range.
type StickinessSeries struct {
	Label  string            `json:"label"`
	Points []StickinessPoint `json:"points"`
}

// StickinessResult is the answer to a Stickiness.
type StickinessResult struct {
	Kind   string             `json:"kind"`
	Series []StickinessSeries `json:"series"`
}

// StickinessCounts is a store's counts for a stickiness query over
// periods p: rows (Series, Period, Value) say that Value actors did
// series number Series on exactly Period (1..p.Len()) of the periods.
type StickinessCounts func(p Periods) ([]CountRow, error)

// RunStickiness answers a stickiness query from a store's counts: each
// series with a point for every k from 1 to the number of periods.
func RunStickiness(q *Stickiness, tz *time.Location, now time.Time, counts StickinessCounts) (*StickinessResult, error) {
	p := NewPeriods(q.From, q.To, tz, q.Interval, now)
	n := p.Len()
	res := &StickinessResult{Kind: "stickiness", Series: make([]StickinessSeries, len(q.Series))}
	for i, series := range q.Series {
		res.Series[i] = StickinessSeries{Label: series.Label, Points: make([]StickinessPoint, n)}
		for k := range n {
			res.Series[i].Points[k].Days = k + 1
		}
	}
	if n == 0 {
		return res, nil
	}
	rows, err := counts(p)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Series < 0 || r.Series >= len(res.Series) || r.Period < 1 || r.Period > n {
			return nil, fmt.Errorf("stickiness: series %d, %d intervals out of range", r.Series, r.Period)
		}
		res.Series[r.Series].Points[r.Period-1].Count += int64(r.Value)
	}
	return res, nil
}
