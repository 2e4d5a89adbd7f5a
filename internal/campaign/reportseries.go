package campaign

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// ReportOptions are a report's optional parts (issue 15 item 8), the
// query parameters of GET /campaigns/{id}/report.
type ReportOptions struct {
	// RevenueProperty is the goal event's property summed as revenue
	// ("revenue", "price"); "" reports no revenue.
	RevenueProperty string
	// Interval buckets the report over time in the project's time zone:
	// hour, day or week; "" reports no series.
	Interval string
}

// Validate checks the options against the campaign's definition.
func (o ReportOptions) Validate(d *Definition) error {
	switch o.Interval {
	case "", "hour", "day", "week":
	default:
		return insight.Bad("interval", "unknown interval %q (hour, day or week)", o.Interval)
	}
	if o.RevenueProperty == "" {
		return nil
	}
	if len(o.RevenueProperty) > MaxEventName {
		return insight.Bad("revenue_property", "at most %d bytes", MaxEventName)
	}
	if d.Goal == nil {
		return insight.Bad("revenue_property", "the campaign has no goal event to read revenue from")
	}
	return nil
}

// ReportExtras are the report's optional parts (embedded in Report, so
// their fields sit at its top level):
//
//   - with a revenue property, Revenue is the sum of the property over
//     the recipients' goal events attributed to a message (after one of
//     the person's messages, of the same item when the goal matches one,
//     within the attribution window; each goal once), and
//     RevenuePerRecipient is Revenue / recipients; Holdout gets the same
//     from its "would have sent" records. RevenueLift is the messaged
//     arm's revenue per recipient minus the holdout's, a mean metric
//     compared by the experiments' engine (stats.Compare: Welch, 95 %);
//     RelativeRevenueLift the same relative to the holdout's (delta
//     method). Null while either arm has fewer than 2 persons or no
//     variance;
//   - with an interval, Series has one SeriesPoint per period of the
//     report's range in the project's time zone.
type ReportExtras struct {
	RevenueProperty     string        `json:"revenue_property,omitempty"`
	Revenue             *float64      `json:"revenue,omitempty"`
	RevenuePerRecipient *float64      `json:"revenue_per_recipient,omitempty"`
	RevenueLift         OptionalLift  `json:"revenue_lift,omitzero"`
	RelativeRevenueLift OptionalLift  `json:"relative_revenue_lift,omitzero"`
	Interval            string        `json:"interval,omitempty"`
	Series              []SeriesPoint `json:"series,omitempty"`
}

// ArmRevenue is a non-messaged arm's revenue (with a revenue property):
// per recipient means per person of the arm.
type ArmRevenue struct {
	Revenue             *float64 `json:"revenue,omitempty"`
	RevenuePerRecipient *float64 `json:"revenue_per_recipient,omitempty"`
}

// OptionalLift is a lift that is left out of the report unless Asked,
// and null when asked for but not computable.
type OptionalLift struct {
	Asked bool
	Lift  *Lift
}

// IsZero leaves it out (omitzero) when not asked for.
func (o OptionalLift) IsZero() bool { return !o.Asked }

// MarshalJSON writes the lift, or null.
func (o OptionalLift) MarshalJSON() ([]byte, error) { return json.Marshal(o.Lift) }

// SeriesPoint is one period of the series. Each count is of the
// campaign's message records in the period, by the time they reached an
// end: Sent (delivered or failed), Delivered, Failed, Clicked (delivered
// messages of the period clicked since), the holdout's "would have sent"
// records; Triggered is all of them and the control group's, so pending
// and cancelled sends count in the report's totals only. Recipients are
// the persons messaged in the period and Conversions those of them who
// did the goal within the attribution window of one of the period's
// messages; the same for the holdout. A person messaged in two periods
// counts in both.
type SeriesPoint struct {
	Date               string  `json:"date"`
	Triggered          int64   `json:"triggered"`
	Sent               int64   `json:"sent"`
	Delivered          int64   `json:"delivered"`
	Failed             int64   `json:"failed"`
	Clicked            int64   `json:"clicked"`
	CTR                float64 `json:"ctr"`
	Recipients         int64   `json:"recipients"`
	Conversions        int64   `json:"conversions"`
	CVR                float64 `json:"cvr"`
	HoldoutPersons     int64   `json:"holdout_persons"`
	HoldoutConversions int64   `json:"holdout_conversions"`
	HoldoutCVR         float64 `json:"holdout_cvr"`
}

