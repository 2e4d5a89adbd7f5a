package journeyidx

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Snapshot is one project's index as of one moment: its dictionaries, and
// its segments and tail as runs. Close releases it.
type Snapshot struct {
	Project    int64
	Checkpoint uint64
	Names      []string // event name by code
	Persons    []int64  // stored person id by dense id
	runs       []*segFile
	events     int64
	ix         *Index
	p          *project // nil: no events
}

// Snapshot returns a project's snapshot; false while the index is being
// rebuilt (queries then use the event store's own plans). A project with
// no events has an empty snapshot.
func (ix *Index) Snapshot(projectID int64) (*Snapshot, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.ready || ix.closed {
		return nil, false
	}
	s := &Snapshot{Project: projectID, Checkpoint: ix.checkpoint, ix: ix}
	p := ix.projects[projectID]
	if p == nil {
		return s, true
	}
	if p.rebuilding {
		return nil, false
	}
	s.p = p
	// The dictionaries only grow: the prefixes stay as they are.
	s.Names, s.Persons = p.names[:len(p.names):len(p.names)], p.persons[:len(p.persons):len(p.persons)]
	if len(p.tail) > 0 && p.tailRun == nil {
		es := slices.Clone(p.tail)
		slices.SortFunc(es, lessEntry)
		seg, err := parseSegment(encodeSegment(p.id, ix.checkpoint, es), false)
		if err != nil { // cannot happen: our own encoding
			return nil, false
		}
		p.tailRun = &segFile{seg: seg}
	}
	for _, f := range p.segs {
		f.acquire()
		s.runs = append(s.runs, f)
	}
	if len(p.tail) > 0 {
		s.runs = append(s.runs, p.tailRun) // in memory: nothing to release
	}
	for _, f := range s.runs {
		s.events += int64(f.seg.foot.events)
	}
	return s, true
}

// Close releases the snapshot's segments.
func (s *Snapshot) Close() {
	for _, f := range s.runs {
		if f.name != "" || f.unmap != nil {
			f.release()
		}
	}
	s.runs = nil
}

// Events is how many events the snapshot holds.
func (s *Snapshot) Events() int64 { return s.events }

// Runs is how many sorted runs a scan merges (segments and the tail).
func (s *Snapshot) Runs() int { return len(s.runs) }

// Dense returns the dense ids of stored person ids, -1 for those the
// snapshot does not know.
func (s *Snapshot) Dense(persons []int64) []int64 {
	out := make([]int64, len(persons))
	s.ix.mu.Lock()
	defer s.ix.mu.Unlock()
	p := s.p
	for i, id := range persons {
		out[i] = -1
		if p == nil {
			continue
		}
		if d, ok := p.dense.get(id); ok && int(d) < len(s.Persons) {
			out[i] = int64(d)
		}
	}
	return out
}

// Code returns an event name's code; false when the project never had
// such an event.
func (s *Snapshot) Code(name string) (uint32, bool) {
	for i, n := range s.Names {
		if n == name {
			return uint32(i), true
		}
	}
	return 0, false
}

// ScanFunc receives one person's events in a scan: its dense id, and its
// kept events' times (µs) and codes in (time, code) order. The slices are
// reused after it returns. worker numbers the calling goroutine, from 0.
type ScanFunc func(worker int, dense uint32, ts []int64, codes []uint32)

