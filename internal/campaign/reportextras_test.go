package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/experiment"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// reportCampaign is a reminder of the carted item, its goal a purchase
// of it within 72 h.
const reportCampaign = `{"name": "Cart reminder", "trigger": {"event": "added_to_cart"},
	"goal": {"event": "purchase", "match": "item", "within": "72h"}, "wait": {"delay": "1h"}, "holdout": 0.2,
	"channel": {"type": "webhook", "url": "https://hooks.example.com/j", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	"variants": [{"name": "a", "body": "hi"}], "status": "active"}`

// reportFixture is campaign 1 of project 1 on a real DuckDB store and
// SQLite metadata, created at T0 + 1 h, T0 a Berlin midnight; events
// are loaded by hours from T0.
type reportFixture struct {
	t      *testing.T
	l      *Live
	m      meta.Store
	events *duckdb.Store
	load   *storetest.Loader
	t0     time.Time
	berlin *time.Location
}

func newReportFixture(t *testing.T) *reportFixture {
	t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := duckdb.Open("", duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	d, err := Parse([]byte(reportCampaign))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, berlin)
	l := &Live{Meta: meta.Campaign{ID: 1, ProjectID: 1, CreatedAt: t0.Add(time.Hour)}, Def: d}
	return &reportFixture{t: t, l: l, m: m, events: ev, load: storetest.NewLoader(t, ev), t0: t0, berlin: berlin}
}

func (f *reportFixture) at(h float64) time.Time {
	return f.t0.Add(time.Duration(h * float64(time.Hour)))
}

// message is a campaign event of person who at hour h.
func (f *reportFixture) message(name, who string, h float64, arm, item, key string) event.Raw {
	return storetest.Ev(name, who, f.at(h), map[string]any{PropCampaignID: 1, PropArm: arm, PropVariant: "a", PropKey: key, "item": item})
}

// sent is a delivered message: $message_sent and $message_delivered.
func (f *reportFixture) sent(who string, h float64, item, key string) []event.Raw {
	return []event.Raw{f.message(EventSent, who, h, meta.ArmTreatment, item, key), f.message(EventDelivered, who, h, meta.ArmTreatment, item, key)}
}

func (f *reportFixture) buy(who string, h float64, item string, revenue float64) event.Raw {
	return storetest.Ev("purchase", who, f.at(h), map[string]any{"item": item, "revenue": revenue})
}

