package insight

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

// EmptyResult is the answer's shape over n intervals, before any actor is
// counted: each series with a zero point for 1..n days.
func (q *Stickiness) EmptyResult(n int) *StickinessResult {
	res := &StickinessResult{Kind: "stickiness", Series: make([]StickinessSeries, len(q.Series))}
	for i, series := range q.Series {
		res.Series[i] = StickinessSeries{Label: series.Label, Points: make([]StickinessPoint, n)}
		for k := range n {
			res.Series[i].Points[k].Days = k + 1
		}
	}
	return res
}
