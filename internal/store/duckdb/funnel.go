package duckdb

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/funnelwalk"
)

// Funnel runs a funnel query (SPEC §4).
//
// How: one pass over the source rows of the step and exclusion events.
// SQL computes a bitmask per row (bit i: the row is step i+1 with its
// filters; then one bit per exclusion; for strict funnels one more bit: the
// row is some step's event name, so that it breaks a strict chain even when
// no step's filters match) and hands each row (actor, µs since from and
// mask packed in one BIGINT, and with a breakdown the start events' values)
// to Go through a scalar function, journey_funnel_feed, which DuckDB runs
// on its worker threads in parallel; it reads DuckDB's vectors in place
// (rawVec). funnelwalk (shared with the ClickHouse store) keeps the rows as
// they come, then files them into partitions by actor and, partitions in
// parallel, groups each by actor (radix sort), puts each actor's events in
// time order and walks them with the windowFunnel state machine, keeping
// the earliest-completing chain for times, breakdown, exclusions and
// over_time.
//
// Why, measured on `journey bench query` data (20 M events, 1 M persons,
// 8.4 M step rows; 2 cores): the bench's floor (a plain count per person)
// takes about 0.42 s and this funnel 0.61 s. The recommended plan,
// DuckDB's list() per actor fetched through database/sql and walked in Go,
// took 2.9 s: the list() aggregate alone cost 1.3 s and fetching the lists
// (one boxed value per event, on one goroutine) 0.9 s. Walking in SQL
// instead (list_reduce over the sorted list) is no cheaper than the list
// itself plus the walk, and one window pass over (actor, ts) cost 1.9 s
// before any funnel logic. BenchmarkFunnel in funnel_test.go keeps those
// alternatives measurable.
func (s *Store) Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	p := funnelwalk.NewPlan(q)
	query, args := funnelSQL(p, projectID)
	c := funnelwalk.NewCollector(p)
	var fed int64
	if err := s.db.QueryRowContext(context.WithValue(ctx, funnelFeedKey{}, c), query, args...).Scan(&fed); err != nil {
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	// The feed ran on DuckDB's threads; its last add happened before the
	// query returned, and Rows makes it visible here.
	if n := c.Rows(); fed != n {
		return nil, fmt.Errorf("cannot run funnel: the query counted %d rows, the walk received %d", fed, n)
	}
	return funnelwalk.Run(c, tz), nil
}

// funnelSQL returns the query feeding the funnel's rows to
// journey_funnel_feed; it answers how many rows it fed.
func funnelSQL(p *funnelwalk.Plan, projectID int64) (string, []any) {
	q := p.Q
	events, stepEvents := p.Events()
	src := newSource(projectID, &q.Range, events...)

	// Bits of steps without filters (and the strict bit) go in one simple
	// CASE on the event name, which DuckDB evaluates in about half the time
	// of a CASE per bit; steps with filters get a CASE each.
	var mask []string
	var maskArgs []any
	simple := map[string]uint64{}
	var simpleOrder []string
	addSimple := func(event string, bits uint64) {
		if _, ok := simple[event]; !ok {
			simpleOrder = append(simpleOrder, event)
		}
		simple[event] |= bits
	}
	term := func(bit int, event string, filters []insight.Filter) {
		var w where
		w.add("e.event = ?", event)
		w.filters(filters)
		if len(w.conds) == 1 {
			addSimple(event, 1<<bit)
			return
		}
		mask = append(mask, "(CASE WHEN "+w.sql()+" THEN "+strconv.FormatInt(1<<bit, 10)+" ELSE 0 END)")
		maskArgs = append(maskArgs, w.args...)
	}
	for i, s := range q.Steps {
		term(i, s.Event, s.Filters)
	}
	for i, x := range q.Exclusions {
		term(p.ExclShift+i, x.Event, x.Filters)
	}
	if p.Strict {
		for _, e := range events[:stepEvents] {
			addSimple(e, p.StrictBit)
		}
	}
	if len(simpleOrder) > 0 {
		c := "(CASE e.event"
		var args []any
		for _, e := range simpleOrder {
			c += " WHEN ? THEN " + strconv.FormatUint(simple[e], 10)
			args = append(args, e)
		}
		mask = append([]string{c + " ELSE 0 END)"}, mask...)
		maskArgs = append(args, maskArgs...)
	}
	src.extra = append(src.extra, "("+strings.Join(mask, " | ")+")::BIGINT AS m")
	src.extraArgs = append(src.extraArgs, maskArgs...)
	cols := "actor, epoch_us(ts) - ? AS t, m"
	args := "actor, (t << " + strconv.Itoa(p.MaskBits) + ") | m"
	if !p.Packed {
		args = "actor, t, m"
	}
	if p.Breakdown {
		b := q.Breakdown
		col := "e.properties"
		if b.Type == "person" {
			col = "p.properties"
		}
		src.extra = append(src.extra, "json_extract_string("+col+", ?) AS bv")
		src.extraArgs = append(src.extraArgs, propPath(b.Property))
		cols += ", bv"
		// Only the events an attempt can start with need their value.
		args += ", CASE WHEN (m & " + strconv.FormatUint(p.StartMask, 10) + ") <> 0 THEN bv ELSE NULL END"
	}
	// When every step and exclusion is a plain event name, the mask is
	// the filter: m <> 0 instead of the source's event IN (…) plus the
	// CASE (measured on the bench: 212 ms against 324 ms for that part).
	simpleOnly := len(mask) == 1 && len(simpleOrder) > 0
	if simpleOnly {
		src.events = nil
	}
	from, fromArgs := src.sql()
	query := "SELECT count(*) FILTER (WHERE " + funnelFeedName + "(" + args + ")) FROM (SELECT " + cols + " FROM (" + from + ")"
	if simpleOnly || p.MaskCanBeZero() {
		query += " WHERE m <> 0"
	}
	query += ")"
	return query, append([]any{p.FromUs}, fromArgs...)
}

