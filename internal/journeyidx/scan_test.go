package journeyidx

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// maskOf is what ScanMasks must hand over for one person, from Scan's
// events.
type maskOf struct {
	masks  []uint64
	before uint32
}

// TestScanMasks: ScanMasks gives, for every person, the periods of its
// events by class that Scan's events give, over segments, merges and a
// tail, for bounds of several widths and ranges that cut periods.
func TestScanMasks(t *testing.T) {
	ix, err := Open(Options{FlushEvents: 1500, MergeRuns: 3, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	r := rand.New(rand.NewPCG(8, 9))
	for batch := 1; batch <= 12; batch++ {
		ix.Add(randomEvents(r, 1+r.IntN(900), 2, 300), uint64(batch))
		if batch == 6 {
			if err := ix.Merge(); err != nil {
				t.Fatal(err)
			}
		}
	}
	const t0, day = int64(1_700_000_000_000_000), int64(86400e6)
	ctx := context.Background()
	s, ok := ix.Snapshot(1)
	if !ok {
		t.Fatal("index not ready")
	}
	defer s.Close()
	if s.Runs() < 2 {
		t.Fatalf("%d runs: the test wants several", s.Runs())
	}
	checked := 0
	for _, c := range []struct {
		from, to int64
		bounds   []int64
	}{
		{t0, t0 + 90*day, steps(t0, day, 64)},
		{t0 - day, t0 + 91*day, steps(t0+10*day, 7*day, 8)},
		{-1 << 62, t0 + 40*day + 5, steps(t0+20*day, day+3, 20)},
		{t0 + 3*day + 7, t0 + 60*day, append(steps(t0, 3600e6, 30), t0+50*day, t0+80*day)},
		{t0 + 30*day, t0 + 31*day, []int64{t0}},
	} {
		// Classes: 0 signup or purchase, 1 $pageview, 2 signup.
		classes := make([]uint32, len(s.Names))
		for i, n := range s.Names {
			switch n {
			case "signup":
				classes[i] = 1 | 4
			case "purchase":
				classes[i] = 1
			case "$pageview":
				classes[i] = 2
			}
		}
		want := map[uint32]maskOf{}
		var mu sync.Mutex
		keep := make([]bool, len(classes))
		for i, cl := range classes {
			keep[i] = cl != 0
		}
		err := s.Scan(ctx, 2, c.from, c.to, keep, func(_ int, d uint32, ts []int64, codes []uint32) {
			m := maskOf{masks: make([]uint64, 3)}
			for i, t := range ts {
				p := -1
				for k, b := range c.bounds {
					if b <= t {
						p = k
					}
				}
				for cl := range 3 {
					if classes[codes[i]]&(1<<cl) == 0 {
						continue
					}
					if p < 0 {
						m.before |= 1 << cl
					} else {
						m.masks[cl] |= 1 << p
					}
				}
			}
			mu.Lock()
			want[d] = m
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint32]maskOf{}
		err = s.ScanMasks(ctx, 3, c.from, c.to, classes, 3, c.bounds, func(_ int, d uint32, masks []uint64, before uint32) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[d]; dup {
				t.Errorf("person %d twice", d)
			}
			got[d] = maskOf{masks: slices.Clone(masks), before: before}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("range %d..%d, %d bounds: masks of %d persons, want %d", c.from, c.to, len(c.bounds), len(got), len(want))
		}
		checked += len(want)
	}
	if checked < 500 {
		t.Fatalf("only %d persons checked", checked)
	}
	if err := s.ScanMasks(ctx, 1, t0, t0+day, nil, 1, steps(t0, day, 65), nil); err == nil {
		t.Fatal("65 periods accepted")
	}
}

func steps(from, width int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)*width
	}
	return out
}
