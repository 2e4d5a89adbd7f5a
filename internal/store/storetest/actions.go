package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// Elements chains as posthog-js sends them ($elements_chain).
const (
	// The buy button in a card.
	chainBuy = `button.btn.buy:attr__class="btn buy"attr__id="buy"attr_id="buy"nth-child="2"nth-of-type="1"text="Buy now";` +
		`div.card:attr__class="card"nth-child="1"nth-of-type="1";body:nth-child="2"nth-of-type="1"`
	// A span in a pricing link; its text holds a semicolon and quotes.
	chainLink = `span:nth-child="1"nth-of-type="1"text="Pricing; \"pro\"";` +
		`a.nav:attr__class="nav"attr__href="/pricing?plan=pro"href="/pricing?plan=pro"nth-child="3"nth-of-type="1";nav:nth-child="1"nth-of-type="1"`
	chainCancel = `button.btn:attr__class="btn"nth-child="1"nth-of-type="1"text="Cancel";form:nth-child="1"nth-of-type="1"`
	// A span whose text looks like the buy button's chain.
	chainTrap = `span:nth-child="1"nth-of-type="1"text="x;button.btn.buy:attr_id=\"buy\";div.card;y";body:nth-child="2"nth-of-type="1"`
)

// click is an event's properties: its chain and page.
func click(chain, url string) map[string]any {
	p := map[string]any{"$current_url": url}
	if chain != "" {
		p["$elements_chain"] = chain
	}
	return p
}

const shop = "https://shop.example"

// loadClicks loads the actions cases' events (minutes after Day0 01:00;
// u2 and u9 also click on Day1). rename, when set, names the clicks on
// the buy button instead of $autocapture: the raw events an action on
// the buy button matches.
func loadClicks(l *Loader, project int64, rename string) {
	buy := func(who string, m int, page string) event.Raw {
		e := Ev("$autocapture", who, Day0.Add(time.Hour+time.Duration(m)*time.Minute), click(chainBuy, shop+page))
		if rename != "" {
			e.Event = rename
		}
		return e
	}
	at := func(m int) time.Time { return Day0.Add(time.Hour + time.Duration(m)*time.Minute) }
	l.Load(project,
		buy("u1", 0, "/product/1"), Ev("purchase", "u1", at(10), nil),
		Ev("$autocapture", "u2", at(0), click(chainLink, shop+"/")), buy("u2", 5, "/product/2"), Ev("purchase", "u2", at(20), nil),
		Ev("$autocapture", "u3", at(0), click(chainCancel, shop+"/checkout")), Ev("purchase", "u3", at(5), nil),
		Ev("$autocapture", "u4", at(0), click(chainTrap, shop+"/product/3")), Ev("purchase", "u4", at(30), nil),
		Ev("$pageview", "u5", at(0), click("", shop+"/pricing?plan=pro")),
		Ev("$rageclick", "u6", at(0), click(chainBuy, shop+"/product/9")), Ev("purchase", "u6", at(1), nil),
		Ev("purchase", "u7", at(0), nil), buy("u7", 10, "/product/7"),
		buy("u8", 0, "/product/8"), Ev("$autocapture", "u8", at(2), click(chainCancel, shop+"/checkout")), Ev("purchase", "u8", at(5), nil),
		// Day1
		buy("u2", 24*60, "/product/2"), Ev("purchase", "u1", at(24*60), nil), buy("u9", 24*60, "/product/9"),
	)
}

// actionOf is an inline action; validation (of the query) fills its
// defaults.
func actionOf(steps ...insight.ActionStep) *insight.ActionDef {
	return &insight.ActionDef{Name: "action", Steps: steps}
}

// buyClick is the action on the buy button.
var buyClick = insight.ActionStep{Event: "$autocapture", Selector: "div.card > button.buy"}

// day0 is the range of Day0.
var day0 = insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}

