package duckdb

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Funnel runs a funnel query (SPEC §4).
//
// How: one pass over the source rows of the step and exclusion events.
// SQL computes a bitmask per row (bit i: the row is step i+1 with its
// filters; then one bit per exclusion; for strict funnels one more bit: the
// row is some step's event name, so that it breaks a strict chain even when
// no step's filters match) and groups the rows by actor into one list of
// BIGINTs, each packing the event time (µs since `from`) above the mask.
// Go then sorts each actor's list and walks it with the windowFunnel state
// machine, keeping the earliest-completing chain for times, breakdown,
// exclusions and over_time.
//
// Why Go and not SQL: the chain state (first and per-step times of up to 20
// levels, strict-mode breaks, the best chain) is awkward as a list_reduce
// lambda, and on 2 M generated events (600 k step events, 100 k persons) a
// list_reduce computing only the ordered level cost about as much as
// fetching the lists and walking them in Go, which also gives the rest. The
// measured timings are in funnel_test.go (BenchmarkFunnel).
func (s *Store) Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	if tz == nil {
		tz = time.UTC
	}
	p := newFunnelPlan(q)
	query, args := p.sql(projectID)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	defer rows.Close()
	agg := newFunnelAgg(p, tz)
	var w funnelWalker
	w.init(p)
	for rows.Next() {
		var actor, list, bd any
		dest := []any{&actor, &list}
		if p.breakdown {
			dest = append(dest, &bd)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read funnel row: %w", err)
		}
		if err := w.load(list); err != nil {
			return nil, err
		}
		level := w.walk()
		if level == 0 || w.excluded(level) {
			continue
		}
		value := ""
		if p.breakdown {
			value = w.breakdownValue(bd)
		}
		agg.add(actor, level, w.best[:level], value)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	return agg.result(), nil
}

// funnelPlan is a funnel compiled for the walk: mask bits and time packing.
type funnelPlan struct {
	q         *insight.Funnel
	steps     int
	stepMask  uint64 // bits 0..steps-1
	exclShift int    // exclusion x is bit exclShift+x
	strictBit uint64 // strict funnels: the row's event is a step's event
	startMask uint64 // the steps an attempt can start with
	maskBits  int
	packed    bool // list elements are t<<maskBits | mask; else struct{t, m}
	fromUs    int64
	windowUs  int64
	breakdown bool
	unordered bool
	strict    bool
}

func newFunnelPlan(q *insight.Funnel) *funnelPlan {
	p := &funnelPlan{
		q:         q,
		steps:     len(q.Steps),
		exclShift: len(q.Steps),
		fromUs:    q.From.UnixMicro(),
		windowUs:  q.WindowDur.Microseconds(),
		breakdown: q.Breakdown != nil,
		unordered: q.Order == "unordered",
		strict:    q.Order == "strict",
	}
	p.stepMask = 1<<p.steps - 1
	p.maskBits = p.steps + len(q.Exclusions)
	if p.strict {
		p.strictBit = 1 << p.maskBits
		p.maskBits++
	}
	p.startMask = 1
	if p.unordered {
		p.startMask = p.stepMask
	}
	rangeUs := q.To.UnixMicro() - p.fromUs
	p.packed = bits.Len64(uint64(max(rangeUs, 1)))+p.maskBits <= 62
	return p
}

// sql returns the per-actor query: actor, the list of events, and with a
// breakdown the list of (t, value) of the events an attempt can start with.
func (p *funnelPlan) sql(projectID int64) (string, []any) {
	q := p.q
	names := map[string]bool{}
	var events []string
	for _, s := range q.Steps {
		if !names[s.Event] {
			names[s.Event] = true
			events = append(events, s.Event)
		}
	}
	stepEvents := len(events)
	for _, x := range q.Exclusions {
		if !names[x.Event] {
			names[x.Event] = true
			events = append(events, x.Event)
		}
	}
	src := newSource(projectID, &q.Range, events...)

	var mask []string
	var maskArgs []any
	term := func(bit int, event string, filters []insight.Filter) {
		var w where
		w.add("e.event = ?", event)
		w.filters(filters)
		mask = append(mask, "(CASE WHEN "+w.sql()+" THEN "+strconv.FormatInt(1<<bit, 10)+" ELSE 0 END)")
		maskArgs = append(maskArgs, w.args...)
	}
	for i, s := range q.Steps {
		term(i, s.Event, s.Filters)
	}
	for i, x := range q.Exclusions {
		term(p.exclShift+i, x.Event, x.Filters)
	}
	if p.strict {
		mask = append(mask, "(CASE WHEN e.event IN ("+placeholders(stepEvents)+") THEN "+strconv.FormatUint(p.strictBit, 10)+" ELSE 0 END)")
		for _, e := range events[:stepEvents] {
			maskArgs = append(maskArgs, e)
		}
	}
	src.extra = append(src.extra, "("+strings.Join(mask, " | ")+")::BIGINT AS m")
	src.extraArgs = append(src.extraArgs, maskArgs...)
	cols := "actor, epoch_us(ts) - ? AS t, m"
	if p.breakdown {
		b := q.Breakdown
		col := "e.properties"
		if b.Type == "person" {
			col = "p.properties"
		}
		src.extra = append(src.extra, "json_extract_string("+col+", ?) AS bv")
		src.extraArgs = append(src.extraArgs, propPath(b.Property))
		cols += ", bv"
	}
	from, fromArgs := src.sql()

	elem := "(t << " + strconv.Itoa(p.maskBits) + ") | m"
	if !p.packed {
		elem = "struct_pack(t := t, m := m)"
	}
	start := strconv.FormatUint(p.startMask, 10)
	query := "SELECT actor, list(" + elem + ")"
	if p.breakdown {
		query += ", list(struct_pack(t := t, v := bv)) FILTER (WHERE (m & " + start + ") <> 0)"
	}
	query += " FROM (SELECT " + cols + " FROM (" + from + ") WHERE m <> 0)" +
		" GROUP BY actor HAVING (bit_or(m) & " + start + ") <> 0"
	return query, append([]any{p.fromUs}, fromArgs...)
}