// funnelFeedName is the scalar function the funnel query calls on each
// row: journey_funnel_feed(actor ANY, x BIGINT [, m BIGINT] [, bv
// VARCHAR]) returns true and hands the row to the funnelwalk.Collector
// in the query's context (called from elsewhere, it only returns true). x
// is t<<MaskBits | m, or t alone followed by m when that does not fit
// (Plan.Packed); bv, the breakdown value, comes with a breakdown. The
// collector's plan says which.
const funnelFeedName = "journey_funnel_feed"

type funnelFeedKey struct{}

// funnelFeed is one overload of journey_funnel_feed: actor, then
// args-1 more arguments (BIGINTs, and a VARCHAR when there are 4).
type funnelFeed struct{ args int }

// Config is asked for on every chunk (duckdb-go reads its null handling
// there), so the configurations are made once.
func (f funnelFeed) Config() duckdb.ScalarFuncConfig { return funnelFeedConfigs()[f.args] }

var funnelFeedConfigs = sync.OnceValue(func() map[int]duckdb.ScalarFuncConfig {
	typ := typeInfo
	configs := map[int]duckdb.ScalarFuncConfig{}
	for _, args := range []int{2, 3, 4} {
		in := []duckdb.TypeInfo{typ(duckdb.TYPE_ANY), typ(duckdb.TYPE_BIGINT), typ(duckdb.TYPE_BIGINT), typ(duckdb.TYPE_VARCHAR)}[:args]
		if args == 3 { // (actor, x, bv) and (actor, t, m) are one signature
			in[2] = typ(duckdb.TYPE_ANY)
		}
		configs[args] = duckdb.ScalarFuncConfig{
			InputTypeInfos:      in,
			ResultTypeInfo:      typ(duckdb.TYPE_BOOLEAN),
			Volatile:            true, // never folded or cached: it must see every row
			SpecialNullHandling: true, // bv is mostly NULL; those rows count too
		}
	}
	return configs
})

func (funnelFeed) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{ChunkContextExecutor: feedFunnelChunk}
}

// feedFunnelChunk takes one chunk of rows on a DuckDB thread.
func feedFunnelChunk(ctx context.Context, st *duckdb.ChunkIteratorState) error {
	c, _ := ctx.Value(funnelFeedKey{}).(*funnelwalk.Collector)
	if c == nil { // called outside Funnel
		return answerTrue(st)
	}
	buf := feedRows.Get().(*[]funnelwalk.Row)
	defer feedRows.Put(buf)
	var rows []funnelwalk.Row
	var keys, values []string
	ok := false
	if feedInPlace {
		rows, keys, values, ok = rawFunnelRows(c.Plan(), st, (*buf)[:0])
	}
	if ok {
		feedChunksInPlace.Inc()
	} else {
		feedChunksBoxed.Inc()
		var err error
		if rows, keys, values, err = boxedFunnelRows(c.Plan(), st, (*buf)[:0]); err != nil {
			return err
		}
	}
	*buf = rows
	return c.Add(rows, keys, values)
}

