package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/journeyidx"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store/duckdb/vecfeed"
)

// The experiment plan on the journey index: the exposed actors come from
// DuckDB as in the SQL plan (the same exposed CTE, flag_exposures or the
// events), handed to Go through journey_experiment_feed into an array
// indexed by person id; the metrics' events come from the index, each
// actor's runs walked in memory against its exposure (counts in [t0, t0 +
// window) and in the CUPED period [t0 - pre, t0)).
//
// Why: the SQL plan joins the metric's events with every exposed actor,
// a hash table of all of them (1 M in the bench) built per query, and
// scans the events table for the metric's rows; here the exposure array
// is a perfect hash by person id and the index reads only the persons
// with the metric's events.
//
// It answers metrics of plain event names counted or converted (no
// property, filters, action, funnel steps or percentile cap), persons as
// the unit; anything else runs the SQL plan. Plan.NoExperimentIndex turns
// it off.

// experimentIndexAnswers counts the experiments the index plan answered.
var experimentIndexAnswers = metrics.NewCounter(`journey_experiment_index_answers_total`)

// UseExperimentIndex turns the index plan of experiments on or off (the
// bench measures both on one store).
func (s *Store) UseExperimentIndex(on bool) { s.plan.NoExperimentIndex = !on }

// indexableExperiment says whether the index plan answers p.
func indexableExperiment(p *insight.ExperimentPlan) bool {
	if p.Q.Range.GroupType() != "" || len(p.Q.Variants) >= 1<<exposedBits {
		return false
	}
	for _, m := range p.Metrics {
		for _, v := range []*insight.ExperimentValue{m.X, m.Y} {
			if v != nil && !indexableValue(v) {
				return false
			}
		}
	}
	return true
}

func indexableValue(v *insight.ExperimentValue) bool {
	if v.Event == "" || v.Action != nil || len(v.Filters) > 0 || len(v.Steps) > 0 {
		return false
	}
	if v.Agg != insight.AggConverted && v.Agg != insight.AggCount {
		return false
	}
	return v.Cap == nil || v.Cap.Type == stats.CapAbsolute && v.Cap.Value >= 0
}

// indexExperiment answers p from the journey index; ok is false when it
// cannot (then the SQL plan runs).
func (s *Store) indexExperiment(ctx context.Context, projectID int64, p *insight.ExperimentPlan) (_ *insight.ExperimentRows, ok bool, _ error) {
	if s.jidx == nil || s.plan.NoJourneyIndex || s.plan.NoExperimentIndex || !indexableExperiment(p) {
		return nil, false, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("cannot run experiment: %w", err)
	}
	defer tx.Rollback()
	snap, err := s.experimentSnapshot(ctx, tx, projectID)
	if snap == nil || err != nil {
		return nil, false, err
	}
	defer snap.Close()
	actors, err := experimentActors(ctx, tx, projectID, snap)
	if err != nil {
		return nil, true, err
	}
	ex, ok, err := s.feedExposed(ctx, tx, projectID, p, experimentMaxActor(snap, actors))
	if !ok || err != nil {
		return nil, ok, err
	}
	sums, err := s.experimentWalk(ctx, snap, actors, p, ex)
	if err != nil {
		return nil, true, fmt.Errorf("cannot run experiment: %w", err)
	}
	experimentIndexAnswers.Inc()
	return experimentAssemble(p, ex.exposureRows(), sums), true, nil
}

