package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/journey-dev/journey/internal/experiment"
	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// The shop's "learn" part of the loop (SPEC §5): feature flags and
// experiments with planted effects, so a newcomer sees measure → learn →
// apply with data that tells a story.
//
//   - new-checkout: a multivariate flag the team made (control/test
//     50/50, signed-in customers but staff, a payload per variant), run
//     as the experiment "New checkout": the one-page checkout (test)
//     turns about 14% of the control's lost checkouts into orders: +4.8
//     pp on orders within 7 days at the default size (seed 42, 1M
//     events). Stopped a few days before the data ends, decided won with
//     test shipped; the flag still serves 50/50 until someone applies
//     the result (rolls test out to 100%).
//   - free-shipping-banner: created by the experiment "Free-shipping
//     banner" (Bayesian), no planted effect: stopped inconclusive, the
//     flag turned off.
//   - reviews-above-fold: the experiment "Reviews above the fold"
//     (sequential, half of the "Product page" layer), still running with
//     a small planted effect on add to cart, so the live results page
//     has something to show.
//   - express-delivery: a boolean flag rolled out to 30% with a payload,
//     no experiment.
//
// The project holds out 5% of persons from every experiment. Flags and
// experiments go through the stores as the API writes them (package
// experiment builds the flags and analyses; results are computed by the
// event store's experiment query once the events are loaded), with the
// times moved back to when the generated data says they happened.
// Visitors are bucketed by the stored flags with flags.Evaluate, so
// /flags answers each person the variant their $feature_flag_called
// events show.

// Flag keys of the demo shop.
const (
	FlagNewCheckout  = "new-checkout"
	FlagFreeShipping = "free-shipping-banner"
	FlagReviews      = "reviews-above-fold"
	FlagExpress      = "express-delivery"
)

// Experiment names of the demo shop.
const (
	ExperimentCheckout     = "New checkout"
	ExperimentFreeShipping = "Free-shipping banner"
	ExperimentReviews      = "Reviews above the fold"
)

// HoldoutSetting is the project setting of the experiments holdout (the
// API's, {"percent": 5}).
const HoldoutSetting = "experiments.holdout"

const (
	labHoldout = 5.0
	// checkoutRescue is the share of the orders control loses at checkout
	// that the one-page checkout wins back.
	checkoutRescue = 0.14
	// reviewsLift multiplies the add-to-cart chance of a product view in
	// reviews-above-fold's test variant.
	reviewsLift = 1.06
	// minLabDays is the shortest history that has room for the experiments.
	minLabDays = 20
)

// Lab is the demo shop's flags and experiments. NewShopLab plans them,
// Store writes them (before the events are generated: the generator
// buckets visitors with the stored flags), Conclude stops the concluded
// experiments once the events are loaded.
type Lab struct {
	flags map[string]*labFlag
	exps  []*labExperiment
	owner int64
	layer string
}

// labFlag is a flag and when the shop's code asks for it.
type labFlag struct {
	flag     *flags.Flag // as stored (id, version, the experiment's filters)
	compiled *flags.Compiled
	// from, to: the shop calls it (and posthog-js sends
	// $feature_flag_called) in [from, to).
	from, to time.Time
}

// labNote is a note on an experiment's timeline: what the team wrote
// when it looked at the results computed at that time (written once the
// events are loaded).
type labNote struct {
	at   time.Time
	text func(r *experiment.Result) string
}

type labExperiment struct {
	name, hypothesis, stage, flagKey string
	// variants: the experiment creates its flag; none: it runs on the
	// team's flag of the same key.
	variants             []experiment.Variant
	metrics              experiment.Metrics
	method               stats.Method
	layer                *experiment.LayerShare // ID filled by Store
	created, start, stop time.Time              // stop zero: still running
	notes                []labNote
	// conclude decides from the frozen results.
	conclude func(r *experiment.Result) (decision, shipped, notes string)
	// turnOff: the flag is deactivated when the experiment stops.
	turnOff bool
	id      int64
	// summary is one line on the outcome, once concluded.
	summary string
}

