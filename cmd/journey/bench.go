package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

func cmdBench(args []string) error {
	if len(args) > 0 && args[0] == "query" {
		return benchQuery(args[1:])
	}
	if len(args) > 0 && args[0] == "experiment" {
		return benchExperiment(args[1:])
	}
	if len(args) > 0 && args[0] == "flags" {
		return benchFlags(args[1:])
	}
	if len(args) > 0 && args[0] == "voc" {
		return benchVoC(args[1:]) // bench_voc.go
	}
	if len(args) > 0 && args[0] == "campaigns" {
		return benchCampaigns(args[1:])
	}
	if len(args) > 0 && args[0] == "ingest-generator" {
		// The load generator process `bench ingest` starts: a GenSpec on
		// stdin, a GenResult on stdout.
		return bench.RunGenerator(os.Stdin, os.Stdout)
	}
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New("usage: journey bench ingest|query|experiment|flags|campaigns|voc [--json] [flags]")
	}
	o := bench.IngestOptions{Duration: 10 * time.Second, LatencyFor: 5 * time.Second}
	var asJSON bool
	f := newFlags("bench ingest")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	f.duration(&o.Duration, "duration", "throughput phase length", time.ParseDuration)
	f.duration(&o.LatencyFor, "latency-duration", "latency phase length", time.ParseDuration)
	f.integer(&o.Workers, "workers", 8, "concurrent batch senders")
	f.integer(&o.Rate, "rate", 10000, "single-event requests per second in the latency phase")
	f.boolean(&o.NoSync, "no-sync", false, "start the server with --no-sync")
	f.str(&o.QueryPlan, "query-plan", "", "the server's --query-plan (no-journey-index: without the journey index)")
	f.integer(&o.LatencyRuns, "latency-runs", 1, "latency phases, each after the loader caught up; the best p99 is the result")
	f.str(&o.ServerCPUs, "server-cpus", "", "CPUs the server is pinned to, e.g. 0,1 (default: two with 4 CPUs or more, else all but the last; none: unpinned)")
	f.str(&o.GeneratorCPUs, "generator-cpus", "", "CPUs the load generator process is pinned to (default: the ones the server does not get)")
	f.duration(&o.Soak, "soak", "soak phase length, e.g. 30m (0: none): batches at --soak-rate, RSS and p99 per minute", time.ParseDuration)
	f.float(&o.SoakRate, "soak-rate", 0, "soak events per second (0: half the throughput phase's)")
	f.integer(&o.SoakBatch, "soak-batch", 100, "events per soak request (1: single-event requests, more: gzip batches)")
	f.integer(&o.SoakIDs, "soak-ids", 0, "distinct ids the soak's events cycle through (0: 50000; -1: a new one per event)")
	f.duration(&o.SoakSample, "soak-sample", "RSS sampling interval of the soak (default 5s)", time.ParseDuration)
	f.str(&o.ProfileDir, "profile-dir", "", "write the server's CPU and allocation profiles of the first latency run here")
	f.str(&o.ServerBinary, "server-binary", "", "journey binary to start as the server (default: this one), e.g. an earlier build to compare")
	var serverArgs string
	f.str(&serverArgs, "server-args", "", "more journey serve flags, space-separated")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	o.ServerArgs = strings.Fields(serverArgs)
	var err error
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
	fmt.Printf("\nserver on CPUs %v, load generator on CPUs %v (empty: not pinned)\n", res.ServerCPUs, res.GeneratorCPUs)
	if res.Throughput != nil {
		fmt.Printf("ingest: %.0f events/s (gzip batches of 100, durable); stored by the loader at %.0f events/s\n", res.EventsPerS, res.LoadedPerS)
	}
	if len(res.LatencyRuns) > 0 {
		fmt.Printf("latency at %d req/s (best of %d): p50 %.2f ms, p99 %.2f ms (goal < 50); server %.2f cores, load generator %.2f cores\n",
			res.Rate, len(res.LatencyRuns), res.P50ms, res.P99ms, res.ServerCPUShare, res.GeneratorCPUShare)
	}
	if s := res.Soak; s != nil {
		fmt.Printf("soak: %.0f events/s for %.0f s: RSS slope %.2f MB/min (%.0f → %.0f MB), p99 per minute:", s.EventsPerS, s.Seconds, s.RSSSlopeMBPerMin, s.RSSFirstMB, s.RSSLastMB)
		for _, m := range s.Load.Minutes {
			fmt.Printf(" %.1f", m.P99MS)
		}
		fmt.Printf(" ms\n")
	}
	fmt.Printf("server peak RSS: %.0f MB; failed requests: %d; load average %s at the end\n", res.RSSMB, res.Errors, res.LoadAverage)
	return nil
}

