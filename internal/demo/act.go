package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// The shop's "act" part of the loop (SPEC §6, issue 15 item 10): the
// seeds' campaign (29CM). The shop's app customers who put an item in
// their cart are reminded of that item by push at their best time; a
// tenth are held out. After a 7-day test the reminder is compared with
// an ad push (a broadcast to every app user) and decided in the learning
// archive, and it keeps running with a smaller holdout.
//
//   - About 8 000 app users (posthog-react-native events: Application
//     Opened, product views, likes, carts, orders), each with a local hour
//     they open the app most, seen from 21 to 11 days before the end.
//   - Weekend sale push (broadcast): created the day before, sent at
//     18:00 four days before the test to the cohort "App users" (opened
//     the app in the last 30 days). Scheduled by the real cohort scheduler
//     at that time (its pass recorded done, so a server never sends it
//     again).
//   - Cart reminder (app): triggered by the app's added_to_cart, goal
//     order_completed of the same item within 72 h, best time at least 1 h
//     after the cart (quiet hours 22:00-08:00), holdout 10%, two copies
//     (the seeds' UX-writing test), a webhook to the app's push gateway.
//     About 3 000 users cart during the 7 days of the test. The sends are
//     what the trigger engine schedules (campaign.Assign, Variant,
//     BestTime on the stored engagement, channel.NewKey, the rendered
//     payload), those whose goal came first are cancelled by key as the
//     engine cancels them, and the rest are claimed from the schedule and
//     completed with the events the sender emits (campaign.MessageEvent:
//     the same uuids), at their due times.
//   - Planted behaviour: 8% buy the carted item within the hour (before
//     any reminder; the golden-time peak is in the first hour, most
//     conversions within 2 days); of the others 3% buy it within 3 days
//     anyway (both arms alike); a reminded customer taps the push with
//     17% ("reassure") or 22% ("urgency") and then buys with 40%: a
//     planted lift of about +7 pp over the holdout. The ad push is tapped
//     by 1.5% (a quarter of them buy) and 0.65% buy anyway: reminder CTR
//     13×, CVR about 10× the push's. Shares after a message are dealt in
//     shuffled blocks (exactly 3 of every 100 held out buy, and so on), so
//     the sample shows the planted effect, not a draw around it.
//   - The decision: the report (the real report code over these events
//     and sends) is frozen through POST /campaigns/{id}/decision, in
//     process, as the demo admin: won when the lift's interval excludes
//     0, and the holdout goes down to 5%.
//
// The push gateway's host is in .invalid (RFC 6761, never resolves): a
// server that runs the campaign on after the demo (new carts in the app)
// fails those messages harmlessly. The demo loads with no trigger engine
// or sender running, and the engine's checkpoint is left at the end of
// the history; an engine that read the log again would find every trigger
// scheduled already, so nothing of the history is ever sent.

// Names of the demo shop's campaigns and cohort.
const (
	CampaignReminder  = "Cart reminder (app)"
	CampaignBroadcast = "Weekend sale push"
	CohortAppUsers    = "App users (opened the app in the last 30 days)"
)

// ActPushURL is the campaigns' webhook: the app's push gateway, in a
// domain that never resolves.
const ActPushURL = "https://push.demo-shop.invalid/journey/webhook"

// The app's events.
const (
	appLib    = "posthog-react-native"
	appOpened = "Application Opened"
	appGoal   = "order_completed"
)

// The planted behaviour.
const (
	actUsers = 8000
	// actCartShare of the app users cart during the test (about 3 000).
	actCartShare = 0.375
	// actQuickBuy buy within the hour of the cart, before any reminder.
	actQuickBuy = 0.08
	// actHoldout is the reminder's holdout during the test, actHoldoutAfter
	// after the decision.
	actHoldout      = 0.10
	actHoldoutAfter = 0.05
	actTestDays     = 7
	// minActDays is the shortest history with room for the story.
	minActDays = 21
	actOwner   = "demo"
)

// rate is a planted share: hits of every `of` (dealt by a deck).
type rate struct{ hits, of int }

func (r rate) p() float64 { return float64(r.hits) / float64(r.of) }

// What messaged (and held-out) customers do.
var (
	// actOrganicBuy buy the item within 3 days of the (would-have-been)
	// message without tapping it: the holdout's conversion.
	actOrganicBuy = rate{3, 100}
	// actTapBuy of those who tap the reminder buy the item.
	actTapBuy = rate{2, 5}
	// actPushTap tap the ad push, actPushTapBuy of them buy, and
	// actPushBuy of the others buy something within 3 days.
	actPushTap    = rate{3, 200}
	actPushTapBuy = rate{1, 4}
	actPushBuy    = rate{13, 2000}
)

