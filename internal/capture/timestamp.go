package capture

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxFuture is how far ahead of the server clock a timestamp may be after
// clock-skew correction; PostHog clamps later ones to now (they point at an
// instrumentation bug) and so do we.
const maxFuture = 23 * time.Hour

// minTime is the earliest timestamp kept. Earlier ones (a Go zero time, a
// negative epoch, a wildly wrong sent_at) are never real product data, and
// some stores cannot hold them.
var minTime = time.Unix(0, 0).UTC()

// timeLayouts are the ISO 8601 forms SDKs send. time.Parse accepts a
// fractional second after the seconds even when the layout has none.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
}

// parseTime reads an ISO 8601 string or a number of epoch milliseconds.
// ok is false for anything else, which callers treat as "no timestamp".
func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		return parseTimeString(x)
	case json.Number:
		return parseEpochMillis(string(x))
	case float64:
		return epochMillis(x)
	}
	return time.Time{}, false
}

func parseTimeString(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if c := s[0]; c >= '0' && c <= '9' && !strings.ContainsAny(s, "-:") {
		return parseEpochMillis(s)
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseEpochMillis(s string) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, false
	}
	return epochMillis(f)
}

// epochMillis rejects values that time.Time cannot hold exactly instead of
// letting them wrap around.
func epochMillis(ms float64) (time.Time, bool) {
	if math.IsNaN(ms) || math.Abs(ms) > 1e15 {
		return time.Time{}, false
	}
	sec := math.Floor(ms / 1000)
	nsec := (ms - sec*1000) * 1e6
	return time.Unix(int64(sec), int64(nsec)).UTC(), true
}

// settle applies the range rules to a corrected timestamp: far-future ones
// become now, and so do ones before 1970, which could not be stored sensibly.
func settle(t, now time.Time) time.Time {
	if t.After(now.Add(maxFuture)) || t.Before(minTime) {
		return now
	}
	return t.UTC()
}

// skewCorrect moves a client timestamp by the difference between the
// client's clock (sentAt, read when the request left) and ours (now, when
// it arrived): timestamp − (sentAt − now).
func skewCorrect(ts, sentAt, now time.Time) time.Time {
	return ts.Add(-sentAt.Sub(now))
}

// numberMillis reads a number of milliseconds (PostHog's `offset`).
func numberMillis(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, false
		}
	case float64:
		f = x
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.Abs(f) > 1e15 {
		return 0, false
	}
	return f, true
}
