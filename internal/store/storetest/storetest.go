// Package storetest is the conformance suite every event store passes: the
// same cases, with hand-computed answers, run against the embedded DuckDB
// store and the ClickHouse store, so both stacks answer identically.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/identity"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// Open returns a fresh, empty store for one test.
type Open func(t *testing.T) store.Store

// Run runs every conformance case.
func Run(t *testing.T, open Open) {
	cases := map[string]func(*testing.T, store.Store){
		"MergeAfterEvents":   mergeAfterEvents,
		"MergeChainsAlias":   mergeChainsAndAlias,
		"DedupByUUID":        dedupByUUID,
		"PersonProperties":   personProperties,
		"TrendMathsFilters":  trendMathsFilters,
		"TrendTimezone":      trendTimezone,
		"TrendBreakdown":     trendBreakdownFormulaCompare,
		"TrendActiveUsers":   trendActiveUsers,
		"TrendGroupUnit":     trendGroupUnit,
		"TrendPersonFilters": trendPersonFilters,
		"FunnelOrdered":      funnelOrdered,
		"FunnelStrict":       funnelStrict,
		"FunnelUnordered":    funnelUnordered,
		"FunnelExclusion":    funnelExclusion,
		"FunnelBreakdown":    funnelBreakdown,
		"FunnelPersons":      funnelPersons,
		"FunnelOverTime":     funnelOverTime,
		"FunnelTimes":        funnelTimeToConvert,
		"FunnelMemoryCap":    funnelMemoryCap,
		"Retention":          retention,
		"Stickiness":         stickiness,
		"Lifecycle":          lifecycle,
		"BadDays":            badDays,
		"Paths":              paths,
		"Journey":            journey,
		"KPI":                kpi,
		"Explorer":           explorer,
		"CohortFilters":      cohortFilters,
		"CohortRetention":    cohortRetention,
		"CohortPersons":      cohortPersons,
		"TrendByPerson":      trendByPerson,
		"ActiveUsersBy":      activeUsersBy,
		"JourneyByPerson":    journeyByPerson,
		"RetentionBreakdown": retentionBreakdown,
		"BadDaysPersons":     badDaysPersons,
		"KPIPersons":         kpiPersons,
		"SQL":                sqlQuery,
		"ActionConditions":   actionConditions,
		"ActionFilters":      elementFilters,
		"ActionFunnel":       actionFunnel,
		"ActionInsights":     actionInsights,
		"GroupLinks":         groupLinks,
		"PersonlessEvents":   personlessEvents,
		"Experiment":         experiment,
		"GoldenTime":         goldenTime,
		"Attribution":        attribution,
		"PeriodsDST":         periodsDST,
		"TrendBreakdownDV":   trendBreakdownDistinct,
		"FeedbackPersons":    feedbackPersons,  // voc.go
		"SurveyResponses":    surveyResponses,  // surveys.go
		"SurveySegments":     surveySegments,   // surveys.go
		"Deletion":           deletion,         // deletion.go
		"EventRetention":     eventRetention,   // deletion.go
		"PersonsByIDs":       personsByIDs,     // resolve.go
		"PersonScan":         personScan,       // personscan.go
		"IdentifiedMerges":   identifiedMerges, // opennotes.go
		"DedupAnyTime":       dedupAnyTime,     // opennotes.go
		"NullAndNested":      nullAndNested,    // opennotes.go
		"ListGroups":         listGroups,       // groups.go
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) { cases[n](t, open(t)) })
	}
}

// Day0 is a Monday; cases place events relative to it.
var Day0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Ev builds a raw event as capture would; props may carry $set.
func Ev(name, distinct string, at time.Time, props map[string]any) event.Raw {
	raw, _ := json.Marshal(props)
	e := event.Raw{UUID: uuid.NewString(), Event: name, DistinctID: distinct, Timestamp: at, Properties: raw, ReceivedAt: at}
	if set, ok := props["$set"].(map[string]any); ok {
		e.Set = set
	}
	return e
}

// Loader applies batches the way the loader does: resolve, then Apply.
type Loader struct {
	t   testing.TB
	s   store.Store
	r   *identity.Resolver
	pos uint64
}

// NewLoader starts a loader from the store's identity state.
func NewLoader(t testing.TB, s store.Store) *Loader {
	t.Helper()
	st, err := s.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &Loader{t: t, s: s, r: identity.New(st), pos: pos}
}

// Load stores one batch of a project's events.
func (l *Loader) Load(project int64, events ...event.Raw) {
	l.t.Helper()
	w, err := l.r.Resolve(context.Background(), []event.RawBatch{{ProjectID: project, Events: events}}, l.s.Persons)
	if err != nil {
		l.t.Fatal(err)
	}
	l.pos++
	w.Checkpoint = l.pos
	if err := l.s.Apply(context.Background(), w); err != nil {
		l.t.Fatal(err)
	}
}

// Values runs a trend and returns series label (+ compare) → values.
func Values(t *testing.T, s store.Store, tz *time.Location, q insight.Trend) map[string][]float64 {
	t.Helper()
	if q.From.IsZero() {
		q.From, q.To = Day0, Day0.AddDate(0, 0, 3)
	}
	if q.Interval == "" {
		q.Interval = "day"
	}
	for i := range q.Series {
		if q.Series[i].Label == "" {
			q.Series[i].Label = q.Series[i].Event
		}
		if q.Series[i].Math == "" {
			q.Series[i].Math = "total"
		}
	}
	if q.Breakdown != nil && q.Breakdown.Limit == 0 {
		q.Breakdown.Limit = 10
	}
	res, err := s.Trend(context.Background(), 1, tz, &q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, sr := range res.Series {
		var vals []float64
		for _, p := range sr.Points {
			// Stores sum floats in different orders; compare to 1e-9.
			vals = append(vals, math.Round(p.Value*1e9)/1e9)
		}
		out[sr.Label+sr.Compare] = vals
	}
	return out
}

func one(t *testing.T, s store.Store, q insight.Trend) []float64 {
	t.Helper()
	for _, v := range Values(t, s, time.UTC, q) {
		return v
	}
	return nil
}

func dau(event string, from, to time.Time) insight.Trend {
	return insight.Trend{Series: []insight.Series{{Event: event, Math: "dau"}}, Range: insight.Range{From: from, To: to}}
}

func mergeAfterEvents(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	day := dau("$pageview", Day0, Day0.AddDate(0, 0, 1))
	l.Load(1, Ev("$pageview", "anon-1", Day0.Add(time.Hour), nil))
	l.Load(1, Ev("$pageview", "user-1", Day0.Add(2*time.Hour), map[string]any{"$set": map[string]any{"email": "a@x"}}))
	if got := one(t, s, day); !reflect.DeepEqual(got, []float64{2}) {
		t.Fatalf("before merge dau = %v, want [2]", got)
	}
	l.Load(1, Ev("$identify", "user-1", Day0.Add(3*time.Hour), map[string]any{"$anon_distinct_id": "anon-1", "$set": map[string]any{"plan": "pro"}}))
	if got := one(t, s, day); !reflect.DeepEqual(got, []float64{1}) {
		t.Fatalf("after merge dau = %v, want [1]", got)
	}
	p, ids, err := s.PersonByDistinctID(context.Background(), 1, "anon-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []string{"anon-1", "user-1"}) {
		t.Fatalf("distinct ids = %v", ids)
	}
	if want := map[string]any{"email": "a@x", "plan": "pro"}; !reflect.DeepEqual(p.Properties, want) {
		t.Fatalf("properties = %v, want %v", p.Properties, want)
	}
	// A restarted loader keeps the mapping.
	NewLoader(t, s).Load(1, Ev("$pageview", "anon-1", Day0.Add(5*time.Hour), nil))
	if got := one(t, s, day); !reflect.DeepEqual(got, []float64{1}) {
		t.Fatalf("after restart dau = %v, want [1]", got)
	}
}

func mergeChainsAndAlias(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := Day0.Add(time.Hour)
	l.Load(1, Ev("e", "a", at, nil), Ev("e", "b", at, nil), Ev("e", "c", at, nil), Ev("e", "d", at, nil))
	// A chain in one batch: b identifies a, then takes c by an alias
	// (both anonymous); d can take b, identified by then, only by
	// $merge_dangerously (identifiedMerges: $identify and $create_alias
	// refuse it).
	l.Load(1,
		Ev("$identify", "b", at, map[string]any{"$anon_distinct_id": "a"}),
		Ev("$create_alias", "b", at, map[string]any{"alias": "c"}),
		Ev("$merge_dangerously", "d", at, map[string]any{"alias": "b"}),
	)
	if got := one(t, s, dau("e", Day0, Day0.AddDate(0, 0, 1))); !reflect.DeepEqual(got, []float64{1}) {
		t.Fatalf("dau = %v, want [1] (all four ids are one person)", got)
	}
	_, ids, err := s.PersonByDistinctID(context.Background(), 1, "a")
	if err != nil || !reflect.DeepEqual(ids, []string{"a", "b", "c", "d"}) {
		t.Fatalf("ids = %v, %v", ids, err)
	}
	if _, _, err := s.PersonByDistinctID(context.Background(), 2, "b"); err != store.ErrNotFound {
		t.Fatalf("project 2 sees project 1's person: %v", err)
	}
}

func dedupByUUID(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	e := Ev("e", "x", Day0, nil)
	l.Load(1, e, e)
	l.Load(1, e)
	l.Load(2, e)
	retry := e
	retry.Timestamp = e.Timestamp.Add(3 * time.Minute)
	l.Load(1, retry, Ev("e", "x", Day0.AddDate(0, 2, 0), nil))
	n1, _ := s.CountEvents(context.Background(), 1)
	n2, _ := s.CountEvents(context.Background(), 2)
	if n1 != 2 || n2 != 1 {
		t.Fatalf("stored %d and %d events, want 2 and 1", n1, n2)
	}
	if pos, _ := s.Checkpoint(context.Background()); pos != 4 {
		t.Fatalf("checkpoint = %d, want 4", pos)
	}
}

func personProperties(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	a := Ev("e", "p", Day0, nil)
	a.Set = map[string]any{"plan": "free", "n": 1}
	a.SetOnce = map[string]any{"first": "x"}
	b := Ev("e", "p", Day0.Add(time.Minute), nil)
	b.Set = map[string]any{"plan": "pro"}
	b.SetOnce = map[string]any{"first": "y", "other": true}
	b.Unset = []string{"n"}
	l.Load(1, a)
	l.Load(1, b)
	p, _, err := s.PersonByDistinctID(context.Background(), 1, "p")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"plan": "pro", "first": "x", "other": true}; !reflect.DeepEqual(p.Properties, want) {
		t.Fatalf("properties = %v, want %v", p.Properties, want)
	}
	c := Ev("e", "ghost", Day0, nil)
	c.NoPerson = true
	l.Load(1, c)
	if _, _, err := s.PersonByDistinctID(context.Background(), 1, "ghost"); err != store.ErrNotFound {
		t.Fatalf("personless event created a person: %v", err)
	}
}