// TestReportSeriesAndRevenue: a report by Berlin days with revenue per
// recipient, every number by hand.
func TestReportSeriesAndRevenue(t *testing.T) {
	f := newReportFixture(t)
	var evs []event.Raw
	// Day 0 (Jan 5): p1 is messaged, clicks, buys X (40); p5's message
	// fails; holdout q1 buys X (10); c1 is in the control group.
	evs = append(evs, f.sent("p1", 2, "X", "k1")...)
	evs = append(evs, f.message(EventClicked, "p1", 3, meta.ArmTreatment, "X", "k1"), f.buy("p1", 5, "X", 40),
		f.message(EventFailed, "p5", 10, meta.ArmTreatment, "X", "k5"),
		f.message(EventWouldHaveSent, "q1", 3, meta.ArmHoldout, "X", "h1"), f.buy("q1", 4, "X", 10),
		f.message(EventWouldHaveSent, "c1", 5, meta.ArmControlGroup, "X", "c1"))
	// Day 1: p2 at 00:30 Berlin (still Jan 5 in UTC) buys X (20); p3 is
	// messaged for Y and buys nothing; holdout q2, q3 buy nothing.
	evs = append(evs, f.sent("p2", 24.5, "X", "k2")...)
	evs = append(evs, f.buy("p2", 30, "X", 20))
	evs = append(evs, f.sent("p3", 26, "Y", "k3")...)
	evs = append(evs, f.message(EventWouldHaveSent, "q2", 27, meta.ArmHoldout, "X", "h2"),
		f.message(EventWouldHaveSent, "q3", 28, meta.ArmHoldout, "X", "h3"))
	// Day 2: p4 is messaged for X and buys Y (99): no conversion, no
	// revenue. Another campaign's message to p4 counts nowhere.
	evs = append(evs, f.sent("p4", 50, "X", "k4")...)
	evs = append(evs, f.buy("p4", 51, "Y", 99),
		storetest.Ev(EventSent, "p4", f.at(50), map[string]any{PropCampaignID: 2, "item": "Y", PropKey: "other"}))
	f.load.Load(1, evs...)

	rep, err := BuildFullReport(context.Background(), f.m, f.events, f.l, f.berlin, f.at(72), ReportOptions{RevenueProperty: "revenue", Interval: "day"})
	if err != nil {
		t.Fatal(err)
	}
	// Totals, as before: 4 recipients, 2 converted; holdout 3, 1.
	if rep.Recipients != 4 || rep.Conversions != 2 || rep.Holdout.Persons != 3 || rep.Holdout.Conversions != 1 || rep.Clicked != 1 {
		t.Fatalf("totals: recipients %d conversions %d holdout %+v clicked %d", rep.Recipients, rep.Conversions, rep.Holdout, rep.Clicked)
	}
	want := []SeriesPoint{
		{Date: "2026-01-05", Triggered: 4, Sent: 2, Delivered: 1, Failed: 1, Clicked: 1, CTR: 1, Recipients: 1, Conversions: 1, CVR: 1,
			HoldoutPersons: 1, HoldoutConversions: 1, HoldoutCVR: 1},
		{Date: "2026-01-06", Triggered: 4, Sent: 2, Delivered: 2, Recipients: 2, Conversions: 1, CVR: 0.5, HoldoutPersons: 2},
		{Date: "2026-01-07", Triggered: 1, Sent: 1, Delivered: 1, Recipients: 1},
	}
	if rep.Interval != "day" || len(rep.Series) != len(want) {
		t.Fatalf("interval %q, series %+v", rep.Interval, rep.Series)
	}
	for i := range want {
		if rep.Series[i] != want[i] {
			t.Errorf("series[%d] = %+v, want %+v", i, rep.Series[i], want[i])
		}
	}
	// Revenue: p1 40 + p2 20 over 4 recipients; holdout q1's 10 over 3.
	if rep.RevenueProperty != "revenue" || *rep.Revenue != 60 || *rep.RevenuePerRecipient != 15 ||
		*rep.Holdout.Revenue != 10 || math.Abs(*rep.Holdout.RevenuePerRecipient-10.0/3) > 1e-12 {
		t.Fatalf("revenue %v %v, holdout %v %v", *rep.Revenue, *rep.RevenuePerRecipient, *rep.Holdout.Revenue, *rep.Holdout.RevenuePerRecipient)
	}
	// The lift on revenue per recipient: 15 - 10/3; Welch's standard
	// error sqrt(s²t/4 + s²c/3) with s²t = (2000 - 4·15²)/3 and s²c =
	// (100 - 3·(10/3)²)/2, about 3.7 degrees of freedom: the interval's
	// half width is between t(0.975; 4) = 2.776 and t(0.975; 3) = 3.182
	// standard errors.
	lift := rep.RevenueLift.Lift
	if !rep.RevenueLift.Asked || lift == nil || math.Abs(lift.Effect-(15-10.0/3)) > 1e-9 {
		t.Fatalf("revenue lift %+v", rep.RevenueLift)
	}
	se := math.Sqrt((2000-4*225)/3.0/4 + (100-3*100.0/9)/2/3)
	half := (lift.CI[1] - lift.CI[0]) / 2
	if math.Abs(lift.Effect-(lift.CI[0]+half)) > 1e-9 || half/se < 2.776 || half/se > 3.182 {
		t.Fatalf("revenue lift CI %v around %v: %v standard errors of %v", lift.CI, lift.Effect, half/se, se)
	}
	if rep.RelativeRevenueLift.Lift == nil || math.Abs(rep.RelativeRevenueLift.Lift.Effect-(15-10.0/3)/(10.0/3)) > 1e-9 {
		t.Fatalf("relative revenue lift %+v", rep.RelativeRevenueLift.Lift)
	}

	// The JSON keeps the contract's fields and adds the new ones at the
	// top level (holdout's revenue in holdout).
	raw, _ := json.Marshal(rep)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"triggered", "sent", "delivered", "clicked", "ctr", "conversions", "cvr", "holdout", "lift", "variants",
		"revenue", "revenue_per_recipient", "revenue_lift", "series"} {
		if _, ok := top[k]; !ok {
			t.Errorf("report JSON has no %q: %s", k, raw)
		}
	}
	if !strings.Contains(string(top["holdout"]), `"revenue_per_recipient":3.33`) {
		t.Errorf("holdout JSON %s", top["holdout"])
	}

	// In UTC, p2's message of 23:30 UTC is on Jan 5: day 0 has 2
	// recipients.
	utc, err := BuildFullReport(context.Background(), f.m, f.events, f.l, time.UTC, f.at(72), ReportOptions{Interval: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if utc.Series[0].Date != "2026-01-04" || utc.Series[1].Recipients != 2 || utc.Revenue != nil || utc.RevenueLift.Asked {
		t.Fatalf("UTC series %+v, revenue %v", utc.Series, utc.Revenue)
	}
	raw, _ = json.Marshal(utc)
	if strings.Contains(string(raw), "revenue") {
		t.Fatalf("revenue fields without a revenue property: %s", raw)
	}
	// Without options the report is the contract's alone.
	plain, err := BuildFullReport(context.Background(), f.m, f.events, f.l, f.berlin, f.at(72), ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(plain); strings.Contains(string(raw), "series") || strings.Contains(string(raw), "revenue") {
		t.Fatalf("plain report %s", raw)
	}
}

func TestReportOptionsRefused(t *testing.T) {
	f := newReportFixture(t)
	noGoal := *f.l.Def
	noGoal.Goal = nil
	cases := []struct {
		opt   ReportOptions
		d     *Definition
		field string
	}{
		{ReportOptions{Interval: "month"}, f.l.Def, "interval"},
		{ReportOptions{RevenueProperty: strings.Repeat("r", MaxEventName+1)}, f.l.Def, "revenue_property"},
		{ReportOptions{RevenueProperty: "revenue"}, &noGoal, "revenue_property"},
	}
	for _, c := range cases {
		err := c.opt.Validate(c.d)
		var bad *insight.Error
		if err == nil || !errors.As(err, &bad) || bad.Field != c.field {
			t.Errorf("%+v: %v, want a %s error", c.opt, err, c.field)
		}
	}
	// Hours over a 90-day range are too many periods.
	f.l.Meta.CreatedAt = f.t0.AddDate(0, 0, -90)
	_, err := BuildFullReport(context.Background(), f.m, f.events, f.l, f.berlin, f.t0, ReportOptions{Interval: "hour"})
	var bad *insight.Error
	if !errors.As(err, &bad) || bad.Field != "interval" {
		t.Fatalf("2160 hours: %v", err)
	}
}

func TestCompareRatios(t *testing.T) {
	ptr := func(f float64) *float64 { return &f }
	reminder := &Report{CTR: 0.13, CVR: 0.05}
	reminder.RevenuePerRecipient = ptr(6)
	broadcast := &Report{CTR: 0.01, CVR: 0.005}
	broadcast.RevenuePerRecipient = ptr(2)
	c := Compare(reminder, broadcast)
	if c.CTRRatio == nil || math.Abs(*c.CTRRatio-13) > 1e-9 || c.CVRRatio == nil || math.Abs(*c.CVRRatio-10) > 1e-9 ||
		c.RevenuePerRecipientRatio == nil || *c.RevenuePerRecipientRatio != 3 || c.Reports[0] != reminder || c.Reports[1] != broadcast {
		t.Fatalf("comparison %+v", c)
	}
	// Nothing to divide by: null ratios; no revenue on one side: none.
	c = Compare(reminder, &Report{CTR: 0, CVR: 0.01})
	if c.CTRRatio != nil || c.CVRRatio == nil || *c.CVRRatio != 5 || c.RevenuePerRecipientRatio != nil {
		t.Fatalf("comparison with zeros %+v", c)
	}
	raw, _ := json.Marshal(c)
	if !strings.Contains(string(raw), `"ctr_ratio":null`) || strings.Contains(string(raw), "revenue_per_recipient_ratio") {
		t.Fatalf("JSON %s", raw)
	}
}

func TestParseDecision(t *testing.T) {
	good := []string{
		`{"decision": "won", "notes": "13x CTR", "holdout_after": 0.02}`,
		`{"decision": "lost"}`,
		`{"decision": "inconclusive", "holdout_after": 0.1, "stage": "Retention", "revenue_property": "price"}`,
	}
	for _, b := range good {
		if _, err := ParseDecision([]byte(b), 0.1); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	bad := map[string]string{
		`{"decision": "shipped"}`:                     "decision",
		`{"notes": "no decision"}`:                    "decision",
		`{"decision": "won", "holdout_after": 0.2}`:   "holdout_after", // larger than now
		`{"decision": "won", "holdout_after": -0.1}`:  "holdout_after",
		`{"decision": "won", "holdout_after": "0.1"}`: "holdout_after",
		`{"decision": "won", "surprise": 1}`:          "surprise",
		`{"decision": "won"} {}`:                      "body",
		`[1]`:                                         "body",
	}
	for b, field := range bad {
		_, err := ParseDecision([]byte(b), 0.1)
		var e *insight.Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want a %s error", b, err, field)
		}
	}
}

func FuzzParseDecision(f *testing.F) {
	for _, s := range []string{`{"decision": "won", "notes": "n", "holdout_after": 0.02}`, `{"decision": "lost"}`, `{}`, `null`, `{"holdout_after": 1e309}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDecision(body, 0.1)
		if err != nil {
			return
		}
		if d.HoldoutAfter != nil && (*d.HoldoutAfter < 0 || *d.HoldoutAfter > 0.1) {
			t.Fatalf("holdout_after %v accepted", *d.HoldoutAfter)
		}
		if d.Decision != meta.DecisionWon && d.Decision != meta.DecisionLost && d.Decision != meta.DecisionInconclusive {
			t.Fatalf("decision %q accepted", d.Decision)
		}
	})
}

// TestArchiveEntry: the archive's row of a decision decodes as an
// experiment definition naming the campaign, with the report frozen.
func TestArchiveEntry(t *testing.T) {
	f := newReportFixture(t)
	f.l.Meta.ID = 42
	rep := &Report{CampaignID: 42, CTR: 0.13, Attribution: "72h"}
	dec := &Decision{Decision: "won", Notes: "keep it", Stage: " Retention ", RevenueProperty: "revenue"}
	now := f.at(24 * 7)
	e, err := ArchiveEntry(f.l, rep, dec, 0.02, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != meta.ExperimentStopped || e.Decision != "won" || e.Notes != "keep it" || e.Stage != "Retention" || e.OwnerID != 7 ||
		e.FlagKey != "" || !e.StoppedAt.Equal(now) || !e.StartedAt.Equal(f.l.Meta.CreatedAt) || e.Name != "Campaign: Cart reminder" ||
		!strings.Contains(e.Hypothesis, "added_to_cart") {
		t.Fatalf("entry %+v", e)
	}
	var d experiment.Definition
	if err := json.Unmarshal(e.Definition, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Variants) != 2 || d.Variants[0].Key != meta.ArmHoldout || d.Variants[0].Weight != 0.2 || len(d.Metrics.Primary) != 1 ||
		!d.Metrics.HasEvent("purchase") || len(d.Metrics.Secondary) != 1 || d.Metrics.Secondary[0].Property != "revenue" {
		t.Fatalf("definition %s", e.Definition)
	}
	ac := CampaignOfArchived(e.Definition)
	if ac == nil || ac.CampaignID != 42 || ac.HoldoutBefore != 0.2 || ac.HoldoutAfter != 0.02 || !strings.Contains(string(e.Definition), ArchiveText(42)) {
		t.Fatalf("campaign of %s: %+v", e.Definition, ac)
	}
	var frozen Report
	if err := json.Unmarshal(e.Result, &frozen); err != nil || frozen.CTR != 0.13 || frozen.CampaignID != 42 {
		t.Fatalf("frozen %s: %v", e.Result, err)
	}
	if CampaignOfArchived(json.RawMessage(`{"variants": [], "metrics": {}}`)) != nil {
		t.Fatal("an experiment's definition names a campaign")
	}
}

// arm draws n persons who convert with probability p and then spend an
// exponential amount of mean spend: their conversions and revenue
// moments.
func arm(r *rand.Rand, n int, p, spend float64) (conv int64, revenue stats.Stats) {
	var sum, sq float64
	for range n {
		if r.Float64() < p {
			conv++
			x := r.ExpFloat64() * spend
			sum += x
			sq += x * x
		}
	}
	return conv, stats.Mean(float64(n), sum, sq)
}

// TestPlantedLift: generated persons where the messaged arm converts at
// 15 % and the holdout at 5 %, each buyer spending 50 on average: the
// planted lifts are 0.10 in CVR and 5 in revenue per recipient. The
// report's intervals (95 %) cover them in at least 90 % of 400 fixed
// seeds (about 95 % expected; 90 % is 4.5 standard deviations below).
func TestPlantedLift(t *testing.T) {
	const runs, n = 400, 5000
	covered, coveredRevenue := 0, 0
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 15))
		hc, hr := arm(r, n, 0.05, 50)
		tc, tr := arm(r, n, 0.15, 50)
		l := lift(ArmReport{Persons: n, Conversions: hc}, n, tc, false)
		if l == nil {
			t.Fatalf("seed %d: no lift", seed)
		}
		if l.CI[0] <= 0.10 && 0.10 <= l.CI[1] {
			covered++
		}
		rl := meanLift(hr, tr, false)
		if rl == nil {
			t.Fatalf("seed %d: no revenue lift", seed)
		}
		if rl.CI[0] <= 5 && 5 <= rl.CI[1] {
			coveredRevenue++
		}
	}
	t.Logf("planted lift covered in %d/%d runs, revenue lift in %d/%d", covered, runs, coveredRevenue, runs)
	if covered < runs*9/10 || coveredRevenue < runs*9/10 {
		t.Fatalf("coverage %d and %d of %d, want ≥ 90 %%", covered, coveredRevenue, runs)
	}
}

// TestAALift: a message with no effect (both arms convert at 8 %): the
// 95 % interval excludes 0 in at most 10 % of 400 fixed seeds (about
// 5 % expected), for CVR and for revenue per recipient.
func TestAALift(t *testing.T) {
	const runs, n = 400, 2000
	excluded, excludedRevenue := 0, 0
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 8))
		hc, hr := arm(r, n, 0.08, 50)
		tc, tr := arm(r, n, 0.08, 50)
		l := lift(ArmReport{Persons: n, Conversions: hc}, n, tc, false)
		rl := meanLift(hr, tr, false)
		if l == nil || rl == nil {
			t.Fatalf("seed %d: no lift", seed)
		}
		if l.CI[0] > 0 || l.CI[1] < 0 {
			excluded++
		}
		if rl.CI[0] > 0 || rl.CI[1] < 0 {
			excludedRevenue++
		}
	}
	t.Logf("A/A: CI excludes 0 in %d/%d runs, revenue in %d/%d", excluded, runs, excludedRevenue, runs)
	if excluded > runs/10 || excludedRevenue > runs/10 {
		t.Fatalf("false positives %d and %d of %d, want ≤ 10 %%", excluded, excludedRevenue, runs)
	}
}
