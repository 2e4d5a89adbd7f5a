package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// ExperimentOptions sizes the experiment benchmark.
type ExperimentOptions struct {
	Events  int     // events in all (default 20 M); at least about 2 per person
	Persons int     // persons, every one exposed (default 1 M)
	Seed    int     // generator seed
	Lift    float64 // planted absolute conversion lift in test (default 0.02)
	Dir     string  // where the DuckDB file goes; "" = a temporary directory
	Threads int     // DuckDB threads; 0 = all cores
	Repeat  int     // runs per measurement (the best is kept); default 3
}

// ExperimentResult is the contract output of `journey bench experiment --json`.
type ExperimentResult struct {
	Events  int `json:"events"`
	Persons int `json:"persons"`
	// ExperimentMS is the store's Experiment (one conversion metric,
	// CUPED on), best of Repeat warm runs; FloorMS the store's plain
	// count per person over the rows it reads (the exposures and the
	// metric's events over [from - pre_days, to)), timed the same way.
	ExperimentMS float64 `json:"experiment_ms"`
	FloorMS      float64 `json:"floor_ms"`
	Ratio        float64 `json:"ratio"` // experiment_ms / floor_ms; goal ≤ 1.5
	// SQLPlanMS is the same experiment on the SQL plan (the journey
	// index's experiment plan off: --query-plan no-experiment-index),
	// its runs alternating with the others; it must answer the same.
	SQLPlanMS float64 `json:"sql_plan_ms"`
	// What the query found, so a run can be checked: the persons per
	// variant (control, test), those excluded for seeing both, and
	// stats.Compare's absolute effect of test over control on the
	// conversion rate with its 95% CI; PlantedLift is what the generator
	// added (the CI should cover it, the effect have its sign).
	Exposed           [2]int64       `json:"exposed"`
	MultipleExposures int64          `json:"multiple_exposures"`
	ControlRate       float64        `json:"control_rate"`
	TestRate          float64        `json:"test_rate"`
	PlantedLift       float64        `json:"planted_lift"`
	Effect            float64        `json:"effect"`
	CI                stats.Interval `json:"ci"`
	SE                float64        `json:"se"`
	PValue            float64        `json:"p_value"`
	Theta             float64        `json:"theta"` // CUPED's coefficient
}

// The experiment's flag and its conversion event.
const (
	experimentFlag  = "bench-checkout"
	experimentEvent = "purchase"
)

// The experiment runs over the 28 days before benchEnd; persons are
// exposed in its first 14 days, so each has the metric's whole 7-day
// window, and the generated events start PreDays (14) earlier for CUPED.
var (
	experimentRange = insight.Range{From: benchEnd.AddDate(0, 0, -28), To: benchEnd}
	experimentStart = experimentRange.From.AddDate(0, 0, -insight.DefaultPreDays)
)

// experimentPersonsSQL draws each person's arm, first exposure t0 and
// latent propensity (30% buy often, before and after exposure, so the
// pre-exposure purchases are a CUPED covariate): control converts at
// 0.3·0.2167 + 0.7·0.05 = 0.1 within 7 days, test at that + lift. Half the
// persons call the flag once more later (same variant) and 0.1% are also
// exposed to the other variant (excluded by the query). %[1]d seed,
// %[2]d persons, %[3]s the exposure period's start, %[4]f the lift.
const experimentPersonsSQL = `
CREATE OR REPLACE TABLE bench_experiment_persons AS
SELECT person, arm, t0, u_pre < p_pre AS buys_pre, u_post < p_post AS buys_post,
       u_again < 0.5 AS again, u_cross < 0.001 AS crossed,
       t0 - INTERVAL 1 SECOND - to_microseconds((u_pre_t * 1209598e6)::BIGINT) AS t_pre,
       t0 + to_microseconds((u_post_t * 604799e6)::BIGINT) AS t_post,
       t0 + to_microseconds((u_again_t * 604800e6)::BIGINT) AS t_again
FROM (
    SELECT person, arm, t0, u_pre, u_post, u_again, u_cross, u_pre_t, u_post_t, u_again_t,
           CASE WHEN high THEN 0.3 ELSE 0.05 END AS p_pre,
           CASE WHEN high THEN 0.2167 ELSE 0.05 END + arm * %[4]f AS p_post
    FROM (
        SELECT person,
               (hash(person, %[1]d, 1) %% 2)::INTEGER AS arm,
               TIMESTAMP '%[3]s' + to_microseconds((hash(person, %[1]d, 2) %% 1209600000000)::BIGINT) AS t0,
               (hash(person, %[1]d, 3) %% 1000000) / 1e6 < 0.3 AS high,
               (hash(person, %[1]d, 4) %% 1000000) / 1e6 AS u_pre,
               (hash(person, %[1]d, 5) %% 1000000) / 1e6 AS u_post,
               (hash(person, %[1]d, 6) %% 1000000) / 1e6 AS u_again,
               (hash(person, %[1]d, 7) %% 1000000) / 1e6 AS u_cross,
               (hash(person, %[1]d, 8) %% 1000000) / 1e6 AS u_pre_t,
               (hash(person, %[1]d, 9) %% 1000000) / 1e6 AS u_post_t,
               (hash(person, %[1]d, 10) %% 1000000) / 1e6 AS u_again_t
        FROM range(1, %[2]d + 1) t(person)
    )
)`