func trendMathsFilters(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	l.Load(1,
		Ev("order", "a", Day0.Add(10*time.Hour), map[string]any{"revenue": 10, "src": "ads"}),
		Ev("order", "a", Day0.Add(11*time.Hour), map[string]any{"revenue": 30, "src": "ads"}),
		Ev("order", "b", Day0.Add(12*time.Hour), map[string]any{"revenue": 20, "src": "mail"}),
		Ev("order", "c", Day0.Add(23*time.Hour+30*time.Minute), map[string]any{"revenue": 5, "src": "ads's \"x\""}),
	)
	f := func(series insight.Series, filters []insight.Filter, want []float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{series}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 2), Filters: filters}}
		if got := one(t, s, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v %+v = %v, want %v", series, filters, got, want)
		}
	}
	f(insight.Series{Event: "order", Math: "total"}, nil, []float64{4, 0})
	f(insight.Series{Event: "order", Math: "dau"}, nil, []float64{3, 0})
	f(insight.Series{Event: "order", Math: "sum", Property: "revenue"}, nil, []float64{65, 0})
	f(insight.Series{Event: "order", Math: "avg", Property: "revenue"}, nil, []float64{16.25, 0})
	f(insight.Series{Event: "order", Math: "min", Property: "revenue"}, nil, []float64{5, 0})
	f(insight.Series{Event: "order", Math: "max", Property: "revenue"}, nil, []float64{30, 0})
	f(insight.Series{Event: "order", Math: "p50", Property: "revenue"}, nil, []float64{15, 0})
	f(insight.Series{Event: "order", Math: "p90", Property: "revenue"}, nil, []float64{27, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "eq", Value: "ads"}}, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "neq", Value: "ads"}}, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "contains", Value: "ADS"}}, []float64{3, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "revenue", Op: "gt", Value: json.Number("10")}}, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "revenue", Op: "lt", Value: 10.0}}, []float64{1, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "revenue", Op: "eq", Value: json.Number("20")}}, []float64{1, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "in", Value: []any{"mail", `ads's "x"`}}}, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "nope", Op: "is_set"}}, []float64{0, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "is_set"}}, []float64{4, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}, []float64{0, 0})
}

func trendTimezone(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	var evs []event.Raw
	for h := 0; h < 48; h++ {
		evs = append(evs, Ev("tick", fmt.Sprint("p", h%5), Day0.Add(time.Duration(h)*time.Hour), nil))
	}
	l.Load(1, evs...)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	la, _ := time.LoadLocation("America/Los_Angeles")
	f := func(tz *time.Location, interval string, from, to time.Time, want []float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "tick"}}, Interval: interval, Range: insight.Range{From: from, To: to}}
		if got := Values(t, s, tz, q)["tick"]; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %s = %v, want %v", tz, interval, got, want)
		}
	}
	// Berlin is UTC+1 in January: Jan 5 local holds UTC hours 0..22.
	f(berlin, "day", time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 7, 0, 0, 0, 0, berlin), []float64{23, 24})
	// Los Angeles is UTC-8: Jan 4 local holds UTC 0..7 of Jan 5.
	f(la, "day", time.Date(2026, 1, 4, 0, 0, 0, 0, la), time.Date(2026, 1, 7, 0, 0, 0, 0, la), []float64{8, 24, 16})
	f(time.UTC, "hour", Day0.Add(22*time.Hour), Day0.Add(25*time.Hour), []float64{1, 1, 1})
	f(time.UTC, "week", Day0, Day0.AddDate(0, 0, 7), []float64{48})
	f(time.UTC, "month", Day0, Day0.AddDate(0, 0, 7), []float64{48})
}

func trendBreakdownFormulaCompare(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("view", "a", at(0, 1), map[string]any{"src": "ads"}),
		Ev("view", "a", at(0, 2), map[string]any{"src": "ads"}),
		Ev("view", "b", at(0, 3), map[string]any{"src": "mail"}),
		Ev("view", "c", at(1, 1), map[string]any{"src": "seo"}),
		Ev("view", "d", at(1, 2), map[string]any{"src": nil}), // JSON null reads as no value
		Ev("buy", "a", at(0, 4), nil),
		Ev("buy", "c", at(1, 4), nil),
		Ev("view", "a", at(-2, 1), nil),
	)
	f := func(q insight.Trend, want map[string][]float64) {
		t.Helper()
		if got := Values(t, s, time.UTC, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v = %v, want %v", q, got, want)
		}
	}
	view, buy := insight.Series{Event: "view"}, insight.Series{Event: "buy"}
	f(insight.Trend{Series: []insight.Series{view}, Range: insight.Range{Breakdown: &insight.Breakdown{Property: "src"}}}, map[string][]float64{
		"view - ads": {2, 0, 0}, "view - mail": {1, 0, 0}, "view - seo": {0, 1, 0}, "view - $none": {0, 1, 0},
	})
	f(insight.Trend{Series: []insight.Series{view}, Range: insight.Range{Breakdown: &insight.Breakdown{Property: "src", Limit: 1}}}, map[string][]float64{
		"view - ads": {2, 0, 0}, "view - $other": {1, 2, 0},
	})
	f(insight.Trend{Series: []insight.Series{view, buy}, Formula: "B*100/A"}, map[string][]float64{"B*100/A": {33.333333333, 50, 0}})
	f(insight.Trend{Series: []insight.Series{view}, Compare: true}, map[string][]float64{"view": {3, 2, 0}, "viewprevious": {0, 1, 0}})
}

func trendActiveUsers(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	l.Load(1,
		Ev("e", "a", Day0.Add(time.Hour), nil), Ev("e", "a", Day0.AddDate(0, 0, 8), nil),
		Ev("e", "b", Day0.AddDate(0, 0, 3), nil), Ev("e", "c", Day0.AddDate(0, 0, 20), nil),
	)
	q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "wau"}}, Range: insight.Range{From: Day0.AddDate(0, 0, 6), To: Day0.AddDate(0, 0, 11)}}
	if got := one(t, s, q); !reflect.DeepEqual(got, []float64{2, 1, 2, 2, 1}) {
		t.Fatalf("wau = %v", got)
	}
	q.Series[0].Math = "mau"
	q.From, q.To = Day0.AddDate(0, 0, 20), Day0.AddDate(0, 0, 37)
	q.Interval = "week"
	if got := one(t, s, q); !reflect.DeepEqual(got, []float64{3, 3, 2, 2}) {
		t.Fatalf("mau by week = %v", got)
	}
}

func trendGroupUnit(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	acct := func(c string) map[string]any { return map[string]any{"$groups": map[string]any{"company": c}} }
	l.Load(1,
		Ev("e", "u1", Day0.Add(time.Hour), acct("acme")), Ev("e", "u2", Day0.Add(time.Hour), acct("acme")),
		Ev("e", "u3", Day0.Add(time.Hour), acct("globex")), Ev("e", "u4", Day0.Add(time.Hour), nil),
	)
	q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "dau"}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Unit: "group:company"}}
	if got := one(t, s, q); !reflect.DeepEqual(got, []float64{2}) {
		t.Fatalf("companies = %v, want [2]", got)
	}
}

func trendPersonFilters(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	a := Ev("e", "a", Day0.Add(time.Hour), nil)
	a.Set = map[string]any{"plan": "pro"}
	b := Ev("e", "b", Day0.Add(time.Hour), nil)
	b.Set = map[string]any{"plan": "free"}
	l.Load(1, a, b, Ev("e", "c", Day0.Add(time.Hour), nil))
	f := func(filter insight.Filter, want float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "dau"}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Filters: []insight.Filter{filter}}}
		if got := one(t, s, q); !reflect.DeepEqual(got, []float64{want}) {
			t.Fatalf("%+v: %v, want %v", filter, got, want)
		}
	}
	f(insight.Filter{Type: "person", Property: "plan", Op: "eq", Value: "pro"}, 1)
	f(insight.Filter{Type: "person", Property: "plan", Op: "is_set"}, 2)
}

