package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/journey-dev/journey/internal/capture"
	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/websdk"
)

// FlagsOptions sizes the /flags benchmark.
type FlagsOptions struct {
	Persons  int           // stored persons with properties (default 1 M)
	Flags    int           // flags of the project (default 20)
	RPS      int           // requests per second sent, open loop (default 2000)
	Duration time.Duration // measured phase (default 10 s)
	// Warmup runs at the same rate before each measured phase, not
	// recorded; default a fifth of Duration, at most 2 s.
	Warmup  time.Duration
	Seed    int
	Dir     string // where the stores go; "" = a temporary directory
	Threads int    // DuckDB threads; 0 = all cores
	Workers int    // concurrent client requests at most (default 256)
	// NoPersonIndex serves without flagserve's person index: persons are
	// read from the event store through the person cache, as the
	// scale-out replicas do (the figures before the index).
	NoPersonIndex bool
}

// LoadFigures are one open-loop run's figures. Latency counts from when
// a request was due, so a stalled server is not hidden by a stalled
// client. CPUMS is the whole process' CPU time (user + system) over the
// measured phase: the load generator's and the server's, since both run
// in this process.
type LoadFigures struct {
	Requests    int64   `json:"requests"`
	AchievedRPS float64 `json:"achieved_rps"`
	P50MS       float64 `json:"p50_ms"`
	P95MS       float64 `json:"p95_ms"`
	P99MS       float64 `json:"p99_ms"`
	MaxMS       float64 `json:"max_ms"`
	Errors      int64   `json:"errors"`
	// Unsent counts the requests never sent because the server fell so
	// far behind that the run was cut (see openLoop); they are errors
	// too, with the time from when they were due to the cut as latency.
	Unsent int64   `json:"unsent"`
	CPUMS  float64 `json:"cpu_ms"`
	// The Go collector over the measured phase (the whole process):
	// cycles, its CPU time (runtime/metrics' estimate: background mark,
	// assists, pauses) and that time's share of cpu_ms, and its
	// stop-the-world pauses (total and longest).
	GCCycles     uint32  `json:"gc_cycles"`
	GCCPUMS      float64 `json:"gc_cpu_ms"`
	GCCPUShare   float64 `json:"gc_cpu_share"`
	GCPauseMS    float64 `json:"gc_pause_ms"`
	GCMaxPauseMS float64 `json:"gc_max_pause_ms"`
	// HeapAllocs is the objects the process allocated over the phase.
	HeapAllocs uint64 `json:"heap_allocs"`
	// P99BySecondMS is the p99 of the requests due in each second of the
	// measured phase, and WarmupP99BySecondMS the same for the warm-up
	// before it: a tail in the first seconds (a collection of a build's
	// garbage, caches filling) shows against the steady seconds of the
	// same run, whatever the machine's load.
	P99BySecondMS       []float64 `json:"p99_by_second_ms"`
	WarmupP99BySecondMS []float64 `json:"warmup_p99_by_second_ms,omitempty"`
}

// p99BySecond is the p99 latency of each second's requests, by when they
// were due (lat in due order, rps a second).
func p99BySecond(lat []float64, rps int) []float64 {
	var out []float64
	for i := 0; i < len(lat); i += rps {
		out = append(out, math.Round(quantile(lat[i:min(i+rps, len(lat))], 0.99)*100)/100)
	}
	return out
}

// gcSnap is the collector's counters at one time.
type gcSnap struct {
	ms     runtime.MemStats
	cpu    float64 // seconds
	allocs uint64
}

func readGC() gcSnap {
	var g gcSnap
	runtime.ReadMemStats(&g.ms)
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64 {
		g.cpu = s[0].Value.Float64()
	}
	g.allocs = g.ms.Mallocs
	return g
}

// gcFigures fills f's collector figures from two snapshots.
func gcFigures(f *LoadFigures, a, b gcSnap) {
	f.GCCycles = b.ms.NumGC - a.ms.NumGC
	f.GCCPUMS = (b.cpu - a.cpu) * 1000
	if f.CPUMS > 0 {
		f.GCCPUShare = f.GCCPUMS / f.CPUMS
	}
	f.HeapAllocs = b.allocs - a.allocs
	f.GCPauseMS = float64(b.ms.PauseTotalNs-a.ms.PauseTotalNs) / 1e6
	for n := a.ms.NumGC + 1; n <= b.ms.NumGC && b.ms.NumGC-n < 256; n++ {
		f.GCMaxPauseMS = max(f.GCMaxPauseMS, float64(b.ms.PauseNs[(n+255)%256])/1e6)
	}
}