// NewShopLab plans the shop's flags and experiments over the history o
// describes; nil when it is shorter than 20 days.
func NewShopLab(o Options) *Lab {
	if o.Days < minLabDays {
		return nil
	}
	start := o.start()
	days := o.Days
	day := func(d int) time.Time { return start.AddDate(0, 0, d).Add(10 * time.Hour) } // 10:00 UTC
	end := start.AddDate(0, 0, days)
	frac := func(f float64) int { return int(math.Round(f * float64(days))) }
	l := &Lab{flags: map[string]*labFlag{}, layer: "Product page"}

	week := func(d time.Duration) time.Duration { return d * 7 * 24 * time.Hour }
	all := 100.0
	payload := func(s string) json.RawMessage { return json.RawMessage(s) }

	// Experiment 2 (first in time): the free-shipping banner.
	shipStart := day(frac(0.10))
	shipStop := day(frac(0.10) + min(21, frac(0.35))) // three weeks in the default 60 days
	l.flags[FlagFreeShipping] = &labFlag{from: shipStart, to: shipStop}
	l.exps = append(l.exps, &labExperiment{
		name: ExperimentFreeShipping, stage: "Retention/Engagement", flagKey: FlagFreeShipping,
		hypothesis: "Showing \"Free shipping on orders over €50\" in a bar on top of every page to signed-in customers will lift " +
			"purchase conversion because delivery is one of the top topics of our support tickets, so delivery cost " +
			"looks like what holds returning customers back; customers close to the threshold should also add an item " +
			"to reach it (higher average order value).",
		variants: []experiment.Variant{{Key: "control", Weight: 50}, {Key: "banner", Weight: 50}},
		method:   stats.Bayesian,
		metrics: experiment.Metrics{
			Primary: []experiment.Metric{purchase7d()},
			Secondary: []experiment.Metric{
				metric("Average order value", "mean", "order_completed", "revenue"),
			},
			Guardrail: []experiment.Metric{supportTickets()},
		},
		created: shipStart.Add(-26 * time.Hour), start: shipStart, stop: shipStop,
		notes: []labNote{{shipStart.Add(week(1)), func(r *experiment.Result) string {
			return fmt.Sprintf("Week 1: %s %s Too early to read: the plan is %d days.", split(r), chanceToWin(r), int(math.Round(shipStop.Sub(shipStart).Hours()/24)))
		}}},
		conclude: concludeFreeShipping,
		turnOff:  true,
	})

	// Experiment 1: the new checkout, on the team's flag.
	coStart := day(frac(0.25))
	coStop := day(days - 3)
	if coStop.Sub(coStart) < week(2) {
		coStop = coStart.Add(week(2))
		if last := day(days - 1); coStop.After(last) {
			coStop = last
		}
	}
	checkout := &flags.Flag{Key: FlagNewCheckout, Name: "One-page checkout", Filters: flags.Filters{
		Groups: []flags.Condition{{
			Properties: []flags.Property{
				{Key: "email", Type: flags.TypePerson, Operator: "is_set", Value: "is_set"},
				{Key: "email", Type: flags.TypePerson, Operator: "not_icontains", Value: "@shop.example"},
			},
			RolloutPercentage: &all,
		}},
		Multivariate: &flags.Multivariate{Variants: []flags.Variant{
			{Key: "control", Name: "Three-step checkout", RolloutPercentage: 50},
			{Key: "test", Name: "One-page checkout", RolloutPercentage: 50},
		}},
		Payloads: map[string]json.RawMessage{
			"control": payload(`{"layout":"steps","steps":["address","shipping","payment"]}`),
			"test":    payload(`{"layout":"one-page","steps":["checkout"],"express_pay":true}`),
		},
	}}
	l.flags[FlagNewCheckout] = &labFlag{flag: checkout, from: coStart, to: end}
	l.exps = append(l.exps, &labExperiment{
		name: ExperimentCheckout, stage: "Activation", flagKey: FlagNewCheckout,
		hypothesis: "A one-page checkout will lift purchase conversion because the cart → order funnel loses most " +
			"customers after they reach checkout, and payment tickets keep mentioning the three separate steps " +
			"(address, shipping, payment). Putting them on one page removes two page loads and the \"how many steps " +
			"are left?\" moment. We expect at least +3 pp on orders within 7 days of reaching checkout, with no " +
			"more support tickets or checkout errors.",
		method: stats.Frequentist,
		metrics: experiment.Metrics{
			Primary: []experiment.Metric{purchase7d()},
			Secondary: []experiment.Metric{
				metric("Revenue per customer", "sum", "order_completed", "revenue"),
				metric("Average order value", "mean", "order_completed", "revenue"),
			},
			Guardrail: []experiment.Metric{supportTickets(),
				lowerBetter(metric("Checkout errors", "conversion", "$exception", ""))},
		},
		created: coStart.Add(-2 * 24 * time.Hour), start: coStart, stop: coStop,
		notes: []labNote{
			{coStart.Add(week(1)), func(r *experiment.Result) string {
				return fmt.Sprintf("Week 1: %s Primary metric %s. Not stopping early: this is a fixed-horizon test, planned for %d weeks to detect +3 pp, and early leads often shrink.",
					split(r), effect(r), int(math.Round(coStop.Sub(coStart).Hours()/24/7)))
			}},
		},
		conclude: concludeCheckout,
	})

	// Experiment 3: running, half of the product-page layer.
	revStart := day(days - 12)
	l.flags[FlagReviews] = &labFlag{from: revStart, to: end}
	l.exps = append(l.exps, &labExperiment{
		name: ExperimentReviews, stage: "Activation", flagKey: FlagReviews,
		hypothesis: "Showing the star rating and the two most helpful reviews above the fold on product pages will " +
			"lift add to cart because only a minority of product viewers scroll down to the reviews, and " +
			"shoppers who like a product are the ones who read them.",
		variants: []experiment.Variant{{Key: "control", Weight: 50}, {Key: "reviews-top", Weight: 50}},
		method:   stats.Sequential,
		layer:    &experiment.LayerShare{From: 0, To: 0.5},
		metrics: experiment.Metrics{
			Primary:   []experiment.Metric{metric("Add to cart within 7 days", "conversion", "added_to_cart", "")},
			Secondary: []experiment.Metric{purchase7d()},
			Guardrail: []experiment.Metric{lowerBetter(metric("Page errors", "conversion", "$exception", ""))},
		},
		created: revStart.Add(-20 * time.Hour), start: revStart,
		notes: []labNote{{revStart.Add(4 * 24 * time.Hour), func(r *experiment.Result) string {
			return fmt.Sprintf("Day 4: %s Add to cart %s. Sequential test: the intervals stay valid however often we look, so we read it daily and stop once it is decided.",
				split(r), effect(r))
		}}},
	})

	// A plain rollout, no experiment.
	expStart := day(days - 9)
	thirty := 30.0
	l.flags[FlagExpress] = &labFlag{from: expStart, to: end, flag: &flags.Flag{
		Key: FlagExpress, Name: "Express delivery at checkout (gradual rollout while the warehouse scales up)", Active: true,
		Filters: flags.Filters{
			Groups:   []flags.Condition{{Properties: []flags.Property{}, RolloutPercentage: &thirty}},
			Payloads: map[string]json.RawMessage{"true": payload(`{"cutoff_hour":14,"fee_eur":4.9}`)},
		},
	}}
	return l
}

