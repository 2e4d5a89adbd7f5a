package insight

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// GoldenTime is the golden-time report of a campaign's trigger and goal
// (SPEC §6): how long after a trigger its goal comes, so a reminder's
// delay can be chosen from data ("most re-purchases happen within 2
// days").
//
// Every trigger event in [From, To) (its Filters and the query's, which
// may hold cohort filters) is one unit: a person who carted three times
// has three triggers. A trigger converts when the same person (after
// merges) does the goal event (its Filters) strictly after it and before
// it + Horizon; goals are read past To, so the last triggers of the range
// have their whole horizon. With Match, the goal's property Match must
// equal the trigger's (as text: the same item), and triggers without the
// property are left out. A trigger's delay is the time to its first
// converting goal, to the minute (rounded down).
type GoldenTime struct {
	Trigger GoldenEvent `json:"trigger"`
	Goal    GoldenEvent `json:"goal"`
	// Match is a property the goal event must share with the trigger.
	Match string `json:"match,omitempty"`
	// Horizon is the longest delay counted: a number and a unit s, m, h,
	// d or w, a whole number of hours from 1h to MaxGoldenHorizon;
	// default DefaultGoldenHorizon.
	Horizon string `json:"horizon,omitempty"`
	Range

	HorizonDur time.Duration `json:"-"`
}

// GoldenEvent is an event with filters: a golden-time trigger or goal.
type GoldenEvent struct {
	Event   string   `json:"event"`
	Filters []Filter `json:"filters,omitempty"`
}

// Golden-time limits and defaults.
const (
	DefaultGoldenHorizon = "14d"
	MaxGoldenHorizon     = 90 * 24 * time.Hour
	// GoldenHourBuckets is how many hourly buckets the histogram has
	// before it counts in days.
	GoldenHourBuckets = 48
	maxGoldenName     = 400
)