// fev is one event of an actor: µs since from, and its mask.
type fev struct {
	t int64
	m uint64
}

// funnelWalker computes one actor's funnel; its buffers are reused.
type funnelWalker struct {
	p      *funnelPlan
	packed []int64
	evs    []fev
	// set[j]: some chain reached step j+1; path[j][0..j]: its step times.
	set  [insight.MaxFunnelSteps]bool
	path [insight.MaxFunnelSteps][insight.MaxFunnelSteps]int64
	// best: the step times of the earliest chain to reach the final level.
	best [insight.MaxFunnelSteps]int64
	cnt  [insight.MaxFunnelSteps]int
}

func (w *funnelWalker) init(p *funnelPlan) { w.p = p }

// load decodes and sorts an actor's event list.
func (w *funnelWalker) load(list any) error {
	l, ok := list.([]any)
	if !ok {
		return fmt.Errorf("cannot read funnel events: got %T", list)
	}
	w.evs = w.evs[:0]
	if w.p.packed {
		w.packed = w.packed[:0]
		for _, v := range l {
			x, ok := v.(int64)
			if !ok {
				return fmt.Errorf("cannot read funnel event: got %T", v)
			}
			w.packed = append(w.packed, x)
		}
		slices.Sort(w.packed)
		shift := w.p.maskBits
		low := uint64(1)<<shift - 1
		for _, x := range w.packed {
			w.evs = append(w.evs, fev{t: x >> shift, m: uint64(x) & low})
		}
		return nil
	}
	for _, v := range l {
		s, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot read funnel event: got %T", v)
		}
		t, _ := s["t"].(int64)
		m, _ := s["m"].(int64)
		w.evs = append(w.evs, fev{t: t, m: uint64(m)})
	}
	slices.SortFunc(w.evs, func(a, b fev) int { return cmp.Compare(a.t, b.t) })
	return nil
}

// walk returns the actor's level and leaves the best chain in w.best.
func (w *funnelWalker) walk() int {
	if w.p.unordered {
		return w.walkUnordered()
	}
	return w.walkOrdered()
}

// walkOrdered is ClickHouse's windowFunnel (default mode, or strict_order
// for strict funnels): events in (time, step) order, as windowFunnel sorts
// its (timestamp, condition) pairs; a step-1 event starts a new chain; an
// event of step j+1 extends the latest chain that reached step j when it is
// within the window of that chain's first event. One event matching several
// steps counts for each, in increasing step order, so it can extend its own
// chain. Strict: an event of a step's name matching no step ends the walk
// once a chain started, and so does a step whose previous step no chain
// reached yet.
func (w *funnelWalker) walkOrdered() int {
	p := w.p
	n := p.steps
	clear(w.set[:n])
	started := false
	level := 0
	evs := w.evs
walk:
	for i := 0; i < len(evs); {
		t := evs[i].t
		var steps uint64
		other := false
		// Equal times: windowFunnel takes condition 0 (strict's "other
		// event") first, then the steps in increasing order; repeats of the
		// same (time, condition) change nothing.
		for ; i < len(evs) && evs[i].t == t; i++ {
			sm := evs[i].m & p.stepMask
			if sm == 0 && evs[i].m&p.strictBit != 0 {
				other = true
			}
			steps |= sm
		}
		if other && started {
			break
		}
		for steps != 0 {
			j := bits.TrailingZeros64(steps)
			steps &= steps - 1
			switch {
			case j == 0:
				w.set[0] = true
				w.path[0][0] = t
				started = true
				if level == 0 {
					level = 1
					w.best[0] = t
				}
			case p.strict && started && !w.set[j-1]:
				break walk
			case w.set[j-1] && t <= w.path[j-1][0]+p.windowUs:
				copy(w.path[j][:j], w.path[j-1][:j])
				w.path[j][j] = t
				w.set[j] = true
				if j+1 > level {
					level = j + 1
					copy(w.best[:level], w.path[j][:level])
				}
				if level == n {
					break walk
				}
			}
		}
	}
	return level
}