// experimentSnapshot returns the project's index snapshot when it holds
// exactly the events tx sees: the count is read first, which fixes tx's
// snapshot; events are only inserted between rebuilds, so equal counts
// are the same events. Else nil, and the SQL plan runs (a mismatch that
// is no race has the index checked, as journeySnapshot does).
func (s *Store) experimentSnapshot(ctx context.Context, tx *sql.Tx, projectID int64) (*journeyidx.Snapshot, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE project_id = ?`, projectID).Scan(&n); err != nil {
		return nil, fmt.Errorf("cannot count events: %w", err)
	}
	snap, ok := s.jidx.ix.Snapshot(projectID)
	if !ok {
		journeyIndexFallbacks.Inc()
		return nil, nil
	}
	if snap.Events() != n {
		snap.Close()
		journeyIndexFallbacks.Inc()
		s.checkJourneyIndex()
		return nil, nil
	}
	journeyIndexQueries.Inc()
	return snap, nil
}

// experimentActors is journeyActors read through tx, so that the
// metrics' persons are resolved through the overrides the exposures were.
func experimentActors(ctx context.Context, tx *sql.Tx, projectID int64, snap *journeyidx.Snapshot) (*journeyActors, error) {
	rows, err := tx.QueryContext(ctx, `SELECT old_person_id, person_id FROM person_overrides WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot read person overrides: %w", err)
	}
	defer rows.Close()
	a := &journeyActors{override: map[int64]int64{}}
	var ids []int64
	for rows.Next() {
		var old, to int64
		if err := rows.Scan(&old, &to); err != nil {
			return nil, fmt.Errorf("cannot read person overrides: %w", err)
		}
		a.override[old] = to
		ids = append(ids, old, to)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read person overrides: %w", err)
	}
	if len(ids) > 0 {
		a.special = make([]uint64, (len(snap.Persons)+63)/64)
		for _, d := range snap.Dense(ids) {
			if d >= 0 {
				a.special[d/64] |= 1 << (d % 64)
			}
		}
	}
	return a, nil
}

// exposedTable is the exposed actors as fed from DuckDB: for those
// exposed to one variant alone, the first exposure (µs) and variant by
// actor id in one array up to maxID (one cache line per lookup, packed:
// t0<<exposedBits | variant+1, 0 when none), others in far; for all,
// the persons per (mask, day of the first exposure).
type exposedTable struct {
	starts   []int64 // the days' starts, µs
	variants int
	packed   []int64
	inPlace  bool
	mu       sync.Mutex
	far      map[int64]exposure // mu while feeding
	days     map[exposureKey]int64
	rows     int64
}

type exposure struct {
	t0      int64
	variant int
}

type exposureKey struct {
	mask uint64
	day  int
}

// exposedBits hold variant + 1 (at most MaxExperimentVariants) in a packed
// entry; a t0 too large to shift goes to far.
const (
	exposedBits = 4
	exposedMaxT = 1<<(62-exposedBits) - 1
)

// maxExposedArray bounds the array's length (8 bytes an id): past it, or
// past half the query's memory cap, the SQL plan answers.
const maxExposedArray = 1 << 26

func newExposedTable(p *insight.ExperimentPlan, maxID int64) *exposedTable {
	e := &exposedTable{variants: len(p.Q.Variants), packed: make([]int64, maxID+1), far: map[int64]exposure{}, days: map[exposureKey]int64{}}
	for _, t := range p.Days.Starts {
		e.starts = append(e.starts, t.UnixMicro())
	}
	return e
}

// get returns actor's first exposure and variant when it was exposed to
// one variant alone.
func (e *exposedTable) get(actor int64) (t0 int64, variant int, ok bool) {
	if actor >= 0 && actor < int64(len(e.packed)) {
		if x := e.packed[actor]; x != 0 {
			return x >> exposedBits, int(x&(1<<exposedBits-1)) - 1, true
		}
	}
	if x, ok := e.far[actor]; ok {
		return x.t0, x.variant, true
	}
	return 0, 0, false
}

