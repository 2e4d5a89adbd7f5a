package insight

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const goldenBase = `"trigger": {"event": "added_to_cart"}, "goal": {"event": "purchase"}, "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"`

func TestGoldenTimeParse(t *testing.T) {
	g, err := ParseGoldenTime([]byte(`{` + goldenBase + `, "match": "item", "filters": [{"type": "cohort", "value": 3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.Horizon != DefaultGoldenHorizon || g.HorizonDur != 14*24*time.Hour || g.Match != "item" {
		t.Fatalf("defaults %+v", g)
	}
	p := g.Plan()
	if p.HorizonUs != (14*24*time.Hour).Microseconds() || p.GoalToUs != p.ToUs+p.HorizonUs || len(p.TriggerFilters) != 1 {
		t.Fatalf("plan %+v", p)
	}
	cases := []struct{ body, field string }{
		{`{"goal": {"event": "purchase"}, "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"}`, "trigger.event"},
		{`{"trigger": {"event": "a"}, "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"}`, "goal.event"},
		{`{` + goldenBase + `, "horizon": "90m"}`, "horizon"},
		{`{` + goldenBase + `, "horizon": "91d"}`, "horizon"},
		{`{` + goldenBase + `, "horizon": "2"}`, "horizon"},
		{`{` + goldenBase + `, "unit": "group:company"}`, "unit"},
		{`{` + goldenBase + `, "breakdown": {"property": "x"}}`, "breakdown"},
		{`{"trigger": {"event": "a", "filters": [{"type": "cohort", "value": 1}]}, "goal": {"event": "b"}, "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"}`, "trigger.filters[0].type"},
		{`{"trigger": {"event": "a"}, "goal": {"event": "b", "filters": [{"property": "x", "op": "near"}]}, "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"}`, "goal.filters[0].op"},
		{`{` + goldenBase + `, "to": "2026-01-01T00:00:00Z"}`, "to"},
		{`[1]`, "body"},
	}
	for _, c := range cases {
		_, err := ParseGoldenTime([]byte(c.body))
		var e *Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: %v, want field %q", c.body, err, c.field)
		}
	}
}

func TestRunGoldenTime(t *testing.T) {
	g := &GoldenTime{Trigger: GoldenEvent{Event: "a"}, Goal: GoldenEvent{Event: "b"},
		Range: Range{From: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	rows := []GoldenTimeRow{
		// 5 triggers: delays 30 min, 2 × 1 h, 3 d 1 h; one unconverted.
		{Measure: GoldenTriggers, Minute: 30, Count: 1},
		{Measure: GoldenTriggers, Minute: 60, Count: 1},
		{Measure: GoldenTriggers, Minute: 60, Count: 1}, // rows add up
		{Measure: GoldenTriggers, Minute: 73 * 60, Count: 1},
		{Measure: GoldenTriggers, Minute: -1, Count: 1},
		{Measure: GoldenPersons, Count: 3},
		{Measure: GoldenConvertedPersons, Count: 2},
	}
	res, err := RunGoldenTime(g, GoldenTimeQueries{Rows: func(p *GoldenTimePlan) ([]GoldenTimeRow, error) { return rows, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Triggers != 5 || res.Converted != 4 || res.Persons != 3 || res.ConvertedPersons != 2 || res.Conversion != 0.8 || res.HorizonHours != 336 {
		t.Fatalf("totals %+v", res)
	}
	// 48 hourly buckets, then 2d … 13d.
	if len(res.Histogram) != 60 || res.Histogram[47].Label != "47h" || res.Histogram[48].Label != "2d" || res.Histogram[59].Label != "13d" ||
		res.Histogram[59].FromHours != 312 || res.Histogram[59].ToHours != 336 {
		t.Fatalf("buckets %d: %+v … %+v", len(res.Histogram), res.Histogram[48], res.Histogram[59])
	}
	if b := res.Histogram[1]; b.Conversions != 2 || b.Share != 0.4 || b.Rate != 0.5 { // 2 of the 4 left after hour 0
		t.Fatalf("1h %+v", b)
	}
	if b := res.Histogram[49]; b.Label != "3d" || b.Conversions != 1 || b.Rate != 0.5 { // 1 of the 2 left
		t.Fatalf("3d %+v", b)
	}
	// Delays 30 60 60 4380: median at rank 1.5 = 60 min, p75 at rank 2.25
	// = 60 + 0.25·4320 = 1140 min.
	if *res.MedianHours != 1 || *res.P75Hours != 19 {
		t.Fatalf("median %v, p75 %v", *res.MedianHours, *res.P75Hours)
	}
	if len(res.Cumulative) != 336 || res.Cumulative[0] != (GoldenTimePoint{1, 1, 0.2}) || res.Cumulative[1].Converted != 3 ||
		res.Cumulative[72].Converted != 3 || res.Cumulative[73] != (GoldenTimePoint{74, 4, 0.8}) {
		t.Fatalf("cumulative %+v %+v %+v", res.Cumulative[0], res.Cumulative[72], res.Cumulative[73])
	}

	// Nothing: zero shares, no quantiles.
	res, err = RunGoldenTime(g, GoldenTimeQueries{Rows: func(p *GoldenTimePlan) ([]GoldenTimeRow, error) { return nil, nil }})
	if err != nil || res.Triggers != 0 || res.MedianHours != nil || res.Histogram[0].Rate != 0 || len(res.Cumulative) != 336 {
		t.Fatalf("empty %+v %v", res, err)
	}
	// A store's row out of range is an error, not a panic.
	for _, bad := range []GoldenTimeRow{{Measure: GoldenTriggers, Minute: 336 * 60}, {Measure: GoldenTriggers, Minute: -2}, {Measure: "other"}} {
		if _, err := RunGoldenTime(g, GoldenTimeQueries{Rows: func(p *GoldenTimePlan) ([]GoldenTimeRow, error) { return []GoldenTimeRow{bad}, nil }}); err == nil {
			t.Errorf("row %+v accepted", bad)
		}
	}
	// A horizon under 48 h has only hourly buckets.
	g.Horizon = "5h"
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	res, _ = RunGoldenTime(g, GoldenTimeQueries{Rows: func(p *GoldenTimePlan) ([]GoldenTimeRow, error) { return nil, nil }})
	if len(res.Histogram) != 5 || len(res.Cumulative) != 5 {
		t.Fatalf("5h: %d buckets", len(res.Histogram))
	}
	// 50 h: 48 hourly and a 2-hour "2d".
	g.Horizon = "50h"
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	res, _ = RunGoldenTime(g, GoldenTimeQueries{Rows: func(p *GoldenTimePlan) ([]GoldenTimeRow, error) { return nil, nil }})
	if len(res.Histogram) != 49 || res.Histogram[48].ToHours != 50 {
		t.Fatalf("50h: %d buckets, last %+v", len(res.Histogram), res.Histogram[len(res.Histogram)-1])
	}
}

func TestZoneOffsets(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	z := ZoneOffsets(berlin, since, since.Add(EngagementSpan))
	want := EngagementZone{Name: "Europe/Berlin",
		Starts:  []int64{since.Unix(), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix(), time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).Unix()},
		Offsets: []int64{3600, 7200, 3600}}
	if !reflect.DeepEqual(z, want) {
		t.Fatalf("Berlin %+v, want %+v", z, want)
	}
	if z := ZoneOffsets(time.UTC, since, since.Add(EngagementSpan)); len(z.Starts) != 1 || z.Offsets[0] != 0 {
		t.Fatalf("UTC %+v", z)
	}
	for name, ok := range map[string]bool{"Europe/Berlin": true, "UTC": true, "Asia/Kolkata": true, "": false, "Local": false, "Mars/Olympus": false, "../etc/passwd": false} {
		if (ZoneOf(name) != nil) != ok {
			t.Errorf("ZoneOf(%q) = %v", name, ZoneOf(name))
		}
	}
}

func TestRunEngagement(t *testing.T) {
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var plans []*EngagementPlan
	run := EngagementQueries{
		Zones: func(persons []int64) ([]string, error) {
			if persons == nil {
				out := []string{"Mars/Olympus", "Europe/Berlin", "Europe/Berlin"}
				for i := 1; i <= 12; i++ {
					out = append(out, fmt.Sprintf("Etc/GMT+%d", i), fmt.Sprintf("Etc/GMT-%d", i))
				}
				return append(out, strings.Fields(`America/New_York America/Chicago America/Denver America/Los_Angeles
					America/Anchorage America/Sao_Paulo America/Mexico_City America/Toronto America/Bogota America/Lima
					America/Santiago America/Caracas America/Halifax America/St_Johns Europe/London Europe/Paris
					Europe/Madrid Europe/Rome Europe/Amsterdam Europe/Stockholm Europe/Warsaw Europe/Athens
					Europe/Helsinki Europe/Moscow Europe/Istanbul Europe/Lisbon Europe/Dublin Africa/Cairo Africa/Lagos
					Africa/Johannesburg Africa/Nairobi Asia/Dubai Asia/Karachi Asia/Kolkata Asia/Kathmandu Asia/Dhaka
					Asia/Bangkok Asia/Singapore Asia/Shanghai Asia/Seoul Asia/Tokyo Australia/Sydney Australia/Perth
					Australia/Adelaide Pacific/Auckland Pacific/Honolulu`)...), nil
			}
			return []string{"Europe/Berlin", "bogus"}, nil
		},
		Hours: func(p *EngagementPlan) ([]EngagementRow, error) {
			plans = append(plans, p)
			return []EngagementRow{{Person: 7, Hour: 3, Count: 2}, {Person: 7, Hour: 3, Count: 1}, {Person: 8, Hour: 23, Count: 4}}, nil
		},
	}
	got, err := RunEngagementHours([]int64{7, 8, 9}, since, time.UTC, run)
	if err != nil {
		t.Fatal(err)
	}
	var h7, h8 [24]float64
	h7[3], h8[23] = 3, 4
	if !reflect.DeepEqual(got, map[int64][24]float64{7: h7, 8: h8}) {
		t.Fatalf("hours %v", got)
	}
	p := plans[0]
	if len(p.Zones) != 1 || p.Zones[0].Name != "Europe/Berlin" || p.Fallback.Name != "UTC" || !reflect.DeepEqual(p.Persons, []int64{7, 8, 9}) ||
		p.UntilUs-p.SinceUs != EngagementSpan.Microseconds() || len(p.Exclude) != len(NotEngagement) {
		t.Fatalf("plan %+v", p)
	}
	project, err := RunProjectEngagement(since, time.UTC, run)
	if err != nil || project[3] != 3 || project[23] != 4 {
		t.Fatalf("project %v %v", project, err)
	}
	if p := plans[1]; p.Persons != nil || len(p.Zones) != MaxProjectZones || p.Zones[0].Name != "Europe/Berlin" || p.Zones[1].Name != "Etc/GMT+1" {
		t.Fatalf("project plan: persons %v, %d zones", p.Persons, len(p.Zones))
	}
	if _, err := RunEngagementHours(make([]int64, MaxEngagementPersons+1), since, time.UTC, run); err == nil {
		t.Fatal("too many persons accepted")
	}
	if got, err := RunEngagementHours(nil, since, time.UTC, run); err != nil || len(got) != 0 || len(plans) != 2 {
		t.Fatalf("no persons: %v %v (%d reads)", got, err, len(plans))
	}
	run.Hours = func(p *EngagementPlan) ([]EngagementRow, error) { return []EngagementRow{{Person: 1, Hour: 24}}, nil }
	if _, err := RunEngagementHours([]int64{1}, since, time.UTC, run); err == nil {
		t.Fatal("hour 24 accepted")
	}
	run.Zones = func([]int64) ([]string, error) { return nil, fmt.Errorf("down") }
	if _, err := RunProjectEngagement(since, time.UTC, run); err == nil {
		t.Fatal("zone read error lost")
	}
}
