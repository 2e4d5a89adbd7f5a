package duckdb

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// A deletion also removes the person's events from the index's durable
// tail (journey_index_batches keeps indexed person/time/event rows until a
// manifest covers them): the whole tail goes, as a gap, since the index is
// rebuilt from the store right after.
func TestErasePersonClearsJourneyTail(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "events.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := storetest.NewLoader(t, s)
	var evs []event.Raw
	for i := range 40 {
		evs = append(evs, storetest.Ev("view", fmt.Sprintf("u%d", i%4), day0.Add(time.Duration(i)*time.Minute), nil))
	}
	l.Load(1, evs...)
	sub, err := s.ResolveSubject(ctx, 1, 0, "u0")
	if err != nil {
		t.Fatal(err)
	}
	count := func(person bool) int {
		tail, err := readTailBatches(ctx, s.db, 0, math.MaxInt64, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range tail {
			if e.Project == 1 && (e.Person == sub.PersonID) == person {
				n++
			}
		}
		return n
	}
	if n := count(true); n != 10 {
		t.Fatalf("tail events of u0 before the deletion = %d, want 10", n)
	}
	if n := count(false); n != 30 {
		t.Fatalf("tail events of the others before the deletion = %d, want 30", n)
	}
	if err := s.ErasePerson(ctx, &sub); err != nil {
		t.Fatal(err)
	}
	if n := count(true); n != 0 {
		t.Fatalf("tail events of u0 after the deletion = %d, want 0", n)
	}
	var pruned, ckpt uint64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT pruned FROM journey_index_state), (SELECT max(position) FROM loader_checkpoint)`).Scan(&pruned, &ckpt); err != nil {
		t.Fatal(err)
	}
	if pruned < ckpt {
		t.Fatalf("after the deletion the tail says it holds the batches past %d, the store is at %d: a reopen would add from a gap", pruned, ckpt)
	}
}