// BuildFullReport is BuildReport with the options' revenue and series.
func BuildFullReport(ctx context.Context, m meta.Store, events store.Store, l *Live, tz *time.Location, to time.Time, opt ReportOptions) (*Report, error) {
	if err := opt.Validate(l.Def); err != nil {
		return nil, err
	}
	rep, err := BuildReport(ctx, m, events, l, tz, to)
	if err != nil {
		return nil, err
	}
	if opt.RevenueProperty == "" && opt.Interval == "" {
		return rep, nil
	}
	x := extras{ctx: ctx, events: events, l: l, rep: rep, opt: opt}
	if opt.Interval != "" {
		x.periods = insight.Periods{Interval: opt.Interval, Starts: insight.Buckets(rep.From, rep.To, tz, opt.Interval), From: rep.From, To: rep.To}
		if n := x.periods.Len(); n > insight.MaxAttributionBuckets {
			return nil, insight.Bad("interval", "%d %ss is more than %d periods: choose a longer interval", n, opt.Interval, insight.MaxAttributionBuckets)
		}
	}
	if err := x.run(); err != nil {
		return nil, err
	}
	return rep, nil
}

// extras computes a report's ReportExtras from Attribution reads.
type extras struct {
	ctx     context.Context
	events  store.Store
	l       *Live
	rep     *Report
	opt     ReportOptions
	periods insight.Periods // none without an interval
}

// read is an Attribution of the campaign's message event name (with
// prop = value when prop is set) to goal within window; value names the
// goal property summed ("" none).
func (x extras) read(name, prop, value string, goal insight.GoldenEvent, match, revenue string, window time.Duration) (*insight.AttributionResult, error) {
	filters := []insight.Filter{{Type: "event", Property: PropCampaignID, Op: "eq", Value: strconv.FormatInt(x.l.Meta.ID, 10)}}
	if prop != "" {
		filters = append(filters, insight.Filter{Type: "event", Property: prop, Op: "eq", Value: value})
	}
	q := &insight.Attribution{Touch: insight.GoldenEvent{Event: name, Filters: filters}, Goal: goal, Match: match, Value: revenue,
		Window: window, Starts: x.periods.Starts, From: x.rep.From, To: x.rep.To}
	return x.events.Attribution(x.ctx, x.l.Meta.ProjectID, q)
}

// goal is the campaign's goal as an attribution's (none without one)
// and the attribution window in whole hours, as the report counts
// conversions (attributionHorizon).
func (x extras) goal() (insight.GoldenEvent, string, time.Duration) {
	w, err := insight.ParseWindow(attributionHorizon(x.l.Def.AttributionDur))
	if err != nil { // attributionHorizon writes whole hours
		w = time.Hour
	}
	g := x.l.Def.Goal
	if g == nil {
		return insight.GoldenEvent{}, "", w
	}
	return insight.GoldenEvent{Event: g.Event, Filters: g.Filters}, g.Match, w
}

