package voc

import (
	"errors"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func hours(t *testing.T, setting string, loc *time.Location) BusinessHours {
	t.Helper()
	s, err := ParseSLA([]byte(setting), loc)
	if err != nil {
		t.Fatal(err)
	}
	return s.Hours
}

// TestBusinessElapsed: business time between two instants, by hand, in
// several zones, over weekends, holidays and both DST changes.
func TestBusinessElapsed(t *testing.T) {
	berlin, seoul, ny := zone(t, "Europe/Berlin"), zone(t, "Asia/Seoul"), zone(t, "America/New_York")
	weekdays := hours(t, `{"business_hours":{"holidays":["2026-12-25"]}}`, berlin)
	allDay := hours(t, `{"business_hours":{"days":["mon","tue","wed","thu","fri","sat","sun"],"start":"00:00","end":"24:00"}}`, berlin)
	weekend := hours(t, `{"business_hours":{"days":["sat","sun"],"start":"10:00","end":"14:00"}}`, berlin)
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	utc := time.UTC
	cases := []struct {
		name     string
		h        BusinessHours
		from, to time.Time
		want     time.Duration
	}{
		{"within a day", weekdays, at(berlin, "2026-06-01 10:00"), at(berlin, "2026-06-01 12:00"), 2 * time.Hour},
		{"before opening", weekdays, at(berlin, "2026-06-01 07:00"), at(berlin, "2026-06-01 09:30"), 30 * time.Minute},
		{"after closing to next morning", weekdays, at(berlin, "2026-06-01 17:30"), at(berlin, "2026-06-02 09:15"), 45 * time.Minute},
		{"over a weekend", weekdays, at(berlin, "2026-06-05 17:00"), at(berlin, "2026-06-08 10:00"), 2 * time.Hour},
		{"all weekend", weekdays, at(berlin, "2026-06-06 08:00"), at(berlin, "2026-06-07 20:00"), 0},
		{"a full week", weekdays, at(berlin, "2026-06-01 00:00"), at(berlin, "2026-06-08 00:00"), 45 * time.Hour},
		{"a holiday", weekdays, at(berlin, "2026-12-24 17:00"), at(berlin, "2026-12-28 10:00"), 2 * time.Hour},
		{"to before from", weekdays, at(berlin, "2026-06-01 12:00"), at(berlin, "2026-06-01 10:00"), 0},
		// 29 March 2026, a Sunday: 02:00 becomes 03:00 in Berlin.
		{"spring forward over the weekend", weekdays, at(berlin, "2026-03-27 17:00"), at(berlin, "2026-03-30 10:00"), 2 * time.Hour},
		{"spring forward day is 23 h", allDay, at(berlin, "2026-03-28 12:00"), at(berlin, "2026-03-30 12:00"), 47 * time.Hour},
		// 25 October 2026, a Sunday: 03:00 becomes 02:00 again.
		{"fall back day is 25 h", allDay, at(berlin, "2026-10-24 12:00"), at(berlin, "2026-10-26 12:00"), 49 * time.Hour},
		{"fall back over the weekend", weekdays, at(berlin, "2026-10-23 17:00"), at(berlin, "2026-10-26 10:00"), 2 * time.Hour},
		{"weekend-only hours", weekend, at(berlin, "2026-06-05 09:00"), at(berlin, "2026-06-08 09:00"), 8 * time.Hour},
		// One instant span, three zones: Berlin 10:00–18:00, Seoul 17:00
		// to 01:00, New York 04:00 to 12:00 (all a Monday).
		{"Berlin", hours(t, "", berlin), at(utc, "2026-06-01 08:00"), at(utc, "2026-06-01 16:00"), 8 * time.Hour},
		{"Seoul", hours(t, "", seoul), at(utc, "2026-06-01 08:00"), at(utc, "2026-06-01 16:00"), time.Hour},
		{"New York", hours(t, "", ny), at(utc, "2026-06-01 08:00"), at(utc, "2026-06-01 16:00"), 3 * time.Hour},
		// 8 March 2026: New York springs forward; Monday's hours are
		// still 09:00–18:00 local, now UTC−4.
		{"New York after its DST change", hours(t, "", ny), at(utc, "2026-03-06 22:00"), at(utc, "2026-03-09 14:00"), 2 * time.Hour},
		{"time zone of the setting", hours(t, `{"business_hours":{"time_zone":"Asia/Seoul"}}`, berlin), at(utc, "2026-06-01 08:00"), at(utc, "2026-06-01 16:00"), time.Hour},
	}
	for _, c := range cases {
		if got := c.h.Elapsed(c.from, c.to); got != c.want {
			t.Errorf("%s: Elapsed(%s, %s) = %s, want %s", c.name, c.from, c.to, got, c.want)
		}
	}
}

// TestBusinessDeadline: when a target's business time runs out, and that
// Elapsed from the start to it is the target.
func TestBusinessDeadline(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	h := hours(t, `{"business_hours":{"holidays":["2026-12-25"]}}`, berlin)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name string
		from time.Time
		d    time.Duration
		want time.Time
	}{
		{"same day", at("2026-06-01 10:00"), time.Hour, at("2026-06-01 11:00")},
		{"at closing", at("2026-06-01 17:00"), time.Hour, at("2026-06-01 18:00")},
		{"next morning", at("2026-06-01 17:30"), time.Hour, at("2026-06-02 09:30")},
		{"before opening", at("2026-06-01 06:00"), time.Hour, at("2026-06-01 10:00")},
		{"one business day", at("2026-06-01 12:00"), 9 * time.Hour, at("2026-06-02 12:00")},
		{"over a weekend", at("2026-06-05 17:30"), time.Hour, at("2026-06-08 09:30")},
		{"from a Saturday", at("2026-06-06 11:00"), 30 * time.Minute, at("2026-06-08 09:30")},
		{"over a holiday", at("2026-12-24 17:30"), time.Hour, at("2026-12-28 09:30")},
		{"over spring forward", at("2026-03-27 17:30"), time.Hour, at("2026-03-30 09:30")},
		{"over fall back", at("2026-10-23 17:30"), time.Hour, at("2026-10-26 09:30")},
		{"no target", at("2026-06-06 11:00"), 0, at("2026-06-06 11:00")},
	}
	for _, c := range cases {
		got := h.Deadline(c.from, c.d)
		if !got.Equal(c.want) {
			t.Errorf("%s: Deadline(%s, %s) = %s, want %s", c.name, c.from, c.d, got, c.want)
		}
		if c.d > 0 {
			if e := h.Elapsed(c.from, got); e != c.d {
				t.Errorf("%s: Elapsed to the deadline = %s, want %s", c.name, e, c.d)
			}
		}
	}
	none := hours(t, `{"business_hours":{"days":["mon"],"holidays":[]}}`, berlin)
	if got := none.Deadline(at("2026-06-02 10:00"), time.Hour); !got.Equal(at("2026-06-08 10:00")) {
		t.Errorf("Monday-only deadline %s", got)
	}
}

