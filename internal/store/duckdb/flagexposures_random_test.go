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
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestFlagExposuresRandom drives a store with random histories of the
// cases flag_exposures must answer like the events: exposures in and
// around the ranges asked, responses that are no variant (missing, a
// boolean, another variant), keys that differ only by case, the same
// flag in two projects, retried events (a uuid sent again batches
// later), merges after exposure of persons both exposed, deletions and
// retention. After each step it compares flag_exposures with its
// recomputation and every experiment (random metrics, windows, caps,
// CUPED on and off) on the journey index's plan and on the SQL plan,
// each from flag_exposures and from the events alone.
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
			for range rng.IntN(4) {
				// Purchases around the exposures, before them too (CUPED).
				batch = append(batch, storetest.Ev("purchase", distinct(), at(rng.IntN(72)), nil))
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
			q := &insight.Experiment{FlagKey: flag, Variants: variants, Metrics: randomExperimentMetrics(rng),
				Range: insight.Range{From: day0.Add(time.Duration(from) * time.Hour), To: day0.Add(time.Duration(to) * time.Hour)}}
			if rng.IntN(3) == 0 {
				q.CUPED = new(bool)
			} else if rng.IntN(2) == 0 {
				q.PreDays = 1 + rng.IntN(2)
			}
			if err := q.Validate(); err != nil {
				t.Fatal(err)
			}
			answers := experimentPlansIn(t, s, project, q)
			for i, a := range answers[1:] {
				if !reflect.DeepEqual(a, answers[0]) {
					t.Fatalf("%s: project %d flag %s %v hours [%d, %d) %+v: on %s\n%+v\non %s\n%+v", step, project, flag, variants, from, to, q.Metrics,
						experimentPlans[i+1].name, a, experimentPlans[0].name, answers[0])
				}
			}
		}
	}
}

// randomExperimentMetrics are one to three metrics the journey index's
// plan answers (conversions and counts of plain events, windows, absolute
// caps, ratios, an event no one did) or does not (a percentile cap, a
// funnel, a sum), so that both plans run.
func randomExperimentMetrics(rng *rand.Rand) []insight.ExperimentMetric {
	windows := []string{"", "6h", "30h"}
	events := []string{"purchase", "purchase", insight.ExposureEvent, "$pageview"}
	simple := func() insight.ExperimentMetric {
		m := insight.ExperimentMetric{Kind: []string{insight.MetricConversion, insight.MetricCount}[rng.IntN(2)],
			Event: events[rng.IntN(len(events))], Window: windows[rng.IntN(len(windows))]}
		if m.Kind == insight.MetricCount && rng.IntN(3) == 0 {
			m.Cap = &stats.Capping{Type: stats.CapAbsolute, Value: []float64{0, 1, 1.5}[rng.IntN(3)]}
		}
		return m
	}
	var ms []insight.ExperimentMetric
	for range 1 + rng.IntN(3) {
		switch k := rng.IntN(10); {
		case k < 6:
			ms = append(ms, simple())
		case k < 8:
			num, den := simple(), simple()
			ms = append(ms, insight.ExperimentMetric{Kind: insight.MetricRatio, Numerator: &num, Denominator: &den})
		case k < 9:
			m := simple()
			m.Kind, m.Cap = insight.MetricCount, &stats.Capping{Type: stats.CapPercentile, Value: 0.9}
			ms = append(ms, m)
		default:
			ms = append(ms, insight.ExperimentMetric{Kind: insight.MetricConversion,
				Steps: []insight.FunnelStep{{Event: insight.ExposureEvent}, {Event: "purchase"}}})
		}
	}
	return ms
}

// experimentPlans are the plans an experiment is compared on: the
// journey index's and the SQL plan, each from flag_exposures and from
// the events alone.
var experimentPlans = []struct {
	name string
	plan func(*Plan)
}{
	{"the journey index and flag_exposures", func(*Plan) {}},
	{"the journey index and the events", func(p *Plan) { p.NoFlagExposures = true }},
	{"the journey index, boxed feeds", func(p *Plan) { p.NoFeedInPlace = true }},
	{"SQL and flag_exposures", func(p *Plan) { p.NoExperimentIndex = true }},
	{"SQL and the events", func(p *Plan) { p.NoExperimentIndex, p.NoFlagExposures = true, true }},
}

// experimentPlansIn runs q in project on each of experimentPlans; when
// every metric is one the index answers, the index's plans must have
// answered (not fallen back to SQL).
func experimentPlansIn(t *testing.T, s *Store, project int64, q *insight.Experiment) []*insight.ExperimentCounts {
	t.Helper()
	saved := s.plan
	defer func() { s.plan = saved }()
	waitJourneyIndex(t, s, project)
	var out []*insight.ExperimentCounts
	for i, pl := range experimentPlans {
		s.plan = saved
		pl.plan(&s.plan)
		before := experimentIndexAnswers.Get()
		res, err := s.Experiment(context.Background(), project, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && indexableMetrics(q) && experimentIndexAnswers.Get() == before {
			t.Fatalf("%s: the journey index did not answer %+v", pl.name, q.Metrics)
		}
		out = append(out, res)
	}
	return out
}

// indexableMetrics says whether the journey index's plan answers q's
// metrics (what indexableValue says, from the query's side).
func indexableMetrics(q *insight.Experiment) bool {
	ok := func(m *insight.ExperimentMetric) bool {
		return len(m.Steps) == 0 && (m.Cap == nil || m.Cap.Type == stats.CapAbsolute)
	}
	for i := range q.Metrics {
		m := &q.Metrics[i]
		if m.Kind == insight.MetricRatio {
			if !ok(m.Numerator) || !ok(m.Denominator) {
				return false
			}
		} else if !ok(m) {
			return false
		}
	}
	return true
}

// waitJourneyIndex waits until the journey index answers for project: a
// deletion has it rebuilt in the background.
func waitJourneyIndex(t *testing.T, s *Store, project int64) {
	t.Helper()
	for range 2000 {
		if snap := s.journeySnapshot(context.Background(), project); snap != nil {
			snap.Close()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the journey index of project %d is not ready after 10 s", project)
}