// actionCounts runs a trend of series over Day0 and returns each series'
// single value.
func actionCounts(t *testing.T, s store.Store, r insight.Range, series ...insight.Series) []float64 {
	t.Helper()
	q := &insight.Trend{Series: series, Interval: "day", Range: r}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Trend(context.Background(), 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, sr := range res.Series {
		if len(sr.Points) != 1 {
			t.Fatalf("series %q has %d points", sr.Label, len(sr.Points))
		}
		out = append(out, sr.Points[0].Value)
	}
	return out
}

// actionConditions: each condition of a step (selector, text, href, URL,
// tag, property filters) and OR'd steps, counted by a trend (events, and
// persons with math dau), with hand-computed answers.
func actionConditions(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	loadClicks(l, 1, "")
	cases := []struct {
		name  string
		steps []insight.ActionStep
		total float64 // events on Day0
	}{
		// The buy clicks: u1, u2, u7, u8 (not u6's rage click, not u4's
		// look-alike text).
		{"selector child", []insight.ActionStep{buyClick}, 4},
		{"selector", []insight.ActionStep{{Event: "$autocapture", Selector: "button.buy"}}, 4},
		{"selector with id and position", []insight.ActionStep{{Event: "$autocapture", Selector: "body > div > button#buy:nth-child(2)"}}, 4},
		{"selector attribute", []insight.ActionStep{{Event: "$autocapture", Selector: `[class="btn buy"]`}}, 4},
		{"selector descendant", []insight.ActionStep{{Event: "$autocapture", Selector: "nav a.nav > span"}}, 1},
		{"selector no match", []insight.ActionStep{{Event: "$autocapture", Selector: "form button.buy"}}, 0},
		{"text exact", []insight.ActionStep{{Event: "$autocapture", Text: "Buy now"}}, 4},
		{"text exact with quotes", []insight.ActionStep{{Event: "$autocapture", Text: `Pricing; "pro"`}}, 1},
		{"text exact is whole", []insight.ActionStep{{Event: "$autocapture", Text: "Buy"}}, 0},
		// The look-alike's text holds "buy" too.
		{"text contains ignores case", []insight.ActionStep{{Event: "$autocapture", Text: "BUY", TextMatching: "contains"}}, 5},
		{"text contains quotes", []insight.ActionStep{{Event: "$autocapture", Text: `"pro"`, TextMatching: "contains"}}, 1},
		{"text regex", []insight.ActionStep{{Event: "$autocapture", Text: `^Pricing; "pro"$`, TextMatching: "regex"}}, 1},
		{"href exact", []insight.ActionStep{{Event: "$autocapture", Href: "/pricing?plan=pro"}}, 1},
		{"href contains ignores case", []insight.ActionStep{{Event: "$autocapture", Href: "PRICING", HrefMatching: "contains"}}, 1},
		{"href regex", []insight.ActionStep{{Event: "$autocapture", Href: `plan=(pro|team)$`, HrefMatching: "regex"}}, 1},
		{"url contains", []insight.ActionStep{{Event: "$autocapture", URL: "/product/"}}, 5},
		{"url contains is case sensitive", []insight.ActionStep{{Event: "$autocapture", URL: "/PRODUCT/"}}, 0},
		{"url regex", []insight.ActionStep{{Event: "$autocapture", URL: `/product/[12]$`, URLMatching: "regex"}}, 2},
		{"url exact", []insight.ActionStep{{Event: "$autocapture", URL: shop + "/checkout", URLMatching: "exact"}}, 2},
		{"tag a", []insight.ActionStep{{Event: "$autocapture", TagName: "a"}}, 1},
		{"tag form", []insight.ActionStep{{Event: "$autocapture", TagName: "form"}}, 2},
		{"conditions are ANDed", []insight.ActionStep{{Event: "$autocapture", Text: "Buy now", URL: "/product/1"}}, 1},
		{"steps are ORed", []insight.ActionStep{{Event: "$autocapture", Text: "Cancel"}, {Event: "$pageview", URL: "pricing"}}, 3},
		{"same event twice counts once", []insight.ActionStep{{Event: "$autocapture", Text: "Buy now"}, {Event: "$autocapture", Selector: "button"}}, 6},
		{"element filter", []insight.ActionStep{{Event: "$autocapture", Filters: []insight.Filter{{Type: "element", Property: "selector", Op: "eq", Value: "nav a"}}}}, 1},
		{"url filter", []insight.ActionStep{{Event: "$autocapture", Filters: []insight.Filter{{Property: "$current_url", Op: "regex", Value: "product/(1|7)$"}}}}, 2},
		{"other events' chains", []insight.ActionStep{{Event: "$rageclick", Text: "Buy now"}}, 1},
		{"no chain, no element match", []insight.ActionStep{{Event: "$pageview", Text: "Buy now"}}, 0},
	}
	for _, c := range cases {
		got := actionCounts(t, s, day0, insight.Series{Action: actionOf(c.steps...)}, insight.Series{Action: actionOf(c.steps...), Math: "dau"})
		// Every matching event here is its person's only one of the kind,
		// except u8's two clicks.
		wantDAU := c.total
		if c.name == "same event twice counts once" {
			wantDAU = 5 // u8 clicked buy and cancel
		}
		if got[0] != c.total || got[1] != wantDAU {
			t.Errorf("%s: %v events, %v persons; want %v, %v", c.name, got[0], got[1], c.total, wantDAU)
		}
	}
}

// elementFilters: query filters on the chain and the URL, on a series of
// a plain event.
func elementFilters(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	loadClicks(l, 1, "")
	clicks := func(fs ...insight.Filter) float64 {
		t.Helper()
		return actionCounts(t, s, day0, insight.Series{Event: "$autocapture", Filters: fs})[0]
	}
	el := func(prop, op string, v any) insight.Filter {
		return insight.Filter{Type: "element", Property: prop, Op: op, Value: v}
	}
	// $autocapture on Day0: buy ×4, link, cancel ×2, trap.
	for _, c := range []struct {
		f    insight.Filter
		want float64
	}{
		{el("text", "eq", "Buy now"), 4},
		{el("text", "neq", "Buy now"), 4},
		{el("text", "contains", "cancel"), 2},
		{el("text", "regex", `^x;button`), 1},
		{el("text", "in", []any{"Cancel", "Nope"}), 2},
		{el("text", "is_set", nil), 8},
		{el("href", "is_set", nil), 1},
		{el("href", "eq", "/pricing?plan=pro"), 1},
		{el("href", "neq", "/pricing?plan=pro"), 7},
		{el("selector", "eq", "div.card > button.buy"), 4},
		{el("selector", "neq", "button"), 2},
		{el("tag_name", "eq", "span"), 2},
		{el("tag_name", "neq", "button"), 2},
		{insight.Filter{Property: "$current_url", Op: "contains", Value: "/product/"}, 5},
		{insight.Filter{Property: "$current_url", Op: "regex", Value: `/product/[0-9]$`}, 5},
	} {
		if got := clicks(c.f); got != c.want {
			t.Errorf("filter %+v: %v clicks, want %v", c.f, got, c.want)
		}
	}
	if got := clicks(el("text", "eq", "Buy now"), insight.Filter{Property: "$current_url", Op: "contains", Value: "/product/8"}); got != 1 {
		t.Errorf("two filters: %v, want 1", got)
	}
	// A top-level filter applies to the action's rows too.
	q := &insight.Trend{Series: []insight.Series{{Action: actionOf(buyClick)}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1),
		Filters: []insight.Filter{{Property: "$current_url", Op: "regex", Value: `/product/[78]$`}}}}
	if got := actionCounts(t, s, q.Range, q.Series...); got[0] != 2 {
		t.Errorf("action with a query filter: %v, want 2", got)
	}
}

