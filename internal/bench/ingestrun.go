package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IngestOptions sizes the ingest benchmark.
type IngestOptions struct {
	Binary string // journey binary: the server, and the load generator's process
	// ServerBinary, when set, is the server's binary instead (an earlier
	// build, to compare servers under the same generator).
	ServerBinary string
	DataDir      string        // empty = a temporary directory
	Duration     time.Duration // throughput phase; 0 skips it
	Workers      int           // concurrent batch senders
	Rate         int           // single-event requests per second in the latency phase
	LatencyFor   time.Duration // latency phase; 0 skips it
	// LatencyRuns repeats the latency phase (each after the loader caught
	// up); every run is reported, the result's p50/p99 are the best run's.
	LatencyRuns int
	NoSync      bool
	QueryPlan   string // the server's --query-plan (no-journey-index: ingest without the journey index)
	// ServerCPUs and GeneratorCPUs pin the two processes ("0,1", "2-3";
	// "" = automatic, see SplitCPUs; "none" = unpinned).
	ServerCPUs, GeneratorCPUs string
	// Soak, when positive, sends batches at SoakRate events/s (0 = half
	// the throughput phase's) for that long, sampling the server's RSS
	// every SoakSample.
	Soak       time.Duration
	SoakRate   float64
	SoakBatch  int
	SoakSample time.Duration
	// SoakIDs is the soak's set of distinct ids (0: 50 000; -1: a new id
	// for every event, to tell the person index's growth from a leak).
	SoakIDs int
	// ProfileDir, when set, receives the server's CPU and allocation
	// profiles of the (first) latency run: cpu.pprof, allocs.pprof.
	ProfileDir string
	// ServerArgs are more `journey serve` flags.
	ServerArgs []string
}

