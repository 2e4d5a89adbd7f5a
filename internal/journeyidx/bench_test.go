package journeyidx

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/funnelwalk"
)

// benchIndex builds, once per size, an in-memory index of the query
// bench's data (journey bench query: n events over n/20 persons in time
// order over 56 days, 50% $pageview, 25% product_viewed, 12%
// added_to_cart, 5% order_completed, 3% signed_up, 5% other_event),
// compacted to one segment as a rebuild leaves it, so that scans can be
// profiled without the event store's minutes of data generation.
var benchIndex = sync.OnceValues(func() (*Index, error) {
	n := 2_000_000
	if v := os.Getenv("JOURNEY_BENCH_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	ix, err := Open(Options{NoBackground: true})
	if err != nil {
		return nil, err
	}
	persons := uint64(max(n/20, 1))
	t0 := benchDay0.UnixMicro()
	batch := make([]Event, 0, 1<<20)
	for i := range n {
		person := 1 + int64(mix(uint64(i))%persons)
		k := mix(uint64(i)^0x5bd1e995) % 100
		name := "other_event"
		switch {
		case k < 50:
			name = "$pageview"
		case k < 75:
			name = "product_viewed"
		case k < 87:
			name = "added_to_cart"
		case k < 92:
			name = "order_completed"
		case k < 95:
			name = "signed_up"
		}
		batch = append(batch, Event{Project: 1, Person: person, T: t0 + int64(uint64(i)*56*86400e6/uint64(n)), Name: name})
		if len(batch) == cap(batch) || i == n-1 {
			if err := ix.Load(batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	if err := ix.Compact(); err != nil {
		return nil, err
	}
	return ix, ix.SetReady(1)
})

var benchDay0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// mix is splitmix64's finalizer: a seeded hash for the generator.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// benchFunnel walks the bench's funnel as the DuckDB store's indexFunnel
// does, returning its step counts.
func benchFunnel(b *testing.B, s *Snapshot, workers int) []int64 {
	rng := insight.Range{From: benchDay0, To: benchDay0.AddDate(0, 0, 56)}
	q := &insight.Funnel{Steps: []insight.FunnelStep{{Event: "product_viewed"}, {Event: "added_to_cart"}, {Event: "order_completed"}}, Window: "24h", Range: rng}
	if err := q.Validate(); err != nil {
		b.Fatal(err)
	}
	p := funnelwalk.NewPlan(q)
	masks := make([]uint32, len(s.Names))
	keep := make([]bool, len(s.Names))
	for i, st := range q.Steps {
		c, _ := s.Code(st.Event)
		masks[c] |= 1 << i
		keep[c] = true
	}
	walks := make([]*funnelwalk.ActorWalk, workers)
	for i := range walks {
		walks[i] = funnelwalk.NewActorWalk(p, time.UTC)
	}
	type workerRuns struct {
		runs []funnelwalk.MaskRun
		_    [64]byte // as the store's: no false sharing between workers
	}
	runs := make([]workerRuns, workers)
	err := s.ScanRuns(context.Background(), workers, p.FromUs, q.To.UnixMicro(), keep, func(w int, d uint32, rs []Run) {
		mr := runs[w].runs[:0]
		for _, r := range rs {
			mr = append(mr, funnelwalk.MaskRun{Times: r.Times, M: masks[r.Code]})
		}
		runs[w].runs = mr
		walks[w].ActorRuns(s.Persons[d], mr)
	})
	if err != nil {
		b.Fatal(err)
	}
	var out []int64
	for _, st := range funnelwalk.ActorResult(p, walks).Steps {
		out = append(out, st.Count)
	}
	return out
}

// benchDAU counts the bench's daily active users of $pageview as the
// store's indexTrendCounts does.
func benchDAU(b *testing.B, s *Snapshot, workers int) int64 {
	bounds := make([]int64, 56)
	for i := range bounds {
		bounds[i] = benchDay0.AddDate(0, 0, i).UnixMicro()
	}
	classes := make([]uint32, len(s.Names))
	c, _ := s.Code("$pageview")
	classes[c] = 1
	per := make([][64]int64, workers)
	err := s.ScanMasks(context.Background(), workers, bounds[0], benchDay0.AddDate(0, 0, 56).UnixMicro(), classes, 1, bounds, func(w int, _ uint32, m []uint64, _ uint32) {
		for x := m[0]; x != 0; x &= x - 1 {
			per[w][bits.TrailingZeros64(x)]++
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, p := range per {
		for _, v := range p {
			total += v
		}
	}
	return total
}

// cpuTime is the process's CPU time (user and system), ns: on a shared
// machine it varies less than the wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkScanQueries times the query bench's funnel and DAU on the
// index alone (JOURNEY_BENCH_EVENTS events, 2 M by default).
func BenchmarkScanQueries(b *testing.B) {
	ix, err := benchIndex()
	if err != nil {
		b.Fatal(err)
	}
	s, ok := ix.Snapshot(1)
	if !ok {
		b.Fatal("index not ready")
	}
	defer s.Close()
	workers := runtime.GOMAXPROCS(0)
	b.Run("funnel", func(b *testing.B) {
		var steps []int64
		cpu := cpuTime()
		for b.Loop() {
			steps = benchFunnel(b, s, workers)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
		b.Logf("steps %v", steps)
	})
	b.Run("dau", func(b *testing.B) {
		var n int64
		cpu := cpuTime()
		for b.Loop() {
			n = benchDAU(b, s, workers)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
		b.Logf("person-days %d", n)
	})
}