// funnelMemoryCap: a funnel whose rows pass the query's memory cap
// fails with *insight.MemoryError (store.AsMemoryError reads the engines'
// own out-of-memory errors), and answers under the default cap.
func funnelMemoryCap(t *testing.T, s store.Store) {
	var evs []event.Raw
	for i := range 3000 {
		evs = append(evs, Ev([]string{"a", "b"}[i%2], fmt.Sprint("m", i/2%300), Day0.Add(time.Duration(i)*time.Second), nil))
	}
	NewLoader(t, s).Load(1, evs...)
	q := &insight.Funnel{Steps: []insight.FunnelStep{{Event: "a"}, {Event: "b"}}, Window: "1h", Order: "ordered",
		Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Funnel(context.Background(), 1, time.UTC, q)
	if err != nil || res.Steps[1].Count != 300 {
		t.Fatalf("under the default cap: %v, %+v", err, res)
	}
	ctx := insight.WithMemoryCap(context.Background(), 2999*16) // the rows take 3000 × 16 bytes
	_, err = s.Funnel(ctx, 1, time.UTC, q)
	if !insight.IsMemoryError(store.AsMemoryError(ctx, err)) {
		t.Fatalf("past the cap: %v, want a memory error", err)
	}
}

func funnelOrdered(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(m int) time.Time { return Day0.Add(time.Hour + time.Duration(m)*time.Minute) }
	seq := func(who string, steps ...any) {
		var evs []event.Raw
		for i := 0; i < len(steps); i += 2 {
			evs = append(evs, Ev(steps[i].(string), who, at(steps[i+1].(int)), map[string]any{"plan": who}))
		}
		l.Load(1, evs...)
	}
	seq("p1", "a", 0, "b", 10, "c", 20)             // 3
	seq("p2", "a", 0, "c", 5, "b", 10)              // 2: c came before b
	seq("p3", "b", 0, "a", 1)                       // 1
	seq("p4", "a", 0, "b", 120)                     // 1: b after the 1 h window
	seq("p5", "a", 0, "a", 180, "b", 190, "c", 200) // 3: the later a starts a new chain
	seq("p6", "c", 0)                               // 0
	seq("anon", "a", 0)                             // merged below
	seq("p7", "b", 5, "c", 6)                       // with anon: 3
	l.Load(1, Ev("$identify", "p7", at(30), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(filters []insight.Filter, want []int64) {
		t.Helper()
		q := &insight.Funnel{Steps: []insight.FunnelStep{{Event: "a", Filters: filters}, {Event: "b"}, {Event: "c"}}, Window: "1h", Order: "ordered",
			Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Funnel(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, st := range res.Steps {
			got = append(got, st.Count)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("funnel %+v = %v, want %v", filters, got, want)
		}
		if want[0] > 0 && res.Steps[2].Conversion != float64(want[2])/float64(want[0]) {
			t.Fatalf("conversion = %v", res.Steps[2].Conversion)
		}
	}
	f(nil, []int64{6, 4, 3})
	f([]insight.Filter{{Property: "plan", Op: "eq", Value: "p1"}}, []int64{1, 1, 1})
	f([]insight.Filter{{Property: "plan", Op: "in", Value: []any{"p2", "p4"}}}, []int64{2, 1, 0})
}

func retention(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	day := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l.Load(1,
		Ev("start", "early", day(-3, 10), nil), Ev("start", "early", day(0, 10), nil), Ev("return", "early", day(1, 10), nil),
		Ev("start", "a", day(0, 10), nil), Ev("return", "a", day(1, 10), nil), Ev("return", "a", day(3, 10), nil),
		Ev("start", "b", day(0, 23), nil), // 23:00 UTC: Jan 6 in Berlin
		Ev("return", "b", day(2, 10), nil),
		Ev("start", "c", day(1, 10), nil), Ev("start", "c", day(2, 10), nil), Ev("return", "c", day(2, 11), nil),
		Ev("start", "anon", day(2, 9), nil),
	)
	l.Load(1, Ev("return", "u", day(3, 9), nil), Ev("$identify", "u", day(3, 12), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(mode string, tz *time.Location, want map[string][]int64) {
		t.Helper()
		q := &insight.Retention{Start: insight.EventMatch{Event: "start"}, Return: insight.EventMatch{Event: "return"}, Period: "day", Periods: 3, Mode: mode,
			Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 4)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Retention(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int64{}
		for _, c := range res.Cohorts {
			got[c.Start] = append([]int64{c.Size}, c.Retained...)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s retention in %s = %v, want %v", mode, tz, got, want)
		}
	}
	// first_time: early started before the range (no cohort); a and b on
	// Jan 5; c on Jan 6; anon (merged into u) on Jan 7.
	f("first_time", time.UTC, map[string][]int64{
		"2026-01-05": {2, 2, 1, 1}, "2026-01-06": {1, 1, 1, 0}, "2026-01-07": {1, 1, 1}, "2026-01-08": {0, 0},
	})
	f("recurring", time.UTC, map[string][]int64{
		"2026-01-05": {3, 3, 2, 1}, "2026-01-06": {1, 1, 1, 0}, "2026-01-07": {2, 2, 1}, "2026-01-08": {0, 0},
	})
	// In Berlin the range starts at 01:00 on Jan 5, so Jan 5's period is
	// not a cohort (it started before the range) and Jan 9's is; b starts
	// on Jan 6 at 00:00 local and returns on Jan 7, with c.
	f("first_time", berlin, map[string][]int64{
		"2026-01-06": {2, 2, 2, 0}, "2026-01-07": {1, 1, 1, 0}, "2026-01-08": {0, 0, 0}, "2026-01-09": {0, 0},
	})
}

func stickiness(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h, m int) time.Time {
		return Day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l.Load(1,
		Ev("e", "a", at(0, 10, 0), nil), Ev("e", "a", at(1, 10, 0), nil), Ev("e", "a", at(2, 10, 0), nil), Ev("e", "a", at(8, 10, 0), nil),
		Ev("e", "b", at(0, 10, 0), nil), Ev("e", "b", at(0, 23, 30), nil), // 23:30 UTC: Jan 6 in Berlin
		Ev("e", "d", at(-1, 23, 30), nil), // Jan 4 in UTC, Jan 5 in Berlin
		Ev("e", "anon", at(1, 10, 0), nil), Ev("e", "u", at(2, 10, 0), nil),
		Ev("f", "c", at(0, 9, 0), nil), Ev("f", "c", at(1, 9, 0), nil),
	)
	l.Load(1, Ev("$identify", "u", at(2, 12, 0), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(tz *time.Location, interval string, from, to time.Time, want map[string][]int64) {
		t.Helper()
		q := &insight.Stickiness{Series: []insight.EventMatch{{Event: "e"}, {Event: "f"}}, Interval: interval, Range: insight.Range{From: from, To: to}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Stickiness(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int64{}
		for _, sr := range res.Series {
			got[sr.Label] = []int64{}
			for k, p := range sr.Points {
				if p.Days != k+1 {
					t.Fatalf("%s point %d is for %d days", sr.Label, k, p.Days)
				}
				got[sr.Label] = append(got[sr.Label], p.Count)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stickiness by %s in %s = %v, want %v", interval, tz, got, want)
		}
	}
	// a on 3 days, b on 1, anon+u (merged) on 2; d is before the range.
	f(time.UTC, "day", Day0, Day0.AddDate(0, 0, 3), map[string][]int64{"e": {1, 1, 1}, "f": {0, 1, 0}})
	// In Berlin b is on Jan 5 and 6, and d on Jan 5.
	f(berlin, "day", time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 8, 0, 0, 0, 0, berlin), map[string][]int64{"e": {1, 2, 1}, "f": {0, 1, 0}})
	// By week, a is in both weeks, the others in the first.
	f(time.UTC, "week", Day0, Day0.AddDate(0, 0, 14), map[string][]int64{"e": {2, 1}, "f": {1, 0}})
}

func lifecycle(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h, m int) time.Time {
		return Day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l.Load(1,
		Ev("e", "old", at(-10, 10, 0), nil), Ev("e", "old", at(1, 10, 0), nil),
		Ev("e", "a", at(-1, 10, 0), nil), Ev("e", "a", at(0, 10, 0), nil), Ev("e", "a", at(1, 10, 0), nil),
		Ev("e", "b", at(0, 10, 0), nil),
		Ev("e", "z", at(0, 23, 30), nil), // 23:30 UTC: Jan 6 in Berlin
		Ev("e", "y", at(-1, 10, 0), nil),
		Ev("e", "anon", at(1, 10, 0), nil), Ev("e", "u", at(2, 10, 0), nil),
		Ev("other", "c", at(0, 10, 0), nil),
	)
	l.Load(1, Ev("$identify", "u", at(2, 12, 0), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(tz *time.Location, interval string, from, to time.Time, want map[string][]int64) {
		t.Helper()
		q := &insight.Lifecycle{Event: "e", Interval: interval, Range: insight.Range{From: from, To: to}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Lifecycle(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int64{}
		for _, p := range res.Points {
			got[p.T] = []int64{p.New, p.Returning, p.Resurrecting, p.Dormant}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("lifecycle by %s in %s = %v, want %v", interval, tz, got, want)
		}
	}
	// [new, returning, resurrecting, dormant]. Jan 5: b and z are new, a
	// returns, y (Jan 4) goes dormant; Jan 6: anon (merged into u) is new,
	// old resurrects, b and z go dormant; Jan 7: u returns.
	f(time.UTC, "day", Day0, Day0.AddDate(0, 0, 3), map[string][]int64{
		"2026-01-05": {2, 1, 0, -1}, "2026-01-06": {1, 1, 1, -2}, "2026-01-07": {0, 1, 0, -2},
	})
	// In Berlin z is new on Jan 6 instead.
	f(berlin, "day", time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 8, 0, 0, 0, 0, berlin), map[string][]int64{
		"2026-01-05": {1, 1, 0, -1}, "2026-01-06": {2, 1, 1, -1}, "2026-01-07": {0, 1, 0, -3},
	})
	f(time.UTC, "week", Day0, Day0.AddDate(0, 0, 7), map[string][]int64{"2026-01-05": {3, 1, 1, -1}})
}

func badDays(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h, m int) time.Time {
		return Day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l.Load(1,
		Ev("$pageview", "a", at(0, 10, 0), nil), Ev("$exception", "a", at(0, 11, 0), nil), Ev("$pageview", "a", at(1, 10, 0), nil), Ev("$exception", "a", at(2, 10, 0), nil),
		Ev("$pageview", "b", at(0, 10, 0), nil), Ev("$exception", "b", at(0, 23, 30), nil), // 23:30 UTC: Jan 6 in Berlin
		Ev("$exception", "anon", at(1, 10, 0), nil), Ev("$pageview", "u", at(2, 10, 0), nil),
		Ev("$pageview", "c", at(1, 10, 0), map[string]any{"plan": "free"}),
		Ev("$pageview", "c", at(3, 10, 0), nil), // after the range
	)
	l.Load(1, Ev("$identify", "u", at(2, 12, 0), map[string]any{"$anon_distinct_id": "anon"}))
	id := func(distinct string) string { return personID(t, s, distinct) }
	type result struct {
		Rate float64
		Days []insight.BadDay
		Top  []insight.BadDaysActor
	}
	f := func(tz *time.Location, active []insight.EventMatch, top int, from, to time.Time, want result) {
		t.Helper()
		q := &insight.BadDays{Bad: []insight.EventMatch{{Event: "$exception"}}, Active: active, Top: top, Range: insight.Range{From: from, To: to}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.BadDays(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := (result{res.Rate, res.Days, res.TopPersons}); !reflect.DeepEqual(got, want) {
			t.Fatalf("bad days in %s, active %v = %+v, want %+v", tz, active, got, want)
		}
	}
	// Any event is activity: Jan 5 a and b (both bad); Jan 6 a, c and
	// anon (bad, merged into u); Jan 7 a (bad) and u.
	f(time.UTC, nil, 0, Day0, Day0.AddDate(0, 0, 3), result{4.0 / 7, []insight.BadDay{
		{T: "2026-01-05", Rate: 1, Bad: 2, Active: 2}, {T: "2026-01-06", Rate: 1.0 / 3, Bad: 1, Active: 3}, {T: "2026-01-07", Rate: 0.5, Bad: 1, Active: 2},
	}, []insight.BadDaysActor{{Actor: id("a"), BadDays: 2, ActiveDays: 3}, {Actor: id("u"), BadDays: 1, ActiveDays: 2}, {Actor: id("b"), BadDays: 1, ActiveDays: 1}}})
	// Only pageviews not on the free plan (and bad events) are activity.
	notFree := []insight.EventMatch{{Event: "$pageview", Filters: []insight.Filter{{Property: "plan", Op: "neq", Value: "free"}}}}
	f(time.UTC, notFree, 2, Day0, Day0.AddDate(0, 0, 3), result{4.0 / 6, []insight.BadDay{
		{T: "2026-01-05", Rate: 1, Bad: 2, Active: 2}, {T: "2026-01-06", Rate: 0.5, Bad: 1, Active: 2}, {T: "2026-01-07", Rate: 0.5, Bad: 1, Active: 2},
	}, []insight.BadDaysActor{{Actor: id("a"), BadDays: 2, ActiveDays: 3}, {Actor: id("u"), BadDays: 1, ActiveDays: 2}}})
	// In Berlin b's exception is on Jan 6.
	f(berlin, nil, 1, time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 8, 0, 0, 0, 0, berlin), result{4.0 / 8, []insight.BadDay{
		{T: "2026-01-05", Rate: 0.5, Bad: 1, Active: 2}, {T: "2026-01-06", Rate: 0.5, Bad: 2, Active: 4}, {T: "2026-01-07", Rate: 0.5, Bad: 1, Active: 2},
	}, []insight.BadDaysActor{{Actor: id("a"), BadDays: 2, ActiveDays: 3}}})
}

func paths(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(m int) time.Time { return Day0.Add(time.Hour + time.Duration(m)*time.Minute) }
	seq := func(who string, steps ...any) {
		var evs []event.Raw
		for i := 0; i < len(steps); i += 2 {
			evs = append(evs, Ev(steps[i].(string), who, at(steps[i+1].(int)), nil))
		}
		l.Load(1, evs...)
	}
	seq("p1", "home", 0, "search", 1, "search", 2, "product", 3, "buy", 4) // the repeat collapses
	seq("p2", "home", 0, "product", 1, "home", 2)
	seq("p3", "home", -120, "search", 0, "buy", 1) // the home is before the range
	seq("p4", "home", 0, "buy", 0)                 // same time: ordered by name
	seq("anon", "home", 0, "search", 1)
	seq("u", "product", 5, "buy", 6)
	l.Load(1, Ev("$identify", "u", at(10), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(q insight.Paths, wantPaths, wantEdges []string) {
		t.Helper()
		q.Range = insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Paths(context.Background(), 1, time.UTC, &q)
		if err != nil {
			t.Fatal(err)
		}
		gotPaths, gotEdges := []string{}, []string{}
		for _, p := range res.Paths {
			gotPaths = append(gotPaths, fmt.Sprintf("%v=%d", p.Path, p.Count))
		}
		for _, e := range res.Edges {
			gotEdges = append(gotEdges, fmt.Sprintf("%s>%s=%d", e.Source, e.Target, e.Value))
		}
		if !reflect.DeepEqual(gotPaths, wantPaths) || !reflect.DeepEqual(gotEdges, wantEdges) {
			t.Fatalf("paths %+v = %v %v, want %v %v", q, gotPaths, gotEdges, wantPaths, wantEdges)
		}
	}
	// anon and u are one person: home search product buy $identify.
	f(insight.Paths{Steps: 4},
		[]string{"[home search product buy]=2", "[buy home]=1", "[home product home]=1", "[search buy]=1"},
		[]string{"1_home>2_search=2", "2_search>3_product=2", "3_product>4_buy=2", "1_buy>2_home=1", "1_home>2_product=1", "1_search>2_buy=1", "2_product>3_home=1"})
	f(insight.Paths{Steps: 4, EdgeLimit: 2, PathLimit: 1},
		[]string{"[home search product buy]=2"}, []string{"1_home>2_search=2", "2_search>3_product=2"})
	f(insight.Paths{Start: &insight.PathPoint{Event: "search"}, Steps: 3},
		[]string{"[search product buy]=2", "[search buy]=1"},
		[]string{"1_search>2_product=2", "2_product>3_buy=2", "1_search>2_buy=1"})
	f(insight.Paths{End: &insight.PathPoint{Event: "buy"}, Steps: 3},
		[]string{"[search product buy]=2", "[buy]=1", "[search buy]=1"},
		[]string{"1_search>2_product=2", "2_product>3_buy=2", "2_search>3_buy=1"})
	// Steps count back from the end event, renumbered so that the longest
	// path shown starts at 1.
	f(insight.Paths{End: &insight.PathPoint{Event: "buy"}, Steps: 5},
		[]string{"[home search product buy]=2", "[buy]=1", "[search buy]=1"},
		[]string{"1_home>2_search=2", "2_search>3_product=2", "3_product>4_buy=2", "3_search>4_buy=1"})
	// Only home and product: p4 is just home, u's product follows anon's home.
	f(insight.Paths{Events: []string{"home", "product"}, Steps: 3},
		[]string{"[home product]=2", "[home]=1", "[home product home]=1"},
		[]string{"1_home>2_product=3", "2_product>3_home=1"})
}

func journey(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(m int) time.Time { return Day0.Add(time.Hour + time.Duration(m)*time.Minute) }
	utm := func(v string) map[string]any { return map[string]any{"utm_source": v} }
	amount := func(n int) map[string]any { return map[string]any{"amount": n} }
	l.Load(1,
		Ev("$pageview", "a", at(1), utm("google")), Ev("$pageview", "a", at(2), utm("mail")), Ev("signed_up", "a", at(3), nil),
		Ev("order", "a", at(4), amount(20)), Ev("order", "a", at(5), amount(20)),
		Ev("$screen", "b", at(1), nil), Ev("signed_up", "b", at(2), nil), Ev("order", "b", at(3), amount(20)), Ev("order", "b", at(4), amount(5)),
		Ev("$pageview", "anon", at(1), utm("ads")),
		Ev("signed_up", "c", at(1), nil),
		Ev("$pageview", "d", at(-120), utm("google")), Ev("$pageview", "d", at(1), utm("mail")),
		Ev("$pageview", "e", at(5), utm("google")), Ev("$pageview", "e", at(3), utm("ads")),
	)
	l.Load(1, Ev("signed_up", "u", at(2), nil), Ev("order", "u", at(3), amount(50)), Ev("order", "u", at(4), amount(50)))
	l.Load(1, Ev("$identify", "u", at(10), map[string]any{"$anon_distinct_id": "anon"}))
	f := func(b *insight.Breakdown, want map[string][]int64) {
		t.Helper()
		q := &insight.Journey{Stages: []insight.Stage{
			{Name: "Reach", Events: []insight.Matcher{{Event: "$pageview"}, {Event: "$screen"}}},
			{Name: "Signup", Events: []insight.Matcher{{Event: "signed_up"}}},
			{Name: "Buy", Events: []insight.Matcher{{Event: "order", Filters: []insight.Filter{{Property: "amount", Op: "gt", Value: 10.0}}}}, MinCount: 2},
		}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Breakdown: b}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Journey(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		counts := func(st []insight.StageResult) []int64 {
			var out []int64
			for i, r := range st {
				out = append(out, r.Count)
				if i > 0 && st[i-1].Count > 0 && r.StepConversion != float64(r.Count)/float64(st[i-1].Count) {
					t.Fatalf("step conversion %+v", r)
				}
			}
			return out
		}
		got := map[string][]int64{"total": counts(res.Stages)}
		var order []string
		for _, br := range res.Breakdown {
			got[br.Value] = counts(br.Stages)
			order = append(order, br.Value)
		}
		got["order"] = nil
		for _, v := range order {
			got["order"] = append(got["order"], int64(len(v)))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("journey by %+v = %v (order %v), want %v", b, got, order, want)
		}
	}
	// a: all three stages (google); b: two ($none: a $screen has no
	// utm_source); anon+u (merged): all three (ads); c: none (no stage 1);
	// d: reach (mail, its google view is before the range); e: reach (ads,
	// its first view, though sent second).
	// "order" is the lengths of the values in order: ads, $none, google,
	// mail.
	f(nil, map[string][]int64{"total": {5, 3, 2}, "ads": {2, 1, 1}, "$none": {1, 1, 0}, "google": {1, 1, 1}, "mail": {1, 0, 0}, "order": {3, 5, 6, 4}})
	f(&insight.Breakdown{Property: "utm_source", Limit: 2}, map[string][]int64{"total": {5, 3, 2}, "ads": {2, 1, 1}, "$none": {1, 1, 0}, "order": {3, 5}})
}

func kpi(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h, m int) time.Time {
		return Day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l.Load(1,
		Ev("signed_up", "a", at(0, 10, 0), nil), Ev("onboarded", "a", at(0, 11, 0), nil),
		Ev("signed_up", "b", at(-2, 10, 0), nil), Ev("signed_up", "b", at(1, 10, 0), nil), // first signed up before the range
		Ev("signed_up", "c", at(1, 10, 0), nil), Ev("onboarded", "c", at(1, 11, 0), nil), Ev("ticket", "c", at(1, 12, 0), map[string]any{"prio": "high"}),
		Ev("signed_up", "z", at(0, 23, 30), nil), Ev("onboarded", "z", at(1, 1, 0), nil), // Jan 6 in Berlin
		Ev("onboarded", "x", at(0, 10, 0), nil), Ev("ticket", "x", at(0, 10, 0), map[string]any{"prio": "low"}),
		Ev("signed_up", "anon", at(2, 10, 0), nil), Ev("onboarded", "u", at(2, 11, 0), nil),
		Ev("ticket", "u", at(2, 11, 30), map[string]any{"prio": "low"}), // not a high-priority one
	)
	l.Load(1, Ev("$identify", "u", at(2, 12, 0), map[string]any{"$anon_distinct_id": "anon"}))
	no := false
	type point struct {
		T        string
		Num, Den int64
	}
	f := func(tz *time.Location, interval string, from, to time.Time, want []point) {
		t.Helper()
		q := &insight.KPI{
			Denominator: insight.ActorSet{Conditions: []insight.Condition{{Event: "signed_up", FirstTime: true}}},
			Numerator: insight.ActorSet{Conditions: []insight.Condition{{Event: "onboarded"},
				{Event: "ticket", Did: &no, Filters: []insight.Filter{{Property: "prio", Op: "eq", Value: "high"}}}}},
			Interval: interval, Range: insight.Range{From: from, To: to},
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.KPI(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		got := []point{{"", res.Numerator, res.Denominator}}
		if res.Value != insight.Ratio(res.Numerator, res.Denominator) {
			t.Fatalf("value %v of %d/%d", res.Value, res.Numerator, res.Denominator)
		}
		for _, p := range res.Points {
			got = append(got, point{p.T, p.Numerator, p.Denominator})
			if p.Value != insight.Ratio(p.Numerator, p.Denominator) {
				t.Fatalf("value %v of %+v", p.Value, p)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("kpi by %s in %s = %v, want %v", interval, tz, got, want)
		}
	}
	// Over the range: a, z, c and anon+u (merged) first signed up in it
	// (b before it); all but c (a high-priority ticket) onboarded without
	// one. By day, z signed up on Jan 5 but onboarded on Jan 6.
	f(time.UTC, "day", Day0, Day0.AddDate(0, 0, 3), []point{
		{"", 3, 4}, {"2026-01-05", 1, 2}, {"2026-01-06", 0, 1}, {"2026-01-07", 1, 1},
	})
	// In Berlin both of z's events are on Jan 6.
	f(berlin, "day", time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), time.Date(2026, 1, 8, 0, 0, 0, 0, berlin), []point{
		{"", 3, 4}, {"2026-01-05", 1, 1}, {"2026-01-06", 1, 2}, {"2026-01-07", 1, 1},
	})
	// By month, b's first sign-up (Jan 3) is in the period, January,
	// though before the range.
	f(time.UTC, "month", Day0, Day0.AddDate(0, 0, 3), []point{{"", 3, 4}, {"2026-01-01", 3, 5}})
}

// explorer: what the UI's pickers and person pages read, merges included.
func explorer(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("$pageview", "anon-1", at(1), map[string]any{"utm_source": "ads"}),
		Ev("$pageview", "anon-1", at(2), map[string]any{"utm_source": "ads"}),
		Ev("signed_up", "user-1", at(3), map[string]any{"$set": map[string]any{"email": "ann@example.com"}}),
	)
	l.Load(1, Ev("$identify", "user-1", at(4), map[string]any{"$anon_distinct_id": "anon-1"}))
	l.Load(1, Ev("product_viewed", "bob", at(5), map[string]any{"category": "shoes"}))
	l.Load(2, Ev("$pageview", "anon-1", at(1), nil))

	names, err := s.EventNames(ctx, 1, Day0, Day0.AddDate(0, 0, 1), 10)
	want := []store.NameCount{{Name: "$pageview", Count: 2}, {Name: "$identify", Count: 1}, {Name: "product_viewed", Count: 1}, {Name: "signed_up", Count: 1}}
	if err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("EventNames = %v, %v; want %v", names, err, want)
	}
	if names, _ := s.EventNames(ctx, 1, at(2), at(4), 10); len(names) != 2 {
		t.Fatalf("EventNames in [2h, 4h) = %v, want $pageview and signed_up", names)
	}

	ann, _, err := s.PersonByDistinctID(ctx, 1, "anon-1")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := s.PersonByDistinctID(ctx, 1, "bob")
	if err != nil {
		t.Fatal(err)
	}
	search := func(project int64, q string, want ...int64) {
		t.Helper()
		got, err := s.SearchPersons(ctx, project, q, 10)
		if err != nil || !reflect.DeepEqual(got, append([]int64{}, want...)) {
			t.Fatalf("SearchPersons(%d, %q) = %v, %v; want %v", project, q, got, err, want)
		}
		// FindPersons: the same page, each person as PersonByID reads it.
		found, err := s.FindPersons(ctx, project, q, 10)
		if err != nil || len(found) != len(want) {
			t.Fatalf("FindPersons(%d, %q) = %+v, %v; want %d persons", project, q, found, err, len(want))
		}
		for i, f := range found {
			p, dids, err := s.PersonByID(ctx, project, want[i])
			if err != nil || f.ID != want[i] || !reflect.DeepEqual(f.Person, p) || !reflect.DeepEqual(f.DistinctIDs, dids) {
				t.Fatalf("FindPersons(%d, %q)[%d] = %+v, want %+v with %v (%v)", project, q, i, f, p, dids, err)
			}
		}
	}
	search(1, "anon", ann.ID)
	search(1, "ann@example.com", ann.ID)
	search(1, "ann")              // neither a distinct id part nor a whole value
	search(1, "", bob.ID, ann.ID) // newest first
	search(1, strconv.FormatInt(bob.ID, 10), bob.ID)
	search(2, "user-1")

	p, ids, err := s.PersonByID(ctx, 1, ann.ID)
	if err != nil || !reflect.DeepEqual(ids, []string{"anon-1", "user-1"}) || p.Properties["email"] != "ann@example.com" {
		t.Fatalf("PersonByID = %+v, %v, %v", p, ids, err)
	}
	if _, _, err := s.PersonByID(ctx, 2, ann.ID); err != store.ErrNotFound {
		t.Fatalf("PersonByID from project 2: %v, want ErrNotFound", err)
	}

	evs, err := s.PersonEvents(ctx, 1, ann.ID, 10)
	var got []string
	for _, e := range evs {
		got = append(got, e.Event+"@"+e.Timestamp.UTC().Format("15"))
	}
	if err != nil || !reflect.DeepEqual(got, []string{"$identify@04", "signed_up@03", "$pageview@02", "$pageview@01"}) {
		t.Fatalf("PersonEvents = %v, %v", got, err)
	}
	if evs[3].DistinctID != "anon-1" || !strings.Contains(string(evs[3].Properties), `"ads"`) || evs[3].UUID == ([16]byte{}) {
		t.Fatalf("PersonEvents row = %+v", evs[3])
	}
	if evs, _ := s.PersonEvents(ctx, 1, ann.ID, 2); len(evs) != 2 {
		t.Fatalf("PersonEvents limit 2 gave %d", len(evs))
	}
	if evs, _ := s.PersonEvents(ctx, 2, ann.ID, 10); len(evs) != 0 {
		t.Fatalf("PersonEvents from project 2 = %v", evs)
	}

	props, err := s.SampleProperties(ctx, 1, "$pageview", false, 10)
	if err != nil || len(props) != 2 || !strings.Contains(props[0], "utm_source") {
		t.Fatalf("SampleProperties($pageview) = %q, %v", props, err)
	}
	props, err = s.SampleProperties(ctx, 1, "", true, 10)
	if err != nil || len(props) != 2 || !strings.Contains(strings.Join(props, " "), "ann@example.com") {
		t.Fatalf("SampleProperties(persons) = %q, %v", props, err)
	}
}

// runFunnel validates and runs a funnel on project.
func runFunnel(t *testing.T, s store.Store, project int64, tz *time.Location, q insight.Funnel) *insight.FunnelResult {
	t.Helper()
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Funnel(context.Background(), project, tz, &q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "funnel" || len(res.Steps) != len(q.Steps) {
		t.Fatalf("funnel result = %+v", res)
	}
	return res
}

// funnelQ is an order funnel over Day0's day with a 1 h window.
func funnelQ(order string, steps ...string) insight.Funnel {
	q := insight.Funnel{Window: "1h", Order: order, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}}
	for _, st := range steps {
		q.Steps = append(q.Steps, insight.FunnelStep{Event: st})
	}
	return q
}

func stepCounts(steps []insight.FunnelStepResult) []int64 {
	out := []int64{}
	for _, st := range steps {
		out = append(out, st.Count)
	}
	return out
}

// funnelSeq loads one actor's events: name, minutes after Day0 01:00,
// properties (a map or nil), repeated.
func funnelSeq(l *Loader, project int64, who string, evs ...any) {
	var raw []event.Raw
	for i := 0; i < len(evs); i += 3 {
		props, _ := evs[i+2].(map[string]any)
		raw = append(raw, Ev(evs[i].(string), who, Day0.Add(time.Hour+time.Duration(evs[i+1].(int))*time.Minute), props))
	}
	l.Load(project, raw...)
}

// funnelStrict: in a strict funnel another step's event between two
// steps ends the attempt, and so does an event of a step's name that
// fails the step's filters; events of other names never matter.
func funnelStrict(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	pro, free := map[string]any{"plan": "pro"}, map[string]any{"plan": "free"}
	funnelSeq(l, 1, "s1", "a", 0, nil, "b", 10, nil, "c", 20, nil)
	funnelSeq(l, 1, "s2", "a", 0, nil, "c", 5, nil, "b", 10, nil, "c", 20, nil)  // strict: c before b ends it at 1
	funnelSeq(l, 1, "s3", "a", 0, nil, "x", 5, nil, "b", 10, nil)                // x is no step: 2 either way
	funnelSeq(l, 1, "s4", "b", 0, nil, "a", 10, nil, "b", 20, nil, "c", 30, nil) // b before any a does not break: 3
	funnelSeq(l, 1, "s5", "a", 0, nil, "b", 5, free, "b", 6, pro, "c", 10, nil)
	funnelSeq(l, 1, "s6", "a", 0, nil, "b", 5, pro, "c", 10, nil)
	f := func(order string, bFilters []insight.Filter, want []int64) {
		t.Helper()
		q := funnelQ(order, "a", "b", "c")
		q.Steps[1].Filters = bFilters
		if got := stepCounts(runFunnel(t, s, 1, time.UTC, q).Steps); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s funnel, b filters %v = %v, want %v", order, bFilters, got, want)
		}
	}
	f("ordered", nil, []int64{6, 6, 5})
	f("strict", nil, []int64{6, 5, 4}) // s2 stops at a
	// With b filtered to plan pro, a b without it breaks strict chains
	// (s1..s5 stop at a); ordered ones skip it (s5 finishes with its pro b).
	onlyPro := []insight.Filter{{Property: "plan", Op: "eq", Value: "pro"}}
	f("strict", onlyPro, []int64{6, 1, 1})
	f("ordered", onlyPro, []int64{6, 2, 2})
}

// funnelUnordered: the most distinct steps done within one window that
// starts at one of the actor's step events, in any order.
func funnelUnordered(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	funnelSeq(l, 1, "u1", "c", 0, nil, "b", 10, nil, "a", 20, nil) // 3 (ordered: 1)
	funnelSeq(l, 1, "u2", "b", 0, nil, "a", 30, nil)               // 2 (ordered: 1)
	funnelSeq(l, 1, "u3", "c", 0, nil, "a", 70, nil)               // 1: a is 70 m after c (ordered: 1)
	funnelSeq(l, 1, "u4", "a", 0, nil, "b", 5, nil, "c", 61, nil)  // 2: a..c is 61 m (ordered: 2)
	funnelSeq(l, 1, "u5", "b", 0, nil)                             // 1 (ordered: 0)
	f := func(order string, want []int64) {
		t.Helper()
		if got := stepCounts(runFunnel(t, s, 1, time.UTC, funnelQ(order, "a", "b", "c")).Steps); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s funnel = %v, want %v", order, got, want)
		}
	}
	f("unordered", []int64{5, 3, 1})
	f("ordered", []int64{4, 1, 0})
}

// funnelExclusion: an actor doing an exclusion event strictly between
// the attempt's from_step and to_step (or, short of to_step, before the
// attempt's start plus the window) leaves the funnel.
func funnelExclusion(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	bad, ok := map[string]any{"kind": "bad"}, map[string]any{"kind": "ok"}
	funnelSeq(l, 1, "e1", "a", 0, nil, "x", 5, bad, "b", 10, nil, "c", 20, nil)
	funnelSeq(l, 1, "e2", "a", 0, nil, "b", 10, nil, "x", 15, bad, "c", 20, nil)
	funnelSeq(l, 1, "e3", "a", 0, nil, "x", 5, ok)                // never reaches b: x is before a + 1 h
	funnelSeq(l, 1, "e4", "a", 0, nil, "x", 70, bad)              // x after a + 1 h
	funnelSeq(l, 1, "e5", "x", 0, bad, "a", 5, nil, "b", 10, nil) // x before the attempt
	f := func(x []insight.FunnelExclusion, want []int64) {
		t.Helper()
		q := funnelQ("ordered", "a", "b", "c")
		q.Exclusions = x
		if got := stepCounts(runFunnel(t, s, 1, time.UTC, q).Steps); !reflect.DeepEqual(got, want) {
			t.Fatalf("exclusions %+v = %v, want %v", x, got, want)
		}
	}
	f(nil, []int64{5, 3, 2})
	// e1 and e3 do x between a and b (e3 never reaches b: up to a + 1 h).
	f([]insight.FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}}, []int64{3, 2, 1})
	// e2 does x between b and c.
	f([]insight.FunnelExclusion{{Event: "x", FromStep: 2, ToStep: 3}}, []int64{4, 2, 1})
	// Only a bad x counts: e3's is ok.
	bad1to2 := insight.FunnelExclusion{Event: "x", FromStep: 1, ToStep: 2, Filters: []insight.Filter{{Property: "kind", Op: "eq", Value: "bad"}}}
	f([]insight.FunnelExclusion{bad1to2}, []int64{4, 2, 1})
}

// funnelBreakdown: the value is the one of the step-1 event that starts
// the actor's best attempt; person properties are the person's after
// merges.
func funnelBreakdown(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	a := func(src any, tier string) map[string]any {
		p := map[string]any{}
		if src != nil {
			p["src"] = src
		}
		if tier != "" {
			p["$set"] = map[string]any{"tier": tier}
		}
		return p
	}
	funnelSeq(l, 1, "b1", "a", 0, a("ads", "gold"), "b", 1, nil)
	funnelSeq(l, 1, "b2", "a", 0, a("ads", "gold"))
	// The mail visit is too early for b: the ads visit starts the attempt.
	funnelSeq(l, 1, "b3", "a", 0, a("mail", "silver"), "a", 120, a("ads", ""), "b", 125, nil)
	funnelSeq(l, 1, "b4", "a", 0, a("mail", ""), "b", 1, nil)
	funnelSeq(l, 1, "b5", "a", 0, a(nil, "gold"), "b", 5, nil)
	funnelSeq(l, 1, "b6", "a", 0, a("", ""))        // an empty value is a value
	funnelSeq(l, 1, "anon", "a", 0, nil)            // merged into b7 below
	funnelSeq(l, 1, "b7", "b", 5, a(nil, "silver")) // with anon: 2, $none, silver
	l.Load(1, Ev("$identify", "b7", Day0.Add(2*time.Hour), map[string]any{"$anon_distinct_id": "anon"}))
	type bd struct {
		Value string
		Steps []int64
	}
	f := func(b *insight.Breakdown, want []bd) {
		t.Helper()
		q := funnelQ("ordered", "a", "b")
		q.Breakdown = b
		res := runFunnel(t, s, 1, time.UTC, q)
		got := []bd{}
		for _, br := range res.Breakdown {
			got = append(got, bd{br.Value, stepCounts(br.Steps)})
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("breakdown %+v = %v, want %v", b, got, want)
		}
		if tot := stepCounts(res.Steps); !reflect.DeepEqual(tot, []int64{7, 5}) {
			t.Fatalf("breakdown %+v totals = %v, want [7 5]", b, tot)
		}
	}
	f(&insight.Breakdown{Property: "src"}, []bd{{"ads", []int64{3, 2}}, {"$none", []int64{2, 2}}, {"", []int64{1, 0}}, {"mail", []int64{1, 1}}})
	f(&insight.Breakdown{Property: "src", Limit: 2}, []bd{{"ads", []int64{3, 2}}, {"$none", []int64{2, 2}}, {"$other", []int64{2, 1}}})
	f(&insight.Breakdown{Type: "person", Property: "tier"}, []bd{{"gold", []int64{3, 2}}, {"$none", []int64{2, 1}}, {"silver", []int64{2, 2}}})
	// A person filter on a step: only gold persons' a.
	q := funnelQ("ordered", "a", "b")
	q.Steps[0].Filters = []insight.Filter{{Type: "person", Property: "tier", Op: "eq", Value: "gold"}}
	if got := stepCounts(runFunnel(t, s, 1, time.UTC, q).Steps); !reflect.DeepEqual(got, []int64{3, 2}) {
		t.Fatalf("gold persons' funnel = %v, want [3 2]", got)
	}
}

// funnelPersons: "dropped:N" lists the actors who reached step N and not
// N+1, "converted:N" those who reached N; pages in ascending id order.
func funnelPersons(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	funnelSeq(l, 1, "n1", "a", 0, nil, "b", 1, nil, "c", 2, nil)
	funnelSeq(l, 1, "n2", "a", 0, nil, "b", 1, nil)
	funnelSeq(l, 1, "n3", "a", 0, nil)
	funnelSeq(l, 1, "n4", "a", 0, nil)
	funnelSeq(l, 1, "n5", "a", 0, nil, "b", 1, nil)
	funnelSeq(l, 1, "n6", "a", 0, nil, "b", 1, nil, "c", 2, nil)
	funnelSeq(l, 1, "n7", "a", 0, nil)
	funnelSeq(l, 1, "anon", "a", 0, nil) // merged into n8: 2
	funnelSeq(l, 1, "n8", "b", 5, nil)
	funnelSeq(l, 1, "n9", "b", 0, nil) // 0
	l.Load(1, Ev("$identify", "n8", Day0.Add(2*time.Hour), map[string]any{"$anon_distinct_id": "anon"}))
	ids := func(distinct ...string) []any {
		var ns []int64
		for _, d := range distinct {
			p, _, err := s.PersonByDistinctID(context.Background(), 1, d)
			if err != nil {
				t.Fatal(err)
			}
			ns = append(ns, p.ID)
		}
		sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
		out := []any{}
		for _, n := range ns {
			out = append(out, n)
		}
		return out
	}
	f := func(project int64, q insight.Funnel, persons string, limit, offset int, want []any, total int64, more bool) {
		t.Helper()
		q.Persons, q.Limit, q.Offset = persons, limit, offset
		got := runFunnel(t, s, project, time.UTC, q).Persons
		if got == nil || !reflect.DeepEqual(*got, insight.PersonList{IDs: want, Total: total, HasMore: more}) {
			t.Fatalf("%s limit %d offset %d = %+v, want %v total %d more %v", persons, limit, offset, got, want, total, more)
		}
	}
	q := funnelQ("ordered", "a", "b", "c")
	dropped1 := ids("n3", "n4", "n7")
	f(1, q, "dropped:1", 0, 0, dropped1, 3, false)
	f(1, q, "dropped:1", 2, 0, dropped1[:2], 3, true)
	f(1, q, "dropped:1", 2, 1, dropped1[1:], 3, false)
	converted2 := ids("n1", "n2", "n5", "n6", "anon") // anon is n8's person
	f(1, q, "converted:2", 0, 0, converted2, 5, false)
	f(1, q, "converted:2", 2, 2, converted2[2:4], 5, true)
	f(1, q, "converted:2", 2, 4, converted2[4:], 5, false)
	f(1, q, "converted:2", 2, 6, []any{}, 5, false)
	f(1, q, "dropped:2", 0, 0, ids("n2", "n5", "anon"), 3, false)
	f(1, q, "converted:3", 0, 0, ids("n1", "n6"), 2, false)

	// Group unit: the actors are group keys (project 2). acme's a and b
	// come from two users; beta's b has no company.
	co := func(key string) map[string]any { return map[string]any{"$groups": map[string]any{"company": key}} }
	funnelSeq(l, 2, "g1", "a", 0, co("acme"))
	funnelSeq(l, 2, "g2", "b", 5, co("acme"))
	funnelSeq(l, 2, "g3", "a", 0, co("beta"), "b", 5, nil)
	funnelSeq(l, 2, "g4", "a", 0, co("cern"))
	g := funnelQ("ordered", "a", "b")
	g.Unit = "group:company"
	f(2, g, "converted:1", 0, 0, []any{"acme", "beta", "cern"}, 3, false)
	f(2, g, "converted:1", 1, 1, []any{"beta"}, 3, true)
	f(2, g, "dropped:1", 0, 0, []any{"beta", "cern"}, 2, false)
	f(2, g, "converted:2", 0, 0, []any{"acme"}, 1, false)
}

// funnelOverTime: conversion by the day (in the project timezone) in
// which each actor's attempt started.
func funnelOverTime(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h, m int) time.Time {
		return Day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	l.Load(1,
		Ev("a", "o1", at(0, 10, 0), nil), Ev("b", "o1", at(0, 10, 10), nil),
		Ev("a", "o2", at(0, 12, 0), nil),
		Ev("a", "o3", at(0, 23, 30), nil), Ev("b", "o3", at(1, 0, 10), nil), // converts on Jan 6, started Jan 5 (Jan 6 in Berlin)
		Ev("a", "o4", at(2, 9, 0), nil), Ev("b", "o4", at(2, 9, 30), nil),
	)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	f := func(tz *time.Location, want []insight.FunnelPoint) {
		t.Helper()
		q := funnelQ("ordered", "a", "b")
		q.To, q.OverTime = Day0.AddDate(0, 0, 3), "day"
		if got := runFunnel(t, s, 1, tz, q).OverTime; !reflect.DeepEqual(got, want) {
			t.Fatalf("over time in %s = %+v, want %+v", tz, got, want)
		}
	}
	f(time.UTC, []insight.FunnelPoint{
		{T: "2026-01-05", Started: 3, Converted: 2, Conversion: 2.0 / 3},
		{T: "2026-01-06"},
		{T: "2026-01-07", Started: 1, Converted: 1, Conversion: 1},
	})
	// The range is Jan 5 01:00 to Jan 8 01:00 in Berlin.
	f(berlin, []insight.FunnelPoint{
		{T: "2026-01-05", Started: 2, Converted: 1, Conversion: 0.5},
		{T: "2026-01-06", Started: 1, Converted: 1, Conversion: 1},
		{T: "2026-01-07", Started: 1, Converted: 1, Conversion: 1},
		{T: "2026-01-08"},
	})
}

// funnelTimeToConvert: per step, the median and p90 (linear between
// ranks) of the seconds from the previous step, over the actors' earliest
// completing attempts.
func funnelTimeToConvert(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(sec int) time.Time { return Day0.Add(time.Hour + time.Duration(sec)*time.Second) }
	l.Load(1,
		Ev("a", "t1", at(0), nil), Ev("b", "t1", at(60), nil), Ev("c", "t1", at(70), nil),
		Ev("a", "t2", at(0), nil), Ev("b", "t2", at(120), nil), Ev("c", "t2", at(140), nil),
		Ev("a", "t3", at(0), nil), Ev("b", "t3", at(300), nil),
		// The second a restarts the attempt: 50 s to b, not 150 s.
		Ev("a", "t4", at(0), nil), Ev("a", "t4", at(100), nil), Ev("b", "t4", at(150), nil),
		Ev("a", "t5", at(0), nil),
	)
	res := runFunnel(t, s, 1, time.UTC, funnelQ("ordered", "a", "b", "c"))
	if got := stepCounts(res.Steps); !reflect.DeepEqual(got, []int64{5, 4, 2}) {
		t.Fatalf("counts = %v, want [5 4 2]", got)
	}
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-6 }
	st := res.Steps
	if st[0].MedianSeconds != nil || st[0].P90Seconds != nil {
		t.Fatalf("step 1 has times: %+v", st[0])
	}
	// a→b: 50, 60, 120, 300 s: median 90, p90 120 + 0.7 × 180 = 246.
	if !near(st[1].MedianSeconds, 90) || !near(st[1].P90Seconds, 246) {
		t.Fatalf("step 2 times %+v", st[1])
	}
	// b→c: 10, 20 s: median 15, p90 19.
	if !near(st[2].MedianSeconds, 15) || !near(st[2].P90Seconds, 19) {
		t.Fatalf("step 3 times %+v", st[2])
	}
	if st[1].Conversion != 0.8 || st[2].Conversion != 0.4 || st[2].StepConversion != 0.5 {
		t.Fatalf("conversions %+v", st)
	}
}

// sqlQuery: the read-only SQL insight sees the project's events with
// persons after merges, and nothing of other projects or other tables.
func sqlQuery(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	l.Load(1, Ev("$pageview", "anon-1", at(1), map[string]any{"utm_source": "ads"}), Ev("signed_up", "user-1", at(2), nil))
	l.Load(1, Ev("$identify", "user-1", at(3), map[string]any{"$anon_distinct_id": "anon-1"}))
	l.Load(2, Ev("$pageview", "other", at(1), nil))
	run := func(query string, limit int) *insight.SQLResult {
		t.Helper()
		res, err := s.SQL(ctx, 1, &insight.SQL{Query: query, Limit: limit})
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return res
	}
	res := run(`SELECT event, count(*) AS n, count(DISTINCT person_id) AS p FROM events GROUP BY event ORDER BY event`, 100)
	if fmt.Sprint(res.Columns) != "[event n p]" || fmt.Sprint(res.Rows) != "[[$identify 1 1] [$pageview 1 1] [signed_up 1 1]]" || res.Truncated {
		t.Fatalf("events by name = %v %v", res.Columns, res.Rows)
	}
	if res := run(`SELECT count(DISTINCT person_id) AS people FROM events -- one person after the merge`, 100); fmt.Sprint(res.Rows) != "[[1]]" {
		t.Fatalf("persons in events = %v", res.Rows)
	}
	if res := run(`SELECT count(*) AS n FROM persons;`, 100); fmt.Sprint(res.Rows) != "[[1]]" {
		t.Fatalf("persons = %v", res.Rows)
	}
	if res := run(`SELECT distinct_id FROM events e WHERE e.event = 'signed_up' OR e.event = '$pageview' ORDER BY distinct_id`, 1); fmt.Sprint(res.Rows) != "[[anon-1]]" || !res.Truncated {
		t.Fatalf("limit 1 = %v truncated %v", res.Rows, res.Truncated)
	}
	if res := run(`SELECT count(*) AS n FROM (SELECT event FROM events WHERE event IN ('$pageview', 'signed_up'))`, 100); fmt.Sprint(res.Rows) != "[[2]]" {
		t.Fatalf("subquery = %v", res.Rows)
	}
	for _, bad := range []string{
		`SELECT * FROM events_local`,
		`SELECT * FROM system.tables`,
		`SELECT * FROM main.events`,
		`SELECT 1; SELECT 2`,
		`INSERT INTO events VALUES (1)`,
		`SELECT count(*) FROM events WHERE event IN (SELECT name FROM system.tables)`,
	} {
		_, err := s.SQL(ctx, 1, &insight.SQL{Query: bad, Limit: 10})
		var e *insight.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: want a 400 (*insight.Error), got %v", bad, err)
		}
	}
}

// cohortFilters: a query's top-level cohort filters keep the actors
// (after merges) in or not in a static cohort (the current persons of its
// distinct ids) or a behavioural one (did, or did not do, an event at
// least min_count times in the days before the query's to).
func cohortFilters(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("e", "a", at(0, 10), nil), Ev("buy", "a", at(-1, 10), nil), Ev("buy", "a", at(0, 9), nil),
		Ev("e", "b", at(0, 10), nil), Ev("buy", "b", at(-5, 10), nil),
		Ev("e", "anon", at(0, 10), nil), Ev("buy", "anon", at(0, 8), nil),
		Ev("e", "c", at(0, 10), nil), Ev("buy", "c", at(0, 13), nil),
		Ev("e", "d", at(-2, 10), nil), Ev("buy", "d", at(0, 12), nil),
		Ev("buy", "u", at(0, 11), nil),
	)
	l.Load(1, Ev("$identify", "u", at(0, 14), map[string]any{"$anon_distinct_id": "anon"}))
	no := false
	static := func(ids ...string) *insight.CohortDef { return &insight.CohortDef{DistinctIDs: ids} }
	did := func(days, n int, didIt *bool) *insight.CohortDef {
		return &insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: days, MinCount: n, Did: didIt}}
	}
	f := func(want float64, filters ...insight.Filter) {
		t.Helper()
		q := dau("e", Day0, Day0.AddDate(0, 0, 1))
		q.Filters = filters
		if got := one(t, s, q); !reflect.DeepEqual(got, []float64{want}) {
			t.Fatalf("dau of e with %s = %v, want [%v]", cohortString(filters), got, want)
		}
	}
	in := func(c *insight.CohortDef) insight.Filter { return insight.Filter{Type: "cohort", Op: "in", Cohort: c} }
	notIn := func(c *insight.CohortDef) insight.Filter {
		return insight.Filter{Type: "cohort", Op: "not_in", Cohort: c}
	}
	// e on Jan 5: a, b, c and anon (merged into u); d's e is before it.
	f(4)
	// anon's id leads to u's person, which has anon's e.
	f(2, in(static("a", "anon", "nobody")))
	f(2, notIn(static("a", "anon", "nobody")))
	f(1, in(static("u")))
	// The most ids a cohort may list, each of the longest (a query of
	// megabytes on ClickHouse).
	many := []string{"a"}
	for len(many) < 10_000 {
		many = append(many, fmt.Sprintf("%0200d", len(many)))
	}
	f(1, in(static(many...)))
	// buy in [Jan 3, Jan 6): a twice, anon and u once each (twice after
	// the merge), c and d once; b's is on Dec 31.
	f(3, in(did(3, 1, nil)))
	f(1, notIn(did(3, 1, nil)))
	f(2, in(did(3, 2, nil)))
	f(2, notIn(did(3, 2, nil)))
	f(4, in(did(7, 1, nil)))
	f(1, in(did(3, 1, &no)))
	f(3, notIn(did(3, 1, &no)))
	// Filters combine: in {a, b} and not twice a buyer.
	f(1, in(static("a", "b")), notIn(did(3, 2, nil)))
	// An unresolved cohort id matches nothing, in or not.
	f(0, insight.Filter{Type: "cohort", Op: "in", Value: 7.0})
	f(0, insight.Filter{Type: "cohort", Op: "not_in", Value: 7.0})
}

func cohortString(fs []insight.Filter) string {
	b, _ := json.Marshal(fs)
	return string(b)
}

// cohortRetention: a behavioural cohort's window ends at the query's to
// for every row read, the start events before the range included: h
// started before the range, so it is in no first_time cohort.
func cohortRetention(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	day := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("s", "h", day(-3, 10), nil), Ev("s", "h", day(1, 10), nil), Ev("r", "h", day(2, 10), nil), Ev("x", "h", day(3, 10), nil),
		Ev("s", "k", day(1, 10), nil), Ev("r", "k", day(2, 11), nil), Ev("x", "k", day(2, 12), nil),
		Ev("s", "m", day(1, 10), nil), Ev("r", "m", day(2, 11), nil),
	)
	q := &insight.Retention{Start: insight.EventMatch{Event: "s"}, Return: insight.EventMatch{Event: "r"}, Period: "day", Periods: 2, Mode: "first_time",
		Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 4), Filters: []insight.Filter{
			{Type: "cohort", Cohort: &insight.CohortDef{Behavior: &insight.Behavior{Event: "x", Days: 2}}},
		}}}
	// x in [Jan 7, Jan 9): h and k; m is not in the cohort.
	want := map[string][]int64{"2026-01-05": {0, 0, 0}, "2026-01-06": {1, 1, 1}, "2026-01-07": {0, 0, 0}, "2026-01-08": {0, 0}}
	if got := retentionCohorts(runRetention(t, s, q).Cohorts); !reflect.DeepEqual(got, want) {
		t.Fatalf("retention of the x cohort = %v, want %v", got, want)
	}
}

func runRetention(t *testing.T, s store.Store, q *insight.Retention) *insight.RetentionResult {
	t.Helper()
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Retention(context.Background(), 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// retentionCohorts gives each cohort as its size then its retained counts.
func retentionCohorts(cs []insight.RetentionCohort) map[string][]int64 {
	out := map[string][]int64{}
	for _, c := range cs {
		out[c.Start] = append([]int64{c.Size}, c.Retained...)
	}
	return out
}

// trendByPerson: a person-property breakdown reads the person's current
// properties after merges, for all of its events.
func trendByPerson(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	plan := func(p any) map[string]any { return map[string]any{"$set": map[string]any{"plan": p}} }
	l.Load(1,
		Ev("view", "anon", at(0, 10), nil),
		Ev("view", "f", at(0, 11), plan("free")), Ev("view", "f", at(1, 11), plan("team")),
		Ev("view", "n", at(0, 12), nil), Ev("view", "n", at(0, 13), nil),
		Ev("view", "z", at(1, 9), plan(nil)), // JSON null reads as no value
	)
	l.Load(1, Ev("view", "u", at(1, 10), nil), Ev("view", "u", at(1, 12), nil))
	l.Load(1, Ev("$identify", "u", at(1, 14), map[string]any{"$anon_distinct_id": "anon", "$set": map[string]any{"plan": "pro"}}))
	f := func(b *insight.Breakdown, want map[string][]float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "view"}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 2), Breakdown: b}}
		if got := Values(t, s, time.UTC, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("views by %+v = %v, want %v", b, got, want)
		}
	}
	// anon's view is the merged person's (pro); f's Jan 5 view is under
	// its current plan.
	f(&insight.Breakdown{Type: "person", Property: "plan"}, map[string][]float64{
		"view - pro": {1, 2}, "view - team": {1, 1}, "view - $none": {2, 1},
	})
	// pro and $none tie at 3 views; $none sorts first.
	f(&insight.Breakdown{Type: "person", Property: "plan", Limit: 1}, map[string][]float64{
		"view - $none": {2, 1}, "view - $other": {2, 3},
	})
}

// activeUsersBy: WAU by a breakdown counts an actor under each value it
// had in the window; values beyond the limit are dropped, not summed.
func activeUsersBy(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d int) time.Time { return Day0.AddDate(0, 0, d).Add(10 * time.Hour) }
	l.Load(1,
		Ev("e", "a", at(0), map[string]any{"src": "ads"}), Ev("e", "a", at(7), map[string]any{"src": "mail", "$set": map[string]any{"plan": "pro"}}),
		Ev("e", "b", at(3), map[string]any{"src": "ads"}),
		Ev("e", "c", at(8), map[string]any{"$set": map[string]any{"plan": "pro"}}),
	)
	f := func(b *insight.Breakdown, want map[string][]float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "wau"}}, Range: insight.Range{From: Day0.AddDate(0, 0, 6), To: Day0.AddDate(0, 0, 9), Breakdown: b}}
		if got := Values(t, s, time.UTC, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("wau by %+v = %v, want %v", b, got, want)
		}
	}
	// Windows end Jan 11 (Jan 5..11), Jan 12 and Jan 13.
	f(&insight.Breakdown{Property: "src"}, map[string][]float64{"e - ads": {2, 1, 1}, "e - mail": {0, 1, 1}, "e - $none": {0, 0, 1}})
	f(&insight.Breakdown{Property: "src", Limit: 2}, map[string][]float64{"e - ads": {2, 1, 1}, "e - mail": {0, 1, 1}})
	f(&insight.Breakdown{Type: "person", Property: "plan"}, map[string][]float64{"e - pro": {1, 1, 2}, "e - $none": {1, 1, 1}})
}

// journeyByPerson: the journey by a person property (the current one of
// the person after merges) and with a person filter on a stage.
func journeyByPerson(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(m int) time.Time { return Day0.Add(time.Hour + time.Duration(m)*time.Minute) }
	plan := func(p string) map[string]any { return map[string]any{"$set": map[string]any{"plan": p}} }
	l.Load(1,
		Ev("$pageview", "anon", at(1), nil),
		Ev("$pageview", "a", at(1), plan("free")), Ev("signed_up", "a", at(2), nil),
		Ev("$pageview", "b", at(1), nil),
		Ev("signed_up", "c", at(1), plan("pro")),
		Ev("$pageview", "d", at(1), plan("pro")), Ev("order", "d", at(2), nil),
	)
	l.Load(1, Ev("signed_up", "u", at(2), nil), Ev("order", "u", at(3), nil))
	l.Load(1, Ev("$identify", "u", at(10), map[string]any{"$anon_distinct_id": "anon", "$set": map[string]any{"plan": "pro"}}))
	f := func(reach []insight.Filter, b *insight.Breakdown, want map[string][]int64, order []string) {
		t.Helper()
		q := &insight.Journey{Stages: []insight.Stage{
			{Name: "Reach", Events: []insight.Matcher{{Event: "$pageview", Filters: reach}}},
			{Name: "Signup", Events: []insight.Matcher{{Event: "signed_up"}}},
			{Name: "Buy", Events: []insight.Matcher{{Event: "order"}}},
		}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Breakdown: b}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Journey(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		counts := func(st []insight.StageResult) []int64 {
			out := []int64{}
			for _, r := range st {
				out = append(out, r.Count)
			}
			return out
		}
		got := map[string][]int64{"total": counts(res.Stages)}
		gotOrder := []string{}
		for _, br := range res.Breakdown {
			got[br.Value] = counts(br.Stages)
			gotOrder = append(gotOrder, br.Value)
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotOrder, order) {
			t.Fatalf("journey (reach %v) by %+v = %v %v, want %v %v", reach, b, got, gotOrder, want, order)
		}
	}
	// anon+u: all three stages (pro); a: two (free); b: one ($none); d:
	// one (pro; its order is not after a sign-up); c: none (no stage 1).
	byPlan := &insight.Breakdown{Type: "person", Property: "plan"}
	f(nil, byPlan, map[string][]int64{"total": {4, 2, 1}, "pro": {2, 1, 1}, "$none": {1, 0, 0}, "free": {1, 1, 0}}, []string{"pro", "$none", "free"})
	// Reach only by pro persons' page views: anon (merged into u) and d.
	pro := []insight.Filter{{Type: "person", Property: "plan", Op: "eq", Value: "pro"}}
	f(pro, byPlan, map[string][]int64{"total": {2, 1, 1}, "pro": {2, 1, 1}}, []string{"pro"})
}

// retentionBreakdown: the value of a first_time cohort member is the one
// on its first start event; a recurring actor is in a cohort under each
// value of its start events there, and once under "$other".
func retentionBreakdown(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	day := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	src := func(v string) map[string]any { return map[string]any{"src": v} }
	pro := map[string]any{"$set": map[string]any{"plan": "pro"}}
	l.Load(1,
		Ev("s", "a", day(0, 10), src("ads")), Ev("s", "a", day(1, 10), src("mail")), Ev("r", "a", day(1, 12), pro), Ev("r", "a", day(2, 10), nil),
		Ev("s", "b", day(0, 11), src("ads")), Ev("r", "b", day(2, 11), nil),
		Ev("s", "c", day(0, 9), src("tv")), Ev("s", "c", day(0, 12), src("radio")),
		Ev("s", "d", day(1, 9), src("mail")), Ev("r", "d", day(2, 9), pro),
		Ev("s", "e", day(-1, 10), src("ads")), Ev("s", "e", day(1, 11), src("seo")),
		Ev("s", "f", day(1, 8), nil),
	)
	type bd struct {
		Value   string
		Cohorts map[string][]int64
	}
	f := func(mode string, b *insight.Breakdown, total map[string][]int64, want []bd) {
		t.Helper()
		q := &insight.Retention{Start: insight.EventMatch{Event: "s"}, Return: insight.EventMatch{Event: "r"}, Period: "day", Periods: 3, Mode: mode,
			Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 3), Breakdown: b}}
		res := runRetention(t, s, q)
		got := []bd{}
		for _, br := range res.Breakdown {
			got = append(got, bd{br.Value, retentionCohorts(br.Cohorts)})
		}
		if tot := retentionCohorts(res.Cohorts); !reflect.DeepEqual(tot, total) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s retention by %+v = %v %v, want %v %v", mode, b, tot, got, total, want)
		}
	}
	// cohorts builds Jan 5, 6 and 7 from the size and retained counts of
	// the first two (Jan 7 is empty, with its own period only).
	cohorts := func(jan5, jan6 []int64) map[string][]int64 {
		return map[string][]int64{"2026-01-05": jan5, "2026-01-06": jan6, "2026-01-07": {0, 0}}
	}
	none5, none6 := []int64{0, 0, 0, 0}, []int64{0, 0, 0}
	// first_time: a, b (ads) and c (tv, its first start) on Jan 5; d
	// (mail) and f ($none) on Jan 6; e started before the range. a
	// returns on Jan 6 and 7, b on Jan 7, d on Jan 7.
	first := cohorts([]int64{3, 3, 1, 2}, []int64{2, 2, 1})
	f("first_time", &insight.Breakdown{Property: "src"}, first, []bd{
		{"ads", cohorts([]int64{2, 2, 1, 2}, none6)},
		{"$none", cohorts(none5, []int64{1, 1, 0})},
		{"mail", cohorts(none5, []int64{1, 1, 1})},
		{"tv", cohorts([]int64{1, 1, 0, 0}, none6)},
	})
	f("first_time", &insight.Breakdown{Property: "src", Limit: 1}, first, []bd{
		{"ads", cohorts([]int64{2, 2, 1, 2}, none6)},
		{"$other", cohorts([]int64{1, 1, 0, 0}, []int64{2, 2, 1})},
	})
	// a and d set plan pro (on return events): the person's value.
	f("first_time", &insight.Breakdown{Type: "person", Property: "plan"}, first, []bd{
		{"$none", cohorts([]int64{2, 2, 0, 1}, []int64{1, 1, 0})},
		{"pro", cohorts([]int64{1, 1, 1, 1}, []int64{1, 1, 1})},
	})
	// recurring: Jan 5 a, b (ads), c (tv and radio); Jan 6 a (mail), d
	// (mail), e (seo), f ($none). Top two by memberships: ads and mail
	// (two each); c counts once in Jan 5's $other.
	f("recurring", &insight.Breakdown{Property: "src", Limit: 2}, cohorts([]int64{3, 3, 1, 2}, []int64{4, 4, 2}), []bd{
		{"ads", cohorts([]int64{2, 2, 1, 2}, none6)},
		{"mail", cohorts(none5, []int64{2, 2, 2})},
		{"$other", cohorts([]int64{1, 1, 0, 0}, []int64{2, 2, 0})},
	})
}

