package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

func cmdBench(args []string) error {
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New("usage: journey bench ingest [--json] [flags]")
	}
	var o bench.IngestOptions
	var asJSON bool
	var dur, latFor string
	f := newFlags("bench ingest")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	f.str(&dur, "duration", "10s", "throughput phase length")
	f.str(&latFor, "latency-duration", "5s", "latency phase length")
	f.integer(&o.Workers, "workers", 8, "concurrent batch senders")
	f.integer(&o.Rate, "rate", 10000, "single-event requests per second in the latency phase")
	f.boolean(&o.NoSync, "no-sync", false, "start the server with --no-sync")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	var err error
	if o.Duration, err = time.ParseDuration(dur); err != nil {
		return fmt.Errorf("invalid --duration %q: %w", dur, err)
	}
	if o.LatencyFor, err = time.ParseDuration(latFor); err != nil {
		return fmt.Errorf("invalid --latency-duration %q: %w", latFor, err)
	}
	if o.Binary, err = os.Executable(); err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	res, err := bench.Ingest(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("ingest: %.0f events/s (gzip batches of 100, durable)\n", res.EventsPerS)
	fmt.Printf("latency at %d req/s: p50 %.2f ms, p99 %.2f ms\n", res.Rate, res.P50ms, res.P99ms)
	fmt.Printf("server peak RSS: %.0f MB; failed requests: %d\n", res.RSSMB, res.Errors)
	return nil
}
