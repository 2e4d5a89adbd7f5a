package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// BenchmarkApply measures Store.Apply's CPU per event on a file store with
// its journey index (as the server runs it), in the loader's writes at
// SPEC §10's 10 000 single-event requests/s: 2 500 events (the 250 ms
// linger) of 5 000 known persons, with three properties each, plus a few
// new persons and distinct ids per write. It reports the process's CPU per
// event, DuckDB's threads included, which the machine's other load
// changes less than wall time; index=false is the same without the
// journey index (--query-plan no-journey-index), for its cost.
func BenchmarkApply(b *testing.B) {
	for _, perWrite := range []int{500, 2500} {
		for _, index := range []bool{true, false} {
			b.Run(fmt.Sprintf("write=%d/index=%v", perWrite, index), func(b *testing.B) {
				benchApplyWrites(b, perWrite, Plan{NoJourneyIndex: !index})
			})
		}
	}
}

func benchApplyWrites(b *testing.B, perWrite int, plan Plan) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "events.duckdb"), Options{Plan: plan})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	writes := make([]store.Write, b.N)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range writes {
		writes[i] = benchWrite(i, perWrite, base)
	}
	// A first write outside the timing: the seen filter is built then.
	if err := s.Apply(ctx, &store.Write{Checkpoint: 0}); err != nil {
		b.Fatal(err)
	}
	start := benchCPU(b)
	b.ResetTimer()
	for i := range writes {
		if err := s.Apply(ctx, &writes[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := benchCPU(b) - start
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perWrite), "cpu-ns/event")
	b.ReportMetric(0, "ns/op")
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != b.N*perWrite {
		b.Fatalf("stored %d events (%v), want %d", n, err, b.N*perWrite)
	}
}

// benchWrite is loader write i: pageviews of known persons, and the first
// event of a new person (with its distinct id and person row) every 500.
func benchWrite(i, perWrite int, base time.Time) store.Write {
	w := store.Write{Events: make([]store.Row, perWrite), Checkpoint: uint64(i + 1)}
	for j := range w.Events {
		k := i*perWrite + j
		var id [16]byte
		id[0], id[1], id[2], id[3], id[4] = byte(k>>32), byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
		id[6], id[8] = 0x40, 0x80
		person := int64(k % 5000)
		if j%500 == 0 {
			person = int64(1_000_000 + k)
			w.DistinctIDs = append(w.DistinctIDs, store.DistinctID{ProjectID: 1, DistinctID: fmt.Sprintf("user-%d", person), PersonID: person})
			w.Persons = append(w.Persons, store.Person{ProjectID: 1, ID: person, CreatedAt: base, Properties: map[string]any{"$initial_browser": "Chrome"}})
		}
		at := base.Add(time.Duration(k) * 100 * time.Microsecond)
		w.Events[j] = store.Row{ProjectID: 1, UUID: id, Event: "$pageview", DistinctID: fmt.Sprintf("user-%d", person), PersonID: person,
			Timestamp: at, ReceivedAt: at,
			Properties: fmt.Appendf(nil, `{"$current_url":"https://shop.example/p/%d","$browser":"Chrome","$lib":"web"}`, k%100)}
	}
	return w
}
