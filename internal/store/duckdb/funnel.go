package duckdb

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/duckdb/vecfeed"
	"github.com/journey-dev/journey/internal/store/funnelwalk"
)

// Funnel runs a funnel query (SPEC §4).
//
// How: one pass over the source rows of the step and exclusion events.
// SQL computes a bitmask per row (bit i: the row is step i+1 with its
// filters; then one bit per exclusion; for strict funnels one more bit: the
// row is some step's event name, so that it breaks a strict chain even when
// no step's filters match), or when every step and exclusion is a plain
// event name a code of the event's name that Go turns into the mask
// (eventCodes), and hands each row (actor, µs since from and mask or code
// packed in one BIGINT, and with a breakdown the start events' values)
// to Go through a scalar function, journey_funnel_feed, which DuckDB runs
// on its worker threads in parallel; it reads DuckDB's vectors in place
// (package vecfeed). funnelwalk (shared with the ClickHouse store) keeps the rows as
// they come, then files them into partitions by actor and, partitions in
// parallel, groups each by actor (radix sort), puts each actor's events in
// time order and walks them with the windowFunnel state machine, keeping
// the earliest-completing chain for times, breakdown, exclusions and
// over_time.
//
// Why, measured on `journey bench query` data (20 M events, 1 M persons,
// 8.4 M step rows; 2 cores): the bench's floor (a plain count per person)
// takes about 0.42 s and this funnel 0.41 s. The recommended plan,
// DuckDB's list() per actor fetched through database/sql and walked in Go,
// took 2.9 s: the list() aggregate alone cost 1.3 s and fetching the lists
// (one boxed value per event, on one goroutine) 0.9 s. Walking in SQL
// instead (list_reduce over the sorted list) is no cheaper than the list
// itself plus the walk, and one window pass over (actor, ts) cost 1.9 s
// before any funnel logic. BenchmarkFunnel in funnel_test.go keeps those
// alternatives measurable.
func (s *Store) Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	if res, ok, err := s.indexFunnel(ctx, projectID, tz, q); ok { // journeyidx.go
		return res, err
	}
	p := funnelwalk.NewPlan(q)
	query, args, feed := funnelSQL(p, projectID, s.plan)
	c := funnelwalk.NewCollector(p, insight.MemoryCap(ctx))
	feed.c = c
	var fed int64
	if err := s.db.QueryRowContext(context.WithValue(ctx, funnelFeedKey{}, feed), query, args...).Scan(&fed); err != nil {
		if cerr := c.Err(); cerr != nil { // the feed's error, which DuckDB only passes on as text
			return nil, cerr
		}
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
func funnelSQL(p *funnelwalk.Plan, projectID int64, plan Plan) (string, []any, *funnelFeedRun) {
	q := p.Q
	events, stepEvents := q.EventNames() // p.Events() knows no actions
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
	term := func(bit int, event string, action *insight.ActionDef, filters []insight.Filter) {
		var w where
		w.and(eventCond("e.", event, action))
		w.filters(filters)
		src.persons = src.persons || w.persons
		if len(w.conds) == 1 && action == nil {
			addSimple(event, 1<<bit)
			return
		}
		mask = append(mask, "(CASE WHEN "+w.sql()+" THEN "+strconv.FormatInt(1<<bit, 10)+" ELSE 0 END)")
		maskArgs = append(maskArgs, w.args...)
	}
	for i, s := range q.Steps {
		term(i, s.Event, s.Action, s.Filters)
	}
	for i, x := range q.Exclusions {
		term(p.ExclShift+i, x.Event, x.Action, x.Filters)
	}
	if p.Strict {
		for _, e := range events[:stepEvents] {
			addSimple(e, p.StrictBit)
		}
	}
	feed := &funnelFeedRun{packed: p.Packed, mBits: p.MaskBits, inPlace: !plan.NoFeedInPlace}
	// When every step and exclusion is a plain event name, the scan
	// computes event codes (see eventCodes) instead of the CASE, and
	// filters on them instead of the source's event IN (…).
	var codes *eventCodes
	if len(mask) == 0 && !plan.NoEventCodes {
		codes = newEventCodes(simpleOrder, simple)
	}
	var cols, filter string
	if codes != nil {
		src.events = nil
		src.extra = append(src.extra, "strpos(?, e.event) AS p")
		src.extraArgs = append(src.extraArgs, codes.names)
		cols = "actor, epoch_us(ts) - ? AS t, " + codes.sql() + " AS m"
		filter = " WHERE p <> 0"
		feed.masks, feed.mBits = codes.masks, codes.bits
		feed.packed = p.RangeBits()+codes.bits <= 62
	} else {
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
		cols = "actor, epoch_us(ts) - ? AS t, m"
		// When every step and exclusion is a plain event name, the mask
		// is the filter: m <> 0 instead of the source's event IN (…)
		// plus the CASE (measured on the bench: 212 ms against 324 ms
		// for that part).
		plain := len(mask) == 1 && len(simpleOrder) > 0
		if plain {
			src.events = nil
		}
		if plain || p.MaskCanBeZero() || q.HasActions() {
			filter = " WHERE m <> 0"
		}
	}
	args := "actor, (t << " + strconv.Itoa(feed.mBits) + ") | m"
	if !feed.packed {
		args = "actor, t, m"
	}
	if p.Breakdown {
		b := q.Breakdown
		col := "e.properties"
		if b.Type == "person" {
			col = "p.properties"
			src.persons = true
		}
		src.extra = append(src.extra, "json_extract_string("+col+", ?) AS bv")
		src.extraArgs = append(src.extraArgs, propPath(b.Property))
		cols += ", bv"
		// Only the events an attempt can start with need their value.
		start := "(m & " + strconv.FormatUint(p.StartMask, 10) + ") <> 0"
		if codes != nil {
			start = codes.matching(p.StartMask)
		}
		args += ", CASE WHEN " + start + " THEN bv ELSE NULL END"
	}
	from, fromArgs := src.sql()
	query := "SELECT count(*) FILTER (WHERE " + funnelFeedName + "(" + args + ")) FROM (SELECT " + cols + " FROM (" + from + ")" + filter + ")"
	return query, append([]any{p.FromUs}, fromArgs...), feed
}

// eventCodes number a funnel's plain event names for the scan: an event's
// code is strpos(names, event) << lenBits | least(strlen(event),
// 2^lenBits-1), names being the funnel's names concatenated. A code is a
// name's code only if the event is that name: the event then occurs in
// names at that name's first occurrence with that name's byte length.
// Other events get 0 (no occurrence, filtered out in SQL) or a code whose
// mask is 0 (the feed drops them).
//
// Why: DuckDB evaluates a function of one dictionary-compressed column
// once per dictionary entry, while the CASE compares every row's string
// with every name. On the bench (20 M events, 3 steps) strpos costs 27 ms
// where the CASE costs 130–160 ms, and the funnel's scan 122 against 227
// ms. On columns DuckDB did not dictionary-compress the strpos costs
// about 1.5 × the CASE (250 against 175 ms on 20 M rows).
type eventCodes struct {
	names   string
	lenBits int
	bits    int      // code width
	masks   []uint32 // by code
}

// maxCodeBits bounds the masks table (256 KB).
const maxCodeBits = 16

// newEventCodes numbers names (masks: each name's mask); nil when the
// codes would be too wide or the names are not valid UTF-8 (strpos
// counts characters).
func newEventCodes(names []string, masks map[string]uint64) *eventCodes {
	all := strings.Join(names, "")
	if !utf8.ValidString(all) {
		return nil
	}
	longest := 0
	for _, n := range names {
		longest = max(longest, len(n))
	}
	// least(strlen, 2^lenBits-1) must not be a name's length when it
	// clips a longer event.
	lenBits := bits.Len(uint(longest + 1))
	width := bits.Len(uint(utf8.RuneCountInString(all))) + lenBits
	if width > maxCodeBits {
		return nil
	}
	c := &eventCodes{names: all, lenBits: lenBits, bits: width, masks: make([]uint32, 1<<width)}
	for _, n := range names {
		pos := utf8.RuneCountInString(all[:strings.Index(all, n)]) + 1
		c.masks[pos<<lenBits|len(n)] = uint32(masks[n])
	}
	return c
}

// sql is the code of the scan's row (p: its strpos).
func (c *eventCodes) sql() string {
	return "(p << " + strconv.Itoa(c.lenBits) + ") | least(strlen(event), " + strconv.Itoa(1<<c.lenBits-1) + ")"
}

// matching is a condition on the code m: the row's mask has one of bits.
func (c *eventCodes) matching(bits uint64) string {
	var in []string
	for code, m := range c.masks {
		if uint64(m)&bits != 0 {
			in = append(in, strconv.Itoa(code))
		}
	}
	if len(in) == 0 {
		return "false"
	}
	return "m IN (" + strings.Join(in, ", ") + ")"
}

// funnelFeedName is the scalar function the funnel query calls on each
// row: journey_funnel_feed(actor ANY, x BIGINT [, m BIGINT] [, bv
// VARCHAR]) hands the row to the funnelwalk.Collector of the
// funnelFeedRun in the query's context and returns whether it kept it
// (called from elsewhere, it only returns true). x is t<<mBits | m, or t
// alone followed by m when that does not fit; m is the row's mask or
// event code; bv, the breakdown value, comes with a breakdown.
const funnelFeedName = "journey_funnel_feed"

type funnelFeedKey struct{}

// funnelFeedRun is one funnel query's feed: where its rows go and how
// they are laid out.
type funnelFeedRun struct {
	c      *funnelwalk.Collector
	packed bool // x = t<<mBits | m
	mBits  int
	// inPlace reads the vectors in place (Plan.NoFeedInPlace).
	inPlace bool
	// masks, when the query feeds event codes (eventCodes): each code's
	// mask; rows whose mask is 0 are dropped.
	masks []uint32
}

// mask is the mask of a row's m.
func (f *funnelFeedRun) mask(m uint64) uint32 {
	if f.masks == nil {
		return uint32(m)
	}
	if m >= uint64(len(f.masks)) {
		return 0
	}
	return f.masks[m]
}

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
	f, _ := ctx.Value(funnelFeedKey{}).(*funnelFeedRun)
	if f == nil { // called outside Funnel
		return answerTrue(st)
	}
	buf := feedRows.Get().(*[]funnelwalk.Row)
	defer feedRows.Put(buf)
	var rows []funnelwalk.Row
	var keys, values []string
	ok := false
	if f.inPlace {
		rows, keys, values, ok = f.rawRows(st, (*buf)[:0])
	}
	if ok {
		feedChunksInPlace.Inc()
	} else {
		feedChunksBoxed.Inc()
		var err error
		if rows, keys, values, err = f.boxedRows(st, (*buf)[:0]); err != nil {
			return err
		}
	}
	*buf = rows
	return f.c.Add(rows, keys, values)
}