// FlagsResult is the contract output of `journey bench flags --json`.
type FlagsResult struct {
	Persons   int     `json:"persons"`
	Flags     int     `json:"flags"`
	Cohorts   int     `json:"cohorts"`
	RPS       int     `json:"rps"` // asked
	DurationS float64 `json:"duration_s"`
	// The /flags/?v=2 run against the embedded server (LoadFigures
	// inline). ErrorsWhileComputing counts 200 answers that said
	// errorsWhileComputingFlags (also in errors).
	LoadFigures
	ErrorsWhileComputing int64 `json:"errors_while_computing"`
	// Baseline is the same load generator, at the same rate, against a
	// no-op server on the same kind of listener that answers every
	// request with a stored /flags answer: its CPU time is the load
	// generator's own cost (plus net/http's), to subtract from cpu_ms;
	// its latencies are what the client and the loopback add.
	Baseline LoadFigures `json:"baseline"`
	// ServerCPUPerRequestUS is (cpu_ms - baseline.cpu_ms) per request
	// sent (requests - unsent).
	ServerCPUPerRequestUS float64 `json:"server_cpu_per_request_us"`
	// LoadGeneratorCPUShare is baseline.cpu_ms / cpu_ms: the share of
	// the measured run's CPU time that the load generator itself (with
	// net/http's client and server work) accounts for.
	LoadGeneratorCPUShare float64 `json:"load_generator_cpu_share"`
	// ServerAllocsPerRequest is (heap_allocs - baseline.heap_allocs) per
	// request sent: the Go objects the server's /flags path allocates.
	ServerAllocsPerRequest float64 `json:"server_allocs_per_request"`
	AnswerBytes            int     `json:"answer_bytes"` // one answer's size
	// The person index (flagserve.PersonIndex; absent with
	// --no-person-index): its build from the store, the Go heap it
	// holds (after a GC, against before the build) per stored person,
	// and flagserve's own estimate.
	PersonIndex *IndexFigures `json:"person_index,omitempty"`
	// LoadAverage is the machine's 1-, 5- and 15-minute load when the
	// measured run ended (other work on the machine shows in it).
	LoadAverage string `json:"load_average,omitempty"`
}

// IndexFigures describe the person index of a run.
type IndexFigures struct {
	Keys           int     `json:"keys"`
	Persons        int     `json:"persons"`
	BuildMS        float64 `json:"build_ms"`
	HeapBytes      int64   `json:"heap_bytes"`
	BytesPerPerson float64 `json:"bytes_per_person"`
	EstimatedBytes int64   `json:"estimated_bytes"`
}