// Scan calls fn for every person with events in [from, to) whose code
// keep marks (codes past len(keep) are not kept), on workers goroutines,
// each person once, with all of its runs' events merged.
//
// How: the dense id space is cut into ranges that the workers take in
// turn; for a range, each run's blocks that hold its persons and
// overlap [from, to) are decoded in order and merged by person.
func (s *Snapshot) Scan(ctx context.Context, workers int, from, to int64, keep []bool, fn ScanFunc) error {
	n := len(s.Persons)
	if n == 0 || len(s.runs) == 0 || from >= to {
		return nil
	}
	workers = max(1, workers)
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
			sc := scanner{s: s, from: from, to: to, keep: keep8, fn: fn, worker: w}
			sc.curs = newCursors(len(s.runs))
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
				if err := sc.scan(lo, hi); err != nil {
					errOnce.Do(func() { scanErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		if scanErr != nil { // damage found after open: a file changed under its mapping
			return scanErr
		}
		return ctx.Err()
	}
	return nil
}

// scanner is one worker's state. Its slices' headers and cursors are
// written for every person: a cache line of padding on either side keeps
// two workers' states off one line (false sharing).
type scanner struct {
	_        [64]byte
	s        *Snapshot
	from, to int64
	keep     []uint8 // by code, at least every run's maxCode long
	fn       ScanFunc
	worker   int
	curs     []cursor
	ts       []int64
	codes    []uint32
	_        [64]byte
}

// newCursors returns n cursors with a spare one on either side (see
// scanner: a cursor's position is written for every person).
func newCursors(n int) []cursor { return make([]cursor, n+2)[1 : 1+n] }

// cursor walks one run's persons within a range.
type cursor struct {
	seg *segment
	bi  int // block
	b   block
	pi  int // person within the block (when loaded)
	// loaded: b holds block bi; valid: persons[pi] is the cursor's person.
	loaded, valid bool
}

// scan runs fn over the persons in [lo, hi).
func (sc *scanner) scan(lo, hi uint32) error {
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
		sc.ts, sc.codes = sc.ts[:0], sc.codes[:0]
		runs := 0
		for i := range sc.curs {
			c := &sc.curs[i]
			if !c.valid || c.b.persons[c.pi] != d {
				continue
			}
			before := len(sc.ts)
			var err error
			if sc.ts, sc.codes, err = c.b.events(c.pi, sc.from, sc.to, sc.keep, sc.ts, sc.codes); err != nil {
				return err
			}
			if len(sc.ts) > before {
				runs++
			}
			c.pi++
			if err := c.load(sc, lo, hi); err != nil {
				return err
			}
		}
		if len(sc.ts) == 0 {
			continue
		}
		if runs > 1 {
			sortEvents(sc.ts, sc.codes)
		}
		sc.fn(sc.worker, d, sc.ts, sc.codes)
	}
}

// load moves c to its first person in [lo, hi) at or after where it
// is, decoding blocks as it goes and skipping those outside the scan's
// times; valid is false when the run has no more persons in the range.
func (c *cursor) load(sc *scanner, lo, hi uint32) error {
	for {
		if c.loaded {
			for c.pi < len(c.b.persons) && c.b.persons[c.pi] < lo {
				c.pi++
			}
			if c.pi < len(c.b.persons) {
				c.valid = c.b.persons[c.pi] < hi
				return nil
			}
			c.loaded = false
			c.bi++
		}
		c.valid = false
		refs := c.seg.refs
		for c.bi < len(refs) && refs[c.bi].first < hi && (refs[c.bi].maxT < sc.from || refs[c.bi].minT >= sc.to) {
			c.bi++
		}
		if c.bi >= len(refs) || refs[c.bi].first >= hi {
			return nil
		}
		if err := c.seg.decode(c.bi, &c.b, sc.keep); err != nil {
			return err
		}
		c.loaded, c.pi = true, 0
	}
}

// sortEvents puts one person's events from several runs in (time, code)
// order.
func sortEvents(ts []int64, codes []uint32) {
	if len(ts) > 64 {
		type ev struct {
			t int64
			c uint32
		}
		evs := make([]ev, len(ts))
		for i := range ts {
			evs[i] = ev{ts[i], codes[i]}
		}
		slices.SortFunc(evs, func(a, b ev) int {
			if a.t != b.t {
				return compare(a.t, b.t)
			}
			return compare(a.c, b.c)
		})
		for i, e := range evs {
			ts[i], codes[i] = e.t, e.c
		}
		return
	}
	for i := 1; i < len(ts); i++ {
		t, c := ts[i], codes[i]
		j := i
		for j > 0 && (ts[j-1] > t || ts[j-1] == t && codes[j-1] > c) {
			ts[j], codes[j] = ts[j-1], codes[j-1]
			j--
		}
		ts[j], codes[j] = t, c
	}
}
