package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// identifiedMerges: an $identify or $create_alias that would merge an
// identified person into another is refused, as PostHog does, also by a
// loader restarted from the store (store.Identity.Identified);
// $merge_dangerously merges them.
func identifiedMerges(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := func(h int) time.Time { return Day0.Add(time.Duration(h) * time.Hour) }
	l := NewLoader(t, s)
	l.Load(1, Ev("$pageview", "anon-1", at(1), nil))
	l.Load(1, Ev(event.Identify, "alice", at(2), map[string]any{event.PropAnonID: "anon-1"}))
	l.Load(1, Ev("$pageview", "bob", at(3), nil))
	l.Load(1, Ev(event.Identify, "bob", at(4), map[string]any{event.PropAnonID: "alice"})) // refused
	person := func(did string) (int64, []string) {
		t.Helper()
		p, ids, err := s.PersonByDistinctID(ctx, 1, did)
		if err != nil {
			t.Fatalf("PersonByDistinctID(%q): %v", did, err)
		}
		slices.Sort(ids)
		return p.ID, ids
	}
	alice, ids := person("alice")
	if !slices.Equal(ids, []string{"alice", "anon-1"}) {
		t.Fatalf("alice's distinct ids = %v, want alice and anon-1 (an anonymous person merges)", ids)
	}
	bob, ids := person("bob")
	if bob == alice || !slices.Equal(ids, []string{"bob"}) {
		t.Fatalf("bob is person %d with %v, alice %d: the $identify merged an identified person", bob, ids, alice)
	}
	st, err := s.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.Identified, alice) || !slices.Contains(st.Identified, bob) {
		t.Fatalf("Identity().Identified = %v, want alice's %d and bob's %d", st.Identified, alice, bob)
	}

	l = NewLoader(t, s)                                                                      // a restart: identified persons come from the store
	l.Load(1, Ev(event.CreateAlias, "bob", at(5), map[string]any{event.PropAlias: "alice"})) // refused
	if p, _ := person("alice"); p != alice {
		t.Fatalf("after a restart, $create_alias moved alice to person %d", p)
	}
	l.Load(1, Ev("$merge_dangerously", "bob", at(6), map[string]any{event.PropAlias: "alice"}))
	if p, ids := person("alice"); p != bob || !slices.Equal(ids, []string{"alice", "anon-1", "bob"}) {
		t.Fatalf("after $merge_dangerously alice is person %d with %v, want bob's %d with all three ids", p, ids, bob)
	}
	// The merged person is the survivor's: later merges of it are refused.
	l = NewLoader(t, s)
	l.Load(1, Ev("$pageview", "carol", at(7), nil))
	l.Load(1, Ev(event.Identify, "carol", at(8), map[string]any{event.PropAnonID: "anon-1"}))
	if p, _ := person("anon-1"); p != bob {
		t.Fatalf("anon-1, of an identified person, moved to person %d", p)
	}
	if c, _ := person("carol"); c == bob {
		t.Fatal("carol's $identify merged an identified person into her")
	}
}