// walkUnordered: the level is the most distinct steps done within one
// window starting at one of the actor's step events; the best attempt is
// the earliest such window (it also completes earliest), and its "chain"
// is the times at which each further distinct step was first done.
func (w *funnelWalker) walkUnordered() int {
	p := w.p
	evs := w.evs
	clear(w.cnt[:p.steps])
	distinct, level, bestStart := 0, 0, -1
	j := 0
	for i := 0; i < len(evs); {
		t := evs[i].t
		if evs[i].m&p.stepMask == 0 { // an exclusion event only
			i++
			continue
		}
		for ; j < len(evs) && evs[j].t <= t+p.windowUs; j++ {
			for m := evs[j].m & p.stepMask; m != 0; m &= m - 1 {
				k := bits.TrailingZeros64(m)
				if w.cnt[k] == 0 {
					distinct++
				}
				w.cnt[k]++
			}
		}
		if distinct > level {
			level, bestStart = distinct, i
			if level == p.steps {
				break
			}
		}
		for ; i < len(evs) && evs[i].t == t; i++ {
			for m := evs[i].m & p.stepMask; m != 0; m &= m - 1 {
				k := bits.TrailingZeros64(m)
				w.cnt[k]--
				if w.cnt[k] == 0 {
					distinct--
				}
			}
		}
	}
	if level == 0 {
		return 0
	}
	var seen uint64
	k := 0
	start := evs[bestStart].t
	for i := bestStart; i < len(evs) && evs[i].t <= start+p.windowUs && k < level; i++ {
		for m := evs[i].m & p.stepMask &^ seen; m != 0; m &= m - 1 {
			w.best[k] = evs[i].t
			k++
		}
		seen |= evs[i].m & p.stepMask
	}
	return level
}

// excluded reports whether an exclusion event falls strictly between the
// best chain's from_step and to_step (or, when to_step was not reached,
// the chain's start plus the window).
func (w *funnelWalker) excluded(level int) bool {
	p := w.p
	for x, ex := range p.q.Exclusions {
		if level < ex.FromStep {
			continue
		}
		from := w.best[ex.FromStep-1]
		end := w.best[0] + p.windowUs
		if level >= ex.ToStep {
			end = w.best[ex.ToStep-1]
		}
		bit := uint64(1) << (p.exclShift + x)
		for _, e := range w.evs {
			if e.t >= end {
				break
			}
			if e.m&bit != 0 && e.t > from {
				return true
			}
		}
	}
	return false
}

// breakdownValue is the breakdown value of the best chain's first event
// (the smallest value when several start events share its time).
func (w *funnelWalker) breakdownValue(bd any) string {
	l, _ := bd.([]any)
	start := w.best[0]
	value, found := "", false
	for _, v := range l {
		s, _ := v.(map[string]any)
		if t, _ := s["t"].(int64); t != start {
			continue
		}
		str, ok := s["v"].(string)
		if !ok {
			str = "$none"
		}
		if !found || str < value {
			value, found = str, true
		}
	}
	if !found {
		return "$none"
	}
	return value
}

// funnelStats accumulates the actors of one breakdown value.
type funnelStats struct {
	counts []int64
	secs   [][]float64 // secs[i]: seconds from step i to step i+1, i >= 1
}

func newFunnelStats(n int) *funnelStats {
	return &funnelStats{counts: make([]int64, n), secs: make([][]float64, n)}
}

func (s *funnelStats) add(path []int64) {
	for i := range path {
		s.counts[i]++
		if i > 0 {
			s.secs[i] = append(s.secs[i], float64(path[i]-path[i-1])/1e6)
		}
	}
}

func (s *funnelStats) merge(o *funnelStats) {
	for i := range s.counts {
		s.counts[i] += o.counts[i]
		s.secs[i] = append(s.secs[i], o.secs[i]...)
	}
}