func metric(name, kind, event, property string) experiment.Metric {
	m := experiment.Metric{}
	m.Name, m.Kind, m.Event, m.Property, m.Window = name, kind, event, property, "7d"
	return m
}

func purchase7d() experiment.Metric {
	return metric("Purchase within 7 days", "conversion", "order_completed", "")
}

func supportTickets() experiment.Metric {
	m := metric("Support tickets", "count", "support_ticket_created", "")
	m.LowerIsBetter = true
	return m
}

// Summary is a line per experiment: its name, link and outcome (after
// Conclude).
func (l *Lab) Summary() []string {
	var out []string
	for _, e := range l.exps {
		out = append(out, fmt.Sprintf("%s (/experiments/%d): %s", e.name, e.id, e.summary))
	}
	return out
}

// Store writes the holdout, the layer, the flags and the experiments
// (started, backdated) of project projectID, by user owner (0: none).
func (l *Lab) Store(ctx context.Context, m meta.Store, projectID, owner int64) error {
	l.owner = owner
	hold, _ := json.Marshal(map[string]float64{"percent": labHoldout})
	if err := m.SetSetting(ctx, projectID, HoldoutSetting, hold); err != nil {
		return fmt.Errorf("demo holdout: %w", err)
	}
	layer, err := m.CreateLayer(ctx, meta.Layer{ProjectID: projectID, Name: l.layer})
	if err != nil {
		return fmt.Errorf("demo layer: %w", err)
	}
	// The team's own flags first.
	for _, key := range []string{FlagNewCheckout, FlagExpress} {
		lf := l.flags[key]
		mf, err := m.CreateFlag(ctx, meta.Flag{ProjectID: projectID, Key: lf.flag.Key, Name: lf.flag.Name,
			Active: lf.flag.Active, Definition: flagserve.Definition(lf.flag), CreatedBy: owner})
		if err != nil {
			return fmt.Errorf("demo flag %s: %w", key, err)
		}
		if err := l.keep(mf); err != nil {
			return err
		}
	}
	for _, e := range l.exps {
		if e.layer != nil {
			e.layer.ID = layer.ID
		}
		if err := l.storeExperiment(ctx, m, projectID, e); err != nil {
			return fmt.Errorf("demo experiment %q: %w", e.name, err)
		}
	}
	return nil
}