// experimentEventsSQL writes the persons' exposures and purchases, in
// time order. %[1]d seed, %[2]s the flag, %[3]s the conversion event,
// %[4]s received_at.
const experimentEventsSQL = `
INSERT INTO events
SELECT 1, (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12))::UUID,
       event, 'p' || person::VARCHAR, person, ts, properties, TIMESTAMP '%[4]s'
FROM (
    SELECT person, event, ts, properties, md5(%[1]d::VARCHAR || '-x-' || person::VARCHAR || '-' || kind::VARCHAR) AS h
    FROM (
        SELECT person, 0 AS kind, '$feature_flag_called' AS event, t0 AS ts,
               '{"$feature_flag":"%[2]s","$feature_flag_response":"' || ['control','test'][1 + arm] || '"}' AS properties
        FROM bench_experiment_persons
        UNION ALL
        SELECT person, 1, '$feature_flag_called', t_again,
               '{"$feature_flag":"%[2]s","$feature_flag_response":"' || ['control','test'][1 + arm] || '"}'
        FROM bench_experiment_persons WHERE again
        UNION ALL
        SELECT person, 2, '$feature_flag_called', t_again + INTERVAL 1 MINUTE,
               '{"$feature_flag":"%[2]s","$feature_flag_response":"' || ['test','control'][1 + arm] || '"}'
        FROM bench_experiment_persons WHERE crossed
        UNION ALL
        SELECT person, 3, '%[3]s', t_pre, '{"revenue":25}' FROM bench_experiment_persons WHERE buys_pre
        UNION ALL
        SELECT person, 4, '%[3]s', t_post, '{"revenue":25}' FROM bench_experiment_persons WHERE buys_post
    )
    ORDER BY ts
)`

// experimentPageviewsSQL fills the rest with $pageviews of random persons
// over the whole period, in time order. %[1]s start, %[2]d span µs,
// %[3]d rows, %[4]d seed, %[5]d persons.
const experimentPageviewsSQL = `
INSERT INTO events
SELECT 1, (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12))::UUID,
       '$pageview', 'p' || person::VARCHAR, person,
       TIMESTAMP '%[1]s' + to_microseconds((i::HUGEINT * %[2]d // %[3]d)::BIGINT),
       '{"$current_url":"https://shop.example/p/' || (k %% 7)::VARCHAR || '","utm_source":"' || (['google','newsletter','ads','direct'])[1 + (k %% 4)] || '"}',
       TIMESTAMP '%[1]s'
FROM (
    SELECT i, md5(%[4]d::VARCHAR || '-v-' || i::VARCHAR) AS h,
           1 + (hash(i, %[4]d) %% %[5]d)::BIGINT AS person,
           (hash(i, %[4]d + 1) %% 100)::INTEGER AS k
    FROM range(%[3]d) t(i)
)`

// experimentQuery is what the bench runs: one conversion metric, CUPED on
// (its defaults: 14 pre days, a 7-day window).
func experimentQuery() (*insight.Experiment, error) {
	q := &insight.Experiment{FlagKey: experimentFlag, Variants: []string{"control", "test"},
		Metrics: []insight.ExperimentMetric{{Kind: insight.MetricConversion, Event: experimentEvent}},
		Range:   experimentRange}
	return q, q.Validate()
}

