package funnelwalk

import (
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// ActorWalk walks actors that a store hands over already grouped, one
// actor with all its rows at a time (the journey index, package
// journeyidx, reads persons that way), so nothing is collected,
// partitioned or radix-sorted first. It walks each actor exactly as Run
// does (the same walker), so both give the same answers. Funnels with a
// breakdown use Run. Each goroutine uses its own ActorWalk; ActorResult
// merges them.
type ActorWalk struct {
	w    walker
	agg  *agg
	rows []row
	n    int64 // rows walked
	// n is written for every actor: a cache line keeps it off the next
	// walk's (another worker's) first fields (false sharing).
	_ [64]byte
}

// NewActorWalk returns a walk for a plan without breakdown.
func NewActorWalk(p *Plan, tz *time.Location) *ActorWalk {
	if tz == nil {
		tz = time.UTC
	}
	a := &ActorWalk{agg: newAgg(p, tz)}
	a.w.init(p)
	return a
}

// Event adds one row of the next actor: t in µs since the plan's from,
// m its mask (rows of mask 0 are dropped).
func (a *ActorWalk) Event(t int64, m uint32) {
	if m != 0 {
		a.rows = append(a.rows, row{t: t, m: m})
	}
}

// Rows is how many rows the walk took (for memory caps that must answer
// as Run's Collector does).
func (a *ActorWalk) Rows() int64 { return a.n + int64(len(a.rows)) }

// Actor walks the rows added since the last call as actor's, in any
// order, and adds its best attempt.
func (a *ActorWalk) Actor(actor int64) {
	rows := a.rows
	a.rows = a.rows[:0]
	a.n += int64(len(rows))
	if len(rows) == 0 {
		return
	}
	w := &a.w
	level, ok := w.quickLevel(rows) // never with exclusions, which read w.evs
	if !ok {
		w.evs = rows
		w.sortEvents()
		level = w.walk()
	}
	if level == 0 || w.excluded(level) {
		return
	}
	a.agg.add(actor, level, w.best[:level], "")
}

// ActorResult merges the walks into the funnel's result.
func ActorResult(p *Plan, walks []*ActorWalk) *insight.FunnelResult {
	if len(walks) == 0 {
		walks = []*ActorWalk{NewActorWalk(p, nil)}
	}
	for _, a := range walks[1:] {
		walks[0].agg.merge(a.agg)
	}
	agg := walks[0].agg
	// Run lists actors outside [0, 2^32) (personless events' negative ids)
	// after the others, as the Collector keeps them counted down from
	// maxActor; do the same, in ascending order among themselves.
	c := NewCollector(p, 0)
	var far []int64
	for _, id := range agg.ids {
		if uint64(id) > maxActor {
			far = append(far, id)
		}
	}
	if len(far) > 0 {
		slices.Sort(far)
		far = slices.Compact(far)
		c.far = map[int64]uint32{}
		for i := len(far) - 1; i >= 0; i-- { // the smallest gets the largest kept id
			c.far[far[i]] = uint32(maxActor - len(c.farIDs))
			c.farIDs = append(c.farIDs, far[i])
		}
		for i, id := range agg.ids {
			if k, ok := c.far[id]; ok {
				agg.ids[i] = int64(k)
			}
		}
	}
	return agg.result(c)
}

// MaskRun is one of an actor's runs of rows of one mask: times in µs since
// the epoch (not the plan's from), ascending.
type MaskRun struct {
	Times []int64
	M     uint32
}

// ActorRuns walks an actor handed over as runs (a store that keeps each
// person's events by name, as the journey index does), none empty, as
// Actor walks the same rows: an actor that cannot pass step 1 is answered
// from the runs' masks and first times, without rows; the others' runs
// are merged into walk order (no sort).
func (a *ActorWalk) ActorRuns(actor int64, runs []MaskRun) {
	w := &a.w
	p := w.p
	var or uint64
	first := int64(math.MaxInt64)
	for _, r := range runs {
		a.n += int64(len(r.Times))
		or |= uint64(r.M)
		if uint64(r.M)&p.StartMask != 0 {
			first = min(first, r.Times[0])
		}
	}
	level := 0
	if w.cannotPassStep1(or) {
		if or&p.StartMask == 0 {
			return
		}
		level, w.best[0] = 1, first-p.FromUs
	} else if l, ok := w.walkStepRuns(runs); ok {
		if level = l; level == 0 {
			return
		}
	} else {
		w.evs = w.mergeRuns(runs)
		level = w.walk()
		if level == 0 || w.excluded(level) {
			return
		}
	}
	a.agg.add(actor, level, w.best[:level], "")
}