// Flags runs the /flags benchmark: an embedded server's flag evaluation
// (websdk's /flags handler over flagserve, the DuckDB event store's
// persons and the SQLite metadata store, wired as internal/app wires
// them), under open-loop load from this process.
func Flags(ctx context.Context, o FlagsOptions, logf func(string, ...any)) (FlagsResult, error) {
	if o.Persons <= 0 {
		o.Persons = 1_000_000
	}
	if o.Flags <= 0 {
		o.Flags = 20
	}
	if o.RPS <= 0 {
		o.RPS = 2000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = min(2*time.Second, o.Duration/5)
	}
	if o.Workers <= 0 {
		o.Workers = 256
	}
	res := FlagsResult{Persons: o.Persons, Flags: o.Flags, RPS: o.RPS, DurationS: o.Duration.Seconds()}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "journey-bench-flags-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	st, err := openBenchStore(filepath.Join(dir, "events.duckdb"), o.Threads)
	if err != nil {
		return res, err
	}
	defer st.Close()
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		return res, err
	}
	defer m.Close()
	project, _, err := m.CreateProject(ctx, "bench", "UTC")
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := generatePersons(ctx, st, project.ID, o); err != nil {
		return res, err
	}
	logf("stored %d persons with properties in %s", o.Persons, time.Since(start).Round(time.Millisecond))
	if res.Cohorts, err = createFlags(ctx, m, project.ID, o); err != nil {
		return res, err
	}
	logf("created %d flags and %d cohorts", o.Flags, res.Cohorts)

	// The server: /flags as internal/app.routes mounts it. The load comes
	// from one address, standing in for many clients, so the per-address
	// body cap is lifted.
	rest := http.NewServeMux()
	var idx *flagserve.PersonIndex
	var heap0 uint64
	if !o.NoPersonIndex {
		heap0 = heapAlloc()
		idx = flagserve.NewPersonIndex(st.Store, flagserve.IndexOptions{})
	}
	sdk := websdk.NewHandler(&tokens{meta: m}, m, websdk.WithFlags(flagserve.New(m, st.Store, flagserve.Options{Index: idx})))
	for _, route := range websdk.Routes {
		rest.Handle(route, sdk)
	}
	handler := capture.Bodies(rest, capture.BodyLimits{Limit: func(*http.Request) int { return 1 << 20 }, ClientBodies: 1 << 20})
	srv, err := serve(handler)
	if err != nil {
		return res, err
	}
	defer srv.close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: o.Workers, MaxIdleConnsPerHost: o.Workers}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	built := time.Now()
	answer, err := checkFlags(ctx, client, srv.url, project.Token, st, o)
	if err != nil {
		return res, err
	}
	if idx != nil {
		// The first request started the build; the store answered
		// meanwhile. Then the same checks through the index.
		if res.PersonIndex, err = waitIndex(ctx, idx, project.ID, built, heap0); err != nil {
			return res, err
		}
		logf("person index: %d persons, %d keys, built in %.0f ms, %.1f MB of heap (%.0f bytes a person; estimated %.1f MB)",
			res.PersonIndex.Persons, res.PersonIndex.Keys, res.PersonIndex.BuildMS, float64(res.PersonIndex.HeapBytes)/1e6,
			res.PersonIndex.BytesPerPerson, float64(res.PersonIndex.EstimatedBytes)/1e6)
		if answer, err = checkFlags(ctx, client, srv.url, project.Token, st, o); err != nil {
			return res, fmt.Errorf("through the person index: %w", err)
		}
	}
	res.AnswerBytes = len(answer)

	n := int(float64(o.RPS) * o.Duration.Seconds())
	warm := int(float64(o.RPS) * o.Warmup.Seconds())
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 14))
	bodies := make([][]byte, warm+n)
	for i := range bodies {
		bodies[i] = []byte(`{"token":"` + project.Token + `","distinct_id":"p` + strconv.Itoa(1+rng.IntN(o.Persons)) + `"}`)
	}

	// The baseline first: the same requests to a server that only answers.
	noop, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.Write(answer)
	}))
	if err != nil {
		return res, err
	}
	if res.Baseline, _, err = openLoop(client, noop.url+"/flags/?v=2", bodies, warm, o, logf, "no-op server"); err != nil {
		noop.close()
		return res, err
	}
	noop.close()
	client.CloseIdleConnections()
	if res.LoadFigures, res.ErrorsWhileComputing, err = openLoop(client, srv.url+"/flags/?v=2", bodies, warm, o, logf, "/flags"); err != nil {
		return res, err
	}
	if sent := res.Requests - res.Unsent; sent > 0 {
		res.ServerCPUPerRequestUS = (res.CPUMS - res.Baseline.CPUMS) * 1000 / float64(sent)
		res.ServerAllocsPerRequest = (float64(res.HeapAllocs) - float64(res.Baseline.HeapAllocs)) / float64(sent)
	}
	if res.CPUMS > 0 {
		res.LoadGeneratorCPUShare = res.Baseline.CPUMS / res.CPUMS
	}
	logf("server: %.1f µs CPU and %.1f allocations a request (less the no-op run's); load generator %.0f %% of the run's CPU; GC %.1f %% of it",
		res.ServerCPUPerRequestUS, res.ServerAllocsPerRequest, 100*res.LoadGeneratorCPUShare, 100*res.GCCPUShare)
	res.LoadAverage = machineLoad()
	return res, nil
}

