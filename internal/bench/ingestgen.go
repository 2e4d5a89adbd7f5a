package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The ingest load generator runs in a process of its own (`journey bench
// ingest-generator`, started by Ingest), so that its CPU is measured apart
// from the server's and can be pinned to other cores. It reads a GenSpec
// as JSON on stdin and writes a GenResult as JSON on stdout.

// GenSpec is one phase of load.
type GenSpec struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	// Rate is requests per second, open loop; 0 = closed loop (Workers
	// senders, each sending its next request when the last was answered).
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
	// Batch is the events per request: 1 sends a single JSON event to
	// /i/v0/e/ (posthog-js), more a gzip batch to /batch/ (posthog-node).
	Batch int `json:"batch"`
	// Workers caps the requests in flight; Clients is how many loopback
	// source addresses they come from (capture limits the bodies one
	// address sends at once, intake.DefaultClientBodies), PerClient the
	// requests each address has in flight at most.
	Workers   int `json:"workers"`
	Clients   int `json:"clients"`
	PerClient int `json:"per_client"`
	// ServerPID, when set, is measured over the same window (CPU from /proc).
	ServerPID int `json:"server_pid"`
	// Prebuilt bodies at most; a longer run builds them while it sends.
	Prebuild int `json:"prebuild"`
	Seed     int `json:"seed"`
	// DistinctIDs is the set of distinct ids the events cycle through (0:
	// 50 000 for batches, 5 000 for single events; -1: a new id for every
	// event, so the server's person index grows with the run).
	DistinctIDs int `json:"distinct_ids"`
}

// GenResult is what the generator measured over its sending window.
type GenResult struct {
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Errors   int64            `json:"errors"`
	Unsent   int64            `json:"unsent"` // open loop: requests never sent, the server being too far behind
	Statuses map[string]int64 `json:"statuses,omitempty"`
	Events   int64            `json:"events"` // acknowledged events
	WallS    float64          `json:"wall_s"`
	// CPU in cores (CPU seconds over wall seconds) of the generator and of
	// the server over the same window.
	GenCPUShare    float64 `json:"generator_cpu_share"`
	ServerCPUShare float64 `json:"server_cpu_share"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	MaxMS          float64 `json:"max_ms"`
	// SendLagP99MS: how late the generator itself was in sending (the
	// part of the latency that is its own scheduling, not the server's).
	SendLagP99MS float64     `json:"send_lag_p99_ms"`
	Minutes      []GenMinute `json:"minutes,omitempty"`
	LoadStart    string      `json:"load_start"`
	LoadEnd      string      `json:"load_end"`
}

// GenMinute is the latency of the requests due in one minute of the run.
type GenMinute struct {
	Minute   int     `json:"minute"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
}

// RunGenerator is `journey bench ingest-generator`.
func RunGenerator(in io.Reader, out io.Writer) error {
	var s GenSpec
	if err := json.NewDecoder(in).Decode(&s); err != nil {
		return fmt.Errorf("cannot decode generator spec: %w", err)
	}
	res, err := Generate(context.Background(), s)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

func (s *GenSpec) defaults() {
	if s.Batch < 1 {
		s.Batch = 1
	}
	if s.Workers < 1 {
		s.Workers = 512
	}
	if s.PerClient < 1 {
		s.PerClient = 16
	}
	if s.Clients < 1 {
		s.Clients = (s.Workers + s.PerClient - 1) / s.PerClient
	}
	if s.Prebuild <= 0 {
		s.Prebuild = 200_000
	}
}

// Generate runs one phase of load against s.URL.
func Generate(ctx context.Context, s GenSpec) (GenResult, error) {
	s.defaults()
	clients, err := genClients(s)
	if err != nil {
		return GenResult{}, err
	}
	src := newBodySource(s)
	g := &gen{spec: s, clients: clients, src: src, statuses: map[int]int64{}}
	if s.Rate > 0 {
		return g.openLoop(ctx)
	}
	return g.closedLoop(ctx)
}

// genClients gives each source address its own connections. Against a
// loopback server the addresses are 127.0.0.2, .3, …, as many clients
// behind one NAT would not be; elsewhere there is one address.
func genClients(s GenSpec) ([]*http.Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse server URL %q: %w", s.URL, err)
	}
	ip := net.ParseIP(u.Hostname())
	loop := ip != nil && ip.To4() != nil && ip.IsLoopback()
	n := s.Clients
	if !loop || n > 250 {
		n = min(n, 250)
		if !loop {
			n = 1
		}
	}
	out := make([]*http.Client, n)
	for i := range out {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		if loop {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(2+i%250))}
		}
		per := s.PerClient
		if !loop {
			per = s.Workers
		}
		out[i] = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			DialContext: d.DialContext, MaxConnsPerHost: per, MaxIdleConnsPerHost: per, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		}}
	}
	return out, nil
}

