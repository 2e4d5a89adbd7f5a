package funnelwalk

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Run walks the collected rows and returns the funnel's result, with
// over_time buckets in tz. Every Add must have returned (and be visible:
// see Rows); Run consumes the collector.
//
// Partitions are walked on a few goroutines, each into its own aggregate,
// which are merged at the end.
func Run(c *Collector, tz *time.Location) *insight.FunnelResult {
	if tz == nil {
		tz = time.UTC
	}
	p := c.p
	workers := min(runtime.GOMAXPROCS(0), parts)
	c.file(workers)
	aggs := make([]*agg, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range aggs {
		aggs[i] = newAgg(p, tz)
		wg.Add(1)
		go func(agg *agg) {
			defer wg.Done()
			var w walker
			w.init(p)
			for {
				part := int(next.Add(1) - 1)
				if part >= parts {
					return
				}
				w.part(agg, c, part)
			}
		}(aggs[i])
	}
	wg.Wait()
	for _, a := range aggs[1:] {
		aggs[0].merge(a)
	}
	return aggs[0].result(c)
}

// file moves the rows Add kept to their partitions, on workers
// goroutines, each into a shard of its own, which replace Add's. Each
// takes a contiguous share of the blocks: rows came mostly in time order
// per shard, and keeping runs long keeps sortEvents' work small.
func (c *Collector) file(workers int) {
	var src []*block
	for _, sh := range c.shards {
		src = append(src, sh.seq...)
		sh.seq = nil
	}
	filed := make([]*shard, workers)
	var wg sync.WaitGroup
	for i := range filed {
		filed[i] = newShard()
		share := src[len(src)*i/workers : len(src)*(i+1)/workers]
		wg.Add(1)
		go func(sh *shard) {
			defer wg.Done()
			for _, b := range share {
				sh.file(b, c.p.Breakdown)
				blocks.Put(b)
			}
		}(filed[i])
	}
	wg.Wait()
	c.shards, c.free = filed, nil
}