func (s *funnelStats) result(q *insight.Funnel) []insight.FunnelStepResult {
	out := make([]insight.FunnelStepResult, len(q.Steps))
	for i, st := range q.Steps {
		r := insight.FunnelStepResult{Event: st.Event, Label: st.Label, Count: s.counts[i]}
		if s.counts[0] > 0 {
			r.Conversion = float64(s.counts[i]) / float64(s.counts[0])
		}
		if i == 0 {
			r.StepConversion = r.Conversion
		} else if s.counts[i-1] > 0 {
			r.StepConversion = float64(s.counts[i]) / float64(s.counts[i-1])
		}
		if i > 0 && len(s.secs[i]) > 0 {
			slices.Sort(s.secs[i])
			med, p90 := quantile(s.secs[i], 0.5), quantile(s.secs[i], 0.9)
			r.MedianSeconds, r.P90Seconds = &med, &p90
		}
		out[i] = r
	}
	return out
}

// quantile interpolates linearly between the closest ranks of sorted xs
// (as DuckDB's quantile_cont).
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[lo] + (xs[lo+1]-xs[lo])*(pos-float64(lo))
}

// funnelAgg turns the actors' chains into the result.
type funnelAgg struct {
	p        *funnelPlan
	tz       *time.Location
	total    *funnelStats
	byValue  map[string]*funnelStats
	overTime map[string]*[2]int64 // label -> started, converted
	// persons
	mode      string
	step      int
	intIDs    []int64
	stringIDs []string
}

func newFunnelAgg(p *funnelPlan, tz *time.Location) *funnelAgg {
	a := &funnelAgg{p: p, tz: tz, total: newFunnelStats(p.steps)}
	if p.breakdown {
		a.byValue = map[string]*funnelStats{}
	}
	if p.q.OverTime != "" {
		a.overTime = map[string]*[2]int64{}
	}
	a.mode, a.step = p.q.PersonsQuery()
	return a
}

func (a *funnelAgg) add(actor any, level int, path []int64, value string) {
	if a.byValue != nil {
		s := a.byValue[value]
		if s == nil {
			s = newFunnelStats(a.p.steps)
			a.byValue[value] = s
		}
		s.add(path)
	} else {
		a.total.add(path)
	}
	if a.overTime != nil {
		start := time.UnixMicro(a.p.fromUs + path[0]).In(a.tz)
		label := insight.Label(insight.Truncate(start, a.p.q.OverTime), a.p.q.OverTime)
		c := a.overTime[label]
		if c == nil {
			c = new([2]int64)
			a.overTime[label] = c
		}
		c[0]++
		if level == a.p.steps {
			c[1]++
		}
	}
	if a.mode == "converted" && level >= a.step || a.mode == "dropped" && level == a.step {
		switch id := actor.(type) {
		case int64:
			a.intIDs = append(a.intIDs, id)
		case string:
			a.stringIDs = append(a.stringIDs, id)
		default:
			a.stringIDs = append(a.stringIDs, fmt.Sprint(id))
		}
	}
}

func (a *funnelAgg) result() *insight.FunnelResult {
	q := a.p.q
	res := &insight.FunnelResult{Kind: "funnel"}
	if a.byValue != nil {
		type kv struct {
			value string
			s     *funnelStats
		}
		var all []kv
		for v, s := range a.byValue {
			all = append(all, kv{v, s})
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].s.counts[0] != all[j].s.counts[0] {
				return all[i].s.counts[0] > all[j].s.counts[0]
			}
			return all[i].value < all[j].value
		})
		var other *funnelStats
		for i, e := range all {
			a.total.merge(e.s)
			if i < q.Breakdown.Limit {
				res.Breakdown = append(res.Breakdown, insight.FunnelBreakdown{Value: e.value, Steps: e.s.result(q)})
				continue
			}
			if other == nil {
				other = newFunnelStats(a.p.steps)
			}
			other.merge(e.s)
		}
		if other != nil {
			res.Breakdown = append(res.Breakdown, insight.FunnelBreakdown{Value: "$other", Steps: other.result(q)})
		}
	}
	res.Steps = a.total.result(q)
	if a.overTime != nil {
		res.OverTime = []insight.FunnelPoint{}
		for _, b := range insight.Buckets(q.From, q.To, a.tz, q.OverTime) {
			label := insight.Label(b, q.OverTime)
			pt := insight.FunnelPoint{T: label}
			if c := a.overTime[label]; c != nil {
				pt.Started, pt.Converted = c[0], c[1]
				pt.Conversion = float64(c[1]) / float64(c[0])
			}
			res.OverTime = append(res.OverTime, pt)
		}
	}
	if a.mode != "" {
		slices.Sort(a.intIDs)
		slices.Sort(a.stringIDs)
		ids := make([]any, 0, len(a.intIDs)+len(a.stringIDs))
		for _, id := range a.intIDs {
			ids = append(ids, id)
		}
		for _, id := range a.stringIDs {
			ids = append(ids, id)
		}
		total := len(ids)
		lo := min(q.Offset, total)
		hi := min(lo+q.Limit, total)
		res.Persons = &insight.PersonList{IDs: ids[lo:hi:hi], Total: int64(total), HasMore: hi < total}
	}
	return res
}