// heapAlloc is the live Go heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitIndex waits for the project's person index (started at start) and
// measures it: the heap grown since heap0, and its own figures.
func waitIndex(ctx context.Context, idx *flagserve.PersonIndex, projectID int64, start time.Time, heap0 uint64) (*IndexFigures, error) {
	for !idx.Ready(projectID) {
		if time.Since(start) > 10*time.Minute {
			return nil, errors.New("the person index was not built within 10 minutes")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	f := &IndexFigures{BuildMS: float64(time.Since(start).Microseconds()) / 1000}
	st := idx.Stats(projectID)
	f.Keys, f.Persons, f.EstimatedBytes = st.Keys, st.Persons, st.EstimatedBytes
	if h := heapAlloc(); h > heap0 {
		f.HeapBytes = int64(h - heap0)
	}
	if f.Persons > 0 {
		f.BytesPerPerson = float64(f.HeapBytes) / float64(f.Persons)
	}
	return f, nil
}

// machineLoad is /proc/loadavg's three load averages ("" elsewhere).
func machineLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// personsSQL stores persons 1..%[3]d of project %[1]d with properties
// the flags target, distinct id p<id>. %[2]d seed.
const personsSQL = `
INSERT INTO persons
SELECT person, %[1]d, TIMESTAMP '2026-01-01' + to_microseconds((hash(person, %[2]d, 0) %% 5000000000000)::BIGINT),
       '{"plan":"' || (['free','free','free','pro','enterprise'])[1 + (hash(person, %[2]d, 1) %% 5)::INTEGER] ||
       '","country":"' || (['US','GB','FR','DE','ES','IT','BR','IN','JP','CA'])[1 + (hash(person, %[2]d, 2) %% 10)::INTEGER] ||
       '","email":"user' || person::VARCHAR || '@' || (['gmail.com','corp.example.com','example.org','yahoo.com'])[1 + (hash(person, %[2]d, 3) %% 4)::INTEGER] ||
       '","age":' || (18 + hash(person, %[2]d, 4) %% 50)::VARCHAR ||
       ',"app_version":"' || (1 + hash(person, %[2]d, 5) %% 3)::VARCHAR || '.' || (hash(person, %[2]d, 6) %% 10)::VARCHAR || '.' || (hash(person, %[2]d, 7) %% 5)::VARCHAR ||
       '","beta":' || CASE WHEN hash(person, %[2]d, 8) %% 10 = 0 THEN 'true' ELSE 'false' END || '}'
FROM range(1, %[3]d + 1) t(person);
INSERT INTO person_distinct_ids SELECT %[1]d, 'p' || person::VARCHAR, person FROM range(1, %[3]d + 1) t(person);
CHECKPOINT`

func generatePersons(ctx context.Context, st *duckStore, projectID int64, o FlagsOptions) error {
	if _, err := st.sql.ExecContext(ctx, fmt.Sprintf(personsSQL, projectID, o.Seed, o.Persons)); err != nil {
		return fmt.Errorf("cannot store persons: %w", err)
	}
	return nil
}

// createFlags stores three cohorts (two property cohorts, one static)
// and o.Flags flags through the metadata store, as the flags API does:
// person-property and cohort targeting, several condition sets, partial
// rollouts, boolean and multivariate (2 and 3 variants). Flag 0 targets
// plan pro and enterprise at 100%: checkFlags reads it.
func createFlags(ctx context.Context, m meta.Store, projectID int64, o FlagsOptions) (int, error) {
	eu, err := m.CreateCohort(ctx, projectID, "EU", []byte(`{"type":"OR","values":[{"type":"AND","values":[{"key":"country","value":["FR","DE","ES","IT"],"operator":"exact","type":"person"}]}]}`))
	if err != nil {
		return 0, err
	}
	paying, err := m.CreateCohort(ctx, projectID, "paying adults", []byte(`{"type":"OR","values":[{"type":"AND","values":[{"key":"plan","value":["pro","enterprise"],"operator":"exact","type":"person"},{"key":"age","value":25,"operator":"gte","type":"person"}]}]}`))
	if err != nil {
		return 0, err
	}
	ids := make([]string, 0, 1000)
	for i := 1; i <= min(1000, o.Persons); i++ {
		ids = append(ids, "p"+strconv.Itoa(i*max(1, o.Persons/1000)))
	}
	idsJSON, _ := json.Marshal(map[string]any{"distinct_ids": ids})
	static, err := m.CreateCohort(ctx, projectID, "design partners", idsJSON)
	if err != nil {
		return 0, err
	}
	for i := 0; i < o.Flags; i++ {
		var filters string
		switch i % 5 {
		case 0:
			rollout := 50
			if i == 0 {
				rollout = 100
			}
			filters = fmt.Sprintf(`{"groups":[{"properties":[{"key":"plan","value":["pro","enterprise"],"operator":"exact","type":"person"}],"rollout_percentage":%d}]}`, rollout)
		case 1:
			filters = `{"groups":[{"properties":[{"key":"country","value":["US","GB","CA"],"type":"person"}],"rollout_percentage":100},{"properties":[],"rollout_percentage":20}],
				"multivariate":{"variants":[{"key":"a","rollout_percentage":34},{"key":"b","rollout_percentage":33},{"key":"c","rollout_percentage":33}]}}`
		case 2:
			filters = fmt.Sprintf(`{"groups":[{"properties":[{"key":"id","type":"cohort","value":%d}],"rollout_percentage":30}]}`, eu.ID)
		case 3:
			filters = fmt.Sprintf(`{"groups":[{"properties":[{"key":"id","type":"cohort","value":%d}],"rollout_percentage":100},
				{"properties":[{"key":"app_version","operator":"semver_gte","value":"2.3.0","type":"person"}],"rollout_percentage":10}],
				"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]}}`, paying.ID)
		default:
			filters = fmt.Sprintf(`{"groups":[{"properties":[{"key":"email","operator":"icontains","value":"@corp."},{"key":"age","operator":"gte","value":30,"type":"person"}],"rollout_percentage":100},
				{"properties":[{"key":"id","type":"cohort","value":%d}],"rollout_percentage":100},
				{"properties":[{"key":"beta","value":["true"],"type":"person"}],"rollout_percentage":75}]}`, static.ID)
		}
		f, err := flags.Decode([]byte(fmt.Sprintf(`{"key":"bench-flag-%02d","name":"bench flag %d","active":true,"filters":%s}`, i, i, filters)))
		if err != nil {
			return 0, fmt.Errorf("flag %d: %w", i, err)
		}
		if _, err := m.CreateFlag(ctx, meta.Flag{ProjectID: projectID, Key: f.Key, Name: f.Name, Active: f.Active, Definition: flagserve.Definition(f)}); err != nil {
			return 0, err
		}
	}
	return 3, nil
}

// tokens resolves project tokens from the metadata store, cached (the
// server's token cache does the same).
type tokens struct {
	meta meta.Store
	mu   sync.Mutex
	ids  map[string]int64
}

func (t *tokens) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	t.mu.Lock()
	id, ok := t.ids[token]
	t.mu.Unlock()
	if ok {
		return id, true, nil
	}
	p, err := t.meta.ProjectByToken(ctx, token)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[string]int64{}
	}
	t.ids[token] = p.ID
	return p.ID, true, nil
}

