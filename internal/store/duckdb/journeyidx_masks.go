package duckdb

import (
	"context"
	"math/bits"

	"github.com/journey-dev/journey/internal/journeyidx"
)

// The index's period masks (journeyidx.ScanMasks): DAU, retention,
// stickiness and lifecycle over at most 64 periods (Plan.maskPeriods, as
// the SQL plans' bitmasks) only ask in which periods an actor was active,
// so the scan hands each person's periods as bits per class of event
// names instead of its events: on the bench's 20 M events a few times
// cheaper than walking the events (no copies, no sort of a person's runs,
// one table lookup per event).

// usesMasks says whether a query over n periods (bounds) reads masks.
func (s *Store) usesMasks(n int) bool {
	return n <= min(s.plan.maskPeriods(), journeyidx.MaxMaskPeriods)
}

// maskedActor is an actor's masks gathered from the persons an override
// touches.
type maskedActor struct {
	masks  []uint64
	before uint32
}

// scanActorMasks calls fn with every actor's masks (see
// journeyidx.MaskFunc), from workers goroutines; persons an override
// touches are ORed by actor during the scan and handed over afterwards on
// worker 0.
func scanActorMasks(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, workers int, from, to int64, classes []uint32, nClasses int, bounds []int64, fn func(w int, masks []uint64, before uint32)) error {
	merged := make([]map[int64]*maskedActor, workers)
	err := snap.ScanMasks(ctx, workers, from, to, classes, nClasses, bounds, func(w int, d uint32, masks []uint64, before uint32) {
		if !actors.isSpecial(d) {
			fn(w, masks, before)
			return
		}
		if merged[w] == nil {
			merged[w] = map[int64]*maskedActor{}
		}
		a := actors.actor(snap.Persons[d])
		m := merged[w][a]
		if m == nil {
			m = &maskedActor{masks: make([]uint64, nClasses)}
			merged[w][a] = m
		}
		for i, x := range masks {
			m.masks[i] |= x
		}
		m.before |= before
	})
	if err != nil {
		return err
	}
	all := map[int64]*maskedActor{}
	for _, ms := range merged {
		for a, m := range ms {
			if into := all[a]; into != nil {
				for i, x := range m.masks {
					into.masks[i] |= x
				}
				into.before |= m.before
			} else {
				all[a] = m
			}
		}
	}
	for _, m := range all {
		fn(0, m.masks, m.before)
	}
	return nil
}

// countBits adds 1 to c[i] for every bit i of m.
func countBits(c []int64, m uint64) {
	for ; m != 0; m &= m - 1 {
		c[bits.TrailingZeros64(m)]++
	}
}

// bitCounts counts, for each of 64 bits, the masks added that have it,
// as a vertical binary counter: planes[i] holds bit i of all 64 counts,
// so adding a mask is a carry chain of a few steps (about log2 of the
// bits it sets) where countBits increments a counter per set bit (a DAU
// person is active on about ten days). Each worker has its own; the
// padding keeps two workers' planes off one cache line.
type bitCounts struct {
	planes [64]uint64
	_      [64]byte
}

func (c *bitCounts) add(m uint64) {
	for i := 0; m != 0; i++ {
		c.planes[i], m = c.planes[i]^m, c.planes[i]&m
	}
}

// addTo adds the counts to out[i] for bit i (len(out) <= 64).
func (c *bitCounts) addTo(out []int64) {
	for b := range out {
		var n int64
		for i, p := range c.planes {
			n |= int64(p>>uint(b)&1) << uint(i)
		}
		out[b] += n
	}
}
