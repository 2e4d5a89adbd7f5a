package loader

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// BenchmarkLoadSingleEvents is the loader's side of SPEC §10's 10 000
// single-event requests/s: a real file log of 20 000 one-event records
// (posthog-js pageviews of 5 000 persons) loaded into a real DuckDB store
// in writes of a given size (2 500 events is what the 250 ms linger
// gathers at that rate), reporting the process's CPU per event, DuckDB's
// threads included. It tells the fixed cost of a store write from the
// cost of its events.
func BenchmarkLoadSingleEvents(b *testing.B) {
	for _, perWrite := range []int{500, 2500, 10000} {
		b.Run(fmt.Sprintf("write=%d", perWrite), func(b *testing.B) {
			var cpu time.Duration
			const events = 20_000
			for i := range b.N {
				cpu += loadOnce(b, i, events, perWrite)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*events), "cpu-ns/event")
		})
	}
}

// loadOnce loads n single-event records in writes of perWrite events and
// returns the CPU the process used meanwhile.
func loadOnce(b *testing.B, round, n, perWrite int) time.Duration {
	b.StopTimer()
	dir := b.TempDir()
	log, err := eventlog.OpenFile(filepath.Join(dir, "log"), eventlog.FileOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	st, err := duckdb.Open(filepath.Join(dir, "events.duckdb"), duckdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	at := time.Now().UTC()
	for i := range n {
		ev := event.Event{UUID: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", round, i), Event: "$pageview",
			DistinctID: fmt.Sprintf("user-%d", i%5000), Timestamp: at, ReceivedAt: at,
			Properties: map[string]any{"$current_url": "https://shop.example/p/" + fmt.Sprint(i%100), "$browser": "Chrome", "$lib": "web"}}
		if err := log.Append(ctx, event.Batch{ProjectID: 1, Events: []event.Event{ev}}); err != nil {
			b.Fatal(err)
		}
	}
	record := int(log.End()) / n
	ld := New(log, st, perWrite*record)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := processCPU()
	b.StartTimer()
	go ld.Run(rctx)
	if err := ld.WaitFor(ctx, log.End()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return processCPU() - start
}

// processCPU is the CPU time (user and system) of the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
