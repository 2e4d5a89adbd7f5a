package funnelwalk

import (
	"cmp"
	"math"
	"math/bits"
	"slices"

	"github.com/journey-dev/journey/internal/insight"
)

// walker computes one partition's actors; its buffers are reused.
type walker struct {
	p         *Plan
	rows, tmp []row   // the partition's rows, grouped by actor
	bv, bvTmp []int32 // their breakdown value indexes (breakdowns only)
	count     []int   // the radix sort's counters
	buf       []row   // an actor's rows copied, for breakdowns: sorting w.rows would misalign w.bv
	evs       []row   // the actor's events in walk order
	order     func(a, b row) int
	// set[j]: some chain reached step j+1; path[j][0..j]: its step times.
	set  [insight.MaxFunnelSteps]bool
	path [insight.MaxFunnelSteps][insight.MaxFunnelSteps]int64
	// best: the step times of the earliest chain to reach the final level.
	best [insight.MaxFunnelSteps]int64
	cnt  [insight.MaxFunnelSteps]int
	// walkStepRuns: each step's chains, and its times merged from several runs.
	chains [insight.MaxFunnelSteps][]chain
	merged [insight.MaxFunnelSteps][2][]int64
}

func (w *walker) init(p *Plan) {
	w.p = p
	// Walk order: time, then (events of one time) their first step, events
	// of no step first, as windowFunnel's strict_order puts them; then mask.
	w.order = func(a, b row) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		// TrailingZeros64(0) is 64; +1 mod 65 makes "no step" 0.
		fa := (bits.TrailingZeros64(uint64(a.m)&p.StepMask) + 1) % 65
		fb := (bits.TrailingZeros64(uint64(b.m)&p.StepMask) + 1) % 65
		if fa != fb {
			return fa - fb
		}
		return cmp.Compare(a.m, b.m)
	}
}

// part groups one partition's rows by actor and walks each actor.
func (w *walker) part(agg *agg, c *Collector, part int) {
	w.sortPart(c, part)
	rows := w.rows
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].a == rows[i].a {
			j++
		}
		w.actor(agg, c, part, i, j)
		i = j
	}
}

// sortPart moves partition part's rows from the collector's blocks to
// w.rows (and w.bv), grouped by actor: an LSD radix sort on a whose first
// pass reads the blocks. It is stable, so each actor's rows keep the order
// they came in (mostly time order: stores scan in it). With dense actor
// ids the key spans len/parts values: one pass up to 4 M actors.
func (w *walker) sortPart(c *Collector, part int) {
	bd := w.p.Breakdown
	var bs []*block
	lo, hi := uint32(math.MaxUint32), uint32(0)
	for _, sh := range c.shards {
		if len(sh.parts[part]) > 0 {
			bs = append(bs, sh.parts[part]...)
			lo, hi = min(lo, sh.lo[part]), max(hi, sh.hi[part])
		}
		sh.parts[part], sh.cur[part] = nil, nil
	}
	n := 0
	for _, b := range bs {
		n += b.n
	}
	w.rows, w.tmp = resize(w.rows, n), resize(w.tmp, n)
	if bd {
		w.bv, w.bvTmp = resize(w.bv, n), resize(w.bvTmp, n)
	}
	if n == 0 {
		return
	}
	keyBits := bits.Len32(hi - lo)
	passes := max(1, (keyBits+maxDigit-1)/maxDigit)
	digit := (keyBits + passes - 1) / passes
	w.count = resize(w.count, 1<<digit)
	count, mask := w.count, uint32(1)<<digit-1
	// The last pass must write w.rows.
	dst, src, dstBV, srcBV := w.rows, w.tmp, w.bv, w.bvTmp
	if passes%2 == 0 {
		dst, src, dstBV, srcBV = src, dst, srcBV, dstBV
	}
	prefix := func() {
		sum := 0
		for d, k := range count {
			count[d] = sum
			sum += k
		}
	}
	clear(count)
	for _, b := range bs {
		for _, r := range b.rows[:b.n] {
			count[(r.a-lo)&mask]++
		}
	}
	prefix()
	for _, b := range bs {
		for i, r := range b.rows[:b.n] {
			d := (r.a - lo) & mask
			dst[count[d]] = r
			if bd {
				dstBV[count[d]] = b.bv[i]
			}
			count[d]++
		}
		blocks.Put(b)
	}
	for shift := digit; shift < keyBits; shift += digit {
		src, dst, srcBV, dstBV = dst, src, dstBV, srcBV
		clear(count)
		for _, r := range src {
			count[(r.a-lo)>>shift&mask]++
		}
		prefix()
		for i, r := range src {
			d := (r.a - lo) >> shift & mask
			dst[count[d]] = r
			if bd {
				dstBV[count[d]] = srcBV[i]
			}
			count[d]++
		}
	}
}

