package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// A deletion also removes the person's rows from journey_index_tail (which
// keeps indexed person/time/event rows until a manifest covers them), and
// leaves the other persons' rows.
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
	count := func(where string, args ...any) int {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM journey_index_tail WHERE project_id = 1 AND `+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`person_id = ?`, sub.PersonID); n != 10 {
		t.Fatalf("tail rows of u0 before the deletion = %d, want 10", n)
	}
	others := count(`person_id <> ?`, sub.PersonID)
	if err := s.ErasePerson(ctx, &sub); err != nil {
		t.Fatal(err)
	}
	if n := count(`person_id = ?`, sub.PersonID); n != 0 {
		t.Fatalf("tail rows of u0 after the deletion = %d, want 0", n)
	}
	// The rebuild after the deletion may prune the tail; it never adds.
	if n := count(`person_id <> ?`, sub.PersonID); n > others {
		t.Fatalf("other persons' tail rows grew %d -> %d", others, n)
	}
}
