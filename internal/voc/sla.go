package voc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Responsiveness (issue 16 item 6): SLA clocks of feedback items counted
// in business time, the working hours of the project's time zone. The
// math here is pure (callers pass the clock), so the API, the breach
// alerts and the tests agree.
//
// A business day is a window [start, end) of local wall-clock time on a
// working weekday that is not a holiday. Windows are built per calendar
// day with time.Date in the zone, so a DST change moves them with the
// wall clock: 09:00–18:00 stays 09:00–18:00 local, and the business time
// in between is the real elapsed time inside the windows (a window that
// a transition cuts through is an hour shorter or longer, as worked).

// SettingSLA is the project setting of SLA targets and business hours:
//
//	{"business_hours": {"days": ["mon",…,"fri"], "start": "09:00", "end": "18:00",
//	                    "holidays": ["2026-12-25"], "time_zone": "Europe/Berlin"},
//	 "targets": {"urgent": {"first_response": "1h", "resolve": "1d"}, …}}
//
// Targets are business time: a Go duration ("90m", "4h") or whole
// business days ("2d": twice the length of a business day). Left out:
// DefaultSLA's values; the time zone defaults to the project's.
const SettingSLA = "voc.sla"

// Bounds of an SLA setting.
const (
	MaxSLABody  = 64 << 10
	MaxHolidays = 1000
	// maxSLADays bounds the calendar days one clock walks (ten years):
	// an item older than that counts only its last ten years.
	maxSLADays = 3660
)

// SLAKinds are the two clocks of an item.
const (
	ClockFirstResponse = "first_response"
	ClockResolve       = "resolve"
)

// Priorities, most urgent first (the order of SLA reports).
var Priorities = []string{meta.PriorityUrgent, meta.PriorityHigh, meta.PriorityNormal, meta.PriorityLow}

// BusinessHours are the working windows of one time zone.
type BusinessHours struct {
	Loc        *time.Location
	Days       [7]bool       // by time.Weekday
	Start, End time.Duration // since local midnight, Start < End
	Holidays   map[string]bool
}

// Target is one priority's SLA: business time to the first response and
// to resolution (0: none).
type Target struct {
	FirstResponse time.Duration
	Resolve       time.Duration
}

// SLA is a project's SLA: its business hours and per-priority targets.
type SLA struct {
	Hours   BusinessHours
	Targets map[string]Target
}

// slaWire is the setting's JSON.
type slaWire struct {
	BusinessHours *hoursWire            `json:"business_hours"`
	Targets       map[string]targetWire `json:"targets"`
}