// feedChunk takes one chunk's rows: distinct actors (exposed is grouped
// by actor), so the array writes of concurrent chunks never meet. The
// persons per (variant, day) are counted in a slice, those of several
// variants (rare) in a map.
func (e *exposedTable) feedChunk(actors, t0s, masks []int64) {
	slots := len(e.starts) + 1 // slot 0: before the first day
	counts := make([]int64, e.variants*slots)
	var multi map[exposureKey]int64
	var far []int64
	for i, actor := range actors {
		mask, t0 := uint64(masks[i]), t0s[i]
		lo, hi := 0, len(e.starts) // the slot: 1 + the last start <= t0
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); e.starts[m] <= t0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		v := bits.TrailingZeros64(mask)
		if mask&(mask-1) != 0 || v >= e.variants {
			if multi == nil {
				multi = map[exposureKey]int64{}
			}
			multi[exposureKey{mask, lo - 1}]++
			continue
		}
		counts[v*slots+lo]++
		if actor >= 0 && actor < int64(len(e.packed)) && t0 >= -exposedMaxT && t0 <= exposedMaxT {
			e.packed[actor] = t0<<exposedBits | int64(v+1)
			continue
		}
		far = append(far, int64(i))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rows += int64(len(actors))
	for k, n := range counts {
		if n > 0 {
			e.days[exposureKey{uint64(1) << (k / slots), k%slots - 1}] += n
		}
	}
	for k, n := range multi {
		e.days[k] += n
	}
	for _, i := range far {
		e.far[actors[i]] = exposure{t0s[i], bits.TrailingZeros64(uint64(masks[i]))}
	}
}

func (e *exposedTable) exposureRows() []insight.ExperimentExposureRow {
	out := make([]insight.ExperimentExposureRow, 0, len(e.days))
	for k, n := range e.days {
		out = append(out, insight.ExperimentExposureRow{Mask: k.mask, Day: k.day, Persons: n})
	}
	return out
}

// experimentFeedName is the feed function: journey_experiment_feed(actor
// BIGINT, t0 BIGINT, mask BIGINT) returns true and records the row in the
// query context's exposedTable.
const experimentFeedName = "journey_experiment_feed"

type experimentFeedKey struct{}

type experimentFeed struct{}

func (experimentFeed) Config() duckdb.ScalarFuncConfig { return experimentFeedConfig() }

var experimentFeedConfig = sync.OnceValue(func() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{
		InputTypeInfos: []duckdb.TypeInfo{typeInfo(duckdb.TYPE_BIGINT), typeInfo(duckdb.TYPE_BIGINT), typeInfo(duckdb.TYPE_BIGINT)},
		ResultTypeInfo: typeInfo(duckdb.TYPE_BOOLEAN),
		Volatile:       true, // never folded or cached: it must see every row
	}
})

func (experimentFeed) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{ChunkContextExecutor: feedExperimentChunk}
}

// registerExperimentFeed registers journey_experiment_feed (feeds.go).
func registerExperimentFeed(conn *sql.Conn) error {
	if err := duckdb.RegisterScalarUDF(conn, experimentFeedName, experimentFeed{}); err != nil {
		return fmt.Errorf("cannot register %s: %w", experimentFeedName, err)
	}
	return nil
}

func feedExperimentChunk(ctx context.Context, st *duckdb.ChunkIteratorState) error {
	e, _ := ctx.Value(experimentFeedKey{}).(*exposedTable)
	if e == nil {
		return answerTrue(st)
	}
	chunk := st.GetInputChunk()
	n := chunk.GetSize()
	out, okOut := vecfeed.Of(st.GetResultVector())
	actors, ok1 := vecfeed.Int64s(chunk, 0)
	t0s, ok2 := vecfeed.Int64s(chunk, 1)
	masks, ok3 := vecfeed.Int64s(chunk, 2)
	if e.inPlace && okOut && ok1 && ok2 && ok3 {
		feedChunksInPlace.Inc()
		e.feedChunk(actors, t0s, masks)
		res := out.Bools(n)
		for i := range res {
			res[i] = true
		}
		return nil
	}
	feedChunksBoxed.Inc()
	actors, t0s, masks = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	for row, err := range st.Rows() {
		if err != nil {
			return err
		}
		a, okA := (*row.GetValuePtr(0)).(int64)
		t, okT := (*row.GetValuePtr(1)).(int64)
		m, okM := (*row.GetValuePtr(2)).(int64)
		if !okA || !okT || !okM {
			return fmt.Errorf("%s: unexpected row (%T, %T, %T)", experimentFeedName, *row.GetValuePtr(0), *row.GetValuePtr(1), *row.GetValuePtr(2))
		}
		actors, t0s, masks = append(actors, a), append(t0s, t), append(masks, m)
		if err := row.SetResult(true); err != nil {
			return err
		}
	}
	e.feedChunk(actors, t0s, masks)
	return nil
}

