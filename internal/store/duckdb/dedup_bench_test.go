package duckdb

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// BenchmarkApplyDedup measures Apply of loader batches of new events into
// a store that already holds JOURNEY_DEDUP_BENCH_STORED events (default
// 2 000 000), at the old and the current false-positive rate of the seen
// filter: every batch with a suspect scans the stored uuids (dedup.go), so
// the rate decides how many batches pay that scan. It reports events/s,
// the share of batches with a suspect and the filter's bytes per stored
// event.
func BenchmarkApplyDedup(b *testing.B) {
	stored := 2_000_000
	if v := os.Getenv("JOURNEY_DEDUP_BENCH_STORED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("cannot parse JOURNEY_DEDUP_BENCH_STORED %q: %v", v, err)
		}
		stored = n
	}
	for _, fill := range []float64{0.5, 0.9} {
		for _, p := range []float64{0.001, seenFalsePositives} {
			b.Run(fmt.Sprintf("stored=%d/batch=10000/fill=%g/fp=%g", stored, fill, p), func(b *testing.B) {
				benchApplyDedup(b, stored, 10_000, fill, p)
			})
		}
	}
}

// benchApplyDedup runs with the filter fill (share of its capacity) full
// at the start: 0.5 just after a rebuild, 0.9 just before the next one.
func benchApplyDedup(b *testing.B, stored, batch int, fill, p float64) {
	defer func(old float64) { seenFalsePositives = old }(seenFalsePositives)
	seenFalsePositives = p
	ctx := context.Background()
	s, err := Open("", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events SELECT 1, gen_random_uuid(), 'e', 'd' || (i % 100000), i % 100000,
		TIMESTAMP '2025-01-01' + to_seconds(i), '{}', TIMESTAMP '2025-01-01' FROM range(?) t(i)`, stored); err != nil {
		b.Fatal(err)
	}
	// The filter is built from the stored events once, outside the timing,
	// with room for the batches to come so that no rebuild falls inside it.
	capacity := uint(float64(stored)/fill) + uint(b.N*batch)*10/9
	if err := s.buildSeen(ctx, capacity, uint(stored)); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batches := make([][]store.Row, b.N)
	flagged := 0
	for i := range batches {
		rows := make([]store.Row, batch)
		for j := range rows {
			var id [16]byte
			rand.Read(id[:])
			rows[j] = store.Row{ProjectID: 1, UUID: id, Event: "e", DistinctID: "d", PersonID: 1,
				Timestamp: base.Add(time.Duration(i*batch+j) * time.Millisecond), Properties: []byte(`{}`), ReceivedAt: base}
		}
		batches[i] = rows
	}
	b.ResetTimer()
	for i := range batches {
		for j := range batches[i] {
			if s.seen.f.Test(seenKey(1, batches[i][j].UUID)) {
				flagged++
				break
			}
		}
		if err := s.Apply(ctx, &store.Write{Events: batches[i], Checkpoint: uint64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(flagged)/float64(b.N), "flagged-batches")
	b.ReportMetric(float64(s.seen.f.Cap())/8/float64(stored+b.N*batch), "filter-B/event")
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != stored+b.N*batch {
		b.Fatalf("stored %d events (%v), want %d", n, err, stored+b.N*batch)
	}
}