func TestParseSLA(t *testing.T) {
	s, err := ParseSLA([]byte(`{"business_hours":{"start":"08:30","end":"17:00"},"targets":{"urgent":{"first_response":"30m","resolve":"2d"}}}`), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Targets[meta.PriorityUrgent]; got.FirstResponse != 30*time.Minute || got.Resolve != 17*time.Hour {
		t.Errorf("urgent %+v: want 30m and two 8.5 h days", got)
	}
	if got := s.Targets[meta.PriorityNormal]; got.FirstResponse != 8*time.Hour+30*time.Minute || got.Resolve != 5*(8*time.Hour+30*time.Minute) {
		t.Errorf("normal takes the defaults: %+v", got)
	}
	if d := DefaultSLA(time.UTC); d.Targets[meta.PriorityUrgent].Resolve != 9*time.Hour || !d.Hours.Days[time.Monday] || d.Hours.Days[time.Sunday] {
		t.Errorf("defaults %+v", d)
	}
	for body, field := range map[string]string{
		`{"targets":{"asap":{}}}`:                            "targets.asap",
		`{"targets":{"high":{"first_response":"soon"}}}`:     "targets.high.first_response",
		`{"targets":{"low":{"resolve":"0.5d"}}}`:             "targets.low.resolve",
		`{"targets":{"low":{"resolve":"-1h"}}}`:              "targets.low.resolve",
		`{"business_hours":{"days":["monday"]}}`:             "business_hours.days[0]",
		`{"business_hours":{"days":[]}}`:                     "business_hours.days",
		`{"business_hours":{"start":"9:00"}}`:                "business_hours.start",
		`{"business_hours":{"end":"24:30"}}`:                 "business_hours.end",
		`{"business_hours":{"start":"18:00","end":"09:00"}}`: "business_hours.end",
		`{"business_hours":{"holidays":["25.12.2026"]}}`:     "business_hours.holidays[0]",
		`{"business_hours":{"time_zone":"Mars/Olympus"}}`:    "business_hours.time_zone",
		`{"business_hours":{},"extra":1}`:                    "body",
		`{} {}`:                                              "body",
		`[]`:                                                 "body",
	} {
		_, err := ParseSLA([]byte(body), time.UTC)
		var bad *insight.Error
		if !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: %v, want an error on %s", body, err, field)
		}
	}
}