// experimentMaxActor bounds the actors with events in the snapshot: its
// stored persons and the overrides' targets (the array's length; an actor
// past it would go to exposedTable.far).
func experimentMaxActor(snap *journeyidx.Snapshot, actors *journeyActors) int64 {
	var m int64
	for _, id := range snap.Persons {
		m = max(m, id)
	}
	for _, to := range actors.override {
		m = max(m, to)
	}
	return m
}

// feedExposed computes the SQL plan's exposed CTE in tx and feeds its
// rows to a new exposedTable with its array up to maxID; ok is false when
// it would be too large.
func (s *Store) feedExposed(ctx context.Context, tx *sql.Tx, projectID int64, p *insight.ExperimentPlan, maxID int64) (_ *exposedTable, ok bool, _ error) {
	if maxID >= maxExposedArray || (maxID+1)*8 > insight.MemoryCap(ctx)/2 {
		return nil, false, nil
	}
	// exposed is read once here: not materialized, its rows stream into
	// the feed.
	c := ctes{plain: map[string]bool{"exposed": true}}
	if err := s.experimentExposed(ctx, tx, projectID, p, &c); err != nil {
		return nil, true, err
	}
	query := sqlf("WITH ")
	query.AddFrag(joinFrags(",\n", c.list))
	query.Add("\nSELECT count(*) FILTER (WHERE " + experimentFeedName + "(actor, t0, mask::BIGINT)) FROM exposed")
	e := newExposedTable(p, maxID)
	e.inPlace = !s.plan.NoFeedInPlace
	var fed int64
	if err := tx.QueryRowContext(context.WithValue(ctx, experimentFeedKey{}, e), query.Text, query.Args...).Scan(&fed); err != nil {
		return nil, true, fmt.Errorf("cannot run experiment: %w", err)
	}
	e.mu.Lock() // makes the feed's writes visible here (and to -race)
	defer e.mu.Unlock()
	if e.rows != fed {
		return nil, true, fmt.Errorf("cannot run experiment: the query counted %d exposed, the feed received %d", fed, e.rows)
	}
	return e, true, nil
}

// walkValue is one ExperimentValue as the walk counts it: its event's
// code (-1: the index has no such event), window and aggregate.
type walkValue struct {
	code      int64
	window    int64
	converted bool
	cap       float64
}

type walkMetric struct {
	x, y walkValue
	hasY bool
}

// experimentWalker is one worker's per-variant sums and scratch counts.
type experimentWalker struct {
	sums      [][]insight.ExperimentSums // by metric, variant
	post, pre []float64                  // by value: x of metric k at 2k, y at 2k+1
	t0, toUs  int64
	preUs     int64
	metrics   []walkMetric
	cuped     bool
}

func newExperimentWalker(p *insight.ExperimentPlan, metrics []walkMetric) *experimentWalker {
	w := &experimentWalker{metrics: metrics, toUs: p.ToUs, preUs: p.PreUs, cuped: p.PreUs > 0}
	w.sums = make([][]insight.ExperimentSums, len(metrics))
	for k := range w.sums {
		w.sums[k] = make([]insight.ExperimentSums, len(p.Q.Variants))
	}
	w.post, w.pre = make([]float64, 2*len(metrics)), make([]float64, 2*len(metrics))
	return w
}

// start begins an actor exposed at t0.
func (w *experimentWalker) start(t0 int64) {
	w.t0 = t0
	clear(w.post)
	clear(w.pre)
}

// count adds the events of code at times ts (any order) to the values
// of that code.
func (w *experimentWalker) count(code uint32, ts []int64) {
	for k := range w.metrics {
		m := &w.metrics[k]
		if m.x.code == int64(code) {
			w.countValue(2*k, &m.x, ts)
		}
		if m.hasY && m.y.code == int64(code) {
			w.countValue(2*k+1, &m.y, ts)
		}
	}
}

func (w *experimentWalker) countValue(j int, v *walkValue, ts []int64) {
	lo, mid, hi := w.t0-w.preUs, w.t0, min(w.t0+v.window, w.toUs)
	var pre, post float64
	for _, t := range ts {
		if t >= lo && t < mid {
			pre++
		} else if t >= mid && t < hi {
			post++
		}
	}
	w.pre[j] += pre
	w.post[j] += post
}

