package duckdb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// TestApplyAfterFailedWrite: a write that fails inside Apply's
// transaction (after its events' insert ran from the reused prepared
// statement) leaves nothing, and the statements serve the next writes:
// the failed write's events sent again are stored once, a third copy
// not at all, with their flag exposures, also after a reopen.
func TestApplyAfterFailedWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.duckdb")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	row := func(event string, props string) store.Row {
		return store.Row{ProjectID: 1, UUID: uuid.New(), Event: event, DistinctID: "x", PersonID: 7, Timestamp: day0, ReceivedAt: day0, Properties: []byte(props)}
	}
	g := store.Group{ProjectID: 1, Type: "company", Key: "c", CreatedAt: day0, Properties: map[string]any{"n": 1}}
	warm := row("e", `{}`) // prepares the statements
	if err := s.Apply(ctx, &store.Write{Events: []store.Row{warm}, Groups: []store.Group{g}, Checkpoint: 1}); err != nil {
		t.Fatal(err)
	}
	events := []store.Row{row(insight.ExposureEvent, `{"$feature_flag":"f","$feature_flag_response":"control"}`), row("e", `{}`)}
	p := store.Person{ProjectID: 1, ID: 7, CreatedAt: day0}
	// An exposure whose properties are no JSON: the flag exposures'
	// parse fails, after the events were inserted in the transaction.
	bad := row(insight.ExposureEvent, `{"$feature_flag":`)
	if err := s.Apply(ctx, &store.Write{Events: append([]store.Row{bad}, events...), Persons: []store.Person{p}, Groups: []store.Group{g}, Checkpoint: 2}); err == nil {
		t.Fatal("a write of an exposure without JSON properties was applied")
	} else {
		t.Log(err)
	}
	check := func(step string, want int64, ckpt uint64) {
		t.Helper()
		if n, err := s.CountEvents(ctx, 1); err != nil || n != want {
			t.Fatalf("%s: %d events (%v), want %d", step, n, err, want)
		}
		if pos, err := s.Checkpoint(ctx); err != nil || pos != ckpt {
			t.Fatalf("%s: checkpoint %d (%v), want %d", step, pos, err, ckpt)
		}
		if got, want := sideRows(t, s, "flag_exposures"), sideRows(t, s, "("+flagExposureRows("events", "")+")"); got != want {
			t.Fatalf("%s: flag_exposures\n%s\nwant\n%s", step, got, want)
		}
	}
	check("failed write", 1, 1)
	for i, ckpt := range []uint64{2, 3} { // sent again, then a third time
		if err := s.Apply(ctx, &store.Write{Events: events, Persons: []store.Person{p}, Checkpoint: ckpt}); err != nil {
			t.Fatal(err)
		}
		check([]string{"retry", "third copy"}[i], 3, ckpt)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, &store.Write{Events: events, Checkpoint: 4}); err != nil {
		t.Fatal(err)
	}
	check("after reopen", 3, 4)
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM flag_exposures`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d flag exposure rows (%v), want 1", n, err)
	}
}
