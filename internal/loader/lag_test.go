package loader

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// uniformBatch has n events whose JSON is the same size whatever seq is,
// so every record of the file log takes the same bytes.
func uniformBatch(seq, n int) event.Batch {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := event.Batch{ProjectID: 1}
	for i := range n {
		b.Events = append(b.Events, event.Event{UUID: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", seq, i), Event: "seen",
			DistinctID: fmt.Sprintf("d%06d", i), Timestamp: at, ReceivedAt: at})
	}
	return b
}

// TestLags: on the loader and on a replica that only watches (as a
// scale-out replica without the loader lock does) the lag is the bytes
// the real file log holds past the loaded checkpoint; the loader counts
// it in events from what it loaded, the watcher says it cannot, and the
// watcher's seconds grow while nothing loads, then go back to 0.
func TestLags(t *testing.T) {
	dir := t.TempDir()
	log, err := eventlog.OpenFile(filepath.Join(dir, "log"), eventlog.FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	st, err := duckdb.Open(filepath.Join(dir, "events.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	appendN := func(from, batches int) {
		t.Helper()
		for i := range batches {
			if err := log.Append(ctx, uniformBatch(from+i, 5)); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(0, 4)
	record := log.End() / 4
	ld, watcher := New(log, st, 0), New(log, st, 0)
	run := func() (stop func()) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); ld.Run(rctx) }()
		return func() { cancel(); <-done }
	}
	stop := run()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watcher.Watch(wctx, 10*time.Millisecond)
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ld.WaitFor(wait, log.End()); err != nil {
		t.Fatal(err)
	}
	if err := watcher.WaitFor(wait, log.End()); err != nil {
		t.Fatalf("the watcher never followed the checkpoint: %v", err)
	}
	if g := ld.Lags(); !g.Loading || g.Bytes != 0 || g.Events == nil || *g.Events != 0 || g.Seconds != 0 {
		t.Fatalf("caught-up loader: %+v", g)
	}
	if g := watcher.Lags(); g.Loading || g.Bytes != 0 || g.Events == nil || *g.Events != 0 {
		t.Fatalf("caught-up watcher: %+v", g)
	}
	stop()
	appendN(4, 3)
	g := ld.Lags()
	if g.Loading || g.Bytes != 3*record || g.Events == nil || *g.Events != 15 {
		t.Fatalf("stopped loader with 3 batches of 5 waiting (%d bytes each): %+v", record, g)
	}
	time.Sleep(300 * time.Millisecond)
	w := watcher.Lags()
	if w.Bytes != 3*record || w.Events != nil || w.Seconds < 0.2 || w.Seconds > 10 {
		t.Fatalf("watcher 300ms after 3 batches were appended with no loader: %+v", w)
	}
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	// New made watcher the current loader: its events are unknown (NaN).
	for _, want := range []string{fmt.Sprintf("journey_loader_lag_bytes %d\n", 3*record), "journey_loader_lag_events NaN\n", "journey_loader_active 0\n", `journey_store_write_seconds_count{store="duckdb"}`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	stop = run()
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for w = watcher.Lags(); w.Bytes != 0 || w.Seconds != 0; w = watcher.Lags() {
		if time.Now().After(deadline) {
			t.Fatalf("watcher after the loader caught up again: %+v", w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