// expected is what the generator wrote: per arm, the persons exposed to
// that arm only and those of them who converted in the window.
type expected struct {
	exposed, converted [2]int64
	crossed            int64
}

// Experiment runs the experiment benchmark.
func Experiment(ctx context.Context, o ExperimentOptions, logf func(string, ...any)) (ExperimentResult, error) {
	if o.Repeat <= 0 {
		o.Repeat = 3
	}
	if o.Persons <= 0 {
		o.Persons = 1_000_000
	}
	if o.Events <= 0 {
		o.Events = 20_000_000
	}
	if o.Lift == 0 {
		o.Lift = 0.02
	}
	if o.Lift < 0 || o.Lift > 0.5 {
		return ExperimentResult{}, fmt.Errorf("lift %v: want a conversion lift in (0, 0.5]", o.Lift)
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "journey-bench-experiment-")
		if err != nil {
			return ExperimentResult{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	res := ExperimentResult{Events: o.Events, Persons: o.Persons, PlantedLift: o.Lift}
	st, want, err := generateExperiment(ctx, filepath.Join(dir, "experiment.duckdb"), o, logf)
	if err != nil {
		return res, err
	}
	defer st.Close()
	q, err := experimentQuery()
	if err != nil {
		return res, err
	}
	floor := func() error {
		var n int64
		return st.sql.QueryRowContext(ctx, fmt.Sprintf(floorSQL, "'$feature_flag_called', '"+experimentEvent+"'"), experimentStart, experimentRange.To).Scan(&n)
	}
	// Each round runs the experiment on the index plan, on the SQL plan
	// and the floor, alternating, so that a change of the machine's load
	// does not decide the comparison; timeBestOf's warm runs of each come
	// first, unrecorded (after the generator's checkpoint the first reads
	// of the file cost several times more).
	var counts, sqlCounts *insight.ExperimentCounts
	var cur int
	setups := []func(){
		func() { cur = 0; st.UseExperimentIndex(true) },
		func() { cur = 1; st.UseExperimentIndex(false) },
		func() { cur = 2 },
	}
	logf("(experiment on the journey index, on the SQL plan, floor)")
	best, err := timeBestOf(o.Repeat, "experiment", logf, setups, func() error {
		var err error
		switch cur {
		case 0:
			counts, err = st.Experiment(ctx, 1, time.UTC, q)
		case 1:
			sqlCounts, err = st.Experiment(ctx, 1, time.UTC, q)
		default:
			err = floor()
		}
		return err
	})
	st.UseExperimentIndex(true)
	if err != nil {
		return res, err
	}
	res.ExperimentMS, res.SQLPlanMS, res.FloorMS = best[0], best[1], best[2]
	if !reflect.DeepEqual(counts, sqlCounts) {
		return res, fmt.Errorf("the experiment on the journey index answered %+v, on the SQL plan %+v", counts, sqlCounts)
	}
	if res.FloorMS > 0 {
		res.Ratio = math.Round(res.ExperimentMS/res.FloorMS*1000) / 1000
	}
	if len(counts.Variants) != 2 {
		return res, fmt.Errorf("experiment answered %d variants, want 2", len(counts.Variants))
	}
	for arm, v := range counts.Variants {
		res.Exposed[arm] = v.Exposed
		if m := v.Metrics[0]; m.N > 0 {
			if arm == 0 {
				res.ControlRate = m.Value.Sum / m.N
			} else {
				res.TestRate = m.Value.Sum / m.N
			}
		}
		if v.Exposed != want.exposed[arm] || v.Metrics[0].Value.Sum != float64(want.converted[arm]) {
			return res, fmt.Errorf("%s: the experiment found %d exposed, %v converted; the generator wrote %d and %d",
				v.Key, v.Exposed, v.Metrics[0].Value.Sum, want.exposed[arm], want.converted[arm])
		}
	}
	res.MultipleExposures = counts.MultipleExposures.Persons
	if res.MultipleExposures != want.crossed {
		return res, fmt.Errorf("the experiment found %d persons exposed to both variants; the generator wrote %d", res.MultipleExposures, want.crossed)
	}
	cmp, err := counts.Compare(0, 1, stats.Options{})
	if err != nil {
		return res, err
	}
	res.Effect, res.CI, res.SE, res.Theta = cmp.Effect, cmp.CI, cmp.SE, cmp.Theta
	if cmp.PValue != nil {
		res.PValue = *cmp.PValue
	}
	logf("effect %+.4f, 95%% CI [%+.4f, %+.4f] (planted %+.4f), θ %.3f", res.Effect, res.CI[0], res.CI[1], o.Lift, res.Theta)
	return res, nil
}

// generateExperiment writes the experiment's events into a fresh DuckDB
// event store and returns what the query must find.
func generateExperiment(ctx context.Context, path string, o ExperimentOptions, logf func(string, ...any)) (*duckStore, expected, error) {
	var want expected
	st, err := openBenchStore(path, o.Threads)
	if err != nil {
		return nil, want, err
	}
	fail := func(err error) (*duckStore, expected, error) {
		st.Close()
		return nil, want, err
	}
	start := time.Now()
	db := st.sql
	exposureStart := experimentRange.From.Format("2006-01-02 15:04:05")
	if _, err := db.ExecContext(ctx, fmt.Sprintf(experimentPersonsSQL, o.Seed, o.Persons, exposureStart, o.Lift)); err != nil {
		return fail(fmt.Errorf("cannot generate persons: %w", err))
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(experimentEventsSQL, o.Seed, experimentFlag, experimentEvent, exposureStart)); err != nil {
		return fail(fmt.Errorf("cannot generate exposures: %w", err))
	}
	var special int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&special); err != nil {
		return fail(err)
	}
	views := o.Events - special
	if views < 0 {
		return fail(fmt.Errorf("%d events are fewer than the %d exposures and purchases of %d persons: give more events or fewer persons", o.Events, special, o.Persons))
	}
	if views > 0 {
		span := experimentRange.To.Sub(experimentStart).Microseconds()
		if _, err := db.ExecContext(ctx, fmt.Sprintf(experimentPageviewsSQL, experimentStart.Format("2006-01-02 15:04:05"), span, views, o.Seed, o.Persons)); err != nil {
			return fail(fmt.Errorf("cannot generate pageviews: %w", err))
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT arm, count(*), count(*) FILTER (WHERE buys_post) FROM bench_experiment_persons WHERE NOT crossed GROUP BY arm`)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var arm int
		var n, c int64
		if err := rows.Scan(&arm, &n, &c); err != nil {
			rows.Close()
			return fail(err)
		}
		want.exposed[arm], want.converted[arm] = n, c
	}
	rows.Close()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM bench_experiment_persons WHERE crossed`).Scan(&want.crossed); err != nil {
		return fail(err)
	}
	// The generator writes around the store's Apply, which keeps the
	// flag exposures the experiment reads: they are built once here, as
	// an open of a data directory from before them would.
	sideStart := time.Now()
	if err := st.RebuildFlagExposures(ctx); err != nil {
		return fail(err)
	}
	logf("flag exposures built in %s", time.Since(sideStart).Round(time.Millisecond))
	indexStart := time.Now()
	if err := st.RebuildJourneyIndex(ctx); err != nil {
		return fail(err)
	}
	logf("journey index built in %s", time.Since(indexStart).Round(time.Millisecond))
	if _, err := db.ExecContext(ctx, `DROP TABLE bench_experiment_persons; CHECKPOINT`); err != nil {
		return fail(err)
	}
	if stored, err := st.CountEvents(ctx, 1); err != nil || stored != int64(o.Events) {
		return fail(fmt.Errorf("the store sees %d of the %d generated events (%v): its database is not the bench's", stored, o.Events, err))
	}
	logf("generated %d events (%d exposures and purchases) over %d persons in %s", o.Events, special, o.Persons, time.Since(start).Round(time.Millisecond))
	return st, want, nil
}

// openBenchStore opens a fresh DuckDB event store at path and the bench's
// own connection to it (see duckStore).
func openBenchStore(path string, threads int) (*duckStore, error) {
	os.Remove(path) // a fresh file: --dir may hold an earlier run's
	os.Remove(path + ".wal")
	st, err := duckdb.Open(path, duckdb.Options{Threads: threads, AllowExternalAccess: true})
	if err != nil {
		return nil, err
	}
	db, err := openSQL(path)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &duckStore{Store: st, sql: db}, nil
}
