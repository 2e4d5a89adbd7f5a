package campaign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/insight"
)

// Arm is what a triggered person gets: the message, or nothing (held out
// by the campaign, or in the project's control group) but a "would have
// sent" record at the moment the message would have gone, so both arms'
// attribution windows start together. The words are package meta's.
type Arm string

const (
	ArmTreatment    Arm = "treatment"
	ArmHoldout      Arm = "holdout"       // the campaign's holdout share
	ArmControlGroup Arm = "control_group" // the project-wide control group: no campaign messages it
)

// Hash keys, in flags.Hash's SHA-1 scheme (PostHog's bucketing): the
// project's control group is one key for every campaign; a campaign's
// holdout and its variants share the campaign's key under two salts, so
// the three are independent of each other and of every flag's buckets.
func controlKey(projectID string) string { return "campaign-control:" + projectID }
func campaignKey(projectID, campaignID string) string {
	return "campaign:" + projectID + ":" + campaignID
}

// inShare reports whether hash h (in [0, 1]) falls in the first share of
// the ids; a share of 1 takes them all.
func inShare(h, share float64) bool { return share >= 1 || h < share }

// Assign puts a person in an arm, stably: the same person (personKey:
// the id the sends are scheduled for, the person id as text) always gets
// the same arm. A person in the project's control group (the
// controlGroup share of the project's persons, by a project-wide hash) is
// never messaged by any campaign; of the others, the holdout share (by a
// hash salted per campaign) are the campaign's holdout; the rest are
// messaged.
func Assign(projectID, campaignID, personKey string, holdout float64, controlGroup float64) Arm {
	if controlGroup > 0 && inShare(flags.Hash(controlKey(projectID), personKey, ""), controlGroup) {
		return ArmControlGroup
	}
	if holdout > 0 && inShare(flags.Hash(campaignKey(projectID, campaignID), personKey, "holdout"), holdout) {
		return ArmHoldout
	}
	return ArmTreatment
}

// ChooseVariant picks a variant by weight, stably per person: the index
// of the variant whose share of [0, 1] (weights in order, normalised
// here) holds the person's hash; a zero weight is never chosen. -1 when
// no weight is positive.
func ChooseVariant(projectID, campaignID, personKey string, weights []float64) int {
	var sum float64
	last := -1
	for i, w := range weights {
		if w > 0 && !math.IsInf(w, 0) {
			sum += w
			last = i
		}
	}
	if last < 0 {
		return -1
	}
	h := flags.Hash(campaignKey(projectID, campaignID), personKey, "variant")
	var cum float64
	for i, w := range weights {
		if w <= 0 || math.IsInf(w, 0) {
			continue
		}
		cum += w / sum
		if h < cum {
			return i
		}
	}
	return last // h == 1, or rounding below 1
}

// Variant is the person's variant of a validated definition.
func (d *Definition) Variant(projectID, campaignID, personKey string) *Variant {
	weights := make([]float64, len(d.Variants))
	for i, v := range d.Variants {
		weights[i] = v.Weight
	}
	if i := ChooseVariant(projectID, campaignID, personKey, weights); i >= 0 {
		return &d.Variants[i]
	}
	return nil
}

// per is the cap's window (parsed when Validate has not run).
func (c *FrequencyCap) per() time.Duration {
	if c.PerDur == 0 && c.Per != "" {
		d, _ := time.ParseDuration(c.Per)
		return d
	}
	return c.PerDur
}

// inWindow returns the sends that count against a message at `at`: those
// in (at - per, at], sorted.
func (c *FrequencyCap) inWindow(sent []time.Time, at time.Time) []time.Time {
	from := at.Add(-c.per())
	var in []time.Time
	for _, s := range sent {
		if s.After(from) && !s.After(at) {
			in = append(in, s)
		}
	}
	slices.SortFunc(in, func(a, b time.Time) int { return a.Compare(b) })
	return in
}