type gen struct {
	spec    GenSpec
	clients []*http.Client
	src     *bodySource

	mu       sync.Mutex
	statuses map[int]int64 // 0 = transport error
}

// send posts one body and reports whether it was acknowledged (200).
func (g *gen) send(c *http.Client, body []byte, buf []byte) bool {
	path, gz := "/i/v0/e/", false
	if g.spec.Batch > 1 {
		path, gz = "/batch/", true
	}
	req, _ := http.NewRequest("POST", g.spec.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	status := 0
	if err == nil {
		b := bytes.NewBuffer(buf[:0])
		_, err = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if err == nil {
			status = resp.StatusCode
		}
	}
	if status != 200 {
		g.mu.Lock()
		g.statuses[status]++
		g.mu.Unlock()
	}
	return status == 200
}

// window measures CPU and load around a phase.
type window struct {
	start              time.Time
	genCPU, serverCPU  time.Duration
	serverPID          int
	loadStart, loadEnd string
}

func startWindow(serverPID int) *window {
	return &window{start: time.Now(), genCPU: cpuTime(), serverCPU: procCPU(serverPID), serverPID: serverPID, loadStart: machineLoad()}
}

func (w *window) finish(r *GenResult) {
	wall := time.Since(w.start)
	r.WallS = wall.Seconds()
	r.GenCPUShare = (cpuTime() - w.genCPU).Seconds() / wall.Seconds()
	if w.serverPID > 0 {
		r.ServerCPUShare = (procCPU(w.serverPID) - w.serverCPU).Seconds() / wall.Seconds()
	}
	r.LoadStart, r.LoadEnd = w.loadStart, machineLoad()
}

func (g *gen) result(lat, lag []float32, ok []bool, dueMinute func(i int) int) GenResult {
	r := GenResult{Requests: int64(len(lat)), Statuses: map[string]int64{}}
	for i := range ok {
		if ok[i] {
			r.OK++
		}
	}
	r.Errors = r.Requests - r.OK
	r.Events = r.OK * int64(g.spec.Batch)
	for st, n := range g.statuses {
		name := strconv.Itoa(st)
		if st == 0 {
			name = "transport"
		}
		r.Statuses[name] = n
	}
	r.P50MS, r.P99MS, r.MaxMS = quantile32(lat, 0.5), quantile32(lat, 0.99), quantile32(lat, 1)
	r.SendLagP99MS = quantile32(lag, 0.99)
	if dueMinute != nil {
		var cur []float32
		m, errs := 0, 0
		flush := func() {
			if len(cur) > 0 {
				r.Minutes = append(r.Minutes, GenMinute{Minute: m, Requests: len(cur), Errors: errs, P50MS: quantile32(cur, 0.5), P99MS: quantile32(cur, 0.99)})
			}
			cur, errs = cur[:0], 0
		}
		for i := range lat {
			if dm := dueMinute(i); dm != m {
				flush()
				m = dm
			}
			cur = append(cur, lat[i])
			if !ok[i] {
				errs++
			}
		}
		flush()
	}
	return r
}

// closedLoop sends as fast as the server answers, from spec.Workers
// senders, for spec.Duration.
func (g *gen) closedLoop(ctx context.Context) (GenResult, error) {
	s := g.spec
	g.src.prepare(s.Prebuild)
	var mu sync.Mutex
	var lat []float32
	var oks []bool
	deadline := time.Now().Add(s.Duration)
	w := startWindow(s.ServerPID)
	var wg sync.WaitGroup
	for i := 0; i < s.Workers; i++ {
		wg.Add(1)
		go func(c *http.Client) {
			defer wg.Done()
			buf := make([]byte, 0, 512)
			var myLat []float32
			var myOK []bool
			for time.Now().Before(deadline) && ctx.Err() == nil {
				body := g.src.next()
				t0 := time.Now()
				ok := g.send(c, body, buf)
				myLat = append(myLat, float32(time.Since(t0).Seconds()*1000))
				myOK = append(myOK, ok)
			}
			mu.Lock()
			lat, oks = append(lat, myLat...), append(oks, myOK...)
			mu.Unlock()
		}(g.clients[i%len(g.clients)])
	}
	wg.Wait()
	r := g.result(lat, make([]float32, len(lat)), oks, nil)
	w.finish(&r)
	return r, ctx.Err()
}

// openLoop sends request i at start + i/rate whatever the server does, and
// counts its latency from then (no coordinated omission: a stalled server
// makes every request due meanwhile late, not fewer requests sent).
func (g *gen) openLoop(ctx context.Context) (GenResult, error) {
	s := g.spec
	n := int(s.Rate * s.Duration.Seconds())
	g.src.prepare(min(n, s.Prebuild))
	lat, lag := make([]float32, n), make([]float32, n)
	oks := make([]bool, n)
	interval := float64(time.Second) / s.Rate
	due := func(start time.Time, i int) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	jobs := make(chan int, s.Workers)
	w := startWindow(s.ServerPID)
	start := w.start
	var wg sync.WaitGroup
	for i := 0; i < s.Workers; i++ {
		wg.Add(1)
		go func(c *http.Client) {
			defer wg.Done()
			buf := make([]byte, 0, 512)
			for j := range jobs {
				d := due(start, j)
				body := g.src.next()
				lag[j] = float32(time.Since(d).Seconds() * 1000)
				oks[j] = g.send(c, body, buf)
				lat[j] = float32(time.Since(d).Seconds() * 1000)
			}
		}(g.clients[i%len(g.clients)])
	}
	// A server that fell far behind would stretch the run without end:
	// past twice its length and 10 s more, what is left is not sent.
	cut := time.NewTimer(2*s.Duration + 10*time.Second)
	defer cut.Stop()
	unsent := 0
dispatch:
	for i := 0; i < n; i++ {
		if wait := time.Until(due(start, i)); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case jobs <- i:
			continue
		case <-cut.C:
		case <-ctx.Done():
		}
		now := time.Now()
		for j := i; j < n; j++ {
			lat[j] = float32(now.Sub(due(start, j)).Seconds() * 1000)
		}
		unsent = n - i
		break dispatch
	}
	close(jobs)
	wg.Wait()
	r := g.result(lat, lag, oks, func(i int) int { return int(float64(i) * interval / float64(time.Minute)) })
	r.Unsent = int64(unsent)
	w.finish(&r)
	return r, nil
}