// ParseGoldenTime decodes and validates a golden-time query body.
func ParseGoldenTime(body []byte) (*GoldenTime, error) {
	var g GoldenTime
	if err := strictDecode(body, &g); err != nil {
		if x, ok := err.(*Error); ok && x.Field == "" {
			x.Field = "body"
		}
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// Validate checks the query and fills its defaults.
func (g *GoldenTime) Validate() error {
	if err := g.Range.validate(); err != nil {
		return err
	}
	if g.Unit != "" && g.Unit != "person" {
		return bad("unit", "golden time counts persons' triggers (unit %q is not supported)", g.Unit)
	}
	if err := noBreakdown(&g.Range, "golden_time"); err != nil {
		return err
	}
	for _, e := range []struct {
		field string
		ev    GoldenEvent
	}{{"trigger", g.Trigger}, {"goal", g.Goal}} {
		switch {
		case e.ev.Event == "":
			return bad(e.field+".event", "missing")
		case len(e.ev.Event) > maxGoldenName:
			return bad(e.field+".event", "at most %d bytes", maxGoldenName)
		}
		if err := validateFilters(e.field+".filters", e.ev.Filters, false); err != nil {
			return err
		}
	}
	if len(g.Match) > maxGoldenName {
		return bad("match", "at most %d bytes", maxGoldenName)
	}
	if g.Horizon == "" {
		g.Horizon = DefaultGoldenHorizon
	}
	d, err := ParseWindow(g.Horizon)
	if err != nil {
		return bad("horizon", "%v", err)
	}
	if d%time.Hour != 0 || d > MaxGoldenHorizon {
		return bad("horizon", "must be a whole number of hours, at most %s", MaxGoldenHorizon)
	}
	g.HorizonDur = d
	return nil
}

// ValidateFilters checks filters as every query does: cohorts (by id or
// inline) only where cohorts is true. For definitions outside this
// package that hold insight filters, such as campaigns' triggers.
func ValidateFilters(field string, fs []Filter, cohorts bool) error {
	return validateFilters(field, fs, cohorts)
}

// The seam between insight and the stores for golden time: RunGoldenTime
// makes the plan, asks the store for rows of counts and assembles the
// answer (buckets, cumulative shares, rates, quantiles). A store only
// runs SQL.

// GoldenTimePlan is what a store computes a golden-time report from.
// Times are microseconds since the epoch.
type GoldenTimePlan struct {
	Q *GoldenTime
	// TriggerFilters are the query's filters and the trigger's: the
	// trigger rows' source filters (cohorts included).
	TriggerFilters []Filter
	// Triggers are read in [FromUs, ToUs), goals in (trigger, trigger +
	// HorizonUs), so from FromUs to GoalToUs = ToUs + HorizonUs.
	FromUs, ToUs, GoalToUs, HorizonUs int64
}

// GoldenTimeRow is a count a store hands back. Rows with the same key add
// up.
type GoldenTimeRow struct {
	Measure string // one of the Golden* constants
	// Minute, for GoldenTriggers: the minutes from the triggers to their
	// first goal, rounded down (0 <= Minute < horizon); -1 for triggers
	// with no goal within the horizon. 0 for the other measures.
	Minute int64
	Count  int64
}

// What a GoldenTimeRow counts.
const (
	GoldenTriggers         = "triggers"          // trigger events, by Minute
	GoldenPersons          = "persons"           // distinct persons with a trigger
	GoldenConvertedPersons = "converted_persons" // distinct persons with a converted trigger
)

// GoldenTimeQueries is a store's read: every row of the plan.
type GoldenTimeQueries struct {
	Rows func(p *GoldenTimePlan) ([]GoldenTimeRow, error)
}

// GoldenTimeResult is the answer to a GoldenTime.
type GoldenTimeResult struct {
	Kind             string `json:"kind"` // "golden_time"
	Triggers         int64  `json:"triggers"`
	Persons          int64  `json:"persons"`
	Converted        int64  `json:"converted"` // triggers with a goal within the horizon
	ConvertedPersons int64  `json:"converted_persons"`
	// Conversion is Converted / Triggers (0 without triggers).
	Conversion   float64 `json:"conversion"`
	HorizonHours int     `json:"horizon_hours"`
	// MedianHours and P75Hours are quantiles of the converted triggers'
	// delays (linear interpolation between closest ranks, as
	// quantile_cont); nil when none converted.
	MedianHours *float64 `json:"median_hours"`
	P75Hours    *float64 `json:"p75_hours"`
	// Histogram holds the converted triggers by delay: hourly buckets
	// [h, h+1) for the first GoldenHourBuckets hours, then daily ones
	// (the last ends at the horizon).
	Histogram []GoldenTimeBucket `json:"histogram"`
	// Cumulative is, for every whole hour h of the horizon (1 to
	// HorizonHours), the triggers converted within h hours.
	Cumulative []GoldenTimePoint `json:"cumulative"`
}

// GoldenTimeBucket is the triggers converted with a delay in [FromHours,
// ToHours). Share is Conversions over all triggers; Rate is Conversions
// over the triggers not converted before FromHours (at risk), the
// conversion rate by hours since trigger.
type GoldenTimeBucket struct {
	Label       string  `json:"label"` // "0h" … "47h", then "2d" …
	FromHours   int     `json:"from_hours"`
	ToHours     int     `json:"to_hours"`
	Conversions int64   `json:"conversions"`
	Share       float64 `json:"share"`
	Rate        float64 `json:"rate"`
}

// GoldenTimePoint is the triggers converted within Hours of the trigger
// and their share of all triggers.
type GoldenTimePoint struct {
	Hours     int     `json:"hours"`
	Converted int64   `json:"converted"`
	Share     float64 `json:"share"`
}

// Plan returns the query's plan.
func (g *GoldenTime) Plan() *GoldenTimePlan {
	h := g.HorizonDur.Microseconds()
	return &GoldenTimePlan{
		Q:              g,
		TriggerFilters: slices.Concat(g.Filters, g.Trigger.Filters),
		FromUs:         g.From.UnixMicro(),
		ToUs:           g.To.UnixMicro(),
		GoalToUs:       g.To.UnixMicro() + h,
		HorizonUs:      h,
	}
}

// RunGoldenTime answers a golden-time query from a store's rows.
func RunGoldenTime(q *GoldenTime, run GoldenTimeQueries) (*GoldenTimeResult, error) {
	p := q.Plan()
	rows, err := run.Rows(p)
	if err != nil {
		return nil, err
	}
	horizonMin := p.HorizonUs / 60e6
	hours := int(q.HorizonDur / time.Hour)
	res := &GoldenTimeResult{Kind: "golden_time", HorizonHours: hours}
	delays := map[int64]int64{}
	for _, r := range rows {
		switch r.Measure {
		case GoldenTriggers:
			if r.Minute < -1 || r.Minute >= horizonMin {
				return nil, fmt.Errorf("golden time: delay of %d minutes out of range", r.Minute)
			}
			res.Triggers += r.Count
			if r.Minute >= 0 {
				res.Converted += r.Count
				delays[r.Minute] += r.Count
			}
		case GoldenPersons:
			res.Persons += r.Count
		case GoldenConvertedPersons:
			res.ConvertedPersons += r.Count
		default:
			return nil, fmt.Errorf("golden time: unknown measure %q", r.Measure)
		}
	}
	share := func(n int64) float64 { return Ratio(n, res.Triggers) }
	res.Conversion = share(res.Converted)

	// Converted triggers by whole hour of delay.
	byHour := make([]int64, hours)
	for m, n := range delays {
		byHour[m/60] += n
	}
	var before int64 // converted before the bucket
	add := func(label string, from, to int) {
		var n int64
		for h := from; h < to; h++ {
			n += byHour[h]
		}
		res.Histogram = append(res.Histogram, GoldenTimeBucket{Label: label, FromHours: from, ToHours: to,
			Conversions: n, Share: share(n), Rate: Ratio(n, res.Triggers-before)})
		before += n
	}
	for h := 0; h < min(hours, GoldenHourBuckets); h++ {
		add(strconv.Itoa(h)+"h", h, h+1)
	}
	for h := GoldenHourBuckets; h < hours; h += 24 {
		add(strconv.Itoa(h/24)+"d", h, min(h+24, hours))
	}
	var cum int64
	res.Cumulative = make([]GoldenTimePoint, hours)
	for h := range hours {
		cum += byHour[h]
		res.Cumulative[h] = GoldenTimePoint{Hours: h + 1, Converted: cum, Share: share(cum)}
	}

	if res.Converted > 0 {
		mins := make([]int64, 0, len(delays))
		for m := range delays {
			mins = append(mins, m)
		}
		sort.Slice(mins, func(i, j int) bool { return mins[i] < mins[j] })
		hoursAt := func(level float64) *float64 {
			v := quantileOf(mins, delays, res.Converted, level) / 60
			return &v
		}
		res.MedianHours, res.P75Hours = hoursAt(0.5), hoursAt(0.75)
	}
	return res, nil
}

// quantileOf is the level quantile of n values given as distinct sorted
// values and their multiplicities, interpolating linearly between the
// closest ranks (DuckDB's quantile_cont).
func quantileOf(values []int64, count map[int64]int64, n int64, level float64) float64 {
	pos := level * float64(n-1)
	lo := int64(math.Floor(pos))
	at := func(rank int64) float64 { // the value of 0-based rank
		for _, v := range values {
			if rank < count[v] {
				return float64(v)
			}
			rank -= count[v]
		}
		return float64(values[len(values)-1])
	}
	a := at(lo)
	if lo+1 >= n {
		return a
	}
	return a + (pos-float64(lo))*(at(lo+1)-a)
}

// Engagement by local hour (best time): how many events each person did
// in each hour of their local day, in their time zone (the person
// property $timezone when it names a zone, else the project's), for
// campaign.BestTime.

// Engagement limits.
const (
	// MaxEngagementPersons bounds the persons of one EngagementHours call.
	MaxEngagementPersons = 10_000
	// EngagementSpan is how long after since events are read.
	EngagementSpan = 366 * 24 * time.Hour
	// MaxProjectZones bounds the time zones the project-wide histogram
	// reads events in: the zones of the most persons; persons in others
	// count in the project's time zone.
	MaxProjectZones = 64
	// TimezoneProperty is the person property naming a person's IANA time
	// zone.
	TimezoneProperty = "$timezone"
)

// NotEngagement are events Journey writes itself when it messages a
// person (or would have): they say when Journey sent, not when the person
// was there, so engagement does not count them.
var NotEngagement = []string{"$message_sent", "$message_delivered", "$message_failed", "$message_would_have_sent"}

// EngagementPlan is what a store counts engagement from: the events of
// Persons (after merges; the whole project's when nil) in [Since, Until),
// but NotEngagement, by local hour. A row's local hour is that of its
// instant shifted by its zone's UTC offset: the zone is Zones[i] when the
// person's TimezoneProperty equals Zones[i].Name, else Fallback.
type EngagementPlan struct {
	Persons          []int64
	SinceUs, UntilUs int64
	Exclude          []string
	Zones            []EngagementZone
	Fallback         EngagementZone
}

// EngagementZone is a time zone's UTC offsets over the plan's range, so
// both stores shift instants exactly as Go's time zone database does:
// Offsets[i] (seconds east of UTC) applies from Starts[i] (Unix seconds,
// ascending; Starts[0] is the range's start) to Starts[i+1].
type EngagementZone struct {
	Name    string
	Starts  []int64
	Offsets []int64
}

// EngagementRow counts the events of Person (0 in the project-wide
// histogram) in local hour Hour (0..23). Rows with the same key add up.
type EngagementRow struct {
	Person int64
	Hour   int
	Count  int64
}

// EngagementQueries are a store's two reads: the distinct values of the
// TimezoneProperty of persons (the project's when nil), those of the most
// persons first (ties by value), at most MaxZoneValues; and the counts.
type EngagementQueries struct {
	Zones func(persons []int64) ([]string, error)
	Hours func(p *EngagementPlan) ([]EngagementRow, error)
}

// MaxZoneValues bounds the distinct time zone values a store hands back.
const MaxZoneValues = 2000

// RunEngagementHours answers EngagementHours: each person's events by
// local hour, for the persons with events.
func RunEngagementHours(personIDs []int64, since time.Time, tz *time.Location, run EngagementQueries) (map[int64][24]float64, error) {
	if len(personIDs) > MaxEngagementPersons {
		return nil, bad("persons", "at most %d persons per call", MaxEngagementPersons)
	}
	out := map[int64][24]float64{}
	if len(personIDs) == 0 {
		return out, nil
	}
	p, err := engagementPlan(personIDs, since, tz, run, 0)
	if err != nil {
		return nil, err
	}
	rows, err := run.Hours(p)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Hour < 0 || r.Hour > 23 {
			return nil, fmt.Errorf("engagement: hour %d out of range", r.Hour)
		}
		h := out[r.Person]
		h[r.Hour] += float64(r.Count)
		out[r.Person] = h
	}
	return out, nil
}

// RunProjectEngagement answers ProjectEngagementHours: the project's
// events by local hour (each in its person's zone among the
// MaxProjectZones most common, else in tz), BestTime's fallback.
func RunProjectEngagement(since time.Time, tz *time.Location, run EngagementQueries) ([24]float64, error) {
	var out [24]float64
	p, err := engagementPlan(nil, since, tz, run, MaxProjectZones)
	if err != nil {
		return out, err
	}
	rows, err := run.Hours(p)
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		if r.Hour < 0 || r.Hour > 23 {
			return out, fmt.Errorf("engagement: hour %d out of range", r.Hour)
		}
		out[r.Hour] += float64(r.Count)
	}
	return out, nil
}