// actionFunnel: a funnel whose step is an action equals the same funnel
// over the raw events the action matches (project 2 stores the buy clicks
// under a name of their own); strict funnels break on an event of the
// action's event names that the action does not match.
func actionFunnel(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	loadClicks(l, 1, "")
	loadClicks(l, 2, "buy_click")
	for _, order := range []string{"ordered", "unordered"} {
		viaAction := insight.Funnel{Steps: []insight.FunnelStep{{Action: actionOf(buyClick)}, {Event: "purchase"}}, Window: "1h", Order: order, Range: day0}
		raw := insight.Funnel{Steps: []insight.FunnelStep{{Event: "buy_click"}, {Event: "purchase"}}, Window: "1h", Order: order, Range: day0}
		a, b := runFunnel(t, s, 1, time.UTC, viaAction), runFunnel(t, s, 2, time.UTC, raw)
		if a.Steps[0].Label != "action" {
			t.Errorf("step label %q, want the action's name", a.Steps[0].Label)
		}
		for i := range a.Steps {
			a.Steps[i].Event, a.Steps[i].Label = "", ""
			b.Steps[i].Event, b.Steps[i].Label = "", ""
		}
		if !reflect.DeepEqual(a.Steps, b.Steps) {
			t.Errorf("%s funnel: via the action %+v, over the raw events %+v", order, a.Steps, b.Steps)
		}
	}
	// By hand: u1, u2, u8 click then buy; u7 buys first. Unordered: u7
	// too, within the hour.
	ordered := runFunnel(t, s, 1, time.UTC, insight.Funnel{Steps: []insight.FunnelStep{{Action: actionOf(buyClick)}, {Event: "purchase"}}, Window: "1h", Range: day0})
	if got := stepCounts(ordered.Steps); !reflect.DeepEqual(got, []int64{4, 3}) {
		t.Errorf("ordered funnel = %v, want [4 3]", got)
	}
	// Strict: u8's cancel click between its buy click and purchase ends
	// the chain, u2's link click before it does not.
	strict := runFunnel(t, s, 1, time.UTC, insight.Funnel{Steps: []insight.FunnelStep{{Action: actionOf(buyClick)}, {Event: "purchase"}}, Window: "1h", Order: "strict", Range: day0})
	if got := stepCounts(strict.Steps); !reflect.DeepEqual(got, []int64{4, 2}) {
		t.Errorf("strict funnel = %v, want [4 2]", got)
	}
	// Steps and exclusions as actions, persons of a step.
	cancel := actionOf(insight.ActionStep{Event: "$autocapture", Text: "Cancel"})
	ex := runFunnel(t, s, 1, time.UTC, insight.Funnel{Steps: []insight.FunnelStep{{Action: actionOf(buyClick)}, {Event: "purchase"}}, Window: "1h", Range: day0,
		Exclusions: []insight.FunnelExclusion{{Action: cancel, FromStep: 1, ToStep: 2}}, Persons: "converted:2"})
	if got := stepCounts(ex.Steps); !reflect.DeepEqual(got, []int64{3, 2}) || ex.Persons == nil || ex.Persons.Total != 2 {
		t.Errorf("funnel excluding cancel clicks = %v (persons %+v), want [3 2], 2 persons", got, ex.Persons)
	}
	// An action step among plain ones, last: the pricing link after the
	// buy click never happens; before it, for u2.
	link := actionOf(insight.ActionStep{Event: "$autocapture", Href: "/pricing", HrefMatching: "contains"})
	mixed := runFunnel(t, s, 1, time.UTC, insight.Funnel{Steps: []insight.FunnelStep{{Action: link}, {Action: actionOf(buyClick)}, {Event: "purchase"}}, Window: "1h", Range: day0})
	if got := stepCounts(mixed.Steps); !reflect.DeepEqual(got, []int64{1, 1, 1}) {
		t.Errorf("link, buy, purchase = %v, want [1 1 1]", got)
	}
}

