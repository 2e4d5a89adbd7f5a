package duckdb

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestJourney(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	at := func(m int) time.Time { return day0.Add(time.Duration(m) * time.Minute) }
	pv := func(who, src string, m int) {
		props := map[string]any{}
		if src != "" {
			props["utm_source"] = src
		}
		l.Load(1, ev("$pageview", who, at(m), props))
	}
	pv("a", "ads", 1)
	pv("a", "mail", 2) // a's channel is the first pageview's: ads
	pv("b", "ads", 1)
	pv("c", "", 1)
	pv("d", "mail", 1)
	l.Load(1, ev("signed_up", "a", at(3), nil), ev("signed_up", "b", at(3), nil), ev("signed_up", "d", at(3), nil))
	l.Load(1, ev("order_completed", "a", at(4), nil), ev("order_completed", "a", at(5), nil), ev("order_completed", "d", at(5), nil))
	l.Load(1, ev("order_completed", "e", at(5), nil)) // ordered without being reached: counts nowhere
	q := &insight.Journey{Stages: insight.DefaultStages(), Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 1)}}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Journey(context.Background(), 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	counts := func(st []insight.StageResult) []int64 {
		var out []int64
		for _, x := range st {
			out = append(out, x.Count)
		}
		return out
	}
	if got := counts(res.Stages); !reflect.DeepEqual(got, []int64{4, 3, 2, 1, 0}) {
		t.Fatalf("stages = %v", got)
	}
	if res.Stages[2].StepConversion != 2.0/3 || res.Stages[1].Conversion != 0.75 {
		t.Fatalf("conversions = %+v", res.Stages)
	}
	got := map[string][]int64{}
	for _, b := range res.Breakdown {
		got[b.Value] = counts(b.Stages)
	}
	want := map[string][]int64{"ads": {2, 2, 1, 1, 0}, "mail": {1, 1, 1, 0, 0}, "$none": {1, 0, 0, 0, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("breakdown = %v, want %v", got, want)
	}
	if res.Breakdown[0].Value != "ads" {
		t.Fatalf("breakdown order = %+v", res.Breakdown)
	}
}

func TestKPI(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	day := func(d int) time.Time { return day0.AddDate(0, 0, d).Add(time.Hour) }
	acct := func(who string) map[string]any { return map[string]any{"$groups": map[string]any{"company": who}} }
	// Accounts: x created before the range; y, z, w created in January; v in February.
	l.Load(1, ev("signed_up", "ux", day(-10), acct("x")))
	l.Load(1, ev("signed_up", "uy", day(1), acct("y")), ev("onboarding_completed", "uy", day(2), acct("y")))
	l.Load(1, ev("signed_up", "uz", day(1), acct("z")), ev("onboarding_completed", "uz", day(2), acct("z")), ev("support_ticket_created", "uz", day(3), acct("z")))
	l.Load(1, ev("signed_up", "uw", day(5), acct("w")))
	l.Load(1, ev("signed_up", "uv", day(30), acct("v")), ev("onboarding_completed", "uv", day(31), acct("v")))
	l.Load(1, ev("signed_up", "ux2", day(6), acct("x"))) // x signs up again: not created in range
	no := false
	q := &insight.KPI{
		Denominator: insight.ActorSet{Conditions: []insight.Condition{{Event: "signed_up", FirstTime: true}}},
		Numerator:   insight.ActorSet{Conditions: []insight.Condition{{Event: "onboarding_completed"}, {Event: "support_ticket_created", Did: &no}}},
		Range:       insight.Range{From: day0.AddDate(0, 0, -4), To: day0.AddDate(0, 0, 54), Unit: "group:company"}, // Jan 1 .. Feb 28
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.KPI(context.Background(), 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	// Created in range: y, z, w, v → 4; onboarded with no ticket: y, v → 2.
	if res.Denominator != 4 || res.Numerator != 2 || res.Value != 0.5 {
		t.Fatalf("kpi = %+v", res)
	}
	want := []insight.KPIPoint{{T: "2026-01-01", Value: 1.0 / 3, Numerator: 1, Denominator: 3}, {T: "2026-02-01", Value: 1, Numerator: 1, Denominator: 1}}
	if !reflect.DeepEqual(res.Points, want) {
		t.Fatalf("points = %+v, want %+v", res.Points, want)
	}
}