// IngestResult is the contract output of `journey bench ingest --json`.
type IngestResult struct {
	EventsPerS float64 `json:"events_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	RSSMB      float64 `json:"rss_mb"`
	Rate       int     `json:"rate"`
	Errors     int64   `json:"errors"`
	// LoadedPerS: the events acknowledged over the time until the loader
	// had stored them all (event store and journey index).
	LoadedPerS float64 `json:"loaded_events_per_s"`
	// The CPUs each process was pinned to (empty: not pinned) and, for
	// the best latency run, the cores each used (CPU seconds / wall).
	ServerCPUs        []int       `json:"server_cpus"`
	GeneratorCPUs     []int       `json:"generator_cpus"`
	ServerCPUShare    float64     `json:"server_cpu_share"`
	GeneratorCPUShare float64     `json:"generator_cpu_share"`
	Throughput        *GenResult  `json:"throughput,omitempty"`
	LatencyRuns       []GenResult `json:"latency_runs,omitempty"`
	Soak              *SoakResult `json:"soak,omitempty"`
	LoadAverage       string      `json:"load_average"` // at the end
}

// SoakResult is the soak phase: latency per minute and the RSS trend.
type SoakResult struct {
	EventsPerS float64 `json:"events_per_s"` // asked for
	Batch      int     `json:"batch"`
	Seconds    float64 `json:"seconds"`
	// RSSSlopeMBPerMin is the least-squares slope of the samples.
	RSSSlopeMBPerMin float64 `json:"rss_slope_mb_per_min"`
	RSSFirstMB       float64 `json:"rss_first_mb"`
	RSSLastMB        float64 `json:"rss_last_mb"`
	RSSMaxMB         float64 `json:"rss_max_mb"`
	// Slopes of the parts of RSS (MemSample): Go's heap, cgo (DuckDB),
	// mapped files; the one that grows is where to look.
	GoHeapSlopeMBPerMin float64     `json:"go_heap_slope_mb_per_min"`
	NonGoSlopeMBPerMin  float64     `json:"non_go_slope_mb_per_min"`
	FileSlopeMBPerMin   float64     `json:"file_slope_mb_per_min"`
	Samples             []RSSSample `json:"samples"`
	// MaxLagBytes is the largest loader lag sampled.
	MaxLagBytes float64   `json:"max_loader_lag_bytes"`
	Load        GenResult `json:"load"`
}

// RSSSample is one sample of the soak.
type RSSSample struct {
	Seconds float64 `json:"s"`
	MemSample
}

// SplitCPUs is the automatic placement: with 4 CPUs or more the server
// gets two (SPEC §10's "2 cores") and the generator the rest; with 2 or 3
// the generator gets the last and the server the others; with one,
// nothing is pinned.
func SplitCPUs(cpus []int) (server, generator []int) {
	switch n := len(cpus); {
	case n >= 4:
		return cpus[:2], cpus[2:]
	case n >= 2:
		return cpus[:n-1], cpus[n-1:]
	}
	return nil, nil
}

// ParseCPUs reads "0,2-3" ("" and "none" are no CPUs).
func ParseCPUs(s string) ([]int, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b > 1023 {
			return nil, fmt.Errorf("invalid CPU list %q: want e.g. 0,2-3", s)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

func (o *IngestOptions) placement() (server, generator []int, err error) {
	server, generator = SplitCPUs(allowedCPUs())
	if o.ServerCPUs != "" {
		if server, err = ParseCPUs(o.ServerCPUs); err != nil {
			return nil, nil, err
		}
	}
	if o.GeneratorCPUs != "" {
		if generator, err = ParseCPUs(o.GeneratorCPUs); err != nil {
			return nil, nil, err
		}
	}
	return server, generator, nil
}

// Ingest runs the ingest benchmark: throughput with gzip batches of 100,
// then acknowledgement latency at a fixed single-event request rate, then
// optionally a soak; the load comes from a generator process of its own.
func Ingest(ctx context.Context, o IngestOptions, logf func(string, ...any)) (IngestResult, error) {
	serverCPUs, genCPUs, err := o.placement()
	if err != nil {
		return IngestResult{}, err
	}
	extra := append([]string(nil), o.ServerArgs...)
	if o.NoSync {
		extra = append(extra, "--no-sync")
	}
	if o.QueryPlan != "" {
		extra = append(extra, "--query-plan", o.QueryPlan)
	}
	if len(serverCPUs) > 0 {
		// DuckDB sizes its pool by the machine's cores, not the affinity.
		extra = append(extra, "--threads", strconv.Itoa(len(serverCPUs)))
	}
	pprofAddr := ""
	if o.ProfileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return IngestResult{}, err
		}
		extra = append(extra, "--pprof", pprofAddr)
	}
	serverBinary := o.Binary
	if o.ServerBinary != "" {
		serverBinary = o.ServerBinary
	}
	srv, err := StartServerOn(serverBinary, o.DataDir, serverCPUs, extra...)
	if err != nil {
		return IngestResult{}, err
	}
	defer srv.Cleanup()
	defer srv.Kill()
	token, _, err := srv.CreateProject("bench")
	if err != nil {
		return IngestResult{}, err
	}
	res := IngestResult{Rate: o.Rate, ServerCPUs: serverCPUs, GeneratorCPUs: genCPUs}
	logf("server on CPUs %v, load generator on CPUs %v (empty: not pinned); load %s", serverCPUs, genCPUs, machineLoad())
	run := func(s GenSpec) (GenResult, error) {
		s.URL, s.Token, s.ServerPID = srv.URL, token, srv.Pid()
		return runGenerator(ctx, o.Binary, genCPUs, s)
	}
	if o.Duration > 0 {
		start := time.Now()
		tp, err := run(GenSpec{Duration: o.Duration, Batch: 100, Workers: o.Workers, Prebuild: max(4000, int(o.Duration.Seconds()*1200))})
		if err != nil {
			return res, err
		}
		res.Throughput = &tp
		res.EventsPerS = float64(tp.Events) / tp.WallS
		res.Errors += tp.Errors
		logf("throughput: %d events acknowledged in %.1f s (%.0f/s); server %.2f cores, generator %.2f cores; load %s",
			tp.Events, tp.WallS, res.EventsPerS, tp.ServerCPUShare, tp.GenCPUShare, tp.LoadEnd)
		// Let the loader catch up so the latency phase measures capture alone.
		if err := srv.WaitLoaded(5 * time.Minute); err != nil {
			return res, err
		}
		res.LoadedPerS = float64(tp.Events) / time.Since(start).Seconds()
		logf("loaded: all %d events stored %s after the start", tp.Events, time.Since(start).Round(time.Millisecond))
	}
	if o.LatencyFor > 0 {
		if err := latencyRuns(ctx, o, srv, pprofAddr, run, &res, logf); err != nil {
			return res, err
		}
	}
	if o.Soak > 0 {
		soak, err := soakRun(ctx, o, srv, res.EventsPerS, run, logf)
		if err != nil {
			return res, err
		}
		res.Soak = soak
		res.Errors += soak.Load.Errors
	}
	res.RSSMB = RSSMB(srv.Pid())
	res.LoadAverage = machineLoad()
	return res, nil
}

func latencyRuns(ctx context.Context, o IngestOptions, srv *Server, pprofAddr string, run func(GenSpec) (GenResult, error), res *IngestResult, logf func(string, ...any)) error {
	for i := 0; i < max(1, o.LatencyRuns); i++ {
		if err := srv.WaitLoaded(5 * time.Minute); err != nil {
			return err
		}
		var prof sync.WaitGroup
		if i == 0 && pprofAddr != "" {
			prof.Add(1)
			go func() {
				defer prof.Done()
				fetchProfiles(pprofAddr, o.ProfileDir, o.LatencyFor, logf)
			}()
		}
		lr, err := run(GenSpec{Rate: float64(o.Rate), Duration: o.LatencyFor, Batch: 1, Workers: 512})
		prof.Wait()
		if err != nil {
			return err
		}
		res.LatencyRuns = append(res.LatencyRuns, lr)
		res.Errors += lr.Errors
		logf("latency run %d at %d req/s: p50 %.2f ms, p99 %.2f ms, max %.1f ms (generator's own send lag p99 %.2f ms); %d errors %v, %d unsent; server %.2f cores (%.0f µs CPU per acknowledged request), generator %.2f cores; load %s → %s",
			i+1, o.Rate, lr.P50MS, lr.P99MS, lr.MaxMS, lr.SendLagP99MS, lr.Errors, lr.Statuses, lr.Unsent, lr.ServerCPUShare, lr.ServerCPUPerRequestUS(), lr.GenCPUShare, lr.LoadStart, lr.LoadEnd)
		if len(res.LatencyRuns) == 1 || lr.P99MS < res.P99ms {
			res.P50ms, res.P99ms = lr.P50MS, lr.P99MS
			res.ServerCPUShare, res.GeneratorCPUShare = lr.ServerCPUShare, lr.GenCPUShare
		}
	}
	return nil
}

// soakRun sends batches at a fixed rate for o.Soak while sampling the
// server's RSS and loader lag.
func soakRun(ctx context.Context, o IngestOptions, srv *Server, maxEventsPerS float64, run func(GenSpec) (GenResult, error), logf func(string, ...any)) (*SoakResult, error) {
	batch := max(1, o.SoakBatch)
	rate := o.SoakRate
	if rate <= 0 {
		rate = maxEventsPerS / 2
	}
	if rate <= 0 {
		return nil, fmt.Errorf("cannot soak: no --soak-rate and no throughput phase to take half of")
	}
	every := o.SoakSample
	if every <= 0 {
		every = 5 * time.Second
	}
	if err := srv.WaitLoaded(5 * time.Minute); err != nil {
		return nil, err
	}
	logf("soak: %.0f events/s in requests of %d for %s, RSS sampled every %s", rate, batch, o.Soak, every)
	sr := &SoakResult{EventsPerS: rate, Batch: batch}
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	start := time.Now()
	go func() {
		defer sampling.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s := RSSSample{Seconds: time.Since(start).Seconds(), MemSample: srv.memSample()}
			sr.Samples = append(sr.Samples, s)
			logf("soak %4.0f s: RSS %.0f MB = anon %.0f (Go %.0f, heap in use %.0f; other %.0f) + file %.0f; %0.f goroutines; loader lag %.0f bytes",
				s.Seconds, s.RSSMB, s.AnonMB, s.GoMB, s.GoHeapMB, s.NonGoMB, s.FileMB, s.Goroutine, s.LagBytes)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	load, err := run(GenSpec{Rate: rate / float64(batch), Duration: o.Soak, Batch: batch, Workers: 512, Prebuild: 20000, DistinctIDs: o.SoakIDs})
	close(stop)
	sampling.Wait()
	if err != nil {
		return nil, err
	}
	sr.Load, sr.Seconds = load, time.Since(start).Seconds()
	n := len(sr.Samples)
	xs, ys := make([]float64, n), make([]float64, n)
	heap, nonGo, file := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, s := range sr.Samples {
		xs[i], ys[i] = s.Seconds/60, s.RSSMB
		heap[i], nonGo[i], file[i] = s.GoHeapMB, s.NonGoMB, s.FileMB
		sr.RSSMaxMB = max(sr.RSSMaxMB, s.RSSMB)
		sr.MaxLagBytes = max(sr.MaxLagBytes, s.LagBytes)
	}
	sr.RSSSlopeMBPerMin = slope(xs, ys)
	sr.GoHeapSlopeMBPerMin, sr.NonGoSlopeMBPerMin, sr.FileSlopeMBPerMin = slope(xs, heap), slope(xs, nonGo), slope(xs, file)
	if n := len(ys); n > 0 {
		sr.RSSFirstMB, sr.RSSLastMB = ys[0], ys[n-1]
	}
	for _, m := range load.Minutes {
		logf("soak minute %d: %d requests, %d errors, p50 %.2f ms, p99 %.2f ms", m.Minute, m.Requests, m.Errors, m.P50MS, m.P99MS)
	}
	logf("soak: RSS slope by part: Go heap %.2f, other (cgo: DuckDB) %.2f, mapped files %.2f MB/min",
		sr.GoHeapSlopeMBPerMin, sr.NonGoSlopeMBPerMin, sr.FileSlopeMBPerMin)
	logf("soak: RSS %.0f → %.0f MB (max %.0f), slope %.2f MB/min over %d samples; max loader lag %.0f bytes; p99 %.2f ms overall; server %.2f cores, generator %.2f cores; load %s → %s",
		sr.RSSFirstMB, sr.RSSLastMB, sr.RSSMaxMB, sr.RSSSlopeMBPerMin, len(sr.Samples), sr.MaxLagBytes, load.P99MS, load.ServerCPUShare, load.GenCPUShare, load.LoadStart, load.LoadEnd)
	return sr, nil
}

// ServerCPUPerRequestUS is the server's CPU over the window per
// acknowledged request, in µs: what the load costs it whatever else the
// machine runs (0 without acknowledgements).
func (r GenResult) ServerCPUPerRequestUS() float64 {
	if r.OK == 0 {
		return 0
	}
	return r.ServerCPUShare * r.WallS / float64(r.OK) * 1e6
}

// slope is the least-squares slope of ys over xs (0 for fewer than 2).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
		sxx, sxy = sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// runGenerator runs one load phase in a generator process of its own.
func runGenerator(ctx context.Context, binary string, cpus []int, s GenSpec) (GenResult, error) {
	spec, err := json.Marshal(s)
	if err != nil {
		return GenResult{}, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "bench", "ingest-generator")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(spec), &out, os.Stderr
	if err := startPinned(cmd, cpus); err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return GenResult{}, fmt.Errorf("cannot start the load generator %q: %w", binary, err)
	}
	if err := cmd.Wait(); err != nil {
		return GenResult{}, fmt.Errorf("load generator failed: %w", err)
	}
	var r GenResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return GenResult{}, fmt.Errorf("cannot decode the load generator's result %q: %w", out.String(), err)
	}
	return r, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fetchProfiles fetches the server's CPU profile over about d, then its
// allocation profile, into dir.
func fetchProfiles(addr, dir string, d time.Duration, logf func(string, ...any)) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("cannot create profile directory %q: %v", dir, err)
		return
	}
	secs := max(1, int(d.Seconds())-1)
	get := func(path, name string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			logf("cannot fetch profile %q: %v", path, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			logf("cannot write profile %q: %v", name, err)
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
	}
	get("/debug/pprof/profile?seconds="+strconv.Itoa(secs), "cpu.pprof")
	get("/debug/pprof/allocs", "allocs.pprof")
}