// maxDigit bounds the radix sort's digit: 1 << 16 counters stay in cache.
const maxDigit = 16

// resize returns s with length n, reusing its array when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// sortEvents puts w.evs in walk order (w.order). They come as a few
// time-ordered runs (one per feeding thread), so an insertion sort that
// compares times first does it in about one pass; long lists use pdqsort.
func (w *walker) sortEvents() {
	evs := w.evs
	if len(evs) > 64 {
		if !slices.IsSortedFunc(evs, w.order) {
			slices.SortFunc(evs, w.order)
		}
		return
	}
	for i := 1; i < len(evs); i++ {
		x := evs[i]
		j := i
		for j > 0 && (x.t < evs[j-1].t || x.t == evs[j-1].t && w.order(x, evs[j-1]) < 0) {
			evs[j] = evs[j-1]
			j--
		}
		evs[j] = x
	}
}

// actor walks one actor's events, w.rows[i:j], and adds its best attempt
// to agg.
func (w *walker) actor(agg *agg, c *Collector, part, i, j int) {
	rows := w.rows[i:j]
	level, ok := w.quickLevel(rows) // never with exclusions, which read w.evs
	if !ok {
		w.evs = rows
		if w.p.Breakdown { // keep rows in line with w.bv
			w.buf = append(w.buf[:0], rows...)
			w.evs = w.buf
		}
		w.sortEvents()
		level = w.walk()
	}
	if level == 0 || w.excluded(level) {
		return
	}
	value := ""
	if w.p.Breakdown {
		value = w.breakdownValue(c, rows, w.bv[i:j])
	}
	agg.add(int64(rows[0].a)<<partBits|int64(part), level, w.best[:level], value)
}

// quickLevel answers, without sorting and walking, for an actor that
// cannot get past step 1: no step-2 row (ordered and strict funnels) or
// rows of one step only (unordered), and no exclusions. Its level is 1 when
// it has a start row, and its chain that row's time, the earliest (what
// the walk would find); ok is false for the other actors.
//
// Why: in most funnels most actors never do step 2; sorting and walking
// their events is about half the cost of an actor.
func (w *walker) quickLevel(rows []row) (level int, ok bool) {
	p := w.p
	if len(p.Q.Exclusions) > 0 {
		return 0, false
	}
	var or uint64
	first := int64(math.MaxInt64)
	for _, r := range rows {
		or |= uint64(r.m)
		if uint64(r.m)&p.StartMask != 0 {
			first = min(first, r.t)
		}
	}
	if !w.cannotPassStep1(or) {
		return 0, false
	}
	if or&p.StartMask == 0 {
		return 0, true
	}
	w.best[0] = first
	return 1, true
}

// cannotPassStep1 says whether an actor whose rows' masks OR to or
// cannot get past step 1 and has no exclusion to check: no step-2 row
// (ordered and strict funnels) or rows of one step only (unordered).
func (w *walker) cannotPassStep1(or uint64) bool {
	p := w.p
	if len(p.Q.Exclusions) > 0 {
		return false
	}
	steps := or & p.StepMask
	return !(p.Unordered && bits.OnesCount64(steps) > 1 || !p.Unordered && steps&2 != 0)
}

// mergeRuns returns the rows of runs (see MaskRun) in walk order, times
// made relative to the plan's from: each run is in time order, so
// merging them two at a time is a pass over the rows per run instead
// of a sort. Rows that tie in walk order are equal, so the order of
// runs does not matter.
func (w *walker) mergeRuns(runs []MaskRun) []row {
	from := w.p.FromUs
	out := w.buf[:0]
	for _, t := range runs[0].Times {
		out = append(out, row{t: t - from, m: runs[0].M})
	}
	for _, r := range runs[1:] {
		in := out
		out = w.tmp[:0]
		ts, m := r.Times, r.M
		i, j := 0, 0
		for i < len(in) && j < len(ts) {
			y := row{t: ts[j] - from, m: m}
			if x := in[i]; x.t < y.t || x.t == y.t && w.order(x, y) <= 0 {
				out = append(out, x)
				i++
			} else {
				out = append(out, y)
				j++
			}
		}
		out = append(out, in[i:]...)
		for ; j < len(ts); j++ {
			out = append(out, row{t: ts[j] - from, m: m})
		}
		w.buf, w.tmp = out, in // the next merge writes over in
	}
	w.buf = out
	return out
}

