package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/identity"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// testdb returns a fresh in-memory DuckDB event store.
func testdb(t *testing.T) *Store {
	t.Helper()
	s, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var day0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// ev builds a raw event; props may carry identity fields.
func ev(name, distinct string, at time.Time, props map[string]any) event.Raw {
	raw, _ := json.Marshal(props)
	e := event.Raw{UUID: uuid.NewString(), Event: name, DistinctID: distinct, Timestamp: at, Properties: raw, ReceivedAt: at}
	if set, ok := props["$set"].(map[string]any); ok {
		e.Set = set
	}
	return e
}

// loader applies batches the way the loader does: resolve, then Apply.
type loader struct {
	t   *testing.T
	s   *Store
	r   *identity.Resolver
	pos uint64
}

func newLoader(t *testing.T, s *Store) *loader {
	st, err := s.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &loader{t: t, s: s, r: identity.New(st)}
}

func (l *loader) load(project int64, events ...event.Raw) {
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

func dau(t *testing.T, s *Store, project int64, name string, tz *time.Location, from, to time.Time, interval string) []insight.Point {
	t.Helper()
	q := &insight.Trend{Series: []insight.Series{{Event: name, Math: "dau", Label: name}}, Interval: interval, Range: insight.Range{From: from, To: to}}
	res, err := s.Trend(context.Background(), project, tz, q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Series[0].Points
}

func TestMergeAfterEventsCountsOnePerson(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	// Anonymous browsing, then events as the user, then the merge arrives last.
	l.load(1, ev("$pageview", "anon-1", day0.Add(time.Hour), nil))
	l.load(1, ev("$pageview", "user-1", day0.Add(2*time.Hour), map[string]any{"$set": map[string]any{"email": "a@x"}}))
	if got := dau(t, s, 1, "$pageview", time.UTC, day0, day0.AddDate(0, 0, 1), "day"); got[0].Value != 2 {
		t.Fatalf("before merge dau = %v, want 2", got[0].Value)
	}
	l.load(1, ev("$identify", "user-1", day0.Add(3*time.Hour), map[string]any{"$anon_distinct_id": "anon-1", "$set": map[string]any{"plan": "pro"}}))
	if got := dau(t, s, 1, "$pageview", time.UTC, day0, day0.AddDate(0, 0, 1), "day"); got[0].Value != 1 {
		t.Fatalf("after merge dau = %v, want 1", got[0].Value)
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
	// A restarted loader (fresh resolver from the store) keeps the mapping:
	// a later anonymous event lands on the merged person.
	l2 := newLoader(t, s)
	l2.load(1, ev("$pageview", "anon-1", day0.Add(5*time.Hour), nil))
	if got := dau(t, s, 1, "$pageview", time.UTC, day0, day0.AddDate(0, 0, 1), "day"); got[0].Value != 1 {
		t.Fatalf("after restart dau = %v, want 1", got[0].Value)
	}
}

func TestMergeChainsAndAlias(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	at := day0.Add(time.Hour)
	l.load(1, ev("e", "a", at, nil), ev("e", "b", at, nil), ev("e", "c", at, nil), ev("e", "d", at, nil))
	// b absorbs a, then c absorbs b (chain), then d aliases c; all in one batch.
	l.load(1,
		ev("$identify", "b", at, map[string]any{"$anon_distinct_id": "a"}),
		ev("$identify", "c", at, map[string]any{"$anon_distinct_id": "b"}),
		ev("$create_alias", "d", at, map[string]any{"alias": "c"}),
	)
	if got := dau(t, s, 1, "e", time.UTC, day0, day0.AddDate(0, 0, 1), "day"); got[0].Value != 1 {
		t.Fatalf("dau = %v, want 1 (all four ids are one person)", got[0].Value)
	}
	_, ids, err := s.PersonByDistinctID(context.Background(), 1, "a")
	if err != nil || !reflect.DeepEqual(ids, []string{"a", "b", "c", "d"}) {
		t.Fatalf("ids = %v, %v", ids, err)
	}
	// Another project's "a" is a different person.
	l.load(2, ev("e", "a", at, nil))
	if got := dau(t, s, 2, "e", time.UTC, day0, day0.AddDate(0, 0, 1), "day"); got[0].Value != 1 {
		t.Fatalf("project 2 dau = %v", got[0].Value)
	}
	if _, _, err := s.PersonByDistinctID(context.Background(), 2, "b"); err != store.ErrNotFound {
		t.Fatalf("project 2 sees project 1's person: %v", err)
	}
}

func TestDedupByUUID(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	e := ev("e", "x", day0, nil)
	l.load(1, e, e) // twice in one batch
	l.load(1, e)    // and again later (a client retry)
	l.load(2, e)    // the same uuid in another project is another event
	retry := e
	retry.Timestamp = e.Timestamp.Add(3 * time.Minute) // clock-skew correction differs between attempts
	l.load(1, retry, ev("e", "x", day0.AddDate(0, 2, 0), nil))
	n1, _ := s.CountEvents(context.Background(), 1)
	n2, _ := s.CountEvents(context.Background(), 2)
	if n1 != 2 || n2 != 1 {
		t.Fatalf("stored %d and %d events, want 2 and 1", n1, n2)
	}
	if pos, _ := s.Checkpoint(context.Background()); pos != 4 {
		t.Fatalf("checkpoint = %d, want 4", pos)
	}
}

func TestPersonProperties(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	a := ev("e", "p", day0, nil)
	a.Set = map[string]any{"plan": "free", "n": 1}
	a.SetOnce = map[string]any{"first": "x"}
	b := ev("e", "p", day0.Add(time.Minute), nil)
	b.Set = map[string]any{"plan": "pro"}
	b.SetOnce = map[string]any{"first": "y", "other": true}
	b.Unset = []string{"n"}
	l.load(1, a)
	l.load(1, b)
	p, _, err := s.PersonByDistinctID(context.Background(), 1, "p")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"plan": "pro", "first": "x", "other": true}
	if !reflect.DeepEqual(p.Properties, want) {
		t.Fatalf("properties = %v, want %v", p.Properties, want)
	}
	// $process_person_profile=false creates no person.
	c := ev("e", "ghost", day0, nil)
	c.NoPerson = true
	l.load(1, c)
	if _, _, err := s.PersonByDistinctID(context.Background(), 1, "ghost"); err != store.ErrNotFound {
		t.Fatalf("personless event created a person: %v", err)
	}
}

func TestGroups(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	l.load(1,
		ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"plan": "free", "seats": 3}}),
		ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"plan": "pro"}}),
	)
	l.load(1, ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"mrr": 99}}))
	var props string
	if err := s.db.QueryRow(`SELECT properties FROM groups WHERE project_id = 1 AND group_type = 'company' AND group_key = 'acme'`).Scan(&props); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal([]byte(props), &got)
	if want := map[string]any{"plan": "pro", "seats": 3.0, "mrr": 99.0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("group properties = %v, want %v", got, want)
	}
}