// engagementPlan reads the persons' zone values and keeps those that name
// a zone (at most limit of them; 0: no limit).
func engagementPlan(persons []int64, since time.Time, tz *time.Location, run EngagementQueries, limit int) (*EngagementPlan, error) {
	if tz == nil {
		tz = time.UTC
	}
	until := since.Add(EngagementSpan)
	p := &EngagementPlan{Persons: persons, SinceUs: since.UnixMicro(), UntilUs: until.UnixMicro(),
		Exclude: NotEngagement, Fallback: ZoneOffsets(tz, since, until)}
	values, err := run.Zones(persons)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, v := range values {
		loc := ZoneOf(v)
		if loc == nil || seen[v] {
			continue
		}
		seen[v] = true
		z := ZoneOffsets(loc, since, until)
		z.Name = v
		p.Zones = append(p.Zones, z)
		if limit > 0 && len(p.Zones) == limit {
			break
		}
	}
	return p, nil
}

// ZoneOf is the time zone a $timezone value names: an IANA name Go's
// time zone database knows (not "Local"); nil otherwise.
func ZoneOf(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}

// ZoneOffsets is loc's UTC offsets over [since, until).
func ZoneOffsets(loc *time.Location, since, until time.Time) EngagementZone {
	z := EngagementZone{Name: loc.String()}
	t := since.In(loc)
	for {
		_, off := t.Zone()
		z.Starts = append(z.Starts, t.Unix())
		z.Offsets = append(z.Offsets, int64(off))
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(until) || !end.After(t) {
			return z
		}
		t = end.In(loc)
	}
}