// chain is a chain that reached a step in walkStepRuns: the times of its
// last step's event and of its first step's, and its chain at the step
// before (an index into the previous step's chains).
type chain struct {
	t, start int64
	parent   int
}

// walkStepRuns is walkOrdered for ordered funnels without exclusions
// whose runs each hold the events of one step (every step a name of its
// own), computed step by step instead of event by event; ok is false for
// the other funnels and runs, which take the walk.
//
// walkOrdered keeps, for each step j, the latest chain that reached it:
// an event of step j+1 at t extends the latest chain of step j at or
// before t (events of a lower step go first at equal times) when t is
// within the window of that chain's first event, and the answer is the
// first chain to reach the highest step. Step j's events change no
// chain of another step, so step j+1's chains follow from step j's
// chains and step j+1's times alone: one pass of two pointers per step,
// which stops at the first step no chain reaches (in most funnels most
// persons stop at step 2, and nothing of the later steps is read).
func (w *walker) walkStepRuns(runs []MaskRun) (level int, ok bool) {
	p := w.p
	if p.Strict || p.Unordered || len(p.Q.Exclusions) > 0 {
		return 0, false
	}
	var steps [insight.MaxFunnelSteps][]int64
	for _, r := range runs {
		m := uint64(r.M)
		if m == 0 || m&(m-1) != 0 || m&^p.StepMask != 0 {
			return 0, false
		}
		j := bits.TrailingZeros64(m)
		if steps[j] == nil {
			steps[j] = r.Times
			continue
		}
		// One step's events in several runs (segments): merged, into the
		// buffer that steps[j] is not.
		k := 0
		if len(w.merged[j][0]) > 0 && &steps[j][0] == &w.merged[j][0][0] {
			k = 1
		}
		w.merged[j][k] = mergeTimes(w.merged[j][k][:0], steps[j], r.Times)
		steps[j] = w.merged[j][k]
	}
	if len(steps[0]) == 0 {
		return 0, true
	}
	// Step 1's chains are its events, each its own start (chains[0]
	// stays empty: step 1's times stand for it).
	s1 := steps[0]
	level = 1
	var prev []chain
	for j := 1; j < p.Steps && len(steps[j]) > 0; j++ {
		cur := w.chains[j][:0]
		i := -1 // the latest chain of step j at or before t
		if j == 1 {
			for _, t := range steps[j] {
				for i+1 < len(s1) && s1[i+1] <= t {
					i++
				}
				if i >= 0 && t <= s1[i]+p.WindowUs {
					cur = append(cur, chain{t: t, start: s1[i], parent: i})
				}
			}
		} else {
			for _, t := range steps[j] {
				for i+1 < len(prev) && prev[i+1].t <= t {
					i++
				}
				if i >= 0 && t <= prev[i].start+p.WindowUs {
					cur = append(cur, chain{t: t, start: prev[i].start, parent: i})
				}
			}
		}
		w.chains[j] = cur
		if len(cur) == 0 {
			break
		}
		level, prev = j+1, cur
	}
	k := 0
	for j := level - 1; j >= 1; j-- {
		c := w.chains[j][k]
		w.best[j], k = c.t-p.FromUs, c.parent
	}
	w.best[0] = s1[k] - p.FromUs
	return level, true
}

// mergeTimes appends the merge of two ascending lists to out.
func mergeTimes(out, a, b []int64) []int64 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] <= b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// walk returns the actor's level and leaves the best chain in w.best.
func (w *walker) walk() int {
	if w.p.Unordered {
		return w.walkUnordered()
	}
	return w.walkOrdered()
}

