package journeyidx

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// MaxMaskPeriods is how many periods ScanMasks tells apart: one bit each
// of a uint64.
const MaxMaskPeriods = 64

// MaxMaskClasses is how many classes of event names ScanMasks keeps
// apart: one bit each of a code's class set.
const MaxMaskClasses = 32

// MaskFunc receives one person's activity from ScanMasks: masks[c] has
// bit p set when the person has an event of class c in period p, before
// has bit c set when it has one before the first period (within the
// scan's range). The slice is reused after it returns.
type MaskFunc func(worker int, dense uint32, masks []uint64, before uint32)

// ScanMasks is Scan for the insights that only ask in which periods a
// person did something (active users, retention, stickiness, lifecycle):
// classes[code] is the set of classes (bits) an event name counts for (0
// or past the slice: not read); bounds are the periods' starts, ascending,
// the last period open up to to. fn gets every person with an event of a
// class in [from, to).
//
// It is several times cheaper than Scan with a callback doing the same:
// no person's events are materialized or sorted (masks of several runs
// and segments just OR), each run's times are decoded straight into a
// period bit through a small table, and a run stops at to.
func (s *Snapshot) ScanMasks(ctx context.Context, workers int, from, to int64, classes []uint32, nClasses int, bounds []int64, fn MaskFunc) error {
	if len(bounds) == 0 || len(bounds) > MaxMaskPeriods || nClasses <= 0 || nClasses > MaxMaskClasses {
		return errors.New("cannot scan masks: 1 to 64 periods and 1 to 32 classes")
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			return errors.New("cannot scan masks: periods out of order")
		}
	}
	n := len(s.Persons)
	if n == 0 || len(s.runs) == 0 || from >= to {
		return nil
	}
	codes := len(classes)
	for _, f := range s.runs {
		codes = max(codes, int(f.seg.foot.maxCode))
	}
	cls := make([]uint32, codes)
	copy(cls, classes)
	keep8 := make([]uint8, codes)
	for i, c := range cls {
		if c != 0 {
			keep8[i] = 1
		}
	}
	pl := newPeriodLookup(bounds)
	return parallelParts(ctx, workers, n, func(w int) func(lo, hi uint32) error {
		ms := maskScanner{scanner: scanner{s: s, from: from, to: to, keep: keep8, worker: w}, cls: cls, pl: pl,
			masks: make([]uint64, nClasses+16)[8 : 8+nClasses], fn: fn} // padded: see scanner
		ms.curs = newCursors(len(s.runs))
		return ms.scan
	})
}

