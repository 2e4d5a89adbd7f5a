package duckdb

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// TestDefaultMemoryLimitBounds: a quarter of the memory, at least 256 MiB,
// at most DefaultMemoryCap; DuckDB's own default where it is unknown.
func TestDefaultMemoryLimitBounds(t *testing.T) {
	for total, want := range map[uint64]int64{
		0:             -1,
		512 << 20:     256 << 20,
		2 << 30:       512 << 20,
		4 << 30:       1 << 30,
		24 << 30:      1 << 30,
		3<<30 + 12345: 768 << 20,
	} {
		if got := defaultMemoryLimit(total); got != want {
			t.Errorf("defaultMemoryLimit(%d) = %d, want %d", total, got, want)
		}
	}
}

// TestMemoryGauge: journey_duckdb_memory_bytes, written with every other
// series of /metrics, is DuckDB's own count of its memory: above zero once
// the store holds and has read data, zero again once it is closed.
func TestMemoryGauge(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events SELECT 1, uuid(), 'e', 'd' || (i % 1000), i % 1000,
		TIMESTAMP '2026-01-05' + INTERVAL (i % 86400) SECOND, '{}', now() FROM range(200000) t(i)`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(DISTINCT distinct_id) FROM events`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("count: %d, %v", n, err)
	}
	var want int64
	if err := s.db.QueryRowContext(ctx, `SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	got, ok := scrapeGauge(t, "journey_duckdb_memory_bytes")
	if !ok || got <= 0 {
		t.Fatalf("journey_duckdb_memory_bytes = %v (exported: %v) after a query, want > 0 (duckdb_memory() says %d)", got, ok, want)
	}
	t.Logf("journey_duckdb_memory_bytes %.0f, duckdb_memory() %d", got, want)
	if lo, hi := float64(want)/2, float64(want)*2; got < lo || got > hi {
		t.Fatalf("journey_duckdb_memory_bytes = %v, duckdb_memory() says %d", got, want)
	}
	s.Close()
	if got, _ := scrapeGauge(t, "journey_duckdb_memory_bytes"); got != 0 {
		t.Fatalf("journey_duckdb_memory_bytes = %v with the store closed, want 0", got)
	}
}

// scrapeGauge reads one series from what /metrics writes.
func scrapeGauge(t *testing.T, name string) (float64, bool) {
	t.Helper()
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, v)
			}
			return f, true
		}
	}
	return 0, false
}