func TestTrendMathsFiltersAndTimezone(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// 23:30 UTC on Jan 5 is 00:30 on Jan 6 in Berlin.
	l.load(1,
		ev("order", "a", day0.Add(10*time.Hour), map[string]any{"revenue": 10, "src": "ads"}),
		ev("order", "a", day0.Add(11*time.Hour), map[string]any{"revenue": 30, "src": "ads"}),
		ev("order", "b", day0.Add(12*time.Hour), map[string]any{"revenue": 20, "src": "mail"}),
		ev("order", "c", day0.Add(23*time.Hour+30*time.Minute), map[string]any{"revenue": 5, "src": "ads's \"x\""}),
	)
	f := func(series insight.Series, filters []insight.Filter, tz *time.Location, want []float64) {
		t.Helper()
		if series.Label == "" {
			series.Label = series.Event
		}
		q := &insight.Trend{Series: []insight.Series{series}, Interval: "day", Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 2), Filters: filters}}
		res, err := s.Trend(context.Background(), 1, tz, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		for _, p := range res.Series[0].Points {
			got = append(got, p.Value)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v %+v in %s = %v, want %v", series, filters, tz, got, want)
		}
	}
	f(insight.Series{Event: "order", Math: "total"}, nil, time.UTC, []float64{4, 0})
	f(insight.Series{Event: "order", Math: "dau"}, nil, time.UTC, []float64{3, 0})
	f(insight.Series{Event: "order", Math: "total"}, nil, berlin, []float64{3, 1, 0}) // Jan 5, 6, 7 in Berlin (Jan 4 bucket starts at 23:00 UTC... trimmed below)
	f(insight.Series{Event: "order", Math: "sum", Property: "revenue"}, nil, time.UTC, []float64{65, 0})
	f(insight.Series{Event: "order", Math: "avg", Property: "revenue"}, nil, time.UTC, []float64{16.25, 0})
	f(insight.Series{Event: "order", Math: "max", Property: "revenue"}, nil, time.UTC, []float64{30, 0})
	f(insight.Series{Event: "order", Math: "p50", Property: "revenue"}, nil, time.UTC, []float64{15, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "eq", Value: "ads"}}, time.UTC, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "neq", Value: "ads"}}, time.UTC, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "contains", Value: "ADS"}}, time.UTC, []float64{3, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "revenue", Op: "gt", Value: json.Number("10")}}, time.UTC, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "revenue", Op: "lt", Value: 10.0}}, time.UTC, []float64{1, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "src", Op: "in", Value: []any{"mail", `ads's "x"`}}}, time.UTC, []float64{2, 0})
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: "nope", Op: "is_set"}}, time.UTC, []float64{0, 0})
	// Hostile property names are data: they match nothing and break nothing.
	f(insight.Series{Event: "order"}, []insight.Filter{{Property: `x') OR 1=1 --`, Op: "eq", Value: "1"}}, time.UTC, []float64{0, 0})
}

