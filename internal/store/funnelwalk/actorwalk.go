package funnelwalk

import (
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
