package duckdb

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
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

// ev and newLoader are the conformance suite's helpers: events as capture
// makes them, loaded the way the loader does (resolve, then Apply).
var ev = storetest.Ev

func newLoader(t *testing.T, s *Store) *storetest.Loader { return storetest.NewLoader(t, s) }

func dau(t *testing.T, s *Store, project int64, name string, tz *time.Location, from, to time.Time, interval string) []insight.Point {
	t.Helper()
	q := &insight.Trend{Series: []insight.Series{{Event: name, Math: "dau", Label: name}}, Interval: interval, Range: insight.Range{From: from, To: to}}
	res, err := s.Trend(context.Background(), project, tz, q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Series[0].Points
}

func TestGroups(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	l.Load(1,
		ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"plan": "free", "seats": 3}}),
		ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"plan": "pro"}}),
	)
	l.Load(1, ev("$groupidentify", "u", day0, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"mrr": 99}}))
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
		newLoader(t, s).Load(1, e, ev("e", "y", day0, nil))
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

// TestOutOfMemoryError: DuckDB's out-of-memory errors (past
// --memory-limit) read as *insight.MemoryError; others stay as they are.
func TestOutOfMemoryError(t *testing.T) {
	s, err := Open("", Options{MemoryLimit: 20e6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n int64
	err = s.db.QueryRowContext(ctx, "SELECT length(list(i::VARCHAR)) FROM range(20000000) t(i)").Scan(&n)
	var mem *insight.MemoryError
	if !errors.As(store.AsMemoryError(ctx, err), &mem) || mem.Limit != "--memory-limit" {
		t.Fatalf("past memory_limit: %v, want a MemoryError", err)
	}
	// The sql kind answers it too, not a 400 for the user's query.
	if err := s.Apply(ctx, &store.Write{Events: []store.Row{{ProjectID: 1, Event: "e", DistinctID: "d", PersonID: 1, Timestamp: time.Now(), ReceivedAt: time.Now()}}, Checkpoint: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = s.SQL(ctx, 1, &insight.SQL{Query: "SELECT count(DISTINCT md5(a.x || b.x || c.x || d.x || f.x || g.x || h.x || e.event)) FROM " + digits("a") + ", " + digits("b") + ", " + digits("c") + ", " + digits("d") + ", " + digits("f") + ", " + digits("g") + ", " + digits("h") + ", events e", Limit: 10})
	if !errors.As(err, &mem) {
		t.Fatalf("sql kind past memory_limit: %v, want a MemoryError", err)
	}
	err = s.db.QueryRowContext(ctx, "SELECT nonsense FROM").Scan(&n)
	if err == nil || store.AsMemoryError(ctx, err) != err {
		t.Fatalf("a syntax error: %v", err)
	}
}

// digits is a table of the ten digits (the sql kind has no range()).
func digits(alias string) string {
	return "(VALUES ('0'), ('1'), ('2'), ('3'), ('4'), ('5'), ('6'), ('7'), ('8'), ('9')) " + alias + "(x)"
}

// TestMemoryLimitOption: Options.MemoryLimit, in bytes, becomes DuckDB's
// memory_limit and the sql guard's default budget; negative leaves
// DuckDB's own default, which the guard reads.
func TestMemoryLimitOption(t *testing.T) {
	for _, limit := range []int64{512e6, 3 << 30, -1} {
		s, err := Open("", Options{MemoryLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var text string
		err = s.db.QueryRow(`SELECT current_setting('memory_limit')`).Scan(&text)
		s.Close()
		got := parseSize(text)
		if limit < 0 {
			if err != nil || got <= 0 || s.guard.budget != guardBudget(got) {
				t.Fatalf("DuckDB's default: memory_limit %q, guard budget %d, %v", text, s.guard.budget, err)
			}
			continue
		}
		if err != nil || got < limit-limit/1000 || got > limit+limit/1000 {
			t.Fatalf("MemoryLimit %d: memory_limit %q (%d), %v", limit, text, got, err)
		}
		if s.guard.budget != guardBudget(limit) {
			t.Fatalf("MemoryLimit %d: guard budget %d, want %d", limit, s.guard.budget, guardBudget(limit))
		}
	}
}

func TestParsePlan(t *testing.T) {
	f := func(list string, want Plan, wantErr string) {
		t.Helper()
		got, err := ParsePlan(list)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("ParsePlan(%q) = %v, want an error containing %q", list, err, wantErr)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParsePlan(%q) = %+v, %v, want %+v", list, got, err, want)
		}
		if back, err := ParsePlan(got.String()); err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("ParsePlan(%q.String() = %q) = %+v, %v", list, got.String(), back, err)
		}
	}
	f("", Plan{}, "")
	f("no-masks", Plan{MaskPeriods: -1}, "")
	f("no-dense, no-event-codes", Plan{NoDenseRetention: true, NoEventCodes: true}, "")
	f("no-masks,no-dense,no-event-codes,no-feed-in-place,", Plan{MaskPeriods: -1, NoDenseRetention: true, NoEventCodes: true, NoFeedInPlace: true}, "")
	f("no-feed-in-place,no-feed-in-place", Plan{NoFeedInPlace: true}, "")
	f("no-masks,fast", Plan{}, `unknown query plan switch "fast": want a comma-separated list of no-masks, no-dense, no-event-codes, no-feed-in-place`)
	f("No-Masks", Plan{}, `"No-Masks"`)
	if s := (Plan{MaskPeriods: -1, NoFeedInPlace: true}).String(); s != "no-masks,no-feed-in-place" {
		t.Fatalf("String = %q", s)
	}
}
