package campaign

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// Report is a campaign's report (the answer of GET
// /api/v1/campaigns/{id}/report; issue 15 item 8). Counts of messages
// come from the schedule, the rest from the events the sender emitted,
// read by the event store, so merges apply as in every insight:
//
//   - Triggered: the triggers scheduled, every arm (messages, holdout and
//     control-group records), cancelled ones included;
//   - Sent: messages attempted to an end (delivered or failed for good);
//     Delivered: those the receiver accepted; Failed, Cancelled (the goal
//     reached before the message went, an unsubscribe…) and Pending;
//   - Clicked: delivered messages with a $message_clicked (of their key);
//     CTR = Clicked / Delivered;
//   - Recipients: the persons with a $message_sent; Conversions: those of
//     them who did the goal (its filters, and the same item when the goal
//     matches one) after a message and within the attribution window;
//     CVR = Conversions / Recipients;
//   - Holdout: the same from $message_would_have_sent of the campaign's
//     holdout arm (the project's control group is ControlGroup);
//   - Lift: CVR of the messaged minus CVR of the holdout (an absolute
//     difference of proportions), with its confidence interval (Welch,
//     stats.Compare, 95 %); RelativeLift is the same relative to the
//     holdout's CVR. Nil while either arm has too few persons.
//
// The attribution window is the campaign's (default 72 h), counted in
// whole hours (a shorter one counts as one hour) as golden-time queries
// do.
type Report struct {
	CampaignID  int64     `json:"campaign_id"`
	Triggered   int64     `json:"triggered"`
	Sent        int64     `json:"sent"`
	Delivered   int64     `json:"delivered"`
	Failed      int64     `json:"failed"`
	Cancelled   int64     `json:"cancelled"`
	Pending     int64     `json:"pending"`
	Clicked     int64     `json:"clicked"`
	CTR         float64   `json:"ctr"`
	Recipients  int64     `json:"recipients"`
	Conversions int64     `json:"conversions"`
	CVR         float64   `json:"cvr"`
	Holdout     ArmReport `json:"holdout"`
	// ControlGroup is the project-wide control group's records.
	ControlGroup ArmReport       `json:"control_group"`
	Lift         *Lift           `json:"lift"`
	RelativeLift *Lift           `json:"relative_lift"`
	Variants     []VariantReport `json:"variants"`
	// Attribution is the window counted, as a Go duration.
	Attribution string    `json:"attribution"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// ReportExtras: revenue and the series over time, asked for by
	// ReportOptions (reportseries.go; issue 15 item 8).
	ReportExtras
}

// ArmReport is a non-messaged arm's persons ("would have sent" records) and
// their conversions.
type ArmReport struct {
	Scheduled   int64   `json:"scheduled"` // triggers scheduled in the arm
	Persons     int64   `json:"persons"`
	Conversions int64   `json:"conversions"`
	CVR         float64 `json:"cvr"`
	ArmRevenue          // with a revenue property (reportseries.go)
}

// Lift is an effect and its confidence interval.
type Lift struct {
	Effect float64        `json:"effect"`
	CI     stats.Interval `json:"ci"`
	PValue *float64       `json:"p_value,omitempty"`
}

// VariantReport is one variant's share of the report.
type VariantReport struct {
	Name        string  `json:"name"`
	Triggered   int64   `json:"triggered"`
	Sent        int64   `json:"sent"`
	Delivered   int64   `json:"delivered"`
	Clicked     int64   `json:"clicked"`
	CTR         float64 `json:"ctr"`
	Recipients  int64   `json:"recipients"`
	Conversions int64   `json:"conversions"`
	CVR         float64 `json:"cvr"`
	Lift        *Lift   `json:"lift"`
}

// attributionHorizon is a golden-time horizon of at least the window, in
// whole hours.
func attributionHorizon(d time.Duration) string {
	h := int64((d + time.Hour - 1) / time.Hour)
	h = max(h, 1)
	h = min(h, int64(insight.MaxGoldenHorizon/time.Hour))
	return strconv.FormatInt(h, 10) + "h"
}

// BuildReport computes the report of campaign l up to `to`, in the
// project's time zone tz.
func BuildReport(ctx context.Context, m meta.Store, events store.Store, l *Live, tz *time.Location, to time.Time) (*Report, error) {
	c, d := l.Meta, l.Def
	counts, err := m.CountSends(ctx, c.ProjectID, c.ID)
	if err != nil {
		return nil, err
	}
	from := c.CreatedAt.Add(-time.Minute)
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	rep := &Report{CampaignID: c.ID, Attribution: d.Attribution, From: from, To: to}
	variants := map[string]*VariantReport{}
	for _, v := range d.Variants {
		variants[v.Name] = &VariantReport{Name: v.Name}
	}
	for _, sc := range counts {
		rep.Triggered += sc.Count
		switch sc.Arm {
		case meta.ArmHoldout:
			rep.Holdout.Scheduled += sc.Count
			continue
		case meta.ArmControlGroup:
			rep.ControlGroup.Scheduled += sc.Count
			continue
		}
		vr := variants[sc.Variant]
		if vr == nil { // a variant since removed
			vr = &VariantReport{Name: sc.Variant}
			variants[sc.Variant] = vr
		}
		vr.Triggered += sc.Count
		switch sc.State {
		case meta.SendSent:
			rep.Sent += sc.Count
			rep.Delivered += sc.Count
			vr.Sent += sc.Count
			vr.Delivered += sc.Count
		case meta.SendFailed:
			rep.Sent += sc.Count
			rep.Failed += sc.Count
			vr.Sent += sc.Count
		case meta.SendCancelled:
			rep.Cancelled += sc.Count
		case meta.SendPending, meta.SendSending:
			rep.Pending += sc.Count
		}
	}
	q := reportQueries{ctx: ctx, events: events, l: l, tz: tz, from: from, to: to, horizon: attributionHorizon(d.AttributionDur)}
	// Clicks: delivered messages with a click of their key.
	clicks, err := q.run(EventDelivered, "", "", insight.GoldenEvent{Event: EventClicked}, PropKey, insight.MaxGoldenHorizon)
	if err != nil {
		return nil, err
	}
	rep.Clicked = clicks.Converted
	rep.CTR = insight.Ratio(rep.Clicked, rep.Delivered)
	sent, err := q.conversions(EventSent, "", "")
	if err != nil {
		return nil, err
	}
	rep.Recipients, rep.Conversions = sent.Persons, sent.ConvertedPersons
	rep.CVR = insight.Ratio(rep.Conversions, rep.Recipients)
	for _, arm := range []struct {
		name string
		out  *ArmReport
	}{{meta.ArmHoldout, &rep.Holdout}, {meta.ArmControlGroup, &rep.ControlGroup}} {
		res, err := q.conversions(EventWouldHaveSent, PropArm, arm.name)
		if err != nil {
			return nil, err
		}
		arm.out.Persons, arm.out.Conversions = res.Persons, res.ConvertedPersons
		arm.out.CVR = insight.Ratio(res.ConvertedPersons, res.Persons)
	}
	rep.Lift = lift(rep.Holdout, rep.Recipients, rep.Conversions, false)
	rep.RelativeLift = lift(rep.Holdout, rep.Recipients, rep.Conversions, true)
	for _, v := range d.Variants {
		vr := variants[v.Name]
		delete(variants, v.Name)
		rep.Variants = append(rep.Variants, *vr)
	}
	for _, vr := range variants { // removed variants, by name
		rep.Variants = append(rep.Variants, *vr)
	}
	for i := range rep.Variants {
		vr := &rep.Variants[i]
		res, err := q.conversions(EventSent, PropVariant, vr.Name)
		if err != nil {
			return nil, err
		}
		vr.Recipients, vr.Conversions = res.Persons, res.ConvertedPersons
		vr.CVR = insight.Ratio(vr.Conversions, vr.Recipients)
		cl, err := q.run(EventDelivered, PropVariant, vr.Name, insight.GoldenEvent{Event: EventClicked}, PropKey, insight.MaxGoldenHorizon)
		if err != nil {
			return nil, err
		}
		vr.Clicked = cl.Converted
		vr.CTR = insight.Ratio(vr.Clicked, vr.Delivered)
		vr.Lift = lift(rep.Holdout, vr.Recipients, vr.Conversions, false)
	}
	return rep, nil
}

// lift compares the messaged persons' conversion with the holdout's.
func lift(hold ArmReport, n, conv int64, relative bool) *Lift {
	if hold.Persons < 2 || n < 2 {
		return nil
	}
	res, err := stats.Compare(stats.Proportion(float64(hold.Persons), float64(hold.Conversions)),
		stats.Proportion(float64(n), float64(conv)), stats.Options{Relative: relative})
	if err != nil {
		return nil
	}
	return &Lift{Effect: res.Effect, CI: res.CI, PValue: res.PValue}
}

type reportQueries struct {
	ctx      context.Context
	events   store.Store
	l        *Live
	tz       *time.Location
	from, to time.Time
	horizon  string
}

// conversions counts the persons with a message event of the campaign
// (and prop = value) and those of them who did the goal after it, within
// the attribution window.
func (q reportQueries) conversions(name, prop, value string) (*insight.GoldenTimeResult, error) {
	g := q.l.Def.Goal
	if g == nil {
		return &insight.GoldenTimeResult{}, nil
	}
	res, err := q.run(name, prop, value, insight.GoldenEvent{Event: g.Event, Filters: g.Filters}, g.Match, 0)
	return res, err
}

// run is a golden-time query from the campaign's events name (with prop
// = value when prop is set) to goal, matched on match.
func (q reportQueries) run(name, prop, value string, goal insight.GoldenEvent, match string, horizon time.Duration) (*insight.GoldenTimeResult, error) {
	filters := []insight.Filter{{Type: "event", Property: PropCampaignID, Op: "eq", Value: strconv.FormatInt(q.l.Meta.ID, 10)}}
	if prop != "" {
		filters = append(filters, insight.Filter{Type: "event", Property: prop, Op: "eq", Value: value})
	}
	h := q.horizon
	if horizon > 0 {
		h = attributionHorizon(horizon)
	}
	gt := &insight.GoldenTime{Trigger: insight.GoldenEvent{Event: name, Filters: filters}, Goal: goal, Match: match, Horizon: h,
		Range: insight.Range{From: q.from, To: q.to}}
	if err := gt.Validate(); err != nil {
		return nil, fmt.Errorf("campaign report: %w", err)
	}
	return q.events.GoldenTime(q.ctx, q.l.Meta.ProjectID, q.tz, gt)
}
