package funnelwalk

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/journey-dev/journey/internal/insight"
)

// fev is one event of an actor: µs since from, and its mask.
type fev struct {
	t int64
	m uint64
}

// walker computes one actor's funnel; its buffers are reused.
type walker struct {
	p         *Plan
	rows, tmp []Row // a partition's rows, grouped by actor
	evs       []fev
	// set[j]: some chain reached step j+1; path[j][0..j]: its step times.
	set  [insight.MaxFunnelSteps]bool
	path [insight.MaxFunnelSteps][insight.MaxFunnelSteps]int64
	// best: the step times of the earliest chain to reach the final level.
	best [insight.MaxFunnelSteps]int64
	cnt  [insight.MaxFunnelSteps]int
}

func (w *walker) init(p *Plan) { w.p = p }

// part groups one partition's rows by actor and walks each actor.
func (w *walker) part(agg *agg, c *Collector, pieces [][]Row) {
	w.rows = w.rows[:0]
	for _, p := range pieces {
		w.rows = append(w.rows, p...)
	}
	rows := w.radixByActor()
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Actor == rows[i].Actor {
			j++
		}
		w.actor(agg, c, rows[i:j])
		i = j
	}
}

// radixByActor sorts w.rows by actor (LSD radix, stable) and returns them.
func (w *walker) radixByActor() []Row {
	rows := w.rows
	if len(rows) == 0 {
		return rows
	}
	lo, hi := rows[0].Actor, rows[0].Actor
	for _, r := range rows {
		lo, hi = min(lo, r.Actor), max(hi, r.Actor)
	}
	keyBits := bits.Len64(uint64(hi - lo))
	const digit = 11
	if cap(w.tmp) < len(rows) {
		w.tmp = make([]Row, len(rows))
	}
	src, dst := rows, w.tmp[:len(rows)]
	var count [1 << digit]int
	for shift := 0; shift < keyBits; shift += digit {
		clear(count[:])
		for i := range src {
			count[uint64(src[i].Actor-lo)>>shift&(1<<digit-1)]++
		}
		sum := 0
		for d, n := range count {
			count[d] = sum
			sum += n
		}
		for i := range src {
			d := uint64(src[i].Actor-lo) >> shift & (1<<digit - 1)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	w.rows, w.tmp = src, dst[:cap(dst)]
	return src
}

// actor walks one actor's events (sorted by time) and adds its best
// attempt to agg.
func (w *walker) actor(agg *agg, c *Collector, rows []Row) {
	w.evs = w.evs[:0]
	for _, r := range rows {
		w.evs = append(w.evs, fev{t: r.T, m: uint64(r.M)})
	}
	slices.SortFunc(w.evs, func(a, b fev) int { return cmp.Compare(a.t, b.t) })
	w.orderTies()
	level := w.walk()
	if level == 0 || w.excluded(level) {
		return
	}
	value := ""
	if w.p.Breakdown {
		value = w.breakdownValue(c, rows)
	}
	agg.add(rows[0].Actor, level, w.best[:level], value)
}

// orderTies orders the events of one time by their first step (events of
// no step first, as windowFunnel's strict_order puts them), then mask.
func (w *walker) orderTies() {
	evs := w.evs
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && evs[j].t == evs[i].t {
			j++
		}
		if j-i > 1 {
			stepMask := w.p.StepMask
			slices.SortFunc(evs[i:j], func(a, b fev) int {
				// TrailingZeros64(0) is 64; +1 mod 65 makes "no step" 0.
				fa := (bits.TrailingZeros64(a.m&stepMask) + 1) % 65
				fb := (bits.TrailingZeros64(b.m&stepMask) + 1) % 65
				if fa != fb {
					return fa - fb
				}
				return cmp.Compare(a.m, b.m)
			})
		}
		i = j
	}
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
// time go in the order of their first step (orderTies sorts them), which
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
		steps := e.m & p.StepMask
		if steps == 0 {
			if e.m&p.StrictBit != 0 && started {
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
		if evs[i].m&p.StepMask == 0 { // an exclusion event only
			i++
			continue
		}
		for ; j < len(evs) && evs[j].t <= t+p.WindowUs; j++ {
			for m := evs[j].m & p.StepMask; m != 0; m &= m - 1 {
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
			for m := evs[i].m & p.StepMask; m != 0; m &= m - 1 {
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
		for m := evs[i].m & p.StepMask &^ seen; m != 0; m &= m - 1 {
			w.best[k] = evs[i].t
			k++
		}
		seen |= evs[i].m & p.StepMask
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
			if e.m&bit != 0 && e.t > from {
				return true
			}
		}
	}
	return false
}

// breakdownValue is the breakdown value of the best chain's first event
// (the smallest value when several start events share its time).
func (w *walker) breakdownValue(c *Collector, rows []Row) string {
	start := w.best[0]
	value, found := "", false
	for _, r := range rows {
		if r.T != start || uint64(r.M)&w.p.StartMask == 0 {
			continue
		}
		v := "$none"
		if r.BV >= 0 {
			v = c.values[r.BV]
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
