package duckdb

import (
	"context"
	"fmt"
	"math/bits"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/journeyidx"
)

// Stickiness and lifecycle on the journey index (see journeyidx.go), as
// retention and trends in journeyidx_plans.go: plain event names or
// actions that reduce to them, persons as the unit, no filters; anything
// else answers ok = false and runs the SQL plans.

// indexNames returns the event names a match reads when the index can
// answer it: an event, or a resolved action whose every step is an event
// name and nothing more (any other condition reads properties, which the
// index does not hold).
func indexNames(event string, a *insight.ActionDef, actionID int64, filters []insight.Filter) ([]string, bool) {
	if len(filters) > 0 {
		return nil, false
	}
	if a == nil {
		return []string{event}, event != "" && actionID == 0
	}
	if !a.Resolved() { // the SQL matches nothing; leave that to it
		return nil, false
	}
	for _, st := range a.Steps {
		if st.Event == "" || st.Text != "" || st.Href != "" || st.Selector != "" || st.TagName != "" || st.URL != "" || len(st.Filters) > 0 {
			return nil, false
		}
	}
	return a.Events(), true
}

// matchNames is indexNames of an event match.
func matchNames(m insight.EventMatch) ([]string, bool) {
	return indexNames(m.Event, m.Action, m.ActionID, m.Filters)
}

// markCodes sets bit in mask for the codes of names (a name the project
// never had has none) and says whether any had one.
func markCodes(snap *journeyidx.Snapshot, mask []uint32, bit uint32, names []string) bool {
	found := false
	for _, n := range names {
		if c, ok := snap.Code(n); ok {
			mask[c] |= bit
			found = true
		}
	}
	return found
}

// indexStickinessCounts is stickinessCounts on the index: per actor and
// series, the distinct periods of its events in [From, To), as a
// histogram.
func (s *Store) indexStickinessCounts(ctx context.Context, projectID int64, q *insight.Stickiness, p insight.Periods) (_ []insight.CountRow, ok bool, _ error) {
	if q.Breakdown != nil || q.GroupType() != "" || len(q.Filters) > 0 || p.Len() == 0 || len(q.Series) > 32 {
		return nil, false, nil
	}
	names := make([][]string, len(q.Series))
	for i, m := range q.Series {
		if names[i], ok = matchNames(m); !ok {
			return nil, false, nil
		}
	}
	snap, actors, ok, err := s.journeyRead(ctx, projectID)
	if !ok || err != nil {
		return nil, ok, err
	}
	defer snap.Close()
	// mask[code]: the series the event counts for.
	mask := make([]uint32, len(snap.Names))
	found := false
	for i := range names {
		found = markCodes(snap, mask, 1<<i, names[i]) || found
	}
	if !found {
		return nil, true, nil
	}
	keep := make([]bool, len(mask))
	for c, m := range mask {
		keep[c] = m != 0
	}
	b := micros(p.Starts)
	nP, nS := len(b), len(q.Series)
	pf := newPeriodFinder(b)
	workers := s.jidx.workers
	type state struct {
		hist  []int64 // series × (periods + 1): actors by number of periods
		last  []int   // per series: the last period counted
		count []int
	}
	per := make([]*state, workers)
	for w := range per {
		per[w] = &state{hist: padded(nS * (nP + 1)), last: make([]int, nS), count: make([]int, nS)}
	}
	if s.usesMasks(nP) {
		err = scanActorMasks(ctx, snap, actors, workers, q.From.UnixMicro(), q.To.UnixMicro(), mask, nS, b, func(w int, m []uint64, _ uint32) {
			st := per[w]
			for sr, x := range m {
				if x != 0 {
					st.hist[sr*(nP+1)+bits.OnesCount64(x)]++
				}
			}
		})
	} else {
		err = scanActors(ctx, snap, actors, workers, q.From.UnixMicro(), q.To.UnixMicro(), keep, func(w int, _ int64, ts []int64, cs []uint32) {
			st := per[w]
			for i := range st.last {
				st.last[i], st.count[i] = -1, 0
			}
			k := pf.find(ts[0])
			for i, t := range ts {
				for k+1 < nP && b[k+1] <= t {
					k++
				}
				if k < 0 {
					continue
				}
				for m := mask[cs[i]]; m != 0; m &= m - 1 {
					sr := bits.TrailingZeros32(m)
					if st.last[sr] != k {
						st.last[sr] = k
						st.count[sr]++
					}
				}
			}
			for sr, n := range st.count {
				if n > 0 {
					st.hist[sr*(nP+1)+n]++
				}
			}
		})
	}
	if err != nil {
		return nil, true, fmt.Errorf("cannot run stickiness: %w", err)
	}
	var out []insight.CountRow
	for sr := range nS {
		for n := 1; n <= nP; n++ {
			var v int64
			for _, st := range per {
				v += st.hist[sr*(nP+1)+n]
			}
			if v > 0 {
				out = append(out, insight.CountRow{Series: sr, Period: n, Value: float64(v)})
			}
		}
	}
	return out, true, nil
}

