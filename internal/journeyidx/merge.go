package journeyidx

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"path/filepath"
	"slices"
	"time"
)

// background flushes a tail that waited FlushEvery and merges segments
// when woken, until Close.
func (ix *Index) background() {
	defer ix.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ix.stop:
			return
		case <-ix.mergeWake:
			for ix.mergeOnce() {
				select {
				case <-ix.stop:
					return
				default:
				}
			}
		case <-tick.C:
			ix.mu.Lock()
			if ix.opts.FlushEvery > 0 && ix.tailEvents > 0 && time.Since(ix.lastFlush) >= ix.opts.FlushEvery {
				ix.flushErr = ix.flushLocked()
			}
			ix.mu.Unlock()
		}
	}
}

func (ix *Index) wakeMerge() {
	select {
	case ix.mergeWake <- struct{}{}:
	default:
	}
}

// Merge runs merges until no size tier holds MergeRuns segments (tests,
// and callers with NoBackground).
func (ix *Index) Merge() error {
	for ix.mergeOnce() {
	}
	return ix.Err()
}

// CrashHook, when set (crash tests), runs where a crash must leave a
// readable index that counts every event once: "written", a merge's
// output renamed into place and named by no manifest yet;
// "merge-manifest" (also "flush-manifest", "reset-manifest"), a new
// manifest renamed into place and the files it no longer names (a merge's
// inputs) not yet removed. An error stops there, as a crash would; a test
// may also kill the process in it.
var CrashHook func(stage string) error

func hook(stage string) error {
	if h := CrashHook; h != nil {
		return h(stage)
	}
	return nil
}

// mergeOnce merges one project's tier of segments, if one is due, and
// reports whether it did.
//
// Tiers: a segment of n events is in tier ⌊log4(n / FlushEvents)⌋, so
// that each event is rewritten about once per tier (log4 of the data's
// size over a flush's), and a project keeps fewer than MergeRuns
// segments per tier.
func (ix *Index) mergeOnce() bool {
	ix.mu.Lock()
	p, picked := ix.pickMerge()
	return ix.merge(p, picked)
}

