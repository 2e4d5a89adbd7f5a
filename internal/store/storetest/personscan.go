package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// personScan: ScanPersons lists exactly the project's stored persons
// (merged-away ones gone) with their properties, and every distinct id
// with the person it points at, as PersonByDistinctID answers them; a
// callback's error stops the scan.
func personScan(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc, ok := s.(store.PersonScanner)
	if !ok {
		t.Fatalf("%T does not implement store.PersonScanner", s)
	}
	l := NewLoader(t, s)
	at := Day0.Add(time.Hour)
	l.Load(1, Ev("e", "anon-1", at, map[string]any{"$set": map[string]any{"country": "KR"}}),
		Ev("e", "user-1", at, map[string]any{"$set": map[string]any{"plan": "pro", "age": 41}}),
		Ev("e", "solo", at, map[string]any{"$set": map[string]any{"tags": []any{"a", "b"}, "beta": true}}), Ev("e", "bare", at, nil))
	l.Load(1, Ev("$identify", "user-1", at.Add(time.Minute), map[string]any{"$anon_distinct_id": "anon-1"}),
		Ev("e", "solo", at.Add(2*time.Minute), map[string]any{"$set": map[string]any{"beta": false}}))
	l.Load(2, Ev("e", "other-project", at, map[string]any{"$set": map[string]any{"plan": "free"}}))

	persons := map[int64]map[string]any{}
	ids := map[string]int64{}
	err := sc.ScanPersons(ctx, 1, func(id int64, props []byte) error {
		var m map[string]any
		if err := json.Unmarshal(props, &m); err != nil {
			t.Fatalf("person %d: properties %q: %v", id, props, err)
		}
		if _, dup := persons[id]; dup {
			t.Fatalf("person %d listed twice", id)
		}
		persons[id] = m
		return nil
	}, func(did string, pid int64) error {
		if _, dup := ids[did]; dup {
			t.Fatalf("distinct id %q listed twice", did)
		}
		ids[did] = pid
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"anon-1", "bare", "solo", "user-1"}
	if got := keysOf(ids); !reflect.DeepEqual(got, wantIDs) {
		t.Fatalf("distinct ids %v, want %v", got, wantIDs)
	}
	if ids["anon-1"] != ids["user-1"] || ids["solo"] == ids["user-1"] {
		t.Fatalf("person ids %v: anon-1 and user-1 merged, solo apart", ids)
	}
	// Each id's person as the point lookup answers it.
	for did, pid := range ids {
		p, pids, err := s.PersonByDistinctID(ctx, 1, did)
		if errors.Is(err, store.ErrNotFound) {
			if _, ok := persons[pid]; ok {
				t.Fatalf("%q: scanned person %d, the lookup finds none", did, pid)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != pid || !reflect.DeepEqual(persons[pid], p.Properties) {
			t.Fatalf("%q: scanned person %d %v, the lookup answers %d %v", did, pid, persons[pid], p.ID, p.Properties)
		}
		var same []string
		for d, q := range ids {
			if q == pid {
				same = append(same, d)
			}
		}
		sort.Strings(same)
		if !reflect.DeepEqual(same, pids) {
			t.Fatalf("%q: the scan's ids of person %d are %v, the lookup's %v", did, pid, same, pids)
		}
	}
	merged := persons[ids["user-1"]]
	if merged["plan"] != "pro" || merged["country"] != "KR" || merged["age"] != 41.0 {
		t.Fatalf("merged person's properties %v", merged)
	}
	if solo := persons[ids["solo"]]; solo["beta"] != false || !reflect.DeepEqual(solo["tags"], []any{"a", "b"}) {
		t.Fatalf("solo's properties %v", solo)
	}
	for pid := range persons {
		found := false
		for _, q := range ids {
			found = found || q == pid
		}
		if !found {
			t.Fatalf("person %d scanned without a distinct id (a merged-away person?): %v", pid, persons)
		}
	}
	stop := errors.New("stop")
	if err := sc.ScanPersons(ctx, 1, func(int64, []byte) error { return stop }, nil); !errors.Is(err, stop) {
		t.Fatalf("a callback's error: %v", err)
	}
	n := 0
	if err := sc.ScanPersons(ctx, 3, func(int64, []byte) error { n++; return nil }, func(string, int64) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("a project without persons: %d rows, %v", n, err)
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