// badDaysPersons: a person filter on a bad or active event reads the
// event's person after merges.
func badDaysPersons(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	plan := func(p string) map[string]any { return map[string]any{"$set": map[string]any{"plan": p}} }
	l.Load(1,
		Ev("$pageview", "a", at(0, 10), plan("pro")), Ev("$exception", "a", at(0, 11), nil), Ev("$exception", "a", at(1, 10), nil),
		Ev("$pageview", "b", at(0, 10), nil), Ev("$exception", "b", at(0, 12), nil),
		Ev("$exception", "anon", at(1, 10), nil),
		Ev("$pageview", "c", at(1, 10), plan("free")),
	)
	l.Load(1, Ev("$pageview", "u", at(1, 11), nil))
	l.Load(1, Ev("$identify", "u", at(1, 12), map[string]any{"$anon_distinct_id": "anon", "$set": map[string]any{"plan": "pro"}}))
	id := func(distinct string) string { return personID(t, s, distinct) }
	type result struct {
		Rate float64
		Days []insight.BadDay
		Top  []insight.BadDaysActor
	}
	f := func(active []insight.EventMatch, want result) {
		t.Helper()
		q := &insight.BadDays{Bad: []insight.EventMatch{{Event: "$exception", Filters: []insight.Filter{{Type: "person", Property: "plan", Op: "eq", Value: "pro"}}}},
			Active: active, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 2)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.BadDays(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := (result{res.Rate, res.Days, res.TopPersons}); !reflect.DeepEqual(got, want) {
			t.Fatalf("bad days, active %v = %+v, want %+v", active, got, want)
		}
	}
	top := []insight.BadDaysActor{{Actor: id("a"), BadDays: 2, ActiveDays: 2}, {Actor: id("u"), BadDays: 1, ActiveDays: 1}}
	// Only pro persons' exceptions are bad: a's, and anon's (merged into
	// u, pro). Any event is activity: Jan 5 a and b; Jan 6 a, u and c.
	f(nil, result{3.0 / 5, []insight.BadDay{
		{T: "2026-01-05", Rate: 0.5, Bad: 1, Active: 2}, {T: "2026-01-06", Rate: 2.0 / 3, Bad: 2, Active: 3},
	}, top})
	// Activity is also a page view of a person not on the free plan: c's
	// is not; b's exception is neither bad nor active, its view is.
	notFree := []insight.EventMatch{{Event: "$pageview", Filters: []insight.Filter{{Type: "person", Property: "plan", Op: "neq", Value: "free"}}}}
	f(notFree, result{3.0 / 4, []insight.BadDay{
		{T: "2026-01-05", Rate: 0.5, Bad: 1, Active: 2}, {T: "2026-01-06", Rate: 1, Bad: 2, Active: 2},
	}, top})
}

// kpiPersons: a person filter on a KPI condition reads the event's person
// after merges.
func kpiPersons(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	pro := map[string]any{"$set": map[string]any{"plan": "pro"}}
	l.Load(1,
		Ev("signed_up", "a", at(1), nil), Ev("order", "a", at(2), pro),
		Ev("signed_up", "b", at(1), nil), Ev("order", "b", at(2), nil),
		Ev("signed_up", "anon", at(1), nil),
	)
	l.Load(1, Ev("order", "u", at(3), nil))
	l.Load(1, Ev("$identify", "u", at(4), map[string]any{"$anon_distinct_id": "anon", "$set": map[string]any{"plan": "pro"}}))
	q := &insight.KPI{
		Denominator: insight.ActorSet{Conditions: []insight.Condition{{Event: "signed_up"}}},
		Numerator:   insight.ActorSet{Conditions: []insight.Condition{{Event: "order", Filters: []insight.Filter{{Type: "person", Property: "plan", Op: "eq", Value: "pro"}}}}},
		Interval:    "day", Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)},
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.KPI(context.Background(), 1, time.UTC, q)
	if err != nil {
		t.Fatal(err)
	}
	// a, b and anon+u signed up; a and u (pro after the merge) ordered as
	// pro persons, b not.
	if res.Numerator != 2 || res.Denominator != 3 || len(res.Points) != 1 || res.Points[0].Numerator != 2 || res.Points[0].Denominator != 3 {
		t.Fatalf("kpi of pro orders = %+v, want 2 of 3", res)
	}
}