// actVariants are the reminder's two copies and how often each is tapped.
var actVariants = []struct {
	name, subject, body string
	tap                 rate
}{
	{"reassure", "Still thinking about {{event.name}}?", "It is waiting in your cart. Free returns for 30 days.", rate{17, 100}},
	{"urgency", "{{event.name}} is selling fast", "Only a few left in your size: complete your order before it is gone.", rate{22, 100}},
}

// PlantedReminderLift is the planted lift of the reminder's conversion
// over the holdout's (an absolute difference of proportions, both arms
// counting those whose reminder was due): the variants' mean tap rate
// times what tapping adds to buying.
func PlantedReminderLift() float64 {
	var tap float64
	for _, v := range actVariants {
		tap += v.tap.p() / float64(len(actVariants))
	}
	return tap * (actTapBuy.p() - actOrganicBuy.p())
}

// Act is the demo shop's campaign story. NewShopAct plans it, Events
// sends the app users' own events (with the shop's), Run records the
// campaigns once those are loaded.
type Act struct {
	end, testStart           time.Time
	broadcastAt, pushCreated time.Time // the push's time and when it was made
	users                    []*appUser
	byDistinct               map[string]*appUser
	products                 []product
	secret                   string
	nonces                   *rand.Rand
	reminderID, pushID       int64
	summary                  []string
}

type appUser struct {
	distinct, email, os string
	plan                string       // as the shop's customers: free or member
	hour                int          // the local hour they open the app most
	sessions            []appSession // in time order
	cart                *appCart     // nil: no cart during the test
	// How long they take to tap, to buy after a tap, and to buy without
	// one; what they buy after the push.
	tapAfter, buyAfter, later time.Duration
	pushProduct               product
}

// appSession is an app start and the product looked at.
type appSession struct {
	at      time.Time
	product product
}

type appCart struct {
	at            time.Time
	uuid, orderID string // the trigger's and the quick order's uuids
	product       product
	liked         bool
	quickAt       time.Time // zero: no order within the hour
}

// NewShopAct plans the campaign story over the history o describes; nil
// when it is shorter than 21 days.
func NewShopAct(o Options) *Act {
	if o.Days < minActDays {
		return nil
	}
	loc := shopZone()
	a := &Act{end: o.End.UTC(), byDistinct: map[string]*appUser{}, products: catalog(rand.New(rand.NewPCG(o.Seed, 1))),
		nonces: rand.New(rand.NewPCG(o.Seed, 6))}
	a.testStart = a.end.Truncate(time.Hour).Add(-actTestDays * 24 * time.Hour)
	// The push goes at 18:00 local, its 3-day window closed before the test.
	d := a.testStart.Add(-4 * 24 * time.Hour).In(loc)
	a.broadcastAt = time.Date(d.Year(), d.Month(), d.Day(), 18, 0, 0, 0, loc).UTC()
	for a.testStart.Sub(a.broadcastAt) < 75*time.Hour {
		a.broadcastAt = a.broadcastAt.Add(-24 * time.Hour)
	}
	a.pushCreated = a.broadcastAt.Add(-26 * time.Hour)
	key := make([]byte, 32)
	kr := rand.New(rand.NewPCG(o.Seed, 5))
	for i := range key {
		key[i] = byte(kr.Uint32())
	}
	a.secret = "whsec_" + base64.StdEncoding.EncodeToString(key)
	uuids := &gen{uuidRng: rand.New(rand.NewPCG(o.Seed, 4))}
	for n := range actUsers {
		u := a.planUser(rand.New(rand.NewPCG(o.Seed, 3<<32|uint64(n))), n, loc, uuids)
		a.users = append(a.users, u)
		a.byDistinct[u.distinct] = u
	}
	return a
}

// shopZone is the demo shop's time zone (its project's).
func shopZone() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}

// planUser plans app user n: sessions from a first day 21 to 11 days
// before the end, most at their hour, and perhaps a cart in the test.
func (a *Act) planUser(r *rand.Rand, n int, loc *time.Location, uuids *gen) *appUser {
	u := &appUser{distinct: fmt.Sprintf("app-%05d", n), os: pick(r, []string{"iOS", "iOS", "Android"}), hour: appHour(r)}
	u.email, u.plan = u.distinct+"@example.com", pick(r, []string{"free", "free", "member"})
	span := a.broadcastAt.Add(-2 * time.Hour).Sub(a.end.Add(-minActDays * 24 * time.Hour))
	first := a.end.Add(-minActDays * 24 * time.Hour).Add(time.Duration(r.Int64N(int64(span))))
	at := func(day time.Time) time.Time {
		h := u.hour
		if r.Float64() < 0.25 {
			h = 8 + r.IntN(14)
		}
		l := day.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), h, r.IntN(60), r.IntN(60), 0, loc).UTC()
	}
	last, sessions := a.end.Add(-24*time.Hour), 1+r.IntN(4)
	if r.Float64() < actCartShare {
		u.cart = a.planCart(r, uuids)
		last, sessions = u.cart.at.Add(-2*time.Hour), 5+r.IntN(5) // enough history for a best time of their own
	}
	days := max(1, int(last.Sub(first).Hours()/24))
	u.sessions = append(u.sessions, appSession{first, pick(r, a.products)})
	for range sessions - 1 {
		if t := at(first.Add(time.Duration(1+r.IntN(days)) * 24 * time.Hour)); t.Before(last) {
			u.sessions = append(u.sessions, appSession{t, pick(r, a.products)})
		}
	}
	sort.Slice(u.sessions, func(i, j int) bool { return u.sessions[i].at.Before(u.sessions[j].at) })
	u.tapAfter = time.Duration(lognormal(r, 8, 0.8)*60) * time.Second
	u.buyAfter = time.Duration(3+r.IntN(40)) * time.Minute
	u.later = time.Duration(math.Min(10+r.ExpFloat64()*18*60, 70*60)) * time.Minute
	u.pushProduct = pick(r, a.products)
	return u
}

