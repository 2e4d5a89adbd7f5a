package duckdb

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// journey_duckdb_memory_bytes is what DuckDB's buffer manager holds now
// (its cache of the database's blocks and what running queries take), as
// DuckDB counts it (duckdb_memory()): the part of the server's RSS that
// grows toward --memory-limit in a soak (issue 17), told apart from the Go
// heap and the journey index. It reports the store this process opened
// last (one per process outside tests); 0 while none is open.
var (
	memoryStore atomic.Pointer[Store]
	_           = metrics.NewGauge("journey_duckdb_memory_bytes", func() float64 {
		if s := memoryStore.Load(); s != nil {
			return float64(s.memoryUsage())
		}
		return 0
	})
)

// memoryUsage is DuckDB's memory use in bytes, 0 when it cannot be read
// (a store closing): a scrape must not fail for it.
func (s *Store) memoryUsage() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory()`).Scan(&n); err != nil {
		slog.Debug("cannot read DuckDB's memory use", "err", err)
		return 0
	}
	return n
}

// DefaultMemoryLimit is DuckDB's memory_limit when the operator sets none:
// a quarter of the memory this process may use (the machine's, or its
// cgroup's when that is smaller), at least 256 MiB and at most
// DefaultMemoryCap. DuckDB's own default, 80 % of the machine, leaves too
// little for the rest of the server when one query takes it all; every
// query and insight runs within this limit (the sql kind's checker refuses
// the functions whose memory DuckDB does not count). In bytes, whole MiB;
// -1 when the memory cannot be read (DuckDB's default then).
func DefaultMemoryLimit() int64 {
	return defaultMemoryLimit(memTotal())
}

// DefaultMemoryCap bounds the default memory_limit. DuckDB's buffer pool
// keeps the blocks it read until the limit, so on a large machine a
// quarter of RAM is where a long-running server's RSS ends up, mostly
// cache (a soak on 24 GB grew past 800 MB and on; at 256 MB RSS levelled
// at about 330 MB, issue 17). A server whose store or queries need more
// says so with --memory-limit.
const DefaultMemoryCap = 1 << 30

func defaultMemoryLimit(total uint64) int64 {
	if total == 0 {
		return -1
	}
	return int64(min(max(total/4, 256<<20), DefaultMemoryCap) >> 20 << 20)
}

// memTotal is the memory available to this process, 0 when unknown.
func memTotal() uint64 {
	var total uint64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				total = kb << 10
			}
		}
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
				total = n
			}
		}
	}
	return total
}
