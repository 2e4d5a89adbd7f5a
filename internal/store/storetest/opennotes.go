package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
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