// walkOrdered is ClickHouse's windowFunnel (default mode; strict funnels
// add the 'strict_order' rule): events in time order; a step-1 event
// starts a new chain; an event of step j+1 extends the latest chain that
// reached step j when it is within the window of that chain's first event.
//
// An event matching several steps tries them from the last to the first,
// as windowFunnel adds a row's conditions in decreasing order and (up to
// ClickHouse 20, including the 18.16 the differential tests run) sorts by
// time only: one event never serves two consecutive steps of one chain, so
// a "pageview, pageview" funnel needs two pageviews. Events at the same
// time go in the order of their first step (w.order sorts them), which
// lets them chain as a non-decreasing sequence the way current ClickHouse,
// sorting by (time, condition), does.
//
// Strict: once a chain started, an event of a step's name matching no
// step ends the walk, and so does an event whose steps all need a
// previous step no chain reached yet.
func (w *walker) walkOrdered() int {
	p := w.p
	n := p.Steps
	clear(w.set[:n])
	started := false
	level := 0
walk:
	for _, e := range w.evs {
		t := e.t
		steps := uint64(e.m) & p.StepMask
		if steps == 0 {
			if uint64(e.m)&p.StrictBit != 0 && started {
				break
			}
			continue
		}
		if p.Strict && started && steps&1 == 0 {
			ok := false
			for m := steps; m != 0; m &= m - 1 {
				ok = ok || w.set[bits.TrailingZeros64(m)-1]
			}
			if !ok {
				break
			}
		}
		for steps != 0 {
			j := 63 - bits.LeadingZeros64(steps)
			steps &^= 1 << j
			switch {
			case j == 0:
				w.set[0] = true
				w.path[0][0] = t
				started = true
				if level == 0 {
					level = 1
					w.best[0] = t
				}
			case w.set[j-1] && t <= w.path[j-1][0]+p.WindowUs:
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
func (w *walker) walkUnordered() int {
	p := w.p
	evs := w.evs
	clear(w.cnt[:p.Steps])
	distinct, level, bestStart := 0, 0, -1
	j := 0
	for i := 0; i < len(evs); {
		t := evs[i].t
		if uint64(evs[i].m)&p.StepMask == 0 { // an exclusion event only
			i++
			continue
		}
		for ; j < len(evs) && evs[j].t <= t+p.WindowUs; j++ {
			for m := uint64(evs[j].m) & p.StepMask; m != 0; m &= m - 1 {
				k := bits.TrailingZeros64(m)
				if w.cnt[k] == 0 {
					distinct++
				}
				w.cnt[k]++
			}
		}
		if distinct > level {
			level, bestStart = distinct, i
			if level == p.Steps {
				break
			}
		}
		for ; i < len(evs) && evs[i].t == t; i++ {
			for m := uint64(evs[i].m) & p.StepMask; m != 0; m &= m - 1 {
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
	for i := bestStart; i < len(evs) && evs[i].t <= start+p.WindowUs && k < level; i++ {
		for m := uint64(evs[i].m) & p.StepMask &^ seen; m != 0; m &= m - 1 {
			w.best[k] = evs[i].t
			k++
		}
		seen |= uint64(evs[i].m) & p.StepMask
	}
	return level
}

// excluded reports whether an exclusion event falls strictly between the
// best chain's from_step and to_step (or, when to_step was not reached,
// the chain's start plus the window).
func (w *walker) excluded(level int) bool {
	p := w.p
	for x, ex := range p.Q.Exclusions {
		if level < ex.FromStep {
			continue
		}
		from := w.best[ex.FromStep-1]
		end := w.best[0] + p.WindowUs
		if level >= ex.ToStep {
			end = w.best[ex.ToStep-1]
		}
		bit := uint64(1) << (p.ExclShift + x)
		for _, e := range w.evs {
			if e.t >= end {
				break
			}
			if uint64(e.m)&bit != 0 && e.t > from {
				return true
			}
		}
	}
	return false
}

// breakdownValue is the breakdown value of the best chain's first event
// (the smallest value when several start events share its time); rows
// and bv are the actor's rows and their value indexes.
func (w *walker) breakdownValue(c *Collector, rows []row, bv []int32) string {
	start := w.best[0]
	value, found := "", false
	for i, r := range rows {
		if r.t != start || uint64(r.m)&w.p.StartMask == 0 {
			continue
		}
		v := "$none"
		if bv[i] >= 0 {
			v = c.values[bv[i]]
		}
		if !found || v < value {
			value, found = v, true
		}
	}
	if !found {
		return "$none"
	}
	return value
}