// indexLifecycleCounts is lifecycleCounts on the index. Whether an actor
// is new depends on its whole history: the snapshot holds every event of
// the project (journeySnapshot checks its count against the store's), so
// the scan reads from the beginning of time, as the SQL does, and an
// actor's first event of the names is the first it hands over.
func (s *Store) indexLifecycleCounts(ctx context.Context, projectID int64, q *insight.Lifecycle, p insight.Periods) (_ []insight.CountRow, ok bool, _ error) {
	if q.Breakdown != nil || q.GroupType() != "" || len(q.Filters) > 0 || p.Len() == 0 {
		return nil, false, nil
	}
	names, ok := indexNames(q.Event, q.Action, q.ActionID, nil)
	if !ok {
		return nil, false, nil
	}
	snap, actors, ok, err := s.journeyRead(ctx, projectID)
	if !ok || err != nil {
		return nil, ok, err
	}
	defer snap.Close()
	mask := make([]uint32, len(snap.Names))
	if !markCodes(snap, mask, 1, names) {
		return nil, true, nil
	}
	keep := make([]bool, len(mask))
	for c, m := range mask {
		keep[c] = m != 0
	}
	nP := p.Len()
	// Bounds: the period before the range, then the range's; a time
	// before them all (find's -1) is older history.
	b := micros(append([]time.Time{p.Before()}, p.Starts...))
	pf := newPeriodFinder(b)
	workers := s.jidx.workers
	type state struct{ active, returning, first []int64 } // active by period+1 (-1..nP-1), the others by period
	per := make([]*state, workers)
	for w := range per {
		per[w] = &state{active: padded(nP + 1), returning: padded(nP), first: padded(nP)}
	}
	if s.usesMasks(len(b)) {
		// Bit k of m: active in period k-1; m & (m >> 1) bit k: active in
		// periods k-1 and k.
		err = scanActorMasks(ctx, snap, actors, workers, time.Time{}.UnixMicro(), q.To.UnixMicro(), mask, 1, b, func(w int, ms []uint64, older uint32) {
			st, m := per[w], ms[0]
			if m == 0 {
				return
			}
			if f := bits.TrailingZeros64(m) - 1; older == 0 && f >= 0 {
				st.first[f]++
			}
			countBits(st.active, m)
			countBits(st.returning, m&(m>>1))
		})
	} else {
		err = scanActors(ctx, snap, actors, workers, time.Time{}.UnixMicro(), q.To.UnixMicro(), keep, func(w int, _ int64, ts []int64, _ []uint32) {
			st := per[w]
			k := pf.find(ts[0]) // bound index: period k-1
			if f := k - 1; f >= 0 {
				st.first[f]++
			}
			last := -2 // the last period counted active, as a bound index
			for _, t := range ts {
				for k+1 < len(b) && b[k+1] <= t {
					k++
				}
				if k < 0 || k == last {
					continue
				}
				st.active[k]++
				if k >= 1 && last == k-1 {
					st.returning[k-1]++
				}
				last = k
			}
		})
	}
	if err != nil {
		return nil, true, fmt.Errorf("cannot run lifecycle: %w", err)
	}
	var out []insight.CountRow
	add := func(measure string, period int, v func(*state) int64) {
		var n int64
		for _, st := range per {
			n += v(st)
		}
		if n > 0 {
			out = append(out, insight.CountRow{Measure: measure, Period: period, Value: float64(n)})
		}
	}
	for i := -1; i < nP; i++ {
		add(insight.CountActive, i, func(st *state) int64 { return st.active[i+1] })
		if i >= 0 {
			add(insight.CountReturning, i, func(st *state) int64 { return st.returning[i] })
			add(insight.CountNew, i, func(st *state) int64 { return st.first[i] })
		}
	}
	return out, true, nil
}