// appHour is a user's favourite hour of the day, out of quiet hours.
func appHour(r *rand.Rand) int {
	for {
		if h := hourOfDay(r); h >= 8 && h < 22 {
			return h
		}
	}
}

// planCart plans a cart during the test, at least 36 h before the end (so
// its reminder is due before the end), and perhaps an order within the
// hour.
func (a *Act) planCart(r *rand.Rand, uuids *gen) *appCart {
	c := &appCart{uuid: uuids.uuid(), orderID: uuids.uuid(), product: pick(r, a.products), liked: r.Float64() < 0.4}
	from := a.testStart.Add(30 * time.Minute)
	c.at = from.Add(time.Duration(r.Int64N(int64(a.end.Add(-36 * time.Hour).Sub(from)))))
	if r.Float64() < actQuickBuy {
		c.quickAt = c.at.Add(time.Duration(2+r.IntN(53)) * time.Minute)
	}
	return c
}

func (u *appUser) props(extra map[string]any) map[string]any {
	p := map[string]any{"$lib": appLib, "$lib_version": "4.1.0", "$os": u.os, "$app_version": "5.12.0", "$device_type": "Mobile"}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func (p product) props() map[string]any {
	return map[string]any{"item": p.id, "name": p.name, "category": p.category, "price": p.price}
}

// order is an order of one product by u at t.
func (u *appUser) order(p product, t time.Time, uuid string) event.Event {
	props := u.props(p.props())
	props["revenue"], props["items"], props["currency"] = p.price, 1, "EUR"
	return event.Event{UUID: uuid, Event: appGoal, DistinctID: u.distinct, Timestamp: t, Properties: props}
}

// emitAs appends e with the uuid it has (a trigger's, a message event's).
func (g *gen) emitAs(ctx context.Context, e event.Event) error {
	if e.UUID == "" {
		e.UUID = g.uuid()
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = e.Timestamp
	}
	g.buf = append(g.buf, e)
	if len(g.buf) >= batchSize {
		return g.flush(ctx)
	}
	return nil
}

// Events sends the app users' own events to project's sink: their
// sessions, the carts that trigger the reminder and the orders made
// within the hour.
func (a *Act) Events(ctx context.Context, project int64, sink Sink, o Options) error {
	g := &gen{project: project, sink: sink, uuidRng: rand.New(rand.NewPCG(o.Seed, 7))}
	for _, u := range a.users {
		for i, s := range u.sessions {
			if err := g.emitAs(ctx, event.Event{Event: appOpened, DistinctID: u.distinct, Timestamp: s.at, Properties: u.props(nil)}); err != nil {
				return err
			}
			if i == 0 {
				if err := g.emitAs(ctx, event.Event{Event: "$identify", DistinctID: u.distinct, Timestamp: s.at.Add(20 * time.Second),
					Properties: u.props(nil), Set: map[string]any{"email": u.email, "plan": u.plan, "push_enabled": true, "platform": "app"}}); err != nil {
					return err
				}
			}
			// posthog-react-native's screen view, then the shop's own event.
			if err := g.emitAs(ctx, event.Event{Event: "$screen", DistinctID: u.distinct, Timestamp: s.at.Add(50 * time.Second),
				Properties: u.props(map[string]any{"$screen_name": "Product", "item": s.product.id})}); err != nil {
				return err
			}
			if err := g.emitAs(ctx, event.Event{Event: "product_viewed", DistinctID: u.distinct, Timestamp: s.at.Add(time.Minute),
				Properties: u.props(s.product.props())}); err != nil {
				return err
			}
		}
		if c := u.cart; c != nil {
			if err := a.cartEvents(ctx, g, u, c); err != nil {
				return err
			}
		}
	}
	return g.flush(ctx)
}

func (a *Act) cartEvents(ctx context.Context, g *gen, u *appUser, c *appCart) error {
	evs := []event.Event{
		{Event: appOpened, Timestamp: c.at.Add(-4 * time.Minute), Properties: u.props(nil)},
		{Event: "$screen", Timestamp: c.at.Add(-3*time.Minute - 10*time.Second), Properties: u.props(map[string]any{"$screen_name": "Product", "item": c.product.id})},
		{Event: "product_viewed", Timestamp: c.at.Add(-3 * time.Minute), Properties: u.props(c.product.props())},
	}
	if c.liked {
		evs = append(evs, event.Event{Event: "product_liked", Timestamp: c.at.Add(-2 * time.Minute), Properties: u.props(c.product.props())})
	}
	evs = append(evs, event.Event{UUID: c.uuid, Event: "added_to_cart", Timestamp: c.at, Properties: u.props(c.product.props())})
	if !c.quickAt.IsZero() {
		evs = append(evs, u.order(c.product, c.quickAt, c.orderID))
	}
	for _, e := range evs {
		e.DistinctID = u.distinct
		if err := g.emitAs(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// ActEnv is what Run records the campaigns with: the stores, the
// project's sink and a Sync that waits until what it got is loaded, and
// the server's handler (the decision goes through its API).
type ActEnv struct {
	Meta    meta.Store
	Events  store.Store
	Sink    Sink
	Sync    func(ctx context.Context) error
	Handler http.Handler
	Project meta.Project
	// Owner is the demo admin (a server admin), who decides.
	Owner int64
	// BaseURL is the server's public URL, the base of click links.
	BaseURL string
	Seed    uint64
}

// Run records the campaigns, once the app users' events (Events) are
// loaded: the cohort, the push sent by the cohort scheduler, the
// reminder's sends, the message events and what the customers did, and
// the decision. Nothing runs the trigger engine or the sender meanwhile.
func (a *Act) Run(ctx context.Context, env ActEnv) error {
	loc, err := time.LoadLocation(env.Project.Timezone)
	if err != nil {
		loc = time.UTC
	}
	behavior := insight.CohortDef{Behavior: &insight.Behavior{Event: appOpened, Days: 30}}
	if err := behavior.Validate("cohort"); err != nil {
		return err
	}
	raw, _ := json.Marshal(behavior)
	cohort, err := env.Meta.CreateCohort(ctx, env.Project.ID, CohortAppUsers, raw)
	if err != nil {
		return fmt.Errorf("cannot create demo cohort: %w", err)
	}
	push, err := a.createCampaign(ctx, env, a.pushDefinition(cohort.ID), a.pushCreated)
	if err != nil {
		return err
	}
	reminder, err := a.createCampaign(ctx, env, a.reminderDefinition(), a.testStart)
	if err != nil {
		return err
	}
	a.pushID, a.reminderID = push.Meta.ID, reminder.Meta.ID
	if err := a.schedulePush(ctx, env); err != nil {
		return err
	}
	if err := a.scheduleReminders(ctx, env, reminder, loc, &behavior); err != nil {
		return err
	}
	g := &gen{project: env.Project.ID, sink: env.Sink, uuidRng: rand.New(rand.NewPCG(env.Seed, 8))}
	if err := a.deliver(ctx, env, g); err != nil {
		return err
	}
	if err := a.nothingPending(ctx, env); err != nil {
		return err
	}
	if err := g.flush(ctx); err != nil {
		return err
	}
	if err := env.Sync(ctx); err != nil {
		return err
	}
	if err := markEngine(ctx, env); err != nil {
		return err
	}
	return a.decide(ctx, env)
}

// markEngine moves the trigger engine's checkpoint to the end of what is
// loaded (unless it is there already): the history's triggers are
// recorded, so a server's engine goes on after them instead of finding
// its checkpoint trimmed from the log.
func markEngine(ctx context.Context, env ActEnv) error {
	end, err := env.Events.Checkpoint(ctx)
	if err != nil {
		return err
	}
	pos, ok, err := env.Meta.ConsumerPosition(ctx, campaign.EngineConsumer)
	if err != nil || (ok && pos >= end) {
		return err
	}
	return env.Meta.SetConsumerPosition(ctx, campaign.EngineConsumer, end)
}

// createCampaign validates definition d as the API does and stores it,
// created at `at`.
func (a *Act) createCampaign(ctx context.Context, env ActEnv, d map[string]any, at time.Time) (*campaign.Live, error) {
	body, _ := json.Marshal(d)
	def, err := campaign.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("demo campaign %v: %w", d["name"], err)
	}
	secret := def.TakeSecret()
	stored, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	c, err := env.Meta.CreateCampaign(ctx, meta.Campaign{ProjectID: env.Project.ID, Name: def.Name, Kind: def.Kind, Status: def.Status,
		Definition: stored, Secret: secret, CreatedBy: env.Owner, UpdatedBy: env.Owner, CreatedAt: at})
	if err != nil {
		return nil, fmt.Errorf("cannot create demo campaign %q: %w", def.Name, err)
	}
	return campaign.Decode(c)
}

func (a *Act) pushDefinition(cohort int64) map[string]any {
	return map[string]any{
		"name": CampaignBroadcast, "kind": "broadcast", "status": "active",
		"broadcast": map[string]any{"cohort": cohort, "at": a.broadcastAt},
		"goal":      map[string]any{"event": appGoal, "within": "72h"},
		"channel":   map[string]any{"type": "webhook", "url": ActPushURL, "secret": a.secret},
		"variants": []map[string]any{{"name": "sale", "subject": "Weekend sale: up to 30% off",
			"body": "Shoes, jackets and bags up to 30% off until Sunday night.",
			"url":  "https://shop.example/sale?utm_source=journey&utm_campaign=weekend-sale"}},
		"attribution": "72h",
	}
}

func (a *Act) reminderDefinition() map[string]any {
	var variants []map[string]any
	for _, v := range actVariants {
		variants = append(variants, map[string]any{"name": v.name, "weight": 1, "subject": v.subject, "body": v.body,
			"url": "https://shop.example/p/{{item}}?utm_source=journey&utm_campaign=cart-reminder&utm_content=" + v.name})
	}
	return map[string]any{
		"name": CampaignReminder, "status": "active",
		"trigger": map[string]any{"event": "added_to_cart", "filters": []map[string]any{{"type": "event", "property": "$lib", "op": "eq", "value": appLib}}},
		"goal":    map[string]any{"event": appGoal, "match": "item", "within": "72h"},
		"wait":    map[string]any{"best_time": true, "min_delay": "1h"},
		"holdout": actHoldout,
		"channel": map[string]any{"type": "webhook", "url": ActPushURL, "secret": a.secret},
		"audience": map[string]any{"frequency_cap": map[string]any{"count": 1, "per": "24h"},
			"quiet_hours": map[string]any{"start": "22:00", "end": "08:00"}, "reeligible_after": "168h"},
		"variants":    variants,
		"attribution": "72h",
	}
}

// schedulePush runs the cohort scheduler at the push's time: it schedules
// one send per member of the cohort then and records its pass done.
func (a *Act) schedulePush(ctx context.Context, env ActEnv) error {
	s := campaign.NewCohortScheduler(campaign.CohortConfig{Meta: env.Meta, Events: env.Events, Campaigns: &campaign.Campaigns{Meta: env.Meta},
		PublicURL: env.BaseURL, Owner: actOwner, Now: func() time.Time { return a.broadcastAt }})
	for range 1000 {
		more, err := s.Tick(ctx)
		if err != nil {
			return fmt.Errorf("cannot schedule the demo broadcast: %w", err)
		}
		if !more {
			break
		}
	}
	run, err := env.Meta.CohortRun(ctx, env.Project.ID, a.pushID)
	if err != nil || run.DoneAt.IsZero() {
		return fmt.Errorf("demo broadcast not scheduled (run %+v): %v", run, err)
	}
	return nil
}

// scheduleReminders schedules the sends the trigger engine schedules for
// the carts: arm, variant, best time, quiet hours, key and message as
// package campaign decides them; then cancels, by key, those whose goal
// came first, as the engine does when it sees the goal.
func (a *Act) scheduleReminders(ctx context.Context, env ActEnv, l *campaign.Live, loc *time.Location, cohort *insight.CohortDef) error {
	ids, err := a.persons(ctx, env, cohort)
	if err != nil {
		return err
	}
	var carters []*appUser
	var pids []int64
	for _, u := range a.users {
		if u.cart != nil {
			carters = append(carters, u)
			pids = append(pids, ids[u.distinct])
		}
	}
	persons, err := env.Events.Persons(ctx, pids)
	if err != nil {
		return err
	}
	since := a.testStart.Add(-90 * 24 * time.Hour)
	hists, err := env.Events.EngagementHours(ctx, env.Project.ID, loc, pids, since)
	if err != nil {
		return err
	}
	fallback, err := env.Events.ProjectEngagementHours(ctx, env.Project.ID, loc, since)
	if err != nil {
		return err
	}
	var sends []meta.Send
	cancel := map[string]string{} // key → the reason the engine gives
	for i, u := range carters {
		person, ok := persons[pids[i]]
		if !ok {
			return fmt.Errorf("demo app user %s has no person", u.distinct)
		}
		sd, err := a.reminderSend(env, l, u, person, hists[person.ID], fallback, loc)
		if err != nil {
			return err
		}
		sends = append(sends, sd)
		if !u.cart.quickAt.IsZero() {
			cancel[sd.Key] = "goal reached: " + appGoal + " " + u.cart.orderID
		}
	}
	for len(sends) > 0 {
		n := min(len(sends), meta.MaxSendBatch)
		if _, err := env.Meta.ScheduleSends(ctx, sends[:n]); err != nil {
			return fmt.Errorf("cannot schedule demo sends: %w", err)
		}
		sends = sends[n:]
	}
	for key, reason := range cancel {
		if _, err := env.Meta.CancelSendsByKey(ctx, env.Project.ID, l.Meta.ID, []string{key}, reason); err != nil {
			return err
		}
	}
	return nil
}

// persons maps the app users' distinct ids to their persons (the cohort's
// members now: every app user).
func (a *Act) persons(ctx context.Context, env ActEnv, cohort *insight.CohortDef) (map[string]int64, error) {
	ids := map[string]int64{}
	var after int64
	for {
		page, err := env.Events.CohortPersons(ctx, env.Project.ID, cohort, a.end, after, store.MaxCohortPage)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			ids[m.DistinctID] = m.ID
		}
		if len(page) < store.MaxCohortPage {
			return ids, nil
		}
		after = page[len(page)-1].ID
	}
}

// reminderSend is the send the engine schedules for u's cart.
func (a *Act) reminderSend(env ActEnv, l *campaign.Live, u *appUser, person store.Person, hist, fallback [24]float64, loc *time.Location) (meta.Send, error) {
	d, c, pid := l.Def, l.Meta, env.Project.ID
	p, cid, who := strconv.FormatInt(pid, 10), strconv.FormatInt(c.ID, 10), strconv.FormatInt(person.ID, 10)
	arm := campaign.Assign(p, cid, who, d.Holdout, 0) // the demo has no project control group
	v := d.Variant(p, cid, who)
	tz := campaign.Zone(stringOf(person.Properties, "$timezone"), loc)
	due := campaign.BestTime(hist, u.cart.at, d.Wait.MinDelayDur, tz, fallback)
	due = d.Audience.QuietHours.SendAt(due, tz)
	key := channel.NewKey(c.ID, person.ID, u.cart.uuid, v.Name)
	props := u.props(u.cart.product.props())
	ev := &event.Raw{UUID: u.cart.uuid, Event: "added_to_cart", DistinctID: u.distinct, Timestamp: u.cart.at, ReceivedAt: u.cart.at}
	data := campaign.TemplateData(l, u.distinct, person.Properties, props, ev)
	pl := campaign.Payload{TriggerEvent: ev.Event, TriggerAt: ev.Timestamp, Match: d.Goal.Match, Item: u.cart.product.id,
		Subject: channel.RenderSubject(v.Subject, data), Body: channel.RenderBody(v.Body, data),
		IDs: campaign.IDsDigest([]string{u.distinct}), Goal: campaign.GoalSig(d)}
	if target := campaign.RenderURL(v.URL, data); target != "" && env.BaseURL != "" {
		nonce := make([]byte, 16)
		for i := range nonce {
			nonce[i] = byte(a.nonces.Uint32())
		}
		pl.Target, pl.Click = target, base64.RawURLEncoding.EncodeToString(nonce)
		pl.URL = env.BaseURL + "/c/" + campaign.ClickToken(pid, key, pl.Click)
	}
	raw, err := json.Marshal(pl)
	if err != nil {
		return meta.Send{}, err
	}
	return meta.Send{Key: key, ProjectID: pid, CampaignID: c.ID, PersonID: person.ID, DistinctID: u.distinct, Variant: v.Name,
		TriggerUUID: u.cart.uuid, Channel: d.Channel.Type, Arm: string(arm), DueAt: due, Payload: raw}, nil
}

func stringOf(props map[string]any, k string) string {
	s, _ := props[k].(string)
	return s
}

// deliver claims every due send from the schedule and ends it as the
// sender does at its due time (the holdout's "would have sent", a
// message delivered to the gateway), with the events it emits, and adds
// what the customers then did: taps through the click link, orders.
// Events after the end have not happened yet.
func (a *Act) deliver(ctx context.Context, env ActEnv, g *gen) error {
	taps := map[string]rate{}
	for _, v := range actVariants {
		taps[v.name] = v.tap
	}
	ds := &decks{r: rand.New(rand.NewPCG(env.Seed, 9)), m: map[string]*deck{}}
	for {
		sends, err := env.Meta.ClaimDueSends(ctx, actOwner, a.end, time.Hour, meta.MaxSendBatch)
		if err != nil {
			return err
		}
		if len(sends) == 0 {
			return nil
		}
		for _, sd := range sends {
			u := a.byDistinct[sd.DistinctID]
			if u == nil || (sd.CampaignID != a.pushID && sd.CampaignID != a.reminderID) {
				return fmt.Errorf("demo: unexpected send %d of campaign %d to %q in the schedule", sd.ID, sd.CampaignID, sd.DistinctID)
			}
			pl, err := campaign.ParsePayload(sd.Payload)
			if err != nil {
				return err
			}
			state, evs := a.outcome(sd, pl, u, taps, ds)
			for _, e := range evs {
				if e.Timestamp.After(a.end) {
					continue
				}
				if err := g.emitAs(ctx, e); err != nil {
					return err
				}
			}
			if err := env.Meta.CompleteSend(ctx, sd.ID, actOwner, state, sd.DueAt, ""); err != nil {
				return fmt.Errorf("cannot complete demo send %d: %w", sd.ID, err)
			}
		}
	}
}

// nothingPending checks that no send of the campaigns is left to a
// sender: a server started on the demo's data sends nothing of it.
func (a *Act) nothingPending(ctx context.Context, env ActEnv) error {
	for _, id := range []int64{a.pushID, a.reminderID} {
		counts, err := env.Meta.CountSends(ctx, env.Project.ID, id)
		if err != nil {
			return err
		}
		for _, c := range counts {
			if c.State == meta.SendPending || c.State == meta.SendSending {
				return fmt.Errorf("demo campaign %d: %d sends left %s", id, c.Count, c.State)
			}
		}
	}
	return nil
}

// A deck deals outcomes in shuffled blocks with exactly its rate of hits
// (blocked randomisation): the planted rates hold in each arm, up to its
// last block, not only in expectation.
type deck struct {
	r     *rand.Rand
	rate  rate
	cards []bool
}

func (d *deck) deal() bool {
	if len(d.cards) == 0 {
		d.cards = make([]bool, d.rate.of)
		for i := range d.rate.hits {
			d.cards[i] = true
		}
		d.r.Shuffle(len(d.cards), func(i, j int) { d.cards[i], d.cards[j] = d.cards[j], d.cards[i] })
	}
	c := d.cards[0]
	d.cards = d.cards[1:]
	return c
}

// decks are the decks of the outcomes, by campaign, arm and outcome.
type decks struct {
	r *rand.Rand
	m map[string]*deck
}

func (ds *decks) deal(name string, r rate) bool {
	d := ds.m[name]
	if d == nil {
		d = &deck{r: ds.r, rate: r}
		ds.m[name] = d
	}
	return d.deal()
}

// outcome is how send sd ends and the events of it and of what u did.
func (a *Act) outcome(sd meta.Send, pl campaign.Payload, u *appUser, taps map[string]rate, ds *decks) (string, []event.Event) {
	at := sd.DueAt
	if sd.Arm != meta.ArmTreatment {
		evs := []event.Event{campaign.MessageEvent(campaign.EventWouldHaveSent, sd, pl, at, nil)}
		if ds.deal("reminder holdout organic", actOrganicBuy) {
			evs = append(evs, u.order(u.cart.product, at.Add(u.later), ""))
		}
		return meta.SendHeldOut, evs
	}
	evs := []event.Event{campaign.MessageEvent(campaign.EventSent, sd, pl, at, nil),
		campaign.MessageEvent(campaign.EventDelivered, sd, pl, at, map[string]any{"status": http.StatusOK})}
	name, tap, tapBuy, organic, item := "reminder "+sd.Variant, taps[sd.Variant], actTapBuy, actOrganicBuy, u.pushProduct
	if sd.CampaignID == a.pushID {
		name, tap, tapBuy, organic = "push", actPushTap, actPushTapBuy, actPushBuy
	} else {
		item = u.cart.product
	}
	if ds.deal(name+" tap", tap) {
		t := at.Add(u.tapAfter)
		click := campaign.MessageEvent(campaign.EventClicked, sd, pl, t, map[string]any{"$current_url": pl.Target})
		click.UUID = "" // every click is an event of its own (as /c/{token} records them)
		evs = append(evs, click,
			event.Event{Event: "product_viewed", DistinctID: u.distinct, Timestamp: t.Add(10 * time.Second), Properties: u.props(item.props())})
		if ds.deal(name+" tap buy", tapBuy) {
			evs = append(evs, u.order(item, t.Add(u.buyAfter), ""))
		}
		return meta.SendSent, evs
	}
	if ds.deal(name+" organic", organic) {
		evs = append(evs, u.order(item, at.Add(u.later), ""))
	}
	return meta.SendSent, evs
}

// decide reads the reminder's report and its comparison with the push
// through the API and records the decision there, as the demo admin (a
// session made for it, deleted after).
func (a *Act) decide(ctx context.Context, env ActEnv) error {
	api, done, err := a.session(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	base := fmt.Sprintf("/ui/api/projects/%d/campaigns", env.Project.ID)
	var rep campaign.Report
	if err := api(http.MethodGet, fmt.Sprintf("%s/%d/report?revenue_property=revenue", base, a.reminderID), nil, &rep); err != nil {
		return err
	}
	var cmp campaign.Comparison
	if err := api(http.MethodGet, fmt.Sprintf("%s/compare?ids=%d,%d", base, a.reminderID, a.pushID), nil, &cmp); err != nil {
		return err
	}
	decision, notes := actDecision(&rep, &cmp)
	body := map[string]any{"decision": decision, "notes": notes, "stage": "Activation", "revenue_property": "revenue",
		"hypothesis": "Reminding app customers of the item they carted, at the hour they use the app most, makes more of them " +
			"buy it within 3 days than the 10% held out: the cart shows intent, and a timely, personal push beats the " +
			"general ad push (the seeds' 29CM test: CTR 13×, CVR 10×)."}
	if decision == meta.DecisionWon {
		body["holdout_after"] = actHoldoutAfter
	}
	var out struct {
		Archive struct {
			ID int64 `json:"id"`
		} `json:"archive"`
	}
	if err := api(http.MethodPost, fmt.Sprintf("%s/%d/decision", base, a.reminderID), body, &out); err != nil {
		return err
	}
	a.summary = []string{
		fmt.Sprintf("%s (/campaigns/%d): %s after %d days, %s", CampaignReminder, a.reminderID, decision, actTestDays, liftLine(&rep)),
		fmt.Sprintf("  vs %s (/campaigns/%d): %s; the decision is in the archive (/experiments/%d)", CampaignBroadcast, a.pushID, ratios(&cmp), out.Archive.ID),
	}
	return nil
}

// session makes a short session of the demo admin and returns a caller
// of the API under it, and what deletes it.
func (a *Act) session(ctx context.Context, env ActEnv) (func(method, path string, body, out any) error, func(), error) {
	token, csrf := meta.NewSessionToken(), meta.NewCSRFToken()
	hash := meta.HashSecret(token)
	if err := env.Meta.CreateSession(ctx, hash, env.Owner, csrf, time.Now().Add(10*time.Minute)); err != nil {
		return nil, nil, fmt.Errorf("cannot make a demo session: %w", err)
	}
	call := func(method, path string, body, out any) error {
		var r *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		} else {
			r = bytes.NewReader(nil)
		}
		req := httptest.NewRequestWithContext(ctx, method, path, r)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		req.AddCookie(&http.Cookie{Name: "journey_session", Value: token})
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			return fmt.Errorf("demo: %s %s: %d %s", method, path, rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
		}
		return json.Unmarshal(rec.Body.Bytes(), out)
	}
	return call, func() { _ = env.Meta.DeleteSession(context.WithoutCancel(ctx), hash) }, nil
}

// actDecision decides from the report: won when the lift's interval
// is above 0, lost when below, else inconclusive.
func actDecision(rep *campaign.Report, cmp *campaign.Comparison) (string, string) {
	line := fmt.Sprintf("Orders of the carted item within 72 h of the reminder: %s of %d reminded vs %s of %d held out, %s. "+
		"Taps %s of %d delivered. Against the %s: %s.", pct(&rep.CVR), rep.Recipients, pct(&rep.Holdout.CVR), rep.Holdout.Persons,
		liftLine(rep), pct(&rep.CTR), rep.Delivered, CampaignBroadcast, ratios(cmp))
	for _, v := range rep.Variants {
		line += fmt.Sprintf(" Copy %q: taps %s, orders %s.", v.Name, pct(&v.CTR), pct(&v.CVR))
	}
	switch {
	case rep.Lift != nil && rep.Lift.CI[0] > 0:
		return meta.DecisionWon, "Won. " + line + fmt.Sprintf(" Applied: the reminder keeps running for every app cart, "+
			"with the holdout down to %.0f%% to keep measuring its lift. Next: test the copy that is tapped more against a new one.", actHoldoutAfter*100)
	case rep.Lift != nil && rep.Lift.CI[1] < 0:
		return meta.DecisionLost, "Lost. " + line
	}
	return meta.DecisionInconclusive, "Inconclusive. " + line
}

func liftLine(rep *campaign.Report) string {
	if rep.Lift == nil {
		return "no lift yet (too few persons)"
	}
	return fmt.Sprintf("lift %+.1f pp (95%% CI %+.1f to %+.1f pp)", rep.Lift.Effect*100, rep.Lift.CI[0]*100, rep.Lift.CI[1]*100)
}

func ratios(c *campaign.Comparison) string {
	f := func(x *float64) string {
		if x == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f×", *x)
	}
	return "CTR " + f(c.CTRRatio) + ", CVR " + f(c.CVRRatio)
}

// Summary is a line or two on the campaigns (after Run).
func (a *Act) Summary() []string { return a.summary }

// IDs are the reminder's and the broadcast's campaign ids (after Run).
func (a *Act) IDs() (reminder, broadcast int64) { return a.reminderID, a.pushID }