// finish adds the actor's values to its variant's sums.
func (w *experimentWalker) finish(variant int) {
	for k := range w.metrics {
		m := &w.metrics[k]
		x, p := m.x.value(w.post[2*k]), m.x.value(w.pre[2*k])
		var y, q float64
		if m.hasY {
			y, q = m.y.value(w.post[2*k+1]), m.y.value(w.pre[2*k+1])
		}
		if !w.cuped {
			p, q = 0, 0
		}
		s := &w.sums[k][variant]
		s.X += x
		s.XX += x * x
		s.Y += y
		s.YY += y * y
		s.XY += x * y
		s.P += p
		s.PP += p * p
		s.Q += q
		s.QQ += q * q
		s.XP += x * p
		s.XQ += x * q
		s.YP += y * p
		s.YQ += y * q
		s.PQ += p * q
	}
}

// value is a counted value aggregated and capped.
func (v *walkValue) value(n float64) float64 {
	if v.converted {
		n = min(n, 1)
	}
	return min(n, v.cap)
}

// experimentWalk walks the index's events of the metrics' names in [from
// - pre, to) per actor against its exposure and returns the sums by
// metric and variant mask.
func (s *Store) experimentWalk(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, p *insight.ExperimentPlan, ex *exposedTable) (map[experimentSumKey]insight.ExperimentMetricRow, error) {
	keep := make([]bool, len(snap.Names))
	value := func(v *insight.ExperimentValue) walkValue {
		w := walkValue{code: -1, window: v.WindowUs, converted: v.Agg == insight.AggConverted, cap: experimentCapValue(v)}
		if c, ok := snap.Code(v.Event); ok {
			w.code = int64(c)
			keep[c] = true
		}
		return w
	}
	metrics := make([]walkMetric, len(p.Metrics))
	for k, pm := range p.Metrics {
		metrics[k].x = value(pm.X)
		if pm.Y != nil {
			metrics[k].y, metrics[k].hasY = value(pm.Y), true
		}
	}
	workers := s.jidx.workers
	walks := make([]*experimentWalker, workers)
	for i := range walks {
		walks[i] = newExperimentWalker(p, metrics)
	}
	err := scanActorRuns(ctx, snap, actors, workers, p.FromUs-p.PreUs, p.ToUs, keep, func(wi int, actor int64, runs []journeyidx.Run) {
		t0, v, ok := ex.get(actor)
		if !ok {
			return
		}
		w := walks[wi]
		w.start(t0)
		for _, r := range runs {
			w.count(r.Code, r.Times)
		}
		w.finish(v)
	}, func(wi int, actor int64, ts []int64, codes []uint32) {
		t0, v, ok := ex.get(actor)
		if !ok {
			return
		}
		w := walks[wi]
		w.start(t0)
		for i := range ts {
			w.count(codes[i], ts[i:i+1])
		}
		w.finish(v)
	})
	if err != nil {
		return nil, err
	}
	out := map[experimentSumKey]insight.ExperimentMetricRow{}
	for k, m := range metrics {
		for v := range p.Q.Variants {
			var r insight.ExperimentMetricRow
			for _, w := range walks {
				addSums(&r.Sums, &w.sums[k][v])
			}
			r.XCap, r.YCap = m.x.cap, math.Inf(1)
			if m.hasY {
				r.YCap = m.y.cap
			}
			out[experimentSumKey{k, uint64(1) << v}] = r
		}
	}
	return out, nil
}

func addSums(to, s *insight.ExperimentSums) {
	to.X += s.X
	to.XX += s.XX
	to.Y += s.Y
	to.YY += s.YY
	to.XY += s.XY
	to.P += s.P
	to.PP += s.PP
	to.Q += s.Q
	to.QQ += s.QQ
	to.XP += s.XP
	to.XQ += s.XQ
	to.YP += s.YP
	to.YQ += s.YQ
	to.PQ += s.PQ
}
