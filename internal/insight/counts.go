package insight

import "time"

// The seam between insight and the stores for trend, stickiness,
// lifecycle and bad_days: Run<Kind> (in each kind's file) takes one
// reading of the store's clock, computes the periods, asks the store's
// count function for rows of counts, and assembles the answer: its kind,
// labels, a zero-filled point for every period, breakdown order and
// limits, comparison and formula. A store only runs SQL.

// Clock is where a store reads the time: once per query run. nil reads
// time.Now; tests set a fixed one.
type Clock func() time.Time

// Now reads the clock.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Periods are the intervals a query counts in: the buckets of [From, To)
// in the project timezone. Stores place a row in period i when Starts[i]
// <= ts < Starts[i+1]; the last period ends at To.
type Periods struct {
	Interval string      // hour, day, week or month
	Starts   []time.Time // ascending, in the project timezone
	From, To time.Time
	// Now is the query run's one reading of the clock. These kinds do not
	// cut their periods at it: a range that reaches past now has empty
	// periods there.
	Now time.Time
}

// NewPeriods returns the periods of [from, to) in tz.
func NewPeriods(from, to time.Time, tz *time.Location, interval string, now time.Time) Periods {
	return Periods{Interval: interval, Starts: Buckets(from, to, tz, interval), From: from, To: to, Now: now}
}

// Len is the number of periods.
func (p Periods) Len() int { return len(p.Starts) }

// Label is period i's "t" in a result.
func (p Periods) Label(i int) string { return Label(p.Starts[i], p.Interval) }

// Location is the project timezone the periods follow.
func (p Periods) Location() *time.Location {
	if len(p.Starts) == 0 {
		return time.UTC
	}
	return p.Starts[0].Location()
}

// Before is the start of the period just before the first one.
func (p Periods) Before() time.Time {
	return Truncate(p.Starts[0].Add(-time.Nanosecond), p.Interval)
}

// CountRow is one count a store hands back. What Period indexes, and
// which fields a kind uses, is said by each kind's count function. Rows
// with the same key add up, so a store may hand back partial counts (a
// histogram's bits, say) of one period.
type CountRow struct {
	Series    int    // the query's series (trend, stickiness)
	Measure   string // what is counted, for kinds that count several things: Count*
	Breakdown string // the breakdown value; "" without breakdown
	Period    int
	Value     float64
}

// What lifecycle and bad days count (CountRow.Measure).
const (
	CountActive    = "active"    // actors active in the period (lifecycle), active actor-days (bad days)
	CountReturning = "returning" // lifecycle: actors active in the period and the one before
	CountNew       = "new"       // lifecycle: actors whose first period ever it is
	CountBad       = "bad"       // bad days: actor-days with a bad event
)

// Windows are the windows of a wau or mau trend series: window i counts
// the distinct actors active on the Days local days up to and including
// Ends[i] (YYYY-MM-DD, distinct, ascending). A period's window ends on the
// period's last local day, the last period's on the range's last instant;
// where periods share an end (hourly), the later one shows it. Stores
// read from From, Days before the range, so the first window is whole.
type Windows struct {
	Days   int
	From   time.Time
	Ends   []string
	period []int // the period whose value window i is
}

// Windows returns the windows of a series whose math counts actors over a
// trailing window (wau: 7 days, mau: 30); false for other maths.
func (p Periods) Windows(math string) (Windows, bool) {
	days := map[string]int{"wau": 7, "mau": 30}[math]
	if days == 0 {
		return Windows{}, false
	}
	w := Windows{Days: days, From: p.From.AddDate(0, 0, -days)}
	last := p.To.In(p.Location()).Add(-time.Nanosecond)
	index := map[string]int{}
	for i, b := range p.Starts {
		end := BucketEnd(b, p.Interval).AddDate(0, 0, -1) // the bucket's last local day
		if end.After(last) {
			end = last
		}
		d := end.Format("2006-01-02")
		if j, ok := index[d]; ok {
			w.period[j] = i
			continue
		}
		index[d] = len(w.Ends)
		w.Ends = append(w.Ends, d)
		w.period = append(w.period, i)
	}
	return w, true
}