// parallelParts cuts the dense ids [0, n) into ranges that workers
// goroutines take in turn, each with its own scan function.
func parallelParts(ctx context.Context, workers, n int, newScan func(w int) func(lo, hi uint32) error) error {
	workers = max(1, workers)
	parts := min(n, workers*16)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	var errOnce sync.Once
	var scanErr error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scan := newScan(w)
			for {
				part := int(next.Add(1) - 1)
				if part >= parts || failed.Load() {
					return
				}
				if ctx.Err() != nil {
					failed.Store(true)
					return
				}
				lo, hi := uint32(part*n/parts), uint32((part+1)*n/parts)
				if err := scan(lo, hi); err != nil {
					errOnce.Do(func() { scanErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		if scanErr != nil {
			return scanErr
		}
		return ctx.Err()
	}
	return nil
}

// maskScanner is one ScanMasks worker's state.
type maskScanner struct {
	scanner
	cls   []uint32
	pl    periodLookup
	masks []uint64
	fn    MaskFunc
}

// scan runs fn over the persons in [lo, hi), merging the runs' cursors
// by person as scanner.scan does.
func (ms *maskScanner) scan(lo, hi uint32) error {
	sc := &ms.scanner
	for i, f := range sc.s.runs {
		c := &sc.curs[i]
		c.seg, c.valid, c.loaded = f.seg, false, false
		refs := f.seg.refs
		c.bi = sort.Search(len(refs), func(k int) bool { return refs[k].last >= lo })
		if err := c.load(sc, lo, hi); err != nil {
			return err
		}
	}
	single := len(sc.curs) == 1
	for {
		d, any := uint32(0), false
		if single {
			c := &sc.curs[0]
			if !c.valid {
				return nil
			}
			d, any = c.b.persons[c.pi], true
		} else {
			for i := range sc.curs {
				if c := &sc.curs[i]; c.valid && (!any || c.b.persons[c.pi] < d) {
					d, any = c.b.persons[c.pi], true
				}
			}
		}
		if !any {
			return nil
		}
		clear(ms.masks)
		var before uint32
		var seen uint64
		for i := range sc.curs {
			c := &sc.curs[i]
			if !c.valid || c.b.persons[c.pi] != d {
				continue
			}
			b := &c.b
			r0 := 0
			if c.pi > 0 {
				r0 = b.runEnds[c.pi-1]
			}
			for r := r0; r < b.runEnds[c.pi]; r++ {
				set := ms.cls[b.runCodes[r]]
				if set == 0 {
					continue
				}
				m, bf, err := b.runMask(r, sc.from, sc.to, &ms.pl)
				if err != nil {
					return err
				}
				if bf {
					before |= set
				}
				if m == 0 {
					continue
				}
				seen |= m
				for ; set != 0; set &= set - 1 {
					ms.masks[bits.TrailingZeros32(set)] |= m
				}
			}
			c.pi++
			if err := c.load(sc, lo, hi); err != nil {
				return err
			}
		}
		if seen != 0 || before != 0 {
			ms.fn(sc.worker, d, ms.masks, before)
		}
	}
}

// runMask returns the periods of run r's times in [from, to) as bits,
// and whether one is before the first period. Times in a run only grow:
// it stops at the first at or past to.
//
// The loop has no branch that depends on where a time falls among the
// periods (pl.at is a table lookup and a compare, a bit ORed again is
// the same bit): on a DAU trend most of a person's events are in days of
// their own, and the branch on "same period as the last one" missed
// about half the time.
func (b *block) runMask(r int, from, to int64, pl *periodLookup) (mask uint64, before bool, _ error) {
	start, end := b.starts[r], b.ends[r]
	tw := uint64(b.tbits)
	pos := uint64(start) * tw
	off := uint64(0)
	lo := max(from, pl.b[0]) // times in [from, lo) are before the first period
	for k := start; k < end; k++ {
		x := getBits(b.times, pos, b.tbits)
		pos += tw
		if x > b.span-off {
			return 0, false, corrupt("block %d events", b.idx)
		}
		off += x
		t := b.base + int64(off)
		if t >= to {
			break
		}
		if t < lo {
			before = before || t >= from
			continue
		}
		mask |= 1 << pl.at(t)
	}
	return mask, before, nil
}

// periodLookup finds the period of a time among at most 64 bounds
// through a table of slots of 2^shift µs from the first bound, each
// giving the period at its start; slots are no wider than the narrowest
// period (as far as a table of 64 k slots allows), so at most one step
// forward follows, and ends (the next period's start by period, the last
// one's math.MaxInt64) makes it a compare.
type periodLookup struct {
	b     []int64
	ends  []int64
	shift uint
	slot  []uint8
	wide  bool // a slot may hold two bounds or more (64 k slots were not enough)
}

func newPeriodLookup(b []int64) periodLookup {
	gap := int64(1) << 62
	for i := 1; i < len(b); i++ {
		gap = min(gap, b[i]-b[i-1])
	}
	span := b[len(b)-1] - b[0]
	shift := uint(62)
	for shift > 0 && int64(1)<<shift > gap {
		shift--
	}
	for span>>shift > 1<<16 {
		shift++
	}
	pl := periodLookup{b: b, ends: append(slices.Clone(b[1:]), math.MaxInt64), shift: shift,
		slot: make([]uint8, span>>shift+1), wide: int64(1)<<shift > gap}
	k := 0
	for i := range pl.slot {
		at := b[0] + int64(i)<<shift
		for k+1 < len(b) && b[k+1] <= at {
			k++
		}
		pl.slot[i] = uint8(k)
	}
	return pl
}

// find returns the period holding t, -1 before the first.
func (pl *periodLookup) find(t int64) int {
	if t < pl.b[0] {
		return -1
	}
	return int(pl.at(t))
}

// at returns the period holding t >= b[0].
func (pl *periodLookup) at(t int64) uint {
	i := uint64(t-pl.b[0]) >> pl.shift
	if i >= uint64(len(pl.slot)) {
		return uint(len(pl.b) - 1)
	}
	k := uint(pl.slot[i])
	if pl.wide {
		for int(k)+1 < len(pl.b) && pl.b[k+1] <= t {
			k++
		}
		return k
	}
	if pl.ends[k] <= t {
		k++
	}
	return k
}

// Run is one run that ScanRuns hands over: the times (µs), ascending, of
// one person's events of one name in one of the snapshot's sorted runs,
// within the scan's range.
type Run struct {
	Code  uint32
	Times []int64
}

// RunsFunc receives one person's runs from ScanRuns, none empty, in no
// particular order; a code may come once per segment holding it. The
// slices are reused after it returns.
type RunsFunc func(worker int, dense uint32, runs []Run)

// ScanRuns is Scan for callers that merge a person's events themselves
// (the funnel walk, which puts each person's events in its own order and
// answers many persons from their runs alone): fn gets every person with
// events in [from, to) whose code keep marks, as their runs, which are
// decoded but neither copied into one list nor sorted.
func (s *Snapshot) ScanRuns(ctx context.Context, workers int, from, to int64, keep []bool, fn RunsFunc) error {
	n := len(s.Persons)
	if n == 0 || len(s.runs) == 0 || from >= to {
		return nil
	}
	codes := len(keep)
	for _, f := range s.runs {
		codes = max(codes, int(f.seg.foot.maxCode))
	}
	keep8 := make([]uint8, codes)
	for i, k := range keep {
		if k {
			keep8[i] = 1
		}
	}
	return parallelParts(ctx, workers, n, func(w int) func(lo, hi uint32) error {
		rs := runScanner{scanner: scanner{s: s, from: from, to: to, keep: keep8, worker: w}, fn: fn}
		rs.curs = newCursors(len(s.runs))
		return rs.scan
	})
}

// runScanner is one ScanRuns worker's state.
type runScanner struct {
	scanner
	fn   RunsFunc
	runs []Run
	ends []int    // the runs' ends in ts, while a person's runs are decoded
	_    [64]byte // see scanner
}

// scan runs fn over the persons in [lo, hi), merging the runs' cursors
// by person as scanner.scan does.
func (rs *runScanner) scan(lo, hi uint32) error {
	sc := &rs.scanner
	for i, f := range sc.s.runs {
		c := &sc.curs[i]
		c.seg, c.valid, c.loaded = f.seg, false, false
		refs := f.seg.refs
		c.bi = sort.Search(len(refs), func(k int) bool { return refs[k].last >= lo })
		if err := c.load(sc, lo, hi); err != nil {
			return err
		}
	}
	for {
		d, any := uint32(0), false
		for i := range sc.curs {
			if c := &sc.curs[i]; c.valid && (!any || c.b.persons[c.pi] < d) {
				d, any = c.b.persons[c.pi], true
			}
		}
		if !any {
			return nil
		}
		sc.ts, sc.codes, rs.ends = sc.ts[:0], sc.codes[:0], rs.ends[:0]
		for i := range sc.curs {
			c := &sc.curs[i]
			if !c.valid || c.b.persons[c.pi] != d {
				continue
			}
			b := &c.b
			r0 := 0
			if c.pi > 0 {
				r0 = b.runEnds[c.pi-1]
			}
			for r := r0; r < b.runEnds[c.pi]; r++ {
				if sc.keep[b.runCodes[r]] == 0 {
					continue
				}
				before := len(sc.ts)
				var err error
				if sc.ts, err = b.runTimes(r, sc.from, sc.to, sc.ts); err != nil {
					return err
				}
				if len(sc.ts) > before {
					sc.codes = append(sc.codes, b.runCodes[r])
					rs.ends = append(rs.ends, len(sc.ts))
				}
			}
			c.pi++
			if err := c.load(sc, lo, hi); err != nil {
				return err
			}
		}
		if len(rs.ends) == 0 {
			continue
		}
		// The runs' slices are cut once every run is decoded: appending
		// may have moved ts.
		rs.runs = rs.runs[:0]
		start := 0
		for k, end := range rs.ends {
			rs.runs = append(rs.runs, Run{Code: sc.codes[k], Times: sc.ts[start:end:end]})
			start = end
		}
		rs.fn(sc.worker, d, rs.runs)
	}
}

// runTimes appends run r's times in [from, to) to ts, as run does
// without the codes.
func (b *block) runTimes(r int, from, to int64, ts []int64) ([]int64, error) {
	start, end := b.starts[r], b.ends[r]
	n := len(ts)
	ts = slices.Grow(ts, end-start)[:n+end-start]
	tw := uint64(b.tbits)
	pos := uint64(start) * tw
	off := uint64(0)
	for k := start; k < end; k++ {
		x := getBits(b.times, pos, b.tbits)
		pos += tw
		if x > b.span-off {
			return ts[:n], corrupt("block %d events", b.idx)
		}
		off += x
		t := b.base + int64(off)
		ts[n] = t
		n += int(isIn(t, from, to))
	}
	return ts[:n], nil
}