// keep records a stored flag as what the generator evaluates.
func (l *Lab) keep(mf meta.Flag) error {
	f, err := flagserve.FromMeta(mf)
	if err != nil {
		return err
	}
	c, err := flags.Compile(f)
	if err != nil {
		return err
	}
	lf := l.flags[mf.Key]
	lf.flag, lf.compiled = f, c
	return nil
}

func (l *Lab) storedFlag(ctx context.Context, m meta.Store, projectID int64, key string) (meta.Flag, error) {
	list, err := m.Flags(ctx, projectID)
	if err != nil {
		return meta.Flag{}, err
	}
	for _, f := range list {
		if f.Key == key {
			return f, nil
		}
	}
	return meta.Flag{}, fmt.Errorf("flag %q: %w", key, meta.ErrNotFound)
}

// storeExperiment creates and starts e as the API's create and start do.
func (l *Lab) storeExperiment(ctx context.Context, m meta.Store, projectID int64, e *labExperiment) error {
	d := &experiment.Definition{Variants: e.variants, Metrics: e.metrics, Method: e.method, Layer: e.layer}
	if len(e.variants) == 0 {
		stored, err := l.storedFlag(ctx, m, projectID, e.flagKey)
		if err != nil {
			return err
		}
		f, err := flagserve.FromMeta(stored)
		if err != nil {
			return err
		}
		if d.Variants, err = experiment.Arms(f); err != nil {
			return err
		}
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if len(e.variants) > 0 {
		d.FlagCreated = true
		f := experiment.NewFlag(e.flagKey, "Experiment: "+e.name, d.Variants)
		if _, err := m.CreateFlag(ctx, meta.Flag{ProjectID: projectID, Key: f.Key, Name: f.Name,
			Definition: flagserve.Definition(f), CreatedBy: l.owner}); err != nil {
			return err
		}
	}
	def, err := json.Marshal(d)
	if err != nil {
		return err
	}
	x, err := m.CreateExperiment(ctx, meta.Experiment{ProjectID: projectID, Name: e.name, Hypothesis: e.hypothesis,
		OwnerID: l.owner, FlagKey: e.flagKey, Status: meta.ExperimentDraft, Definition: def, Stage: e.stage})
	if err != nil {
		return err
	}
	e.id = x.ID
	if err := l.timeline(ctx, m, x, e.created, "created", "on flag "+e.flagKey); err != nil {
		return err
	}
	// Start: the flag gets the layer share and the holdout, and is activated.
	stored, err := l.storedFlag(ctx, m, projectID, e.flagKey)
	if err != nil {
		return err
	}
	f, err := flagserve.FromMeta(stored)
	if err != nil {
		return err
	}
	if err := experiment.SameArms(f, d.Variants); err != nil {
		return err
	}
	run := experiment.Assign(f, projectID, d.Layer, labHoldout)
	run.Active = true
	started, err := m.UpdateFlag(ctx, meta.Flag{ID: stored.ID, ProjectID: projectID, Key: run.Key, Name: run.Name,
		Active: true, Definition: flagserve.Definition(run), UpdatedBy: l.owner}, stored.Version)
	if err != nil {
		return err
	}
	if err := l.keep(started); err != nil {
		return err
	}
	d.HoldoutPercent = labHoldout
	if def, err = json.Marshal(d); err != nil {
		return err
	}
	at := e.start.UTC()
	x.Status, x.StartedAt, x.Definition = meta.ExperimentRunning, &at, def
	if x, err = m.UpdateExperiment(ctx, x, x.Version); err != nil {
		return err
	}
	detail := fmt.Sprintf("flag %s activated", e.flagKey)
	if d.Layer != nil {
		detail += fmt.Sprintf("; layer %d [%v, %v)", d.Layer.ID, d.Layer.From, d.Layer.To)
	}
	detail += fmt.Sprintf("; holdout %v%%", labHoldout)
	if err := l.timeline(ctx, m, x, e.start, "started", detail); err != nil {
		return err
	}
	return nil
}

func (l *Lab) timeline(ctx context.Context, m meta.Store, x meta.Experiment, at time.Time, kind, detail string) error {
	return m.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: x.ID, ProjectID: x.ProjectID, UserID: l.owner,
		At: at.UTC(), Kind: kind, Detail: detail})
}