// TestSLAReport: per-priority medians, 90th percentiles and breaches,
// hand-computed, in business time of a Berlin week.
func TestSLAReport(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	s, err := ParseSLA([]byte(`{"targets":{"urgent":{"first_response":"1h","resolve":"1d"},"normal":{"first_response":"4h","resolve":"2d"}}}`), berlin)
	if err != nil {
		t.Fatal(err)
	}
	at := func(v string) time.Time {
		x, err := time.ParseInLocation("2006-01-02 15:04", v, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	now := at("2026-06-03 12:00") // a Wednesday
	items := []meta.FeedbackItem{
		// urgent, answered after 30 m, 2 h (breach) and 20 m (created
		// Friday 17:50, answered Monday 09:10: 10 + 10 minutes).
		{ID: 1, Priority: "urgent", CreatedAt: at("2026-06-01 10:00"), FirstResponseAt: at("2026-06-01 10:30"), ResolvedAt: at("2026-06-01 15:00"), Status: "done"},
		{ID: 2, Priority: "urgent", CreatedAt: at("2026-06-01 10:00"), FirstResponseAt: at("2026-06-01 12:00")},
		{ID: 3, Priority: "urgent", CreatedAt: at("2026-05-29 17:50"), FirstResponseAt: at("2026-06-01 09:10")},
		// urgent, open without a response since Tuesday 11:00: 7 + 3 =
		// 10 h of business time by now, both clocks breached.
		{ID: 4, Priority: "urgent", CreatedAt: at("2026-06-02 11:00"), Text: "export fails"},
		// normal, open since this morning: nothing breached yet.
		{ID: 5, Priority: "normal", CreatedAt: at("2026-06-03 09:00")},
		// a merged duplicate and a future item count nowhere.
		{ID: 6, Priority: "urgent", CreatedAt: at("2026-05-01 09:00"), MergedInto: 4},
		{ID: 7, Priority: "urgent", CreatedAt: at("2026-06-04 09:00")},
	}
	rep := s.Report(items, now)
	if len(rep.Priorities) != 4 || rep.Priorities[0].Priority != "urgent" || rep.Priorities[2].Priority != "normal" {
		t.Fatalf("priorities %+v", rep.Priorities)
	}
	u := rep.Priorities[0]
	if u.Items != 4 {
		t.Errorf("urgent items %d, want 4", u.Items)
	}
	fr := u.FirstResponse
	// 20, 30 and 120 minutes: median 30 m, p90 at rank 1.8 = 30 + 0.8·90 = 102 m.
	if fr.Measured != 3 || *fr.MedianS != 1800 || *fr.P90S != 102*60 || fr.Breached != 1 || fr.Running != 1 || fr.OpenBreached != 1 || fr.TargetS != 3600 {
		t.Errorf("urgent first response %+v (median %v, p90 %v)", fr, *fr.MedianS, *fr.P90S)
	}
	rs := u.Resolve
	if rs.Measured != 1 || *rs.MedianS != 5*3600 || rs.Breached != 0 || rs.Running != 3 || rs.OpenBreached != 3 {
		t.Errorf("urgent resolve %+v", rs)
	}
	n := rep.Priorities[2]
	if n.Items != 1 || n.FirstResponse.Running != 1 || n.FirstResponse.OpenBreached != 0 || n.FirstResponse.MedianS != nil {
		t.Errorf("normal %+v", n)
	}
	// Items 2 and 3 are still open for resolution: 2 since Monday 10:00 is
	// 8 + 9 + 3 = 20 h, 3 since Friday 17:50 is 10 m + 9 + 9 + 3 h.
	want := map[[2]any]float64{
		{int64(4), ClockFirstResponse}: (10*time.Hour - time.Hour).Seconds(),
		{int64(4), ClockResolve}:       (10*time.Hour - 9*time.Hour).Seconds(),
		{int64(2), ClockResolve}:       (20*time.Hour - 9*time.Hour).Seconds(),
		{int64(3), ClockResolve}:       (21*time.Hour + 10*time.Minute - 9*time.Hour).Seconds(),
	}
	if len(rep.Breaches) != len(want) {
		t.Fatalf("breaches %+v", rep.Breaches)
	}
	for i, b := range rep.Breaches {
		if w, ok := want[[2]any{b.ItemID, b.Kind}]; !ok || w != b.OverdueS {
			t.Errorf("breach %+v, want overdue %v", b, w)
		}
		if i > 0 && b.OverdueS > rep.Breaches[i-1].OverdueS {
			t.Errorf("breaches not most overdue first: %+v", rep.Breaches)
		}
	}
	if b := rep.Breaches[len(rep.Breaches)-1]; b.ItemID != 4 || b.Kind != ClockResolve || !b.DueAt.Equal(at("2026-06-03 11:00")) {
		t.Errorf("least overdue %+v: item 4's resolution was due Wednesday 11:00", b)
	}
}

func TestQuantile(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		q    float64
		want float64
	}{{[]float64{5}, 0.5, 5}, {[]float64{4, 1, 3, 2}, 0.5, 2.5}, {[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9.1}} {
		if got := Quantile(c.xs, c.q); got == nil || *got != c.want {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.xs, c.q, got, c.want)
		}
	}
	if Quantile(nil, 0.5) != nil {
		t.Error("quantile of nothing")
	}
}

// FuzzParseSLA: the SLA setting is outside input (PUT by a project's
// members); it never panics, and what it accepts has sane windows and
// clocks that agree with their deadlines.
func FuzzParseSLA(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"targets":{"urgent":{"first_response":"1h","resolve":"1d"}}}`,
		`{"business_hours":{"days":["sat","sun"],"start":"00:00","end":"24:00","holidays":["2026-12-25"],"time_zone":"Asia/Seoul"}}`,
		`{"business_hours":{"start":"18:00","end":"09:00"}}`, `{"targets":{"low":{"resolve":"365d"}}}`, `[`} {
		f.Add([]byte(s))
	}
	from := time.Date(2026, 3, 27, 17, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseSLA(body, time.UTC)
		if err != nil {
			return
		}
		if s.Hours.End <= s.Hours.Start || s.Hours.Loc == nil {
			t.Fatalf("accepted hours %+v", s.Hours)
		}
		d := s.Targets[meta.PriorityUrgent].FirstResponse
		if d > 0 && d <= 48*time.Hour {
			due := s.Hours.Deadline(from, d)
			if !due.IsZero() && s.Hours.Elapsed(from, due) != d {
				t.Fatalf("deadline %s of %s from %s: elapsed %s", due, d, from, s.Hours.Elapsed(from, due))
			}
		}
	})
}