type hoursWire struct {
	Days     []string `json:"days"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Holidays []string `json:"holidays"`
	TimeZone string   `json:"time_zone"`
}

type targetWire struct {
	FirstResponse string `json:"first_response"`
	Resolve       string `json:"resolve"`
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// defaultTargets are the targets of a priority the setting leaves out.
var defaultTargets = map[string]targetWire{
	meta.PriorityUrgent: {"1h", "1d"},
	meta.PriorityHigh:   {"4h", "3d"},
	meta.PriorityNormal: {"1d", "5d"},
	meta.PriorityLow:    {"2d", "10d"},
}

// DefaultSLA is the SLA of a project without the setting: Monday to
// Friday, 09:00 to 18:00 in its time zone, and the default targets.
func DefaultSLA(loc *time.Location) *SLA {
	s, err := ParseSLA(nil, loc)
	if err != nil {
		panic(err) // the defaults are valid
	}
	return s
}

// ParseSLA decodes the setting strictly (unknown fields are refused) and
// validates it; empty is the defaults. loc is the project's time zone.
// Errors are *insight.Error naming the field.
func ParseSLA(body []byte, loc *time.Location) (*SLA, error) {
	var w slaWire
	if len(bytes.TrimSpace(body)) > 0 {
		if len(body) > MaxSLABody {
			return nil, insight.Bad("body", "at most %d bytes", MaxSLABody)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			return nil, insight.Bad("body", "cannot decode the SLA setting: %v", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, insight.Bad("body", "one JSON object expected")
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	h, err := parseHours(w.BusinessHours, loc)
	if err != nil {
		return nil, err
	}
	s := &SLA{Hours: h, Targets: map[string]Target{}}
	for name := range w.Targets {
		if !slices.Contains(Priorities, name) {
			return nil, insight.Bad("targets."+name, "unknown priority (%s)", strings.Join(Priorities, ", "))
		}
	}
	for _, p := range Priorities {
		tw, ok := w.Targets[p]
		if !ok {
			tw = defaultTargets[p]
		}
		var t Target
		if t.FirstResponse, err = h.parseTarget("targets."+p+".first_response", tw.FirstResponse); err != nil {
			return nil, err
		}
		if t.Resolve, err = h.parseTarget("targets."+p+".resolve", tw.Resolve); err != nil {
			return nil, err
		}
		s.Targets[p] = t
	}
	return s, nil
}

func parseHours(w *hoursWire, loc *time.Location) (BusinessHours, error) {
	if w == nil {
		w = &hoursWire{}
	}
	h := BusinessHours{Loc: loc, Holidays: map[string]bool{}}
	if w.TimeZone != "" {
		z := insight.ZoneOf(w.TimeZone)
		if z == nil {
			return h, insight.Bad("business_hours.time_zone", "unknown time zone %q (an IANA name such as Europe/Berlin)", w.TimeZone)
		}
		h.Loc = z
	}
	days := w.Days
	if days == nil {
		days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	for i, d := range days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return h, insight.Bad(fmt.Sprintf("business_hours.days[%d]", i), "want mon, tue, wed, thu, fri, sat or sun")
		}
		h.Days[wd] = true
	}
	if !slices.Contains(h.Days[:], true) {
		return h, insight.Bad("business_hours.days", "at least one working day is needed")
	}
	var err error
	if h.Start, err = clockOf("business_hours.start", w.Start, "09:00"); err != nil {
		return h, err
	}
	if h.End, err = clockOf("business_hours.end", w.End, "18:00"); err != nil {
		return h, err
	}
	if h.End <= h.Start {
		return h, insight.Bad("business_hours.end", "must be after start (hours that cross midnight are not supported)")
	}
	if len(w.Holidays) > MaxHolidays {
		return h, insight.Bad("business_hours.holidays", "at most %d", MaxHolidays)
	}
	for i, d := range w.Holidays {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return h, insight.Bad(fmt.Sprintf("business_hours.holidays[%d]", i), "want a date such as 2026-12-25")
		}
		h.Holidays[d] = true
	}
	return h, nil
}

// clockOf parses "HH:MM" (00:00 to 24:00).
func clockOf(field, s, def string) (time.Duration, error) {
	if s == "" {
		s = def
	}
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || len(hh) != 2 || len(mm) != 2 || err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, insight.Bad(field, "want a time of day such as 09:00")
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// parseTarget reads a target: a Go duration, or whole business days "Nd".
func (h BusinessHours) parseTarget(field, s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 365 {
			return 0, insight.Bad(field, "want 1d to 365d, or a Go duration such as \"4h\"")
		}
		return time.Duration(days) * (h.End - h.Start), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 365*24*time.Hour {
		return 0, insight.Bad(field, "want a Go duration such as \"90m\" or \"4h\", or business days such as \"2d\"")
	}
	return d, nil
}

// window is the business window of the calendar day y-m-d in the zone,
// as instants; ok is false on a day off.
func (h BusinessHours) window(y int, m time.Month, d int) (from, to time.Time, ok bool) {
	day := time.Date(y, m, d, 0, 0, 0, 0, h.Loc)
	if !h.Days[day.Weekday()] || h.Holidays[day.Format(time.DateOnly)] {
		return from, to, false
	}
	at := func(c time.Duration) time.Time {
		return time.Date(y, m, d, int(c/time.Hour), int(c%time.Hour/time.Minute), 0, 0, h.Loc)
	}
	return at(h.Start), at(h.End), true
}

// days calls fn with the window of each business day from the day of t
// on, in order, until fn returns false (over at most maxSLADays calendar
// days).
func (h BusinessHours) days(t time.Time, fn func(from, to time.Time) bool) {
	y, m, d := t.In(h.Loc).Date()
	for i := 0; i < maxSLADays; i++ {
		if from, to, ok := h.window(y, m, d+i); ok && !fn(from, to) {
			return
		}
	}
}

// Elapsed is the business time between from and to (0 when to is not
// after from).
func (h BusinessHours) Elapsed(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if from.Before(to.AddDate(-10, 0, 0)) {
		from = to.AddDate(-10, 0, 0)
	}
	var sum time.Duration
	h.days(from, func(ws, we time.Time) bool {
		if !ws.Before(to) {
			return false
		}
		a, b := maxTime(ws, from), minTime(we, to)
		if b.After(a) {
			sum += b.Sub(a)
		}
		return we.Before(to)
	})
	return sum
}

// Deadline is when d of business time after from ends: from itself for
// d ≤ 0, the zero time when no business day comes within maxSLADays.
func (h BusinessHours) Deadline(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	var due time.Time
	left := d
	h.days(from, func(ws, we time.Time) bool {
		a := maxTime(ws, from)
		if !we.After(a) {
			return true
		}
		span := we.Sub(a)
		if left <= span {
			due = a.Add(left)
			return false
		}
		left -= span
		return true
	})
	return due
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Clock is one SLA clock of an item: Elapsed business time to the event
// (the first response, the resolution) or, while it has not happened,
// to now; Due is when the target's time runs out.
type Clock struct {
	Kind     string        `json:"kind"`
	Target   time.Duration `json:"-"`
	Elapsed  time.Duration `json:"-"`
	Done     bool          `json:"done"` // the event happened
	Due      time.Time     `json:"due_at,omitzero"`
	Breached bool          `json:"breached"`
}

// ItemClocks are an item's first-response and resolution clocks at now.
// A clock without a target never breaches.
func (s *SLA) ItemClocks(f meta.FeedbackItem, now time.Time) (first, resolve Clock) {
	t := s.Targets[f.Priority]
	clock := func(kind string, target time.Duration, at time.Time) Clock {
		c := Clock{Kind: kind, Target: target, Done: !at.IsZero()}
		end := now
		if c.Done {
			end = at
		}
		c.Elapsed = s.Hours.Elapsed(f.CreatedAt, end)
		if target > 0 {
			c.Due = s.Hours.Deadline(f.CreatedAt, target)
			c.Breached = c.Elapsed > target
		}
		return c
	}
	return clock(ClockFirstResponse, t.FirstResponse, f.FirstResponseAt), clock(ClockResolve, t.Resolve, f.ResolvedAt)
}

// Open reports whether an item's clocks still run: not resolved and not a
// merged duplicate.
func Open(f meta.FeedbackItem) bool {
	return f.MergedInto == 0 && f.ResolvedAt.IsZero() && f.Status != meta.FeedbackDone && f.Status != meta.FeedbackDeclined
}

// ClockStats summarise one clock of one priority's items: of the items
// whose event happened, the median and 90th percentile business times
// (seconds; nil when none) and how many missed the target; of the open
// ones, how many are running and how many have breached.
type ClockStats struct {
	TargetS      float64  `json:"target_s"`
	Measured     int      `json:"measured"`
	MedianS      *float64 `json:"median_s"`
	P90S         *float64 `json:"p90_s"`
	Breached     int      `json:"breached"`
	Running      int      `json:"running"`
	OpenBreached int      `json:"open_breached"`
}

// PriorityStats is one priority's SLA summary.
type PriorityStats struct {
	Priority      string     `json:"priority"`
	Items         int        `json:"items"`
	FirstResponse ClockStats `json:"first_response"`
	Resolve       ClockStats `json:"resolve"`
}

// Breach is an open item past one of its targets.
type Breach struct {
	ItemID     int64     `json:"item_id"`
	Priority   string    `json:"priority"`
	Kind       string    `json:"kind"`
	Text       string    `json:"text"`
	DistinctID string    `json:"distinct_id"`
	CreatedAt  time.Time `json:"created_at"`
	DueAt      time.Time `json:"due_at"`
	// OverdueS is the business time past the target, in seconds.
	OverdueS float64 `json:"overdue_s"`
}

// SLAReport is the SLA view of a set of items at one time.
type SLAReport struct {
	AsOf       time.Time       `json:"as_of"`
	Priorities []PriorityStats `json:"priorities"`
	Breaches   []Breach        `json:"breaches"`
}

// MaxBreachesListed bounds the breaches a report lists (the most overdue
// first); the counts cover them all.
const MaxBreachesListed = 500

// Report summarises items' SLA clocks at now, per priority (most urgent
// first). Merged duplicates are left out; so are items created after now.
func (s *SLA) Report(items []meta.FeedbackItem, now time.Time) SLAReport {
	rep := SLAReport{AsOf: now, Breaches: []Breach{}}
	type acc struct {
		stats          PriorityStats
		first, resolve []float64
	}
	by := map[string]*acc{}
	for _, p := range Priorities {
		t := s.Targets[p]
		by[p] = &acc{stats: PriorityStats{Priority: p, FirstResponse: ClockStats{TargetS: t.FirstResponse.Seconds()},
			Resolve: ClockStats{TargetS: t.Resolve.Seconds()}}}
	}
	for _, f := range items {
		a := by[f.Priority]
		if a == nil || f.MergedInto != 0 || f.CreatedAt.After(now) {
			continue
		}
		a.stats.Items++
		first, resolve := s.ItemClocks(f, now)
		open := Open(f)
		count := func(c Clock, cs *ClockStats, samples *[]float64) {
			switch {
			case c.Done:
				cs.Measured++
				*samples = append(*samples, c.Elapsed.Seconds())
				if c.Breached {
					cs.Breached++
				}
			case open:
				cs.Running++
				if c.Breached {
					cs.OpenBreached++
					rep.Breaches = append(rep.Breaches, Breach{ItemID: f.ID, Priority: f.Priority, Kind: c.Kind, Text: clipName(f.Text),
						DistinctID: f.DistinctID, CreatedAt: f.CreatedAt, DueAt: c.Due, OverdueS: (c.Elapsed - c.Target).Seconds()})
				}
			}
		}
		count(first, &a.stats.FirstResponse, &a.first)
		count(resolve, &a.stats.Resolve, &a.resolve)
	}
	for _, p := range Priorities {
		a := by[p]
		a.stats.FirstResponse.MedianS, a.stats.FirstResponse.P90S = Quantile(a.first, 0.5), Quantile(a.first, 0.9)
		a.stats.Resolve.MedianS, a.stats.Resolve.P90S = Quantile(a.resolve, 0.5), Quantile(a.resolve, 0.9)
		rep.Priorities = append(rep.Priorities, a.stats)
	}
	slices.SortStableFunc(rep.Breaches, func(a, b Breach) int {
		if a.OverdueS != b.OverdueS {
			return -cmpFloat(a.OverdueS, b.OverdueS)
		}
		return int(a.ItemID - b.ItemID)
	})
	rep.Breaches = rep.Breaches[:min(len(rep.Breaches), MaxBreachesListed)]
	return rep
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Quantile is the q-quantile of xs by linear interpolation between the
// closest ranks (the median of an even count is the mean of the middle
// two), nil for no values. xs is sorted in place.
func Quantile(xs []float64, q float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	v := xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
	v = math.Round(v*1000) / 1000
	return &v
}
