package duckdb

import (
	"context"
	"fmt"
	"math/bits"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/journeyidx"
)

// Retention and trends on the journey index (see journeyidx.go): plain
// event names or actions that reduce to them (indexNames), persons as
// the unit, no filters or breakdown; anything else answers ok = false and
// runs the SQL plans.

// padded returns n counters with a cache line free on either side: the
// workers' counters are written for every person, and counters of two
// workers on one cache line made the DAU trend's counting about twice as
// slow (false sharing).
func padded(n int) []int64 { return make([]int64, n+16)[8 : 8+n] }

// micros are instants as µs since the epoch.
func micros(ts []time.Time) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.UnixMicro()
	}
	return out
}

// periodFinder finds the period holding a time (bounds ascending, the
// last period open-ended; -1 before the first) through a table of fixed
// slots from bounds[0], each giving the period at its start, then a step
// or two forward: a binary search per person cost more than its events.
type periodFinder struct {
	b    []int64
	g    int64   // slot width, µs
	slot []int32 // period at each slot's start
}

func newPeriodFinder(b []int64) *periodFinder {
	f := &periodFinder{b: b, g: int64(15 * time.Minute / time.Microsecond)}
	span := b[len(b)-1] - b[0]
	f.g = max(f.g, span/(1<<16)+1)
	f.slot = make([]int32, span/f.g+1)
	k := 0
	for i := range f.slot {
		start := b[0] + int64(i)*f.g
		for k+1 < len(b) && b[k+1] <= start {
			k++
		}
		f.slot[i] = int32(k)
	}
	return f
}

func (f *periodFinder) find(t int64) int {
	if t < f.b[0] {
		return -1
	}
	i := (t - f.b[0]) / f.g
	if i >= int64(len(f.slot)) {
		return len(f.b) - 1
	}
	k := int(f.slot[i])
	for k+1 < len(f.b) && f.b[k+1] <= t {
		k++
	}
	return k
}

// indexRetention fills res (without breakdown) from the index, as
// retentionDense does from the store: per actor, the periods of its start
// and return events; for first_time, whether a start event precedes the
// first cohort.
func (s *Store) indexRetention(ctx context.Context, projectID int64, q *insight.Retention, bounds []time.Time, to time.Time, res *insight.RetentionResult) (ok bool, err error) {
	if q.Breakdown != nil || q.GroupType() != "" || len(q.Filters) > 0 {
		return false, nil
	}
	startNames, ok1 := matchNames(q.Start)
	returnNames, ok2 := matchNames(q.Return)
	if !ok1 || !ok2 {
		return false, nil
	}
	snap, actors, ok, err := s.journeyRead(ctx, projectID)
	if !ok || err != nil {
		return ok, err
	}
	defer snap.Close()
	// mask[code]: 1 a start event, 2 a return event.
	mask := make([]uint32, len(snap.Names))
	markCodes(snap, mask, 1, startNames)
	markCodes(snap, mask, 2, returnNames)
	keep := make([]bool, len(mask))
	isStart := make([]bool, len(mask))
	isReturn := make([]bool, len(mask))
	for c, m := range mask {
		keep[c], isStart[c], isReturn[c] = m != 0, m&1 != 0, m&2 != 0
	}
	nP := len(bounds)
	b := micros(bounds)
	firstTime := q.Mode == insight.RetentionFirstTime
	from := b[0]
	if firstTime {
		from = -1 << 62 // the start events' history
	}
	workers := s.jidx.workers
	per := make([]*retentionCounts, workers)
	for w := range per {
		c := &retentionCounts{size: padded(nP), retained: make([][]int64, nP)}
		for i := range c.retained {
			c.retained[i] = padded(min(q.Periods, nP-i))
		}
		per[w] = c
	}
	if s.usesMasks(nP) {
		err = scanActorMasks(ctx, snap, actors, workers, from, to.UnixMicro(), mask, 2, b, func(w int, m []uint64, before uint32) {
			c := per[w]
			starts, returns := m[0], m[1]
			if firstTime {
				if before&1 != 0 || starts == 0 {
					return
				}
				starts &= -starts // the first cohort only
			}
			for ; starts != 0; starts &= starts - 1 {
				co := bits.TrailingZeros64(starts)
				c.size[co]++
				ret := c.retained[co]
				for r := returns >> uint(co) &^ 1; r != 0; r &= r - 1 {
					k := bits.TrailingZeros64(r)
					if k >= len(ret) {
						break
					}
					ret[k]++
				}
			}
		})
	} else {
		err = s.retentionEvents(ctx, snap, actors, from, to.UnixMicro(), keep, isStart, isReturn, firstTime, b, per)
	}
	if err != nil {
		return true, fmt.Errorf("cannot run retention: %w", err)
	}
	res.Cohorts = make([]insight.RetentionCohort, nP)
	for co := range res.Cohorts {
		rc := insight.RetentionCohort{Start: insight.Label(bounds[co], q.Period), Retained: make([]int64, min(q.Periods, nP-co))}
		for _, c := range per {
			rc.Size += c.size[co]
			for k := 1; k < len(rc.Retained); k++ {
				rc.Retained[k] += c.retained[co][k]
			}
		}
		rc.Retained[0] = rc.Size
		res.Cohorts[co] = rc
	}
	return true, nil
}