// server is an HTTP server on a loopback port.
type server struct {
	url string
	hs  *http.Server
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go hs.Serve(ln)
	return &server{url: "http://" + ln.Addr().String(), hs: hs}, nil
}

func (s *server) close() { s.hs.Close() }

// checkFlags asks /flags for a few persons before the clock starts: the
// answer has every flag, and flag 0 (plan pro or enterprise, 100%) is
// on exactly for the persons whose stored plan is one of those, so the
// stored person properties are read. It returns one answer, for the
// baseline server to send.
func checkFlags(ctx context.Context, c *http.Client, base, token string, st *duckStore, o FlagsOptions) ([]byte, error) {
	var answer []byte
	for id := 1; id <= min(20, o.Persons); id++ {
		var props string
		if err := st.sql.QueryRowContext(ctx, `SELECT properties FROM persons WHERE id = ?`, id).Scan(&props); err != nil {
			return nil, err
		}
		paying := strings.Contains(props, `"plan":"pro"`) || strings.Contains(props, `"plan":"enterprise"`)
		body := `{"token":"` + token + `","distinct_id":"p` + strconv.Itoa(id) + `"}`
		resp, err := c.Post(base+"/flags/?v=2", "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("/flags answered %s: %s", resp.Status, b)
		}
		var a struct {
			Flags  map[string]flags.FlagDetail `json:"flags"`
			Errors bool                        `json:"errorsWhileComputingFlags"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("/flags answered %s: %w", b, err)
		}
		if len(a.Flags) != o.Flags || a.Errors {
			return nil, fmt.Errorf("/flags answered %d flags (want %d), errorsWhileComputingFlags %v: %s", len(a.Flags), o.Flags, a.Errors, b)
		}
		if got := a.Flags["bench-flag-00"].Enabled; got != paying {
			return nil, fmt.Errorf("person p%d (%s): bench-flag-00 is %v, want %v: the stored person properties were not used", id, props, got, paying)
		}
		answer = b
	}
	return answer, nil
}

// cpuTime is the process' CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var errorsTrue = []byte(`"errorsWhileComputingFlags":true`)

// openLoop sends bodies[:warm] (not recorded), then the rest, each at its
// due time (o.RPS a second, open loop), from at most o.Workers requests
// at once, and returns the figures of the measured part and how many 200
// answers said errorsWhileComputingFlags (counted in errors too).
func openLoop(c *http.Client, url string, bodies [][]byte, warm int, o FlagsOptions, logf func(string, ...any), name string) (LoadFigures, int64, error) {
	var f LoadFigures
	var gc0, gc1 gcSnap
	run := func(part [][]byte) ([]float64, int64, int64, int64, time.Duration, time.Duration) {
		lat := make([]float64, len(part))
		var errs, computing atomic.Int64
		var last atomic.Int64 // latest completion, ns after start
		jobs := make(chan int, o.Workers)
		interval := float64(time.Second) / float64(o.RPS)
		gc0 = readGC()
		cpu0 := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < o.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, 16<<10)
				for i := range jobs {
					due := start.Add(time.Duration(float64(i) * interval))
					ok, errored := false, false
					resp, err := c.Post(url, "application/json", bytes.NewReader(part[i]))
					if err == nil {
						b := bytes.NewBuffer(buf[:0])
						_, err = b.ReadFrom(resp.Body)
						resp.Body.Close()
						ok = err == nil && resp.StatusCode == 200
						errored = ok && bytes.Contains(b.Bytes(), errorsTrue)
					}
					done := time.Now()
					lat[i] = float64(done.Sub(due).Microseconds()) / 1000
					if !ok || errored {
						errs.Add(1)
					}
					if errored {
						computing.Add(1)
					}
					for {
						t := last.Load()
						if int64(done.Sub(start)) <= t || last.CompareAndSwap(t, int64(done.Sub(start))) {
							break
						}
					}
				}
			}()
		}
		// An overloaded server would stretch the run without end: past
		// twice its length (and 5 s more), what is left is not sent.
		cut := start.Add(2*time.Duration(float64(len(part))*interval) + 5*time.Second)
		timer := time.NewTimer(time.Until(cut))
		var unsent int64
		for i := range part {
			due := start.Add(time.Duration(float64(i) * interval))
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
			select {
			case jobs <- i:
				continue
			case <-timer.C:
			}
			now := time.Now()
			for j := i; j < len(part); j++ {
				lat[j] = float64(now.Sub(start.Add(time.Duration(float64(j)*interval))).Microseconds()) / 1000
			}
			unsent = int64(len(part) - i)
			errs.Add(unsent)
			break
		}
		timer.Stop()
		close(jobs)
		wg.Wait()
		gc1 = readGC()
		return lat, errs.Load(), computing.Load(), unsent, time.Duration(last.Load()), cpuTime() - cpu0
	}
	if warm > 0 {
		wlat, _, _, _, _, _ := run(bodies[:warm])
		f.WarmupP99BySecondMS = p99BySecond(wlat, o.RPS)
	}
	lat, errs, computing, unsent, elapsed, cpu := run(bodies[warm:])
	f.P99BySecondMS = p99BySecond(lat, o.RPS)
	f.Requests, f.Unsent = int64(len(lat)), unsent
	if elapsed > 0 {
		f.AchievedRPS = float64(int64(len(lat))-unsent) / elapsed.Seconds()
	}
	sort.Float64s(lat)
	f.P50MS, f.P95MS, f.P99MS = quantile(lat, 0.5), quantile(lat, 0.95), quantile(lat, 0.99)
	if len(lat) > 0 {
		f.MaxMS = lat[len(lat)-1]
	}
	f.Errors = errs
	f.CPUMS = float64(cpu.Microseconds()) / 1000
	gcFigures(&f, gc0, gc1)
	logf("%-12s %d requests at %.0f/s: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.1f ms; %d errors (%d unsent); CPU %.0f ms; GC %d cycles, %.0f ms CPU (%.1f %%), pauses %.2f ms (max %.2f)",
		name, f.Requests, f.AchievedRPS, f.P50MS, f.P95MS, f.P99MS, f.MaxMS, f.Errors, f.Unsent, f.CPUMS,
		f.GCCycles, f.GCCPUMS, 100*f.GCCPUShare, f.GCPauseMS, f.GCMaxPauseMS)
	logf("%-12s p99 by second: warm-up %v ms, measured %v ms", name, f.WarmupP99BySecondMS, f.P99BySecondMS)
	return f, computing, nil
}