// Allows reports whether a message at `at` keeps the person within the
// cap, given the times of the messages they got on the channel (any
// campaign): fewer than Count of them in the rolling window (at - Per,
// at]. A nil cap allows everything.
func (c *FrequencyCap) Allows(sent []time.Time, at time.Time) bool {
	return c == nil || c.Count <= 0 || len(c.inWindow(sent, at)) < c.Count
}

// NextAllowed is the earliest time at or after `at` when a message keeps
// the person within the cap: `at` itself, or when enough of the window's
// messages have left it.
func (c *FrequencyCap) NextAllowed(sent []time.Time, at time.Time) time.Time {
	if c.Allows(sent, at) {
		return at
	}
	in := c.inWindow(sent, at)
	// The oldest len(in) - Count + 1 must leave: the last of them leaves
	// the window (s > t - per no longer holds) at s + per.
	return in[len(in)-c.Count].Add(c.per())
}

// clock parses "HH:MM" (00:00 to 23:59) as the time since midnight.
func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf(`want a time of day "HH:MM" from 00:00 to 23:59, got %q`, s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// window is the quiet hours as times of day; ok is false when there are
// none (nil, unparsable, or Start == End).
func (q *QuietHours) window() (start, end time.Duration, ok bool) {
	if q == nil {
		return 0, 0, false
	}
	start, err1 := clock(q.Start)
	end, err2 := clock(q.End)
	return start, end, err1 == nil && err2 == nil && start != end
}

// sinceMidnight is a local time's wall clock as the time since midnight.
func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// quiet reports whether wall clock c is in [start, end) (across midnight
// when start > end).
func quiet(c, start, end time.Duration) bool {
	if start < end {
		return c >= start && c < end
	}
	return c >= start || c < end
}

// Quiet reports whether t is in quiet hours in loc: its local wall clock
// is in the window (so on a fall-back night an hour that occurs twice is
// quiet twice).
func (q *QuietHours) Quiet(t time.Time, loc *time.Location) bool {
	start, end, ok := q.window()
	return ok && quiet(sinceMidnight(t.In(zoneOr(loc))), start, end)
}

// SendAt is when a message due at t may go: t itself outside quiet
// hours, else the window's end: the first instant after t at which the
// local wall clock (in loc, the person's zone) leaves the window. That is
// End's next occurrence, or, when a DST change skips End (a spring-forward
// night whose gap holds it), the instant of the change (03:00 CEST for an
// End of 02:30 in Berlin); when End occurs twice (fall back), its first
// occurrence after t.
func (q *QuietHours) SendAt(t time.Time, loc *time.Location) time.Time {
	start, end, ok := q.window()
	loc = zoneOr(loc)
	lt := t.In(loc)
	if !ok || !quiet(sinceMidnight(lt), start, end) {
		return t
	}
	best := time.Time{}
	consider := func(u time.Time) {
		if u.After(t) && !quiet(sinceMidnight(u.In(loc)), start, end) && (best.IsZero() || u.Before(best)) {
			best = u
		}
	}
	// End on the local days from t's to two days later (a window is
	// shorter than a day, so its end is at most a day away)…
	y, m, d := lt.Date()
	for k := 0; k <= 2; k++ {
		for _, u := range wallInstants(y, m, d+k, end, loc) {
			consider(u)
		}
	}
	// … or a DST change that jumps the wall clock out of the window.
	for _, u := range transitions(t, t.Add(72*time.Hour), loc) {
		consider(u)
	}
	if best.IsZero() { // unreachable for real zones
		return t
	}
	return best.In(t.Location())
}

// wallInstants are the instants whose wall clock in loc is local day
// (y, m, d) at c after midnight: none in a DST gap, two in a fall-back
// hour, else one; ascending.
func wallInstants(y int, m time.Month, d int, c time.Duration, loc *time.Location) []time.Time {
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalises d
	naive := day.Add(c)
	var offsets []int
	for k := -4; k <= 4; k++ { // the offsets in use within a day of it
		_, off := naive.Add(time.Duration(k) * 6 * time.Hour).In(loc).Zone()
		if !slices.Contains(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var out []time.Time
	for _, off := range offsets {
		u := naive.Add(-time.Duration(off) * time.Second)
		lu := u.In(loc)
		if ly, lm, ld := lu.Date(); ly == day.Year() && lm == day.Month() && ld == day.Day() && sinceMidnight(lu) == c {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// transitions are loc's offset changes in (from, to].
func transitions(from, to time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	t := from.In(loc)
	for {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) || !end.After(t) {
			return out
		}
		out = append(out, end)
		t = end.In(loc)
	}
}

func zoneOr(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// Zone is the time zone of a person's $timezone property value, or
// fallback (the project's) when it names no zone.
func Zone(value string, fallback *time.Location) *time.Location {
	if loc := insight.ZoneOf(value); loc != nil {
		return loc
	}
	return zoneOr(fallback)
}

// Reeligible reports whether a trigger at `trigger` may be scheduled for
// a person whose last scheduled trigger (message or "would have sent")
// was at last (zero: never): when after is 0, always; else when at least
// `after` has passed since last. A trigger older than last is not.
func Reeligible(last, trigger time.Time, after time.Duration) bool {
	return last.IsZero() || after <= 0 || trigger.Sub(last) >= after
}

// MinHistory is the events a person needs for their own best time;
// with fewer, BestTime reads the project's histogram.
const MinHistory = 5

// BestTime is when a best-time message goes: the next occurrence, at
// least minDelay after the trigger, of the person's most engaged local
// hour (hist counts their events by hour of day in tz; a person with
// fewer than MinHistory events uses projectFallback, the project's
// histogram, read in the person's tz too). An occurrence is the hour's
// start, or the earliest allowed instant when that falls inside the hour.
// Ties between equally engaged hours go to the sooner occurrence, so the
// answer is deterministic. With no engagement at all it is trigger +
// minDelay. Hours a DST change skips have no occurrence that day.
func BestTime(hist [24]float64, trigger time.Time, minDelay time.Duration, tz *time.Location, projectFallback [24]float64) time.Time {
	earliest := trigger.Add(max(minDelay, 0))
	if total(hist) < MinHistory {
		hist = projectFallback
	}
	var top float64
	for _, v := range hist {
		if v > top && !math.IsInf(v, 0) {
			top = v
		}
	}
	if top <= 0 {
		return earliest
	}
	loc := zoneOr(tz)
	le := earliest.In(loc)
	best := time.Time{}
	for h, v := range hist {
		if v != top {
			continue
		}
		var at time.Time
		if le.Hour() == h {
			at = earliest
		} else {
			at = nextHour(le, h, loc)
		}
		if !at.IsZero() && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if best.IsZero() {
		return earliest
	}
	return best.In(trigger.Location())
}

// total sums a histogram's finite positive counts.
func total(hist [24]float64) float64 {
	var n float64
	for _, v := range hist {
		if v > 0 && !math.IsInf(v, 0) {
			n += v
		}
	}
	return n
}

// nextHour is the first start of local hour h (h:00 wall clock) after
// lt; zero when none in the next three days.
func nextHour(lt time.Time, h int, loc *time.Location) time.Time {
	y, m, d := lt.Date()
	for k := 0; k <= 3; k++ {
		for _, u := range wallInstants(y, m, d+k, time.Duration(h)*time.Hour, loc) {
			if u.After(lt) {
				return u
			}
		}
	}
	return time.Time{}
}

// Key is a message's idempotency key: the same for the same campaign,
// person, trigger event (its uuid; for a broadcast, the broadcast's run)
// and variant, and different otherwise. It is 32 characters of
// URL-safe base64 (SHA-256 of the fields, length-prefixed), so it fits
// every receiver: a webhook-id, a Message-ID's left part and a Web Push
// Topic (RFC 8030: at most 32 characters of that alphabet).
func Key(campaignID, personID int64, triggerUUID, variant string) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("journey-message-v1")
	field(strconv.FormatInt(campaignID, 10))
	field(strconv.FormatInt(personID, 10))
	field(triggerUUID)
	field(variant)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:24])
}

// Spacing is the time between two messages at the audience's send rate;
// 0 without a rate.
func (a *Audience) Spacing() time.Duration {
	if a.SendRate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / a.SendRate)
}