// retentionCounts are one worker's retention counters.
type retentionCounts struct {
	size     []int64
	retained [][]int64
	starts   []int
	returns  []int
}

// retentionEvents counts retention from each actor's events, for more
// periods than masks hold.
func (s *Store) retentionEvents(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, from, to int64, keep, isStart, isReturn []bool, firstTime bool, b []int64, per []*retentionCounts) error {
	nP := len(b)
	rf := newPeriodFinder(b)
	return scanActors(ctx, snap, actors, s.jidx.workers, from, to, keep, func(w int, _ int64, ts []int64, cs []uint32) {
		c := per[w]
		c.starts, c.returns = c.starts[:0], c.returns[:0]
		p := rf.find(ts[0])
		history := false
		for i, t := range ts {
			for p+1 < nP && b[p+1] <= t {
				p++
			}
			if p < 0 {
				history = history || isStart[cs[i]]
				continue
			}
			// Periods only grow along the events: keep each once.
			if isStart[cs[i]] && (len(c.starts) == 0 || c.starts[len(c.starts)-1] != p) {
				c.starts = append(c.starts, p)
			}
			if isReturn[cs[i]] && (len(c.returns) == 0 || c.returns[len(c.returns)-1] != p) {
				c.returns = append(c.returns, p)
			}
		}
		if firstTime {
			if history || len(c.starts) == 0 {
				return
			}
			c.starts = c.starts[:1]
		}
		for _, co := range c.starts {
			c.size[co]++
			ret := c.retained[co]
			for _, r := range c.returns {
				if k := r - co; k >= 1 && k < len(ret) {
					ret[k]++
				}
			}
		}
	})
}

// indexTrendCounts is trendCounts on the index for total counts, DAU,
// WAU and MAU of a plain event name.
func (s *Store) indexTrendCounts(ctx context.Context, projectID int64, r insight.Range, series insight.Series, p insight.Periods) (_ []insight.CountRow, ok bool, _ error) {
	w, windows := p.Windows(series.Math)
	names, plain := indexNames(series.Event, series.Action, series.ActionID, series.Filters)
	switch {
	case !plain:
		return nil, false, nil
	case r.Breakdown != nil || r.GroupType() != "" || len(r.Filters) > 0 || p.Len() == 0:
		return nil, false, nil
	case series.Math != "" && series.Math != "total" && series.Math != "dau" && !windows:
		return nil, false, nil
	case !windows && r.From.Before(p.Starts[0]): // rows before the first period: the SQL's period -1
		return nil, false, nil
	}
	snap, actors, ok, err := s.journeyRead(ctx, projectID)
	if !ok || err != nil {
		return nil, ok, err
	}
	defer snap.Close()
	mask := make([]uint32, len(snap.Names))
	if !markCodes(snap, mask, 1, names) {
		return nil, true, nil // the project never had the event
	}
	keep := make([]bool, len(mask))
	for c, m := range mask {
		keep[c] = m != 0
	}
	if windows {
		rows, err := s.indexActiveUsers(ctx, snap, actors, keep, r, p, w)
		return rows, true, err
	}
	b := micros(p.Starts)
	nP := len(b)
	workers := s.jidx.workers
	per := make([][]int64, workers)
	for i := range per {
		per[i] = padded(nP)
	}
	dau := series.Math == "dau"
	if dau && s.usesMasks(nP) {
		counts := make([]*bitCounts, workers)
		for i := range counts {
			counts[i] = new(bitCounts)
		}
		err = scanActorMasks(ctx, snap, actors, workers, r.From.UnixMicro(), r.To.UnixMicro(), mask, 1, b, func(w int, m []uint64, _ uint32) {
			counts[w].add(m[0])
		})
		if err != nil {
			return nil, true, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
		}
		for i, c := range counts {
			c.addTo(per[i])
		}
		return periodRows(nil, insight.CountRow{}, sumCounts(per, nP)), true, nil
	}
	pf := newPeriodFinder(b)
	err = scanActors(ctx, snap, actors, workers, r.From.UnixMicro(), r.To.UnixMicro(), keep, func(w int, _ int64, ts []int64, _ []uint32) {
		c := per[w]
		last := -1
		k := pf.find(ts[0])
		for _, t := range ts {
			for k+1 < nP && b[k+1] <= t {
				k++
			}
			if !dau {
				c[k]++
			} else if k != last {
				c[k]++
				last = k
			}
		}
	})
	if err != nil {
		return nil, true, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
	}
	return periodRows(nil, insight.CountRow{}, sumCounts(per, nP)), true, nil
}