func TestTrendBerlinBuckets(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	var evs []event.Raw
	for h := 0; h < 48; h++ {
		evs = append(evs, ev("tick", fmt.Sprint("p", h), day0.Add(time.Duration(h)*time.Hour), nil))
	}
	l.load(1, evs...)
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, berlin)
	to := time.Date(2026, 1, 7, 0, 0, 0, 0, berlin)
	q := &insight.Trend{Series: []insight.Series{{Event: "tick", Math: "total", Label: "tick"}}, Interval: "day", Range: insight.Range{From: from, To: to}}
	res, err := s.Trend(context.Background(), 1, berlin, q)
	if err != nil {
		t.Fatal(err)
	}
	// Berlin is UTC+1 in January: Jan 5 local holds UTC hours 0..22 (23
	// events), Jan 6 local holds UTC 23 on Jan 5 through 22 on Jan 6 (24).
	got := res.Series[0].Points
	sort.Slice(got, func(i, j int) bool { return got[i].T < got[j].T })
	if len(got) != 2 || got[0] != (insight.Point{T: "2026-01-05", Value: 23}) || got[1] != (insight.Point{T: "2026-01-06", Value: 24}) {
		t.Fatalf("points = %+v", got)
	}
}

// TestDedupAfterReopen: the stored-uuid filter is rebuilt from the file,
// so a retry after a restart is still recognised.
func TestDedupAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.duckdb")
	e := ev("e", "x", day0, nil)
	for i := 0; i < 2; i++ {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		newLoader(t, s).load(1, e, ev("e", "y", day0, nil))
		s.Close()
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.CountEvents(context.Background(), 1); n != 3 {
		t.Fatalf("stored %d events, want 3 (x once, y twice with fresh uuids)", n)
	}
}
