package duckdb

import (
	"os"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is DuckDB's memory_limit when the operator sets none:
// a quarter of the memory this process may use (the machine's, or its
// cgroup's when that is smaller), at least 256 MiB. DuckDB's own default,
// 80 % of the machine, leaves too little for the rest of the server when
// one query takes it all; every query and insight runs within this limit
// (the sql kind's checker refuses the functions whose memory DuckDB does
// not count). In bytes, whole MiB; -1 when the memory cannot be read
// (DuckDB's default then).
func DefaultMemoryLimit() int64 {
	total := memTotal()
	if total == 0 {
		return -1
	}
	return int64(max(total/4, 256<<20) >> 20 << 20)
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