// dedupAnyTime: an event sent again with the same uuid is stored once
// whatever its event time: 30 days later (past any time window), after
// other batches and after a loader restart; the same uuid in another
// project is another event.
func dedupAnyTime(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	e := Ev("e", "x", Day0, map[string]any{"n": 1})
	l.Load(1, e, Ev("e", "x", Day0.Add(time.Hour), nil))
	for i := range 3 { // other batches in between
		l.Load(1, Ev("other", "y", Day0.AddDate(0, 0, i+1), nil))
	}
	later := e
	later.Timestamp = e.Timestamp.AddDate(0, 0, 30)
	later.ReceivedAt = later.Timestamp
	l.Load(1, later)
	l = NewLoader(t, s) // a restart
	earlier := e
	earlier.Timestamp = e.Timestamp.AddDate(-1, 0, 0)
	l.Load(1, earlier, Ev("e", "x", Day0.AddDate(0, 0, 31), nil))
	l.Load(2, later)
	n1, err := s.CountEvents(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := s.CountEvents(ctx, 2)
	if n1 != 6 || n2 != 1 {
		t.Fatalf("stored %d and %d events, want 6 (the uuid sent 30 days later and a year earlier stored once) and 1", n1, n2)
	}
	// The copy kept is the first one stored.
	rows, err := s.PersonEvents(ctx, 1, mustPerson(t, s, 1, "x"), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.UUID == parseUUIDString(t, e.UUID) && !r.Timestamp.Equal(e.Timestamp) {
			t.Fatalf("the stored copy of %s is at %v, want the first one's %v", e.UUID, r.Timestamp, e.Timestamp)
		}
	}
}

func mustPerson(t *testing.T, s store.Store, project int64, distinctID string) int64 {
	t.Helper()
	p, _, err := s.PersonByDistinctID(context.Background(), project, distinctID)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func parseUUIDString(t *testing.T, s string) [16]byte {
	t.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// nullAndNested: a JSON null reads as no value (eq "null" matches only the
// string "null", as DuckDB's json_extract_string gives it), and a
// property names a top-level key only: a key of the same name inside a
// nested object is not it, and "a.b" is the key "a.b", not a path. Event
// and person filters, and breakdowns, answer the same on every store.
func nullAndNested(t *testing.T, s store.Store) {
	l := NewLoader(t, s)
	at := func(m int) time.Time { return Day0.Add(time.Duration(m) * time.Minute) }
	person := func(id string, set map[string]any) map[string]any { return map[string]any{"$set": set, "k": id} }
	l.Load(1,
		Ev("e", "p1", at(1), map[string]any{"a": nil}),
		Ev("e", "p2", at(2), map[string]any{"a": "null"}),
		Ev("e", "p3", at(3), map[string]any{"a": "x", "o": map[string]any{"b": "y"}}),
		Ev("e", "p4", at(4), map[string]any{"o": map[string]any{"a": "nested"}}),
		Ev("e", "p5", at(5), map[string]any{"o": map[string]any{"a": "x"}, "a": "z"}),
		Ev("e", "p6", at(6), map[string]any{"a.b": "dotted"}),
		Ev("e", "p7", at(7), map[string]any{"a": map[string]any{"b": "deep"}}),
		Ev("e", "p8", at(8), map[string]any{"list": []any{map[string]any{"a": "x"}}}),
		Ev("e", "p9", at(9), map[string]any{}),
		Ev("set", "p1", at(10), person("1", map[string]any{"plan": nil})),
		Ev("set", "p2", at(11), person("2", map[string]any{"plan": "null"})),
		Ev("set", "p3", at(12), person("3", map[string]any{"meta": map[string]any{"plan": "pro"}})),
		Ev("set", "p4", at(13), person("4", map[string]any{"meta": map[string]any{"plan": "pro"}, "plan": "free"})),
	)
	count := func(typ, prop, op string, value any, want float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "e"}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1),
			Filters: []insight.Filter{{Type: typ, Property: prop, Op: op, Value: value}}}}
		if got := one(t, s, q); !reflect.DeepEqual(got, []float64{want}) {
			t.Fatalf("%s filter %s %s %v counts %v, want %v", typ, prop, op, value, got, want)
		}
	}
	count("event", "a", "eq", "null", 1)       // p2's string, not p1's null
	count("event", "a", "neq", "null", 8)      // every other event, p1's null and those without a included
	count("event", "a", "eq", "x", 1)          // p3; not p5 (its a is z), nor p4, p8 (nested)
	count("event", "a", "neq", "x", 8)         //
	count("event", "a", "eq", "nested", 0)     // only in o
	count("event", "a", "contains", "nest", 0) //
	count("event", "a", "regex", "^(x|z)$", 2) // p3, p5
	count("event", "a", "in", []any{"x", "z", "nested"}, 2)
	count("event", "a", "is_set", nil, 5)    // p1 (null), p2, p3, p5, p7
	count("event", "b", "eq", "y", 0)        // only in o
	count("event", "b", "is_set", nil, 0)    //
	count("event", "a.b", "eq", "dotted", 1) // the key "a.b"
	count("event", "a.b", "eq", "deep", 0)   // not a path
	count("event", "a", "gt", 0.0, 0)        // nothing numeric
	// Person properties: p1 null, p2 "null", p3 only nested, p4 free.
	count("person", "plan", "eq", "null", 1)
	count("person", "plan", "eq", "pro", 0)
	count("person", "plan", "eq", "free", 1)
	count("person", "plan", "neq", "free", 8)
	count("person", "plan", "is_set", nil, 3) // p1 (null), p2, p4

	// Breakdowns: null and missing are $none, nested keys are not the
	// property. (An object value reads as JSON text, which is the same
	// JSON but not the same text on ClickHouse: nested.go; left out.)
	breakdown := func(prop string, filters []insight.Filter, want map[string][]float64) {
		t.Helper()
		q := insight.Trend{Series: []insight.Series{{Event: "e"}}, Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1),
			Filters: filters, Breakdown: &insight.Breakdown{Property: prop}}, Interval: "day"}
		if got := Values(t, s, time.UTC, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("breakdown by %s = %v, want %v", prop, got, want)
		}
	}
	notObject := []insight.Filter{{Property: "o", Op: "is_set"}, {Property: "a", Op: "neq", Value: "never"}}
	breakdown("a", notObject, map[string][]float64{"e - x": {1}, "e - $none": {1}, "e - z": {1}}) // p3, p4, p5
	breakdown("a", []insight.Filter{{Property: "a", Op: "neq", Value: "x"}, {Property: "a.b", Op: "is_set"}},
		map[string][]float64{"e - $none": {1}}) // p6
	breakdown("a", []insight.Filter{{Property: "a", Op: "in", Value: []any{"null", "x", "z"}}},
		map[string][]float64{"e - null": {1}, "e - x": {1}, "e - z": {1}})
	breakdown("b", nil, map[string][]float64{"e - $none": {9}})
}
