package duckdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestFlagExposuresRandom drives a store with random histories of the
// cases flag_exposures must answer like the events: exposures in and
// around the ranges asked, responses that are no variant (missing, a
// boolean, another variant), keys that differ only by case, the same
// flag in two projects, retried events (a uuid sent again batches
// later), merges after exposure of persons both exposed, deletions and
// retention. After each step it compares flag_exposures with its
// recomputation and every experiment with the events-only plan.
func TestFlagExposuresRandom(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { flagExposuresRandom(t, seed) })
	}
}

func flagExposuresRandom(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 17))
	s, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := storetest.NewLoader(t, s)
	at := func(h int) time.Time {
		return day0.Add(time.Duration(h)*time.Hour + time.Duration(rng.IntN(60))*time.Minute)
	}
	distinct := func() string { return fmt.Sprintf("d%d", rng.IntN(12)) }
	flags := []string{"checkout", "Checkout"}
	responses := []any{"control", "test", "false", true, nil}
	var sent [2][]event.Raw // per project, for retries
	for step := range 30 {
		project := int64(1 + rng.IntN(2))
		var batch []event.Raw
		switch k := rng.IntN(10); {
		case k < 6:
			for range 1 + rng.IntN(6) {
				props := map[string]any{"$feature_flag": flags[rng.IntN(len(flags))]}
				if r := responses[rng.IntN(len(responses))]; r != nil {
					props["$feature_flag_response"] = r
				}
				batch = append(batch, storetest.Ev("$feature_flag_called", distinct(), at(rng.IntN(72)), props))
			}
			batch = append(batch, storetest.Ev("purchase", distinct(), at(rng.IntN(72)), nil))
		case k < 8:
			batch = append(batch, storetest.Ev("$identify", distinct(), at(rng.IntN(72)), map[string]any{"$anon_distinct_id": distinct()}))
		case k < 9 && len(sent[project-1]) > 0:
			// A retry of events stored batches ago, beside a new one.
			old := sent[project-1][rng.IntN(len(sent[project-1]))]
			batch = append(batch, old, storetest.Ev("purchase", distinct(), at(rng.IntN(72)), nil))
		default:
			if rng.IntN(2) == 0 {
				sub, err := s.ResolveSubject(ctx, project, 0, distinct())
				if err == nil {
					if err := s.ErasePerson(ctx, &sub); err != nil {
						t.Fatal(err)
					}
				}
			} else if _, err := s.DeleteEventsBefore(ctx, project, at(rng.IntN(12))); err != nil {
				t.Fatal(err)
			}
		}
		if len(batch) > 0 {
			l.Load(project, batch...)
			sent[project-1] = append(sent[project-1], batch...)
		}
		compareFlagExposures(t, s, rng, fmt.Sprintf("step %d", step))
	}
}

// compareFlagExposures checks flag_exposures against the events, and
// experiments over random ranges against the events-only plan.
func compareFlagExposures(t *testing.T, s *Store, rng *rand.Rand, step string) {
	t.Helper()
	if got, want := sideRows(t, s, "flag_exposures"), sideRows(t, s, "("+flagExposureRows("events", "")+")"); got != want {
		t.Fatalf("%s: flag_exposures\n%s\nwant (from the events)\n%s", step, got, want)
	}
	for range 3 {
		from := rng.IntN(60)
		to := from + 1 + rng.IntN(72-from)
		flag := []string{"checkout", "Checkout"}[rng.IntN(2)]
		variants := [][]string{{"control", "test"}, {"test", "true", "false"}}[rng.IntN(2)]
		for _, project := range []int64{1, 2} {
			q := &insight.Experiment{FlagKey: flag, Variants: variants,
				Metrics: []insight.ExperimentMetric{{Kind: insight.MetricConversion, Event: "purchase"}},
				Range:   insight.Range{From: day0.Add(time.Duration(from) * time.Hour), To: day0.Add(time.Duration(to) * time.Hour)}}
			if err := q.Validate(); err != nil {
				t.Fatal(err)
			}
			side, events := experimentBothIn(t, s, project, q)
			if !reflect.DeepEqual(side, events) {
				t.Fatalf("%s: project %d flag %s %v hours [%d, %d): from flag_exposures\n%+v\nfrom the events\n%+v", step, project, flag, variants, from, to, side, events)
			}
		}
	}
}

// experimentBothIn runs q in project from flag_exposures and from the
// events alone.
func experimentBothIn(t *testing.T, s *Store, project int64, q *insight.Experiment) (side, events *insight.ExperimentCounts) {
	t.Helper()
	defer func() { s.plan.NoFlagExposures = false }()
	for _, off := range []bool{false, true} {
		s.plan.NoFlagExposures = off
		res, err := s.Experiment(context.Background(), project, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		if off {
			events = res
		} else {
			side = res
		}
	}
	return side, events
}