func benchQuery(args []string) error {
	var o bench.QueryOptions
	var asJSON bool
	f := newFlags("bench query")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	var events []string
	f.Var((*listFlag)(&events), "events", "events to generate (persons = events/20; default 20000000), or clickhouse://… to also run the insights on that ClickHouse store (repeatable)")
	f.integer(&o.Seed, "seed", 1, "generator seed")
	f.str(&o.Dir, "dir", "", "directory for the benchmark's DuckDB files (default: a temporary one)")
	f.str(&o.ClickHouse, "clickhouse", "http://127.0.0.1:18123", "ClickHouse HTTP URL for the windowFunnel comparison; empty to skip")
	f.boolean(&o.Scale, "scale", true, "also run at twice the events for the linearity ratio")
	f.integer(&o.Threads, "threads", 0, "DuckDB threads (0 = all cores)")
	f.integer(&o.Repeat, "repeat", 3, "runs per measurement; the best is reported")
	if err := f.parse(args); err != nil {
		return err
	}
	o.Events = 20_000_000
	for _, e := range events {
		if strings.HasPrefix(e, "clickhouse://") {
			o.Store = e
			continue
		}
		n, err := strconv.Atoi(e)
		if err != nil || n < 1000 {
			return fmt.Errorf("invalid --events %q: want a number of events (at least 1000) or clickhouse://…", e)
		}
		o.Events = n
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	res, err := bench.Query(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	fmt.Printf("\n%d events, %d persons\n", res.Events, res.Persons)
	fmt.Printf("funnel    %8.1f ms  %.2f × floor (goal ≤ 1.5)\n", res.FunnelMS, ratio(res.FunnelMS, res.FloorMS))
	fmt.Printf("retention %8.1f ms  %.2f × its floor %.1f ms (goal ≤ 1.5)\n", res.RetentionMS, ratio(res.RetentionMS, res.RetentionFloorMS), res.RetentionFloorMS)
	fmt.Printf("DAU trend %8.1f ms  %.2f × its floor %.1f ms (goal ≤ 1.5)\n", res.TrendMS, ratio(res.TrendMS, res.TrendFloorMS), res.TrendFloorMS)
	fmt.Printf("floor     %8.1f ms (the funnel's rows)\n", res.FloorMS)
	fmt.Printf("journey index: built in %.0f ms, %.1f MB (%.2f bytes/event); SQL plans (no-journey-index): funnel %.1f ms (%.2f × the index's), retention %.1f ms (%.2f ×), DAU trend %.1f ms (%.2f ×)\n",
		res.IndexBuildMS, float64(res.IndexBytes)/1e6, ratio(float64(res.IndexBytes), float64(res.Events)),
		res.FunnelNoIndexMS, ratio(res.FunnelNoIndexMS, res.FunnelMS), res.RetentionNoIndexMS, ratio(res.RetentionNoIndexMS, res.RetentionMS),
		res.TrendNoIndexMS, ratio(res.TrendNoIndexMS, res.TrendMS))
	if res.ClickHouseFunnelMS > 0 {
		fmt.Printf("ClickHouse windowFunnel %8.1f ms wall, %.0f ms its own query_duration_ms: Journey's funnel is %.2f × faster by wall time (goal ≥ 5), the SQL plan %.2f ×; steps %v vs ClickHouse %v\n",
			res.ClickHouseFunnelMS, res.ClickHouseServerMS, ratio(res.ClickHouseFunnelMS, res.FunnelMS), ratio(res.ClickHouseFunnelMS, res.FunnelNoIndexMS), res.FunnelSteps, res.ClickHouseSteps)
	}
	fmt.Printf("threads %d on each side (warm runs, best of %d); load average %s at the end\n", res.Threads, o.Repeat, res.LoadAverage)
	if cs := res.ClickHouseStore; cs != nil {
		fmt.Printf("Journey on ClickHouse (%s): funnel %.1f ms, retention %.1f ms, DAU trend %.1f ms, floor %.1f ms; funnel steps %v\n",
			cs.Store, cs.FunnelMS, cs.RetentionMS, cs.TrendMS, cs.FloorMS, cs.FunnelSteps)
	}
	if res.Events2x > 0 {
		fmt.Printf("%d events: funnel %.1f ms = %.2f × the %d-event time (goal ≤ 2.3); floor %.2f ×\n",
			res.Events2x, res.Funnel2xMS, ratio(res.Funnel2xMS, res.FunnelMS), res.Events, ratio(res.Floor2xMS, res.FloorMS))
	}
	return nil
}

func benchExperiment(args []string) error {
	var o bench.ExperimentOptions
	var asJSON bool
	f := newFlags("bench experiment")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	// No JOURNEY_EVENTS twin: that variable is serve's --events store.
	f.IntVar(&o.Events, "events", 20_000_000, "events to generate: every person's exposures and purchases, then $pageviews")
	f.integer(&o.Persons, "persons", 1_000_000, "persons, every one exposed to control or test")
	f.float(&o.Lift, "lift", 0.02, "planted absolute conversion lift of test over control's 0.1")
	f.integer(&o.Seed, "seed", 1, "generator seed")
	f.str(&o.Dir, "dir", "", "directory for the benchmark's DuckDB file (default: a temporary one)")
	f.integer(&o.Threads, "threads", 0, "DuckDB threads (0 = all cores)")
	f.integer(&o.Repeat, "repeat", 3, "runs per measurement; the best is reported")
	if err := f.parse(args); err != nil {
		return err
	}
	if o.Events < 1000 || o.Persons < 100 {
		return fmt.Errorf("--events %d --persons %d: want at least 1000 events and 100 persons", o.Events, o.Persons)
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	res, err := bench.Experiment(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("\n%d events, %d persons exposed (%d control, %d test, %d to both)\n", res.Events, res.Persons, res.Exposed[0], res.Exposed[1], res.MultipleExposures)
	fmt.Printf("experiment %8.1f ms  %.2f × floor (goal ≤ 1.5); one conversion metric, CUPED on\n", res.ExperimentMS, res.Ratio)
	fmt.Printf("floor      %8.1f ms (plain count per person over the exposures and purchases read)\n", res.FloorMS)
	fmt.Printf("found: conversion %.4f → %.4f, effect %+.4f, 95%% CI [%+.4f, %+.4f], p %.2g (planted %+.4f)\n",
		res.ControlRate, res.TestRate, res.Effect, res.CI[0], res.CI[1], res.PValue, res.PlantedLift)
	return nil
}

func benchFlags(args []string) error {
	o := bench.FlagsOptions{Duration: 10 * time.Second}
	var asJSON bool
	f := newFlags("bench flags")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	f.integer(&o.Persons, "persons", 1_000_000, "stored persons with properties")
	// No JOURNEY_FLAGS twin: the name is too generic for the environment.
	f.IntVar(&o.Flags, "flags", 20, "flags of the project (person-property and cohort targeting, multivariate rollouts)")
	f.integer(&o.RPS, "rps", 2000, "POST /flags/?v=2 requests per second, open loop")
	f.duration(&o.Duration, "duration", "measured phase length (default 10s)", time.ParseDuration)
	f.duration(&o.Warmup, "warmup", "unrecorded phase at the same rate before each measured one (default a fifth of --duration, at most 2s)", time.ParseDuration)
	f.integer(&o.Workers, "workers", 256, "concurrent client requests at most")
	f.integer(&o.Seed, "seed", 1, "generator seed")
	f.str(&o.Dir, "dir", "", "directory for the benchmark's stores (default: a temporary one)")
	f.integer(&o.Threads, "threads", 0, "DuckDB threads (0 = all cores)")
	f.boolean(&o.NoPersonIndex, "no-person-index", false, "read persons from the event store through the person cache, as scale-out replicas do, instead of the embedded stack's person index")
	if err := f.parse(args); err != nil {
		return err
	}
	if o.Persons < 1 || o.Flags < 1 || o.RPS < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return fmt.Errorf("--persons, --flags, --rps and --duration must be positive, --warmup not negative")
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	res, err := bench.Flags(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("\n%d persons, %d flags, %d cohorts; %d requests/s asked for %s\n", res.Persons, res.Flags, res.Cohorts, res.RPS, o.Duration)
	fmt.Printf("/flags: %.0f requests/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (goal < 10), max %.1f ms; %d errors\n",
		res.AchievedRPS, res.P50MS, res.P95MS, res.P99MS, res.MaxMS, res.Errors)
	fmt.Printf("no-op server, same load: p50 %.2f ms, p99 %.2f ms; CPU %.0f ms (the load generator's own cost, %.0f %% of the run's %.0f ms): %.0f µs of server CPU per request\n",
		res.Baseline.P50MS, res.Baseline.P99MS, res.Baseline.CPUMS, 100*res.LoadGeneratorCPUShare, res.CPUMS, res.ServerCPUPerRequestUS)
	if pi := res.PersonIndex; pi != nil {
		fmt.Printf("person index: %d persons, %d keys, built in %.0f ms, %.0f bytes of heap a person\n", pi.Persons, pi.Keys, pi.BuildMS, pi.BytesPerPerson)
	}
	fmt.Printf("load average %s at the end\n", res.LoadAverage)
	return nil
}