var (
	// Chunks the funnel feed read in place, and through duckdb-go's boxed
	// values (a fallback: see rawVec).
	feedChunksInPlace = metrics.NewCounter(`journey_funnel_feed_chunks_total{read="in_place"}`)
	feedChunksBoxed   = metrics.NewCounter(`journey_funnel_feed_chunks_total{read="boxed"}`)
	// feedInPlace off makes the feed use the boxed read (tests compare).
	feedInPlace = true
)

// feedRows are the feed's reused row buffers (Add keeps none).
var feedRows = sync.Pool{New: func() any { return new([]funnelwalk.Row) }}

// rawFunnelRows reads one chunk's rows in place (see rawVec) into rows
// and sets every result; false: it could not, and set nothing.
func rawFunnelRows(p *funnelwalk.Plan, st *duckdb.ChunkIteratorState, rows []funnelwalk.Row) (_ []funnelwalk.Row, keys, values []string, ok bool) {
	chunk := st.GetInputChunk()
	n := chunk.GetSize()
	out, ok := rawOf(st.GetResultVector())
	if !ok || n == 0 {
		return nil, nil, nil, false
	}
	rows = slices.Grow(rows, n)[:n]
	if actors, ok := rawInt64s(chunk, 0); ok {
		for i, a := range actors {
			rows[i] = funnelwalk.Row{Actor: a, BV: -1}
		}
	} else if keys, ok = nonNullStrings(chunk, 0); ok {
		for i := range rows {
			rows[i] = funnelwalk.Row{Actor: int64(i), BV: -1}
		}
	} else {
		return nil, nil, nil, false
	}
	x, ok := rawInt64s(chunk, 1)
	if !ok {
		return nil, nil, nil, false
	}
	next := 2
	if p.Packed {
		bits, low := p.MaskBits, int64(1)<<p.MaskBits-1
		for i, v := range x {
			rows[i].T, rows[i].M = v>>bits, uint32(v&low)
		}
	} else {
		m, ok := rawInt64s(chunk, 2)
		if !ok {
			return nil, nil, nil, false
		}
		for i, v := range x {
			rows[i].T, rows[i].M = v, uint32(m[i])
		}
		next++
	}
	if p.Breakdown {
		view, err := stringView(chunk, next)
		if err != nil {
			return nil, nil, nil, false
		}
		for i := range rows {
			if v, ok, _ := view.GetValueBorrowed(i); ok {
				rows[i].BV = int32(len(values))
				values = append(values, strings.Clone(v))
			}
		}
	}
	res := out.bools(n)
	for i := range res {
		res[i] = true // every row counts: see funnelSQL's count
	}
	return rows, keys, values, true
}

// boxedFunnelRows reads one chunk's rows through duckdb-go's boxed row
// iterator into rows and sets every result.
func boxedFunnelRows(p *funnelwalk.Plan, st *duckdb.ChunkIteratorState, rows []funnelwalk.Row) (_ []funnelwalk.Row, keys, values []string, err error) {
	for row, err := range st.Rows() {
		if err != nil {
			return nil, nil, nil, err
		}
		if err := row.SetResult(true); err != nil {
			return nil, nil, nil, err
		}
		r := funnelwalk.Row{BV: -1}
		switch a := (*row.GetValuePtr(0)).(type) {
		case int64:
			r.Actor = a
		case string:
			r.Actor = int64(len(keys))
			keys = append(keys, a)
		default:
			return nil, nil, nil, fmt.Errorf("%s: unexpected actor %T", funnelFeedName, a)
		}
		x, _ := (*row.GetValuePtr(1)).(int64)
		next := 2
		if p.Packed {
			r.T, r.M = x>>p.MaskBits, uint32(x&(1<<p.MaskBits-1))
		} else {
			m, _ := (*row.GetValuePtr(2)).(int64)
			r.T, r.M = x, uint32(m)
			next++
		}
		if p.Breakdown {
			if v, ok := (*row.GetValuePtr(next)).(string); ok {
				r.BV = int32(len(values))
				values = append(values, v)
			}
		}
		rows = append(rows, r)
	}
	return rows, keys, values, nil
}