// Conclude stops the experiments that ended before the data does: their
// results are computed from the loaded events over [start, stop),
// frozen, and decided from what they show.
func (l *Lab) Conclude(ctx context.Context, m meta.Store, events store.Store, p meta.Project) error {
	tz, err := time.LoadLocation(p.Timezone)
	if err != nil {
		tz = time.UTC
	}
	for _, e := range l.exps {
		if err := l.conclude(ctx, m, events, p, tz, e); err != nil {
			return fmt.Errorf("demo experiment %q: %w", e.name, err)
		}
	}
	return nil
}

// results computes experiment x's results over [from, to), as the API
// does.
func results(ctx context.Context, events store.Store, p meta.Project, tz *time.Location, x meta.Experiment, from, to time.Time) (*experiment.Definition, *experiment.Result, error) {
	var d experiment.Definition
	dec := json.NewDecoder(bytes.NewReader(x.Definition))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, nil, err
	}
	q := d.Query(x.FlagKey, from, to)
	if err := q.Validate(); err != nil {
		return nil, nil, err
	}
	counts, err := events.Experiment(ctx, p.ID, tz, q)
	if err != nil {
		return nil, nil, err
	}
	res, err := experiment.Analyze(&d, counts, from, to, to)
	return &d, res, err
}

// conclude writes e's notes from the results at their times and, when
// e has stopped, freezes its results and records the decision.
func (l *Lab) conclude(ctx context.Context, m meta.Store, events store.Store, p meta.Project, tz *time.Location, e *labExperiment) error {
	x, err := m.Experiment(ctx, p.ID, e.id)
	if err != nil {
		return err
	}
	from := *x.StartedAt
	for _, n := range e.notes {
		_, res, err := results(ctx, events, p, tz, x, from, n.at)
		if err != nil {
			return err
		}
		if err := l.timeline(ctx, m, x, n.at, "note", n.text(res)); err != nil {
			return err
		}
	}
	if e.stop.IsZero() {
		e.summary = "running since " + e.start.Format("2 Jan") + ": live results"
		return nil
	}
	to := e.stop.UTC()
	_, res, err := results(ctx, events, p, tz, x, from, to)
	if err != nil {
		return err
	}
	res.Frozen = true
	frozen, err := json.Marshal(res)
	if err != nil {
		return err
	}
	decision, shipped, notes := e.conclude(res)
	e.summary = decision
	if shipped != "" {
		e.summary += ", " + shipped + " shipped"
	}
	if c := primary(res); c != nil && c.Effect != nil {
		e.summary += fmt.Sprintf(": %s %s (95%% interval %s)", c.Metric, pp(c.Effect), ci(c))
	}
	x.Status, x.StoppedAt, x.Result = meta.ExperimentStopped, &to, frozen
	x.Decision, x.ShippedVariant, x.Notes = decision, shipped, notes
	if x, err = m.UpdateExperiment(ctx, x, x.Version); err != nil {
		return err
	}
	if err := l.timeline(ctx, m, x, to, "stopped", fmt.Sprintf("results frozen: %d persons exposed", res.Exposed)); err != nil {
		return err
	}
	detail := decision
	if shipped != "" {
		detail += "; shipped " + shipped
	}
	if err := l.timeline(ctx, m, x, to.Add(time.Minute), "decided", detail+"; "+notes); err != nil {
		return err
	}
	if e.turnOff {
		stored, err := l.storedFlag(ctx, m, p.ID, e.flagKey)
		if err != nil {
			return err
		}
		stored.Active, stored.UpdatedBy = false, l.owner
		if _, err := m.UpdateFlag(ctx, stored, stored.Version); err != nil {
			return err
		}
		if err := l.timeline(ctx, m, x, to.Add(2*time.Minute), "note", "Flag "+e.flagKey+" turned off: everyone gets the page without the banner again."); err != nil {
			return err
		}
	}
	return nil
}