var (
	// Chunks the feeds read in place, and through duckdb-go's boxed
	// values (a fallback: see package vecfeed).
	feedChunksInPlace = metrics.NewCounter(`journey_funnel_feed_chunks_total{read="in_place"}`)
	feedChunksBoxed   = metrics.NewCounter(`journey_funnel_feed_chunks_total{read="boxed"}`)
)

// feedRows are the feed's reused row buffers (Add keeps none).
var feedRows = sync.Pool{New: func() any { return new([]funnelwalk.Row) }}

// rawRows reads one chunk's rows in place (package vecfeed) into rows, the
// kept ones, and sets every result; false: it could not, and set nothing.
func (f *funnelFeedRun) rawRows(st *duckdb.ChunkIteratorState, rows []funnelwalk.Row) (_ []funnelwalk.Row, keys, values []string, ok bool) {
	chunk := st.GetInputChunk()
	n := chunk.GetSize()
	out, ok := vecfeed.Of(st.GetResultVector())
	if !ok || n == 0 {
		return nil, nil, nil, false
	}
	rows = slices.Grow(rows, n)[:n]
	if actors, ok := vecfeed.Int64s(chunk, 0); ok {
		for i, a := range actors {
			rows[i] = funnelwalk.Row{Actor: a, BV: -1}
		}
	} else if keys, ok = vecfeed.Strings(chunk, 0); ok {
		for i := range rows {
			rows[i] = funnelwalk.Row{Actor: int64(i), BV: -1}
		}
	} else {
		return nil, nil, nil, false
	}
	x, ok := vecfeed.Int64s(chunk, 1)
	if !ok {
		return nil, nil, nil, false
	}
	next := 2
	if f.packed {
		bits, low := f.mBits, int64(1)<<f.mBits-1
		for i, v := range x {
			rows[i].T, rows[i].M = v>>bits, uint32(v&low)
		}
	} else {
		m, ok := vecfeed.Int64s(chunk, 2)
		if !ok {
			return nil, nil, nil, false
		}
		for i, v := range x {
			rows[i].T, rows[i].M = v, uint32(m[i])
		}
		next++
	}
	if f.masks != nil {
		for i := range rows {
			rows[i].M = f.mask(uint64(rows[i].M))
		}
	}
	if f.c.Plan().Breakdown {
		view, err := vecfeed.StringView(chunk, next)
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
	res := out.Bools(n)
	kept := rows[:0]
	for i, r := range rows {
		res[i] = r.M != 0 // see funnelSQL's count
		if r.M == 0 {
			continue
		}
		if keys != nil { // keep the kept rows' group keys only
			keys[len(kept)], r.Actor = keys[r.Actor], int64(len(kept))
		}
		kept = append(kept, r)
	}
	if keys != nil {
		keys = keys[:len(kept)]
	}
	return kept, keys, values, true
}

// boxedRows reads one chunk's rows through duckdb-go's boxed row
// iterator into rows, the kept ones, and sets every result.
func (f *funnelFeedRun) boxedRows(st *duckdb.ChunkIteratorState, rows []funnelwalk.Row) (_ []funnelwalk.Row, keys, values []string, err error) {
	for row, err := range st.Rows() {
		if err != nil {
			return nil, nil, nil, err
		}
		r := funnelwalk.Row{BV: -1}
		x, _ := (*row.GetValuePtr(1)).(int64)
		next := 2
		m := x & (1<<f.mBits - 1)
		r.T = x >> f.mBits
		if !f.packed {
			m, _ = (*row.GetValuePtr(2)).(int64)
			r.T = x
			next++
		}
		r.M = f.mask(uint64(m))
		if err := row.SetResult(r.M != 0); err != nil {
			return nil, nil, nil, err
		}
		if r.M == 0 {
			continue
		}
		switch a := (*row.GetValuePtr(0)).(type) {
		case int64:
			r.Actor = a
		case string:
			r.Actor = int64(len(keys))
			keys = append(keys, a)
		default:
			return nil, nil, nil, fmt.Errorf("%s: unexpected actor %T", funnelFeedName, a)
		}
		if f.c.Plan().Breakdown {
			if v, ok := (*row.GetValuePtr(next)).(string); ok {
				r.BV = int32(len(values))
				values = append(values, v)
			}
		}
		rows = append(rows, r)
	}
	return rows, keys, values, nil
}