func (x extras) run() error {
	goal, match, window := x.goal()
	rev := x.opt.RevenueProperty
	sent, err := x.read(EventSent, "", "", goal, match, rev, window)
	if err != nil {
		return err
	}
	hold, err := x.read(EventWouldHaveSent, PropArm, meta.ArmHoldout, goal, match, rev, window)
	if err != nil {
		return err
	}
	if rev != "" {
		x.revenue(sent, hold)
	}
	if x.opt.Interval == "" {
		return nil
	}
	delivered, err := x.read(EventDelivered, "", "", insight.GoldenEvent{Event: EventClicked}, PropKey, "", insight.MaxGoldenHorizon)
	if err != nil {
		return err
	}
	failed, err := x.read(EventFailed, "", "", insight.GoldenEvent{}, "", "", window)
	if err != nil {
		return err
	}
	control, err := x.read(EventWouldHaveSent, PropArm, meta.ArmControlGroup, insight.GoldenEvent{}, "", "", window)
	if err != nil {
		return err
	}
	x.rep.Interval = x.opt.Interval
	x.rep.Series = seriesOf(x.periods, sent, hold, delivered, failed, control)
	return nil
}

// revenue fills the report's revenue from the messaged arm's and the
// holdout's attributions.
func (x extras) revenue(sent, hold *insight.AttributionResult) {
	r := &x.rep.ReportExtras
	r.RevenueProperty = x.opt.RevenueProperty
	r.Revenue, r.RevenuePerRecipient = revenueOf(sent)
	x.rep.Holdout.Revenue, x.rep.Holdout.RevenuePerRecipient = revenueOf(hold)
	treat, control := meanStats(sent), meanStats(hold)
	r.RevenueLift = OptionalLift{Asked: true, Lift: meanLift(control, treat, false)}
	r.RelativeRevenueLift = OptionalLift{Asked: true, Lift: meanLift(control, treat, true)}
}

// revenueOf is an arm's revenue and revenue per person (0 without
// persons).
func revenueOf(a *insight.AttributionResult) (*float64, *float64) {
	total, per := a.ValueSum, 0.0
	if a.Persons > 0 {
		per = a.ValueSum / float64(a.Persons)
	}
	return &total, &per
}

// meanStats is an arm's revenue per person as a mean metric's
// statistics: n persons, Σx, Σx².
func meanStats(a *insight.AttributionResult) stats.Stats {
	return stats.Mean(float64(a.Persons), a.ValueSum, a.ValueSquares)
}

// meanLift compares treatment's mean with control's (absolute or
// relative), as lift does proportions: nil while an arm has fewer than 2
// units or the engine cannot compare them (no variance).
func meanLift(control, treatment stats.Stats, relative bool) *Lift {
	if control.N < 2 || treatment.N < 2 {
		return nil
	}
	res, err := stats.Compare(control, treatment, stats.Options{Relative: relative})
	if err != nil || math.IsNaN(res.Effect) || math.IsNaN(res.CI[0]) || math.IsNaN(res.CI[1]) {
		return nil
	}
	return &Lift{Effect: res.Effect, CI: res.CI, PValue: res.PValue}
}

// seriesOf assembles the series from each read's buckets.
func seriesOf(p insight.Periods, sent, hold, delivered, failed, control *insight.AttributionResult) []SeriesPoint {
	out := make([]SeriesPoint, p.Len())
	at := func(r *insight.AttributionResult, i int) insight.AttributionCounts {
		if i < len(r.Buckets) {
			return r.Buckets[i]
		}
		return insight.AttributionCounts{}
	}
	for i := range out {
		s, h, d, f, c := at(sent, i), at(hold, i), at(delivered, i), at(failed, i), at(control, i)
		out[i] = SeriesPoint{
			Date:      p.Label(i),
			Triggered: s.Touches + f.Touches + h.Touches + c.Touches,
			Sent:      s.Touches + f.Touches, Delivered: d.Touches, Failed: f.Touches,
			Clicked: d.Converted, CTR: insight.Ratio(d.Converted, d.Touches),
			Recipients: s.Persons, Conversions: s.ConvertedPersons, CVR: insight.Ratio(s.ConvertedPersons, s.Persons),
			HoldoutPersons: h.Persons, HoldoutConversions: h.ConvertedPersons, HoldoutCVR: insight.Ratio(h.ConvertedPersons, h.Persons),
		}
	}
	return out
}