// sumCounts adds the workers' counters.
func sumCounts(per [][]int64, n int) []int64 {
	total := make([]int64, n)
	for _, c := range per {
		for i, v := range c {
			total[i] += v
		}
	}
	return total
}

// indexActiveUsers counts WAU/MAU as activeUsers does: for each window,
// the actors active on one of its local days.
func (s *Store) indexActiveUsers(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, keep []bool, r insight.Range, p insight.Periods, w insight.Windows) ([]insight.CountRow, error) {
	loc := p.Location()
	// Local days from w.From's to the last window's end, as the UTC
	// instants of their midnights.
	first := w.From.In(loc)
	day0 := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc)
	ends := make([]int, len(w.Ends))
	civil := func(t time.Time) int { // days since day0, by calendar date
		a := time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, time.UTC)
		b := time.Date(day0.Year(), day0.Month(), day0.Day(), 12, 0, 0, 0, time.UTC)
		return int(a.Sub(b).Hours() / 24)
	}
	lastDay := 0
	for i, e := range w.Ends {
		d, err := time.ParseInLocation("2006-01-02", e, loc)
		if err != nil {
			return nil, fmt.Errorf("cannot read window end %q: %w", e, err)
		}
		ends[i] = civil(d)
		lastDay = max(lastDay, ends[i])
	}
	midnights := make([]int64, lastDay+2)
	for i := range midnights {
		midnights[i] = time.Date(day0.Year(), day0.Month(), day0.Day()+i, 0, 0, 0, 0, loc).UnixMicro()
	}
	workers := s.jidx.workers
	pf := newPeriodFinder(midnights)
	per := make([][]int64, workers)
	days := make([][]int, workers)
	for i := range per {
		per[i] = padded(len(ends))
	}
	err := scanActors(ctx, snap, actors, workers, w.From.UnixMicro(), r.To.UnixMicro(), keep, func(wk int, _ int64, ts []int64, _ []uint32) {
		ds := days[wk][:0]
		d := pf.find(ts[0])
		for _, t := range ts {
			for d+1 < len(midnights) && midnights[d+1] <= t {
				d++
			}
			if len(ds) == 0 || ds[len(ds)-1] != d {
				ds = append(ds, d)
			}
		}
		days[wk] = ds
		j := 0
		for i, e := range ends {
			for j < len(ds) && ds[j] <= e-w.Days {
				j++
			}
			if j < len(ds) && ds[j] <= e {
				per[wk][i]++
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cannot count active users: %w", err)
	}
	var out []insight.CountRow
	for i := range ends {
		var n int64
		for _, c := range per {
			n += c[i]
		}
		if n > 0 {
			out = append(out, insight.CountRow{Period: i, Value: float64(n)})
		}
	}
	return out, nil
}