// actionInsights: an action as a trend series over days, retention start
// and return, stickiness, lifecycle, a cohort's behaviour, a journey
// stage and a KPI condition.
func actionInsights(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	loadClicks(l, 1, "")
	two := insight.Range{From: Day0, To: Day0.AddDate(0, 0, 2)}
	ctx := context.Background()

	tr := &insight.Trend{Series: []insight.Series{{Action: actionOf(buyClick), Math: "dau"}, {Action: actionOf(buyClick)}}, Interval: "day", Range: two}
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Trend(ctx, 1, time.UTC, tr)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]float64
	for _, sr := range res.Series {
		var v []float64
		for _, p := range sr.Points {
			v = append(v, p.Value)
		}
		got = append(got, v)
	}
	if want := [][]float64{{4, 2}, {4, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("buy clicks by day (dau, total) = %v, want %v", got, want)
	}

	ret := func(start, back insight.EventMatch, mode string) map[string][]int64 {
		q := &insight.Retention{Start: start, Return: back, Period: "day", Periods: 2, Mode: mode, Range: two}
		return retentionCohorts(runRetention(t, s, q).Cohorts)
	}
	// Day0's buyers u1, u2, u7, u8; u1 buys again on Day1; u9 first
	// clicks on Day1, u2 again.
	buy := insight.EventMatch{Action: actionOf(buyClick)}
	for _, c := range []struct {
		name        string
		start, back insight.EventMatch
		mode        string
		want        map[string][]int64
	}{
		{"first_time, action start", buy, insight.EventMatch{Event: "purchase"}, "first_time", map[string][]int64{"2026-01-05": {4, 4, 1}, "2026-01-06": {1, 1}}},
		{"recurring, action start", buy, insight.EventMatch{Event: "purchase"}, "recurring", map[string][]int64{"2026-01-05": {4, 4, 1}, "2026-01-06": {2, 2}}},
		{"action return", insight.EventMatch{Event: "purchase"}, buy, "first_time", map[string][]int64{"2026-01-05": {7, 7, 1}, "2026-01-06": {0, 0}}},
	} {
		if got := ret(c.start, c.back, c.mode); !reflect.DeepEqual(got, c.want) {
			t.Errorf("retention %s = %v, want %v", c.name, got, c.want)
		}
	}

	st := &insight.Stickiness{Series: []insight.EventMatch{{Action: actionOf(buyClick)}}, Interval: "day", Range: two}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	sres, err := s.Stickiness(ctx, 1, time.UTC, st)
	if err != nil {
		t.Fatal(err)
	}
	if p := sres.Series[0].Points; len(p) != 2 || p[0].Count != 4 || p[1].Count != 1 {
		t.Errorf("stickiness of buy clicks = %+v, want 4 on one day, 1 (u2) on two", p)
	}

	lc := &insight.Lifecycle{Action: actionOf(buyClick), Interval: "day", Range: two}
	if err := lc.Validate(); err != nil {
		t.Fatal(err)
	}
	lres, err := s.Lifecycle(ctx, 1, time.UTC, lc)
	if err != nil {
		t.Fatal(err)
	}
	lgot := map[string][]int64{}
	for _, p := range lres.Points {
		lgot[p.T] = []int64{p.New, p.Returning, p.Resurrecting, p.Dormant}
	}
	if want := map[string][]int64{"2026-01-05": {4, 0, 0, 0}, "2026-01-06": {1, 1, 0, -3}}; !reflect.DeepEqual(lgot, want) {
		t.Errorf("lifecycle of buy clicks = %v, want %v", lgot, want)
	}

	// Buyers of Day0 among the persons who clicked buy that day.
	cohort := insight.Filter{Type: "cohort", Cohort: &insight.CohortDef{Behavior: &insight.Behavior{Action: actionOf(buyClick), Days: 1}}}
	in := actionCounts(t, s, insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Filters: []insight.Filter{cohort}}, insight.Series{Event: "purchase", Math: "dau"})
	all := actionCounts(t, s, day0, insight.Series{Event: "purchase", Math: "dau"})
	if in[0] != 4 || all[0] != 7 {
		t.Errorf("purchasers in the buy-click cohort %v of %v, want 4 of 7", in, all)
	}

	j := &insight.Journey{Stages: []insight.Stage{
		{Name: "Click", Events: []insight.Matcher{{Action: actionOf(buyClick)}}},
		{Name: "Buy", Events: []insight.Matcher{{Event: "purchase"}}},
	}, Range: two}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	jres, err := s.Journey(ctx, 1, time.UTC, j)
	if err != nil {
		t.Fatal(err)
	}
	if jres.Stages[0].Count != 5 || jres.Stages[1].Count != 4 {
		t.Errorf("journey with an action stage = %+v, want 5 then 4", jres.Stages)
	}

	k := &insight.KPI{Denominator: insight.ActorSet{Conditions: []insight.Condition{{Action: actionOf(buyClick)}}},
		Numerator: insight.ActorSet{Conditions: []insight.Condition{{Event: "purchase"}}}, Interval: "day", Range: two}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	kres, err := s.KPI(ctx, 1, time.UTC, k)
	if err != nil {
		t.Fatal(err)
	}
	if kres.Denominator != 5 || kres.Numerator != 4 {
		t.Errorf("KPI purchasers of buy clickers = %d/%d, want 4/5", kres.Numerator, kres.Denominator)
	}

	// An action that was never resolved (an id alone) matches nothing.
	if got := actionCounts(t, s, day0, insight.Series{Action: &insight.ActionDef{ID: 99}, Label: "x"}); got[0] != 0 {
		t.Errorf("unresolved action counts %v", got)
	}
}
