package duckdb

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/insight"
)

// guard is the sql kind's last line against memory DuckDB does not count:
// memory_limit bounds DuckDB's buffer manager, not every allocation a
// function makes, and the checker's allow-list cannot foresee every
// composition. While user queries run, guard reads the process' resident
// memory every pollEvery; when it has grown by more than budget since the
// first of them started, every running user query is cancelled with a
// memory error (DuckDB stops at its next chunk).
type guard struct {
	budget int64 // bytes of growth; 0 turns the guard off
	read   func() int64

	mu      sync.Mutex
	running map[*guarded]struct{}
	base    int64 // RSS when the first running query started
}

type guarded struct{ cancel context.CancelCauseFunc }

const pollEvery = 10 * time.Millisecond

var sqlGuardStops = metrics.NewCounter(`journey_sql_guard_stops_total`)

// watch returns ctx that the guard cancels past its budget, and the
// function that ends the watch.
func (g *guard) watch(ctx context.Context) (context.Context, func()) {
	if g == nil || g.budget <= 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	q := &guarded{cancel: cancel}
	g.mu.Lock()
	if len(g.running) == 0 {
		g.running = map[*guarded]struct{}{}
		g.base = g.read()
		go g.poll()
	}
	g.running[q] = struct{}{}
	g.mu.Unlock()
	return ctx, func() {
		g.mu.Lock()
		delete(g.running, q)
		g.mu.Unlock()
		cancel(nil)
	}
}

// poll runs while any query is watched.
func (g *guard) poll() {
	for {
		time.Sleep(pollEvery)
		rss := g.read()
		g.mu.Lock()
		if len(g.running) == 0 {
			g.mu.Unlock()
			return
		}
		if rss-g.base > g.budget {
			for q := range g.running {
				q.cancel(&insight.MemoryError{Limit: "--memory-limit"})
				sqlGuardStops.Inc()
			}
		}
		g.mu.Unlock()
	}
}

// residentBytes is this process' resident memory, 0 when unknown.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// guardBudget is the growth the guard allows by default: DuckDB's whole
// memory_limit (its pool may fill during the query) plus half of it again,
// at least 512 MiB, for what a query's answer and DuckDB's uncounted
// allocations legitimately take.
func guardBudget(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return 0
	}
	return memoryLimit + max(memoryLimit/2, 512<<20)
}

// parseSize reads DuckDB's way of showing a size ("5.8 GiB", "953.6 MiB",
// "1.0 GB"); 0 when it cannot.
func parseSize(text string) int64 {
	f := strings.Fields(text)
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	unit := map[string]float64{"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[f[1]]
	return int64(n * unit)
}
