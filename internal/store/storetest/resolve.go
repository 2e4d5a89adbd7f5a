package storetest

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// personsByIDs: the batched lookup answers, per distinct id, what
// PersonByDistinctID answers (person, properties and every distinct id,
// merges and aliases followed), leaves out unknown ids and other
// projects' ids, takes repeated ids, and refuses more than
// store.MaxDistinctIDs at once.
func personsByIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := Day0.Add(time.Hour)
	l.Load(1, Ev("e", "anon-1", at, nil), Ev("e", "user-1", at, map[string]any{"$set": map[string]any{"plan": "pro"}}),
		Ev("e", "solo", at, map[string]any{"$set": map[string]any{"n": 1}}), Ev("e", "alias-me", at, nil))
	l.Load(1, Ev("$identify", "user-1", at.Add(time.Minute), map[string]any{"$anon_distinct_id": "anon-1"}),
		Ev("$create_alias", "user-1", at.Add(2*time.Minute), map[string]any{"alias": "alias-me"}))
	l.Load(2, Ev("e", "other-project", at, nil), Ev("e", "solo", at, map[string]any{"$set": map[string]any{"n": 2}}))
	var many []string
	for i := range 50 {
		many = append(many, "m"+strconv.Itoa(i))
		l.Load(1, Ev("e", many[i], at, map[string]any{"$set": map[string]any{"i": i}}))
	}
	ask := append([]string{"anon-1", "user-1", "alias-me", "solo", "ghost", "other-project", "solo", ""}, many...)
	got, err := s.PersonsByDistinctIDs(ctx, 1, ask)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.ResolvedPerson{}
	for _, id := range ask {
		p, ids, err := s.PersonByDistinctID(ctx, 1, id)
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want[id] = store.ResolvedPerson{Person: p, DistinctIDs: ids}
	}
	if len(want) != 4+len(many) {
		t.Fatalf("one by one, %d of the ids resolve, want %d", len(want), 4+len(many))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batched:\n%v\none by one:\n%v", got, want)
	}
	if r := got["anon-1"]; !reflect.DeepEqual(r.DistinctIDs, []string{"alias-me", "anon-1", "user-1"}) || r.Person.Properties["plan"] != "pro" ||
		got["alias-me"].Person.ID != r.Person.ID {
		t.Fatalf("merged person: %+v, alias %+v", r, got["alias-me"])
	}
	if n, _ := got["solo"].Person.Properties["n"].(float64); n != 1 {
		t.Fatalf("solo in project 1: %+v (project 2's person?)", got["solo"])
	}
	if got, err := s.PersonsByDistinctIDs(ctx, 3, ask); err != nil || len(got) != 0 {
		t.Fatalf("a project without persons: %v %v", got, err)
	}
	if got, err := s.PersonsByDistinctIDs(ctx, 1, nil); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %v %v", got, err)
	}
	if _, err := s.PersonsByDistinctIDs(ctx, 1, make([]string, store.MaxDistinctIDs+1)); err == nil {
		t.Fatal("more than MaxDistinctIDs at once accepted")
	}
}
