package insight

import (
	"fmt"
	"slices"
	"time"
)

// Attribution is a campaign report's read of its message records over
// time and of the goal value they bring (issue 15 item 8). It is no
// query kind of its own: package campaign builds it.
//
// Every Touch event in [From, To) (a campaign's $message_sent, say, with
// its filters) is one touch. A touch converts, as a golden-time trigger
// does, when the same person (after merges) does the Goal event (its
// filters) strictly after it and before it + Window, with the same Match
// property when Match is set (touches and goals without it are left
// out). Without a Goal event nothing converts.
//
// With Value, each person touched gets x, the sum of the goal property
// Value over their goals attributed to a touch: those strictly after one
// of their touches (of the same Match key) and before it + Window, each
// goal counted once however many touches precede it; properties that are
// not finite numbers add nothing. Persons without goals have x = 0.
//
// With Starts, touches are also counted per bucket: bucket i holds the
// touches in [Starts[i], Starts[i+1]) (the last up to To), so a
// conversion counts in its touch's bucket.
type Attribution struct {
	Touch  GoldenEvent
	Goal   GoldenEvent
	Match  string
	Value  string
	Window time.Duration
	Starts []time.Time
	From   time.Time
	To     time.Time
}

// MaxAttributionBuckets bounds Starts (the CASE a store builds from them
// grows with their number).
const MaxAttributionBuckets = 1000

// Validate checks the read.
func (a *Attribution) Validate() error {
	switch {
	case a.Touch.Event == "":
		return bad("touch.event", "missing")
	case !a.To.After(a.From):
		return bad("to", "must be after from")
	case a.To.Sub(a.From) > MaxRange:
		return bad("to", "range longer than %s", MaxRange)
	case a.Window <= 0 || a.Window > MaxGoldenHorizon:
		return bad("window", "must be in (0, %s]", MaxGoldenHorizon)
	case len(a.Starts) > MaxAttributionBuckets:
		return bad("interval", "at most %d buckets (choose a longer interval)", MaxAttributionBuckets)
	case a.Goal.Event == "" && (a.Value != "" || len(a.Goal.Filters) > 0):
		return bad("goal.event", "missing (a value or goal filters need a goal)")
	}
	for i := 1; i < len(a.Starts); i++ {
		if !a.Starts[i].After(a.Starts[i-1]) {
			return bad("starts", "must ascend")
		}
	}
	for _, e := range []struct {
		field string
		ev    GoldenEvent
	}{{"touch", a.Touch}, {"goal", a.Goal}} {
		if len(e.ev.Event) > maxGoldenName {
			return bad(e.field+".event", "at most %d bytes", maxGoldenName)
		}
		if err := validateFilters(e.field+".filters", e.ev.Filters, false); err != nil {
			return err
		}
	}
	if len(a.Match) > maxGoldenName || len(a.Value) > maxGoldenName {
		return bad("match", "match and value are at most %d bytes", maxGoldenName)
	}
	return nil
}

// AttributionPlan is what a store reads an attribution's rows from.
// Times are microseconds since the epoch.
type AttributionPlan struct {
	Q *Attribution
	// Touches are read in [FromUs, ToUs), goals in [FromUs, GoalToUs =
	// ToUs + WindowUs).
	FromUs, ToUs, GoalToUs, WindowUs int64
	// BoundsUs are the buckets' starts after the first (bucket i ends at
	// BoundsUs[i]): a touch's bucket is how many of them are at or
	// before it. Empty without buckets.
	BoundsUs []int64
}

// Plan returns the read's plan.
func (a *Attribution) Plan() *AttributionPlan {
	w := a.Window.Microseconds()
	p := &AttributionPlan{Q: a, FromUs: a.From.UnixMicro(), ToUs: a.To.UnixMicro(), WindowUs: w, GoalToUs: a.To.UnixMicro() + w}
	for _, s := range slices.Clip(a.Starts)[min(1, len(a.Starts)):] {
		p.BoundsUs = append(p.BoundsUs, s.UnixMicro())
	}
	return p
}

// AttributionRow is a store's answer for one bucket (Bucket -1: the whole
// range): the touches, those converted, the distinct persons touched and
// those with a converted touch. The row of the whole range carries
// ValueSum and ValueSquares, Σx and Σx² over its persons (0 without
// Value).
type AttributionRow struct {
	Bucket                                        int64
	Touches, Converted, Persons, ConvertedPersons int64
	ValueSum, ValueSquares                        float64
}

// AttributionCounts are one bucket's numbers (or the whole range's).
type AttributionCounts struct {
	Touches          int64 `json:"touches"`
	Converted        int64 `json:"converted"`
	Persons          int64 `json:"persons"`
	ConvertedPersons int64 `json:"converted_persons"`
}

// AttributionResult is the answer: the whole range, Σx and Σx² over its
// Persons, and one AttributionCounts per bucket of Starts.
type AttributionResult struct {
	AttributionCounts
	ValueSum     float64             `json:"value_sum"`
	ValueSquares float64             `json:"value_squares"`
	Buckets      []AttributionCounts `json:"buckets,omitempty"`
}

// RunAttribution answers a read from a store's rows.
func RunAttribution(q *Attribution, rows func(p *AttributionPlan) ([]AttributionRow, error)) (*AttributionResult, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	p := q.Plan()
	rs, err := rows(p)
	if err != nil {
		return nil, err
	}
	res := &AttributionResult{}
	if len(q.Starts) > 0 {
		res.Buckets = make([]AttributionCounts, len(q.Starts))
	}
	for _, r := range rs {
		c := AttributionCounts{Touches: r.Touches, Converted: r.Converted, Persons: r.Persons, ConvertedPersons: r.ConvertedPersons}
		switch {
		case r.Bucket == -1:
			res.AttributionCounts = c
			res.ValueSum, res.ValueSquares = r.ValueSum, r.ValueSquares
		case r.Bucket >= 0 && r.Bucket < int64(len(res.Buckets)):
			res.Buckets[r.Bucket] = c
		default:
			return nil, fmt.Errorf("attribution: bucket %d out of range", r.Bucket)
		}
	}
	return res, nil
}

// BucketCase is a SQL CASE that gives the bucket index of the integer
// column col (microseconds) against bounds (ascending; the index is how
// many bounds are at or before the value), split in halves so it is
// log(n) deep; DuckDB and ClickHouse both read it. The numbers are the
// plan's, never a user's text.
func BucketCase(col string, bounds []int64) string {
	var split func(lo, hi int) string // the index for values in [bounds[lo-1], bounds[hi]) …
	split = func(lo, hi int) string {
		if lo == hi {
			return fmt.Sprint(lo)
		}
		mid := (lo + hi) / 2
		return fmt.Sprintf("CASE WHEN %s < %d THEN %s ELSE %s END", col, bounds[mid], split(lo, mid), split(mid+1, hi))
	}
	return split(0, len(bounds))
}