// bodySource hands out request bodies with fresh uuids: built before the
// clock starts up to a count, then by a builder goroutine ahead of the
// senders (its CPU is the generator's, measured).
type bodySource struct {
	spec     GenSpec
	prebuilt [][]byte
	pos      atomic.Int64
	live     chan []byte
	once     sync.Once
	seq      atomic.Int64
}

func newBodySource(s GenSpec) *bodySource { return &bodySource{spec: s} }

func (b *bodySource) prepare(n int) {
	b.prebuilt = make([][]byte, n)
	for i := range b.prebuilt {
		b.prebuilt[i] = b.build()
	}
}

func (b *bodySource) next() []byte {
	if i := b.pos.Add(1) - 1; i < int64(len(b.prebuilt)) {
		return b.prebuilt[i]
	}
	b.once.Do(func() {
		b.live = make(chan []byte, 4096)
		for k := 0; k < 2; k++ {
			go func() {
				for {
					b.live <- b.build()
				}
			}()
		}
	})
	return <-b.live
}

// ids is the spec's distinct id set size, def when unset.
func (b *bodySource) ids(def int) int {
	if b.spec.DistinctIDs == 0 {
		return def
	}
	return b.spec.DistinctIDs
}

func (b *bodySource) build() []byte {
	seq := int(b.seq.Add(1) - 1)
	if b.spec.Batch <= 1 {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		return []byte(`{"api_key":"` + b.spec.Token + `","event":"$pageview","distinct_id":"` + distinctID("lat-", seq, b.ids(5000)) +
			`","uuid":"` + uuid.NewString() + `","timestamp":"` + now + `","properties":{"$current_url":"https://shop.example/"}}`)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(eventBatchIDs(b.spec.Token, b.spec.Batch, seq, b.ids(50000)))
	zw.Close()
	return buf.Bytes()
}

func quantile32(xs []float32, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float32(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[min(len(s)-1, int(q*float64(len(s))))])
}

// procCPU is another process' CPU time so far, from /proc/PID/stat
// (utime + stime, in clock ticks of 1/100 s on Linux); 0 elsewhere.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis (state is field 3, utime 14, stime 15).
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
