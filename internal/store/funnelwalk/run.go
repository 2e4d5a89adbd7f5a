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
				w.part(agg, c, c.parts[part])
				c.parts[part] = nil
			}
		}(aggs[i])
	}
	wg.Wait()
	for _, a := range aggs[1:] {
		aggs[0].merge(a)
	}
	return aggs[0].result(c)
}
