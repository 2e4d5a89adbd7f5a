package flags

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// relDate is PostHog's relative date: "-7d" (or "7d") is seven days
// before now; units h, d, w, m (months), y.
type relDate struct {
	n    int
	unit byte
}

// parseRelative reads ^-?[0-9]+[hdwmy]$ with the number below 10 000,
// as PostHog does.
func parseRelative(s string) (relDate, bool) {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	if len(s) < 2 {
		return relDate{}, false
	}
	unit := s[len(s)-1]
	switch unit {
	case 'h', 'd', 'w', 'm', 'y':
	default:
		return relDate{}, false
	}
	digits := s[:len(s)-1]
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return relDate{}, false
		}
		n = n*10 + int(c-'0')
		if n >= 10000 {
			return relDate{}, false
		}
	}
	return relDate{n: n, unit: unit}, true
}

// from is the instant r before now; months and years move on the
// calendar of loc and clamp the day to the target month's length
// (dateutil's relativedelta, which PostHog uses).
func (r relDate) from(now time.Time, loc *time.Location) time.Time {
	switch r.unit {
	case 'h':
		return now.Add(-time.Duration(r.n) * time.Hour)
	case 'd':
		return now.In(loc).AddDate(0, 0, -r.n)
	case 'w':
		return now.In(loc).AddDate(0, 0, -7*r.n)
	case 'm':
		return subMonths(now.In(loc), r.n)
	default:
		return subMonths(now.In(loc), 12*r.n)
	}
}

func subMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	idx := y*12 + int(m) - 1 - months
	ty, mi := idx/12, idx%12
	if mi < 0 {
		ty, mi = ty-1, mi+12
	}
	tm := time.Month(mi + 1)
	if last := daysIn(ty, tm); d > last {
		d = last
	}
	return time.Date(ty, tm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Layouts with an offset; Go's parser takes optional fractional seconds
// after the seconds field.
var zonedLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05 Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04Z07:00",
}

// Naive layouts, read in the project's time zone.
var naiveLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
}

// parseDate reads the date forms PostHog accepts: a date (midnight in
// loc), a date and time without offset (in loc), or with one ("Z",
// "+01:00", " UTC").
func parseDate(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 10 || s[4] != '-' || s[7] != '-' || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	if len(s) == 10 {
		t, err := time.ParseInLocation("2006-01-02", s, loc)
		return t, err == nil
	}
	if len(s) > 4 && strings.EqualFold(s[len(s)-4:], " UTC") {
		s, loc = s[:len(s)-4], time.UTC
		for _, l := range naiveLayouts {
			if t, err := time.ParseInLocation(l, s, loc); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	rest := s[10:]
	if strings.ContainsAny(rest, "Zz+") || strings.Contains(rest[1:], "-") {
		for _, l := range zonedLayouts {
			if t, err := time.Parse(l, strings.Replace(s, "z", "Z", 1)); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	for _, l := range naiveLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// dateOf is a property value as an instant: time.Time as it is, numbers
// (and numeric strings) as Unix seconds, strings as parseDate reads them.
func dateOf(v any, loc *time.Location) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return unixSeconds(f)
		}
		return parseDate(x, loc)
	case bool, nil, []any, map[string]any:
		return time.Time{}, false
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return unixSeconds(f)
		}
		return time.Time{}, false
	}
	if f, ok := numberOf(v); ok {
		return unixSeconds(f)
	}
	return time.Time{}, false
}

// unixSeconds bounds the instant to years 0–9999 as PostHog's parsers do.
func unixSeconds(f float64) (time.Time, bool) {
	if math.IsNaN(f) || f < -62167219200 || f > 253402300799 {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64(math.Round((f-sec)*1e9))).UTC(), true
}
