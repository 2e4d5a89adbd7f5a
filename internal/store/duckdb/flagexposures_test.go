package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestFlagExposuresStayRight writes exposures the ways the store sees
// them and checks after each step that flag_exposures is what the events
// give (recomputed from scratch) and that experiments answer the same
// from it as from the events alone, over ranges that hold every exposure
// and ranges that cut through persons' exposures: events in several
// batches (a later batch with an earlier exposure, another variant, a
// repeated uuid), persons exposed to two variants, merges ($identify)
// after exposure, a person's deletion, data retention, and a data
// directory written before the table (backfilled at open).
func TestFlagExposuresStayRight(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.duckdb")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	l := storetest.NewLoader(t, s)
	at := func(h int) time.Time { return day0.Add(time.Duration(h) * time.Hour) }
	expose := func(distinct string, h int, flag, variant string) event.Raw {
		return storetest.Ev("$feature_flag_called", distinct, at(h), map[string]any{"$feature_flag": flag, "$feature_flag_response": variant})
	}
	buy := func(distinct string, h int) event.Raw { return storetest.Ev("purchase", distinct, at(h), nil) }

	// Batch 1.
	l.Load(1, expose("a", 10, "checkout", "control"), expose("b", 11, "checkout", "test"),
		expose("c", 12, "checkout", "control"), expose("m1", 13, "checkout", "control"),
		expose("m2", 14, "checkout", "test"), expose("s1", 15, "checkout", "test"),
		buy("a", 20), buy("b", 5), buy("c", 30), buy("m1", 40))
	checkFlagExposures(t, s, "batch 1", map[string][2]int64{"checkout": {3, 3}})

	// Batch 2: a's earlier exposure moves its first, m1's later one its
	// last; c sees test too (two variants, excluded); d's response is no
	// variant; e's flag is another. Batch 3: a new person's exposure
	// repeats a uuid with another variant (the insert keeps one of the
	// two).
	l.Load(1, expose("a", 8, "checkout", "control"), expose("c", 13, "checkout", "test"),
		expose("m1", 20, "checkout", "control"), expose("d", 9, "checkout", "false"), expose("e", 9, "other", "control"),
		buy("a", 9), buy("c", 14))
	checkFlagExposures(t, s, "batch 2", nil)
	// (Written with Apply: the loader sends a uuid once.)
	dup := store.Row{ProjectID: 1, UUID: uuid.New(), Event: insight.ExposureEvent, DistinctID: "s9", PersonID: 9999, Timestamp: at(16), ReceivedAt: at(16),
		Properties: []byte(`{"$feature_flag":"checkout","$feature_flag_response":"control"}`)}
	dup2 := dup
	dup2.Properties = []byte(`{"$feature_flag":"checkout","$feature_flag_response":"test"}`)
	if err := s.Apply(ctx, &store.Write{Events: []store.Row{dup, dup2}, Checkpoint: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	checkFlagExposures(t, s, "batch 3", nil)

	// Merges after exposure: b (test) identifies as u-b, exposed later to
	// test; m2 (test) identifies as m1 (control): one actor of two
	// variants.
	l.Load(1, expose("u-b", 30, "checkout", "test"))
	l.Load(1, storetest.Ev("$identify", "u-b", at(31), map[string]any{"$anon_distinct_id": "b"}),
		storetest.Ev("$identify", "m1", at(32), map[string]any{"$anon_distinct_id": "m2"}), buy("u-b", 33))
	checkFlagExposures(t, s, "merges", nil)

	// A person's deletion: a's rows go.
	sub, err := s.ResolveSubject(ctx, 1, 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ErasePerson(ctx, &sub); err != nil {
		t.Fatal(err)
	}
	checkFlagExposures(t, s, "deletion", nil)
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM flag_exposures WHERE person_id = ?`, sub.PersonID).Scan(&n); err != nil || n != 0 {
		t.Errorf("after deletion: %d rows of person %d (%v), want none", n, sub.PersonID, err)
	}

	// Retention: the exposures before hour 12 go (b's first, d's, e's).
	if _, err := s.DeleteEventsBefore(ctx, 1, at(12)); err != nil {
		t.Fatal(err)
	}
	checkFlagExposures(t, s, "retention", nil)

	// A data directory from before the table: it is made and filled at
	// open.
	want := sideRows(t, s, "flag_exposures")
	if _, err := s.db.Exec(`DROP TABLE flag_exposures`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := sideRows(t, s, "flag_exposures"); got != want || got == "" {
		t.Errorf("backfilled at open:\n%s\nwant\n%s", got, want)
	}
	checkFlagExposures(t, s, "reopened", nil)
}

// checkFlagExposures compares flag_exposures with its recomputation from the events,
// and the experiments read from it with those read from the events alone
// over several ranges; exposed, when set, is the persons exposed to
// (control, test) over the whole day, per flag, as the events say.
func checkFlagExposures(t *testing.T, s *Store, step string, exposed map[string][2]int64) {
	t.Helper()
	if got, want := sideRows(t, s, "flag_exposures"), sideRows(t, s, "("+flagExposureRows("events", "")+")"); got != want {
		t.Errorf("%s: flag_exposures\n%s\nwant (from the events)\n%s", step, got, want)
	}
	for _, flag := range []string{"checkout", "other"} {
		for _, r := range [][2]int{{0, 24}, {9, 24}, {0, 13}, {12, 14}, {13, 31}} {
			q := &insight.Experiment{FlagKey: flag, Variants: []string{"control", "test"},
				Metrics: []insight.ExperimentMetric{{Kind: insight.MetricConversion, Event: "purchase"}},
				Range:   insight.Range{From: day0.Add(time.Duration(r[0]) * time.Hour), To: day0.Add(time.Duration(r[1]) * time.Hour)}}
			if err := q.Validate(); err != nil {
				t.Fatal(err)
			}
			side, events := experimentBoth(t, s, q)
			if !reflect.DeepEqual(side, events) {
				t.Errorf("%s: flag %s hours %v: from flag_exposures\n%+v\nfrom the events\n%+v", step, flag, r, side, events)
			}
			if want, ok := exposed[flag]; ok && r == [2]int{0, 24} {
				if got := [2]int64{events.Variants[0].Exposed, events.Variants[1].Exposed}; got != want {
					t.Errorf("%s: flag %s: exposed %v, want %v", step, flag, got, want)
				}
			}
		}
	}
}

// experimentBoth runs q from flag_exposures and from the events alone.
func experimentBoth(t *testing.T, s *Store, q *insight.Experiment) (side, events *insight.ExperimentCounts) {
	t.Helper()
	defer func() { s.plan.NoFlagExposures = false }()
	var err error
	for _, off := range []bool{false, true} {
		s.plan.NoFlagExposures = off
		res, e := s.Experiment(context.Background(), 1, time.UTC, q)
		if e != nil {
			err = e
		}
		if off {
			events = res
		} else {
			side = res
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return side, events
}

// sideRows lists the rows of a table of flag_exposures' columns.
func sideRows(t *testing.T, s *Store, table string) string {
	t.Helper()
	rows, err := s.db.Query(`SELECT * FROM ` + table + ` t ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var project, person int64
		var flag, variant string
		var first, last time.Time
		var multi bool
		if err := rows.Scan(&project, &flag, &person, &first, &last, &variant, &multi); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %d %s %s %s %v\n", project, flag, person, first.Format(time.TimeOnly), last.Format(time.TimeOnly), variant, multi)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