// primary is the result's first primary comparison (nil when none).
func primary(r *experiment.Result) *experiment.Comparison {
	if len(r.Metrics.Primary) == 0 {
		return nil
	}
	return &r.Metrics.Primary[0]
}

func pp(x *float64) string {
	if x == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f pp", *x*100)
}

func pct(x *float64) string {
	if x == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *x*100)
}

func ci(c *experiment.Comparison) string {
	if c.CI == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f to %+.1f pp", c.CI[0]*100, c.CI[1]*100)
}

func secondary(r *experiment.Result, name string) *experiment.Comparison {
	for i := range r.Metrics.Secondary {
		if r.Metrics.Secondary[i].Metric == name {
			return &r.Metrics.Secondary[i]
		}
	}
	return nil
}

func euros(c *experiment.Comparison) string {
	if c == nil || c.Effect == nil || c.CI == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.2f € (95%% CI %+.2f to %+.2f €)", *c.Effect, c.CI[0], c.CI[1])
}

func concludeCheckout(r *experiment.Result) (string, string, string) {
	c := primary(r)
	if c == nil || c.Effect == nil {
		return meta.DecisionInconclusive, "", "No result: too few customers reached checkout at this demo size."
	}
	line := fmt.Sprintf("Orders within 7 days of reaching checkout: %s (control) → %s (one-page), %s (95%% CI %s, %s) over %d customers; revenue per customer %s.",
		pct(c.ControlMean), pct(c.TreatmentMean), pp(c.Effect), ci(c), pvalue(c), r.Exposed, euros(secondary(r, "Revenue per customer")))
	guard := " Guardrails (support tickets, checkout errors) did not get worse."
	if len(r.Warnings) > 0 {
		guard = " Guardrail warning: " + r.Warnings[0].Message + "."
	}
	if c.Significant && c.Better {
		return meta.DecisionWon, "test", "Won. " + line + guard +
			" Learned: the extra steps, not prices, were losing customers at checkout. Apply: roll new-checkout out to 100% test " +
			"(Feature flags → new-checkout), then delete the three-step checkout code. Next: try express pay on the cart page."
	}
	return meta.DecisionInconclusive, "", "Inconclusive. " + line + guard + " Not enough evidence to ship the one-page checkout."
}