// personID is the id, as text, of project 1's person behind a distinct id.
func personID(t *testing.T, s store.Store, distinct string) string {
	t.Helper()
	p, _, err := s.PersonByDistinctID(context.Background(), 1, distinct)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(p.ID)
}

// personlessEvents: events sent without a person profile
// ($process_person_profile=false, posthog-js's default for anonymous
// visitors) count one actor per distinct id in every insight, funnels
// included, and become the person's once an identify links the id.
func personlessEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	anon := func(name, id string, h int) event.Raw {
		e := Ev(name, id, at(h), nil)
		e.NoPerson = true
		return e
	}
	l.Load(1, anon("view", "anon-a", 1), anon("buy", "anon-a", 2), anon("view", "anon-b", 1), anon("view", "anon-c", 1))
	funnel := func() []int64 {
		t.Helper()
		q := &insight.Funnel{Steps: []insight.FunnelStep{{Event: "view"}, {Event: "buy"}}, Window: "1d",
			Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Funnel(ctx, 1, time.UTC, q)
		if err != nil {
			t.Fatalf("funnel over personless events: %v", err)
		}
		var n []int64
		for _, st := range res.Steps {
			n = append(n, st.Count)
		}
		return n
	}
	if got := funnel(); fmt.Sprint(got) != "[3 1]" {
		t.Fatalf("funnel before identify = %v, want [3 1]", got)
	}
	if got := one(t, s, dau("view", Day0, Day0.AddDate(0, 0, 1))); fmt.Sprint(got) != "[3]" {
		t.Fatalf("dau of view = %v, want [3]", got)
	}
	// anon-c signs up: its view and the buy it makes as user-c are one
	// person's; anon-a's buy stays anon-a's.
	l.Load(1, Ev("$identify", "user-c", at(3), map[string]any{"$anon_distinct_id": "anon-c"}), Ev("buy", "user-c", at(4), nil))
	if got := funnel(); fmt.Sprint(got) != "[3 2]" {
		t.Fatalf("funnel after identify = %v, want [3 2]", got)
	}
	if got := one(t, s, dau("view", Day0, Day0.AddDate(0, 0, 1))); fmt.Sprint(got) != "[3]" {
		t.Fatalf("dau of view after identify = %v, want [3]", got)
	}
	p, ids, err := s.PersonByDistinctID(ctx, 1, "anon-c")
	if err != nil || len(ids) != 2 {
		t.Fatalf("person of anon-c = %+v %v %v", p, ids, err)
	}
	res, err := s.SQL(ctx, 1, &insight.SQL{Query: `SELECT count(DISTINCT person_id) FROM events WHERE distinct_id IN ('anon-c', 'user-c')`, Limit: 10})
	if err != nil || fmt.Sprint(res.Rows) != "[[1]]" {
		t.Fatalf("persons of anon-c's and user-c's events = %v %v", res, err)
	}
}