// Compact merges each project's segments into one (after a rebuild,
// whose batches are many segments of one tier): a scan then reads one
// run per person.
func (ix *Index) Compact() error {
	ix.mu.Lock()
	var ids []int64
	for id := range ix.projects {
		ids = append(ids, id)
	}
	ix.mu.Unlock()
	for _, id := range ids {
		for {
			ix.mu.Lock()
			p := ix.projects[id]
			if p == nil || len(p.segs) < 2 {
				ix.mu.Unlock()
				break
			}
			if p.merging { // a background merge: wait for it
				ix.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if !ix.merge(p, slices.Clone(p.segs)) {
				break
			}
		}
	}
	return ix.Err()
}

// merge merges picked, segments of p (nil: nothing to do); ix.mu is held
// and is released.
func (ix *Index) merge(p *project, picked []*segFile) bool {
	if p == nil {
		ix.mu.Unlock()
		return false
	}
	p.merging = true
	gen := ix.gen
	for _, f := range picked {
		f.acquire()
	}
	ix.mu.Unlock()
	seq := ix.seq(p.id)

	merged, err := ix.mergeSegments(p.id, picked, seq)
	for _, f := range picked {
		f.release()
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.inflight, segName(p.id, seq))
	p.merging = false
	if err != nil || gen != ix.gen || ix.closed {
		if err != nil {
			ix.flushErr = err
		}
		if merged != nil {
			merged.dead.Store(true)
			merged.release()
		}
		return false
	}
	// Replace the picked segments, which only merges remove, by the
	// merged one, in the place of the first: the order of runs does not
	// change what a query reads.
	gone := map[*segFile]bool{}
	for _, f := range picked {
		gone[f] = true
	}
	var segs []*segFile
	for _, f := range p.segs {
		switch {
		case !gone[f]:
			segs = append(segs, f)
		case merged != nil:
			segs = append(segs, merged)
			merged = nil
		}
	}
	p.segs = segs
	if ix.ready && ix.opts.Dir != "" {
		// The tail's events are in no segment: the manifest still covers
		// what the last flush did.
		if err := ix.writeManifest(ix.durable, "merge-manifest"); err != nil {
			ix.flushErr = err
		}
	}
	for f := range gone {
		f.dead.Store(true)
		f.release()
	}
	return true
}

// pickMerge chooses a project and its segments to merge; ix.mu is held.
func (ix *Index) pickMerge() (*project, []*segFile) {
	for _, p := range ix.projects {
		if p.merging {
			continue
		}
		tiers := map[int][]*segFile{}
		for _, f := range p.segs {
			t := tier(f.seg.foot.events, ix.opts.FlushEvents)
			tiers[t] = append(tiers[t], f)
			if len(tiers[t]) >= ix.opts.MergeRuns {
				return p, tiers[t]
			}
		}
	}
	return nil, nil
}

func tier(events uint64, flush int) int {
	n := events / uint64(max(flush, 1))
	return (bits.Len64(n) + 1) / 2 // ⌈log4⌉, 0 for a flush's size or less
}

// mergeSegments k-way merges segments into a new one (file seq),
// streaming: it holds one decoded block per input and one being written.
func (ix *Index) mergeSegments(projectID int64, segs []*segFile, seq uint64) (*segFile, error) {
	var checkpoint, total uint64
	for _, f := range segs {
		checkpoint = max(checkpoint, f.seg.foot.checkpoint)
		total += f.seg.foot.events
	}
	write := func(w io.Writer) error {
		sw := newSegWriter(w, projectID, checkpoint)
		if err := mergeInto(sw, segs); err != nil {
			return err
		}
		if err := sw.close(); err != nil {
			return err
		}
		if sw.foot.events != total {
			return fmt.Errorf("cannot merge journey index segments: %d events in, %d out", total, sw.foot.events)
		}
		return nil
	}
	if ix.opts.Dir == "" {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			return nil, err
		}
		seg, err := parseSegment(buf.Bytes(), false)
		if err != nil {
			return nil, err
		}
		f := &segFile{seg: seg}
		f.refs.Store(1)
		return f, nil
	}
	name := segName(projectID, seq)
	if err := writeFileAtomicFunc(filepath.Join(ix.opts.Dir, name), write); err != nil {
		return nil, err
	}
	if err := hook("written"); err != nil {
		return nil, err
	}
	return ix.mapSegment(name, false)
}

// mergeInto writes the segments' entries to sw in order: a binary heap
// of the inputs' next entries (a compaction after a rebuild merges a
// dozen or more).
func mergeInto(sw *segWriter, segs []*segFile) error {
	var heap []*segIter
	for _, f := range segs {
		it := newSegIter(f.seg)
		if it.next() {
			heap = append(heap, it)
		} else if it.err != nil {
			return fmt.Errorf("cannot merge journey index segment %q: %w", f.name, it.err)
		}
	}
	less := func(i, j int) bool { return lessEntry(heap[i].cur, heap[j].cur) < 0 }
	down := func(i int) {
		for {
			l, small := 2*i+1, i
			if l < len(heap) && less(l, small) {
				small = l
			}
			if r := l + 1; r < len(heap) && less(r, small) {
				small = r
			}
			if small == i {
				return
			}
			heap[i], heap[small] = heap[small], heap[i]
			i = small
		}
	}
	for i := len(heap)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(heap) > 0 {
		it := heap[0]
		sw.add(it.cur)
		if !it.next() {
			if it.err != nil {
				return fmt.Errorf("cannot merge journey index segments: %w", it.err)
			}
			heap[0] = heap[len(heap)-1]
			heap = heap[:len(heap)-1]
		}
		down(0)
	}
	return nil
}