func concludeFreeShipping(r *experiment.Result) (string, string, string) {
	c := primary(r)
	if c == nil || c.Effect == nil {
		return meta.DecisionInconclusive, "", "No result: too few signed-in customers saw the home page at this demo size."
	}
	win := "n/a"
	if c.ChanceToWin != nil {
		win = fmt.Sprintf("%.0f%%", *c.ChanceToWin*100)
	}
	line := fmt.Sprintf("Purchase within 7 days: %s (control) → %s (banner), %s (95%% credible interval %s), chance to win %s, over %d customers; average order value %s.",
		pct(c.ControlMean), pct(c.TreatmentMean), pp(c.Effect), ci(c), win, r.Exposed, euros(secondary(r, "Average order value")))
	switch {
	case c.Significant && c.Better:
		return meta.DecisionWon, "banner", "Won. " + line
	case c.Significant:
		return meta.DecisionLost, "", "Lost. " + line
	}
	lean := "no effect we can tell from zero"
	if c.ChanceToWin != nil && *c.ChanceToWin >= 0.8 {
		lean = "the banner is ahead, but below our 95% bar and the interval still includes no effect"
	} else if c.ChanceToWin != nil && *c.ChanceToWin <= 0.2 {
		lean = "the banner is behind, but not clearly, and the interval still includes no effect"
	}
	return meta.DecisionInconclusive, "", "Inconclusive: " + lean + ". " + line +
		" Free shipping costs us about €4.90 an order; a lift this uncertain does not pay for it, so the banner is turned off. " +
		"Learned: delivery cost is not what keeps signed-in customers from buying — their delivery tickets are about speed. " +
		"Next: the express-delivery rollout."
}

// evaluate is flag key for a visitor at t, as /flags answers it; false
// when the shop does not ask for the flag at t.
func (l *Lab) evaluate(key, distinctID string, person map[string]any, t time.Time) (flags.Result, bool) {
	if l == nil {
		return flags.Result{}, false
	}
	f := l.flags[key]
	if f == nil || f.compiled == nil || t.Before(f.from) || !t.Before(f.to) {
		return flags.Result{}, false
	}
	return flags.Evaluate(f.compiled, &flags.Subject{DistinctID: distinctID, PersonProperties: person}, &flags.Env{Now: t}), true
}

// exposure adds posthog-js's $feature_flag_called properties for r (a
// remote evaluation: /flags answered it) to props.
func exposure(r flags.Result, requestID string, props map[string]any) map[string]any {
	props["$feature_flag"] = r.Key
	props["$feature_flag_response"] = r.Value()
	props["$feature_flag_id"] = r.ID
	props["$feature_flag_version"] = r.Version
	props["$feature_flag_reason"] = r.Reason.Description(r.ConditionIndex)
	props["$feature_flag_request_id"] = requestID
	props["locally_evaluated"] = false
	props["$feature/"+r.Key] = r.Value()
	return props
}

func lowerBetter(m experiment.Metric) experiment.Metric {
	m.LowerIsBetter = true
	return m
}

// split says how the exposures split and whether SRM is flagged.
func split(r *experiment.Result) string {
	var b bytes.Buffer
	for i, v := range r.Variants {
		if i > 0 {
			b.WriteString(" / ")
		}
		fmt.Fprintf(&b, "%d %s", v.Exposed, v.Key)
	}
	if r.SRM.Mismatch {
		return fmt.Sprintf("%s customers exposed: sample ratio mismatch (p = %.4f), check the assignment!", b.String(), r.SRM.PValue)
	}
	return fmt.Sprintf("%s customers exposed, no sample ratio mismatch (p = %.2f).", b.String(), r.SRM.PValue)
}

// effect is the primary metric's effect so far.
func effect(r *experiment.Result) string {
	c := primary(r)
	if c == nil || c.Effect == nil {
		return "has no estimate yet"
	}
	s := fmt.Sprintf("%s (95%% CI %s", pp(c.Effect), ci(c))
	if c.PValueAdjusted != nil {
		s += ", " + pvalue(c)
	}
	s += ")"
	if c.Significant {
		return s + ", already significant"
	}
	return s + ", not significant"
}

// pvalue is the adjusted p-value as a note writes it.
func pvalue(c *experiment.Comparison) string {
	switch {
	case c.PValueAdjusted == nil:
		return "p n/a"
	case *c.PValueAdjusted < 0.0001:
		return "p < 0.0001"
	case *c.PValueAdjusted < 0.01:
		return fmt.Sprintf("p = %.4f", *c.PValueAdjusted)
	}
	return fmt.Sprintf("p = %.2f", *c.PValueAdjusted)
}

// chanceToWin is the primary metric's chance to win so far.
func chanceToWin(r *experiment.Result) string {
	c := primary(r)
	if c == nil || c.ChanceToWin == nil {
		return "No chance to win yet."
	}
	return fmt.Sprintf("Chance to win %.0f%% (effect %s).", *c.ChanceToWin*100, pp(c.Effect))
}
