// Package bench runs the benchmarks of SPEC §10 against a real server
// process started from the journey binary.
package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// IngestOptions sizes the ingest benchmark.
type IngestOptions struct {
	Binary     string        // journey binary to start as the server
	DataDir    string        // empty = a temporary directory
	Duration   time.Duration // throughput phase
	Workers    int           // concurrent batch senders
	Rate       int           // single-event requests per second in the latency phase
	LatencyFor time.Duration // latency phase
	NoSync     bool
	QueryPlan  string // the server's --query-plan (no-journey-index: ingest without the journey index)
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
}

// Server is a journey server process started for a benchmark or a test.
type Server struct {
	URL, AdminKey, DataDir string
	cmd                    *exec.Cmd
	own                    bool
	exited                 chan struct{} // closed when the process has exited
	err                    error         // its exit status, once exited
}

// StartServer starts `journey serve` on a free loopback port and waits
// until it answers.
func StartServer(binary, dataDir string, extra ...string) (*Server, error) {
	s := &Server{DataDir: dataDir}
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "journey-bench-")
		if err != nil {
			return nil, err
		}
		s.DataDir, s.own = dir, true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	key := make([]byte, 16)
	rand.Read(key)
	s.AdminKey = "bench-" + hex.EncodeToString(key)
	s.URL = "http://" + addr
	args := append([]string{"serve", "--data-dir", s.DataDir, "--addr", addr, "--admin-key", s.AdminKey}, extra...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %q: %w", binary, err)
	}
	s.exited = make(chan struct{})
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server %q exited at start: %v", binary, s.err)
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Kill()
	return nil, fmt.Errorf("server %q did not answer /healthz within 60 s", binary)
}

// WaitLoaded waits until the server's loader has stored everything
// acknowledged (journey_loader_lag_bytes is 0).
func (s *Server) WaitLoaded(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if line == "journey_loader_lag_bytes 0" {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("loader did not catch up within %s", timeout)
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Kill stops the server with SIGKILL and waits for it.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Stop stops the server gracefully (SIGINT) and waits for it.
func (s *Server) Stop() error {
	s.cmd.Process.Signal(os.Interrupt)
	<-s.exited
	return s.err
}

// Cleanup removes a temporary data directory.
func (s *Server) Cleanup() {
	if s.own {
		os.RemoveAll(s.DataDir)
	}
}

// CreateProject creates a project through the admin API.
func (s *Server) CreateProject(name string) (token, secret string, err error) {
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/projects", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token     string `json:"token"`
		SecretKey string `json:"secret_key"`
	}
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		return "", "", fmt.Errorf("cannot create project: %s %s", resp.Status, b)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Token, out.SecretKey, err
}

// RSSMB reads the peak resident set of a process from /proc.
func RSSMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// EventBatch builds a posthog-node style batch of n events with fresh uuids.
func EventBatch(token string, n int, seq int) []byte {
	type ev struct {
		Event      string         `json:"event"`
		DistinctID string         `json:"distinct_id"`
		UUID       string         `json:"uuid"`
		Timestamp  string         `json:"timestamp"`
		Properties map[string]any `json:"properties"`
	}
	now := time.Now().UTC()
	b := struct {
		APIKey string `json:"api_key"`
		Batch  []ev   `json:"batch"`
		SentAt string `json:"sent_at"`
	}{APIKey: token, SentAt: now.Format(time.RFC3339Nano)}
	for i := 0; i < n; i++ {
		b.Batch = append(b.Batch, ev{
			Event: []string{"$pageview", "product_viewed", "added_to_cart"}[i%3], DistinctID: fmt.Sprintf("user-%d", (seq*n+i)%50000),
			UUID: uuid.NewString(), Timestamp: now.Format(time.RFC3339Nano),
			Properties: map[string]any{"$current_url": "https://shop.example/p/" + strconv.Itoa(i), "$browser": "Chrome", "price": 19.99, "utm_source": "newsletter"},
		})
	}
	body, _ := json.Marshal(b)
	return body
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Ingest runs the ingest benchmark: throughput with gzip batches of 100,
// then acknowledgement latency at a fixed single-event request rate.
func Ingest(ctx context.Context, o IngestOptions, logf func(string, ...any)) (IngestResult, error) {
	var extra []string
	if o.NoSync {
		extra = append(extra, "--no-sync")
	}
	if o.QueryPlan != "" {
		extra = append(extra, "--query-plan", o.QueryPlan)
	}
	srv, err := StartServer(o.Binary, o.DataDir, extra...)
	if err != nil {
		return IngestResult{}, err
	}
	defer srv.Cleanup()
	defer srv.Kill()
	token, _, err := srv.CreateProject("bench")
	if err != nil {
		return IngestResult{}, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}, Timeout: 30 * time.Second}
	res := IngestResult{Rate: o.Rate}

	// Payloads are built before the clock starts so the client's JSON and
	// gzip work does not count against the server (both share the cores).
	nPayloads := max(4000, int(o.Duration.Seconds()*1200)) // enough for 120k events/s
	logf("preparing %d gzip batches of 100 events", nPayloads)
	payloads := make([][]byte, nPayloads)
	for i := range payloads {
		payloads[i] = Gzip(EventBatch(token, 100, i))
	}
	var next, acked, errs atomic.Int64
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= int64(len(payloads)) {
					return
				}
				if post(client, srv.URL+"/batch/", payloads[i], true) {
					acked.Add(100)
				} else {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.EventsPerS = float64(acked.Load()) / elapsed.Seconds()
	logf("throughput: %d events acknowledged in %s", acked.Load(), elapsed.Round(time.Millisecond))

	// Let the loader catch up so the latency phase measures capture alone.
	if err := srv.WaitLoaded(2 * time.Minute); err != nil {
		return res, err
	}
	res.LoadedPerS = float64(acked.Load()) / time.Since(start).Seconds()
	logf("loaded: all %d events stored %s after the start", acked.Load(), time.Since(start).Round(time.Millisecond))
	lat, lerr := latency(client, srv.URL, token, o.Rate, o.LatencyFor)
	errs.Add(lerr)
	res.P50ms, res.P99ms = quantile(lat, 0.5), quantile(lat, 0.99)
	res.RSSMB = RSSMB(srv.Pid())
	res.Errors = errs.Load()
	return res, nil
}

func post(c *http.Client, url string, body []byte, gzipped bool) bool {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// latency sends single events at a fixed rate (open loop: a request's
// latency counts from when it was due, so a stalled server is not hidden).
func latency(c *http.Client, base, token string, rate int, d time.Duration) ([]float64, int64) {
	n := int(float64(rate) * d.Seconds())
	bodies := make([][]byte, n)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range bodies {
		bodies[i] = []byte(`{"api_key":"` + token + `","event":"$pageview","distinct_id":"lat-` + strconv.Itoa(i%5000) +
			`","uuid":"` + uuid.NewString() + `","timestamp":"` + now + `","properties":{"$current_url":"https://shop.example/"}}`)
	}
	lat := make([]float64, n)
	var errs atomic.Int64
	jobs := make(chan int, 4096)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 512; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
				if !post(c, base+"/i/v0/e/", bodies[i], false) {
					errs.Add(1)
				}
				lat[i] = float64(time.Since(due).Microseconds()) / 1000
			}
		}()
	}
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return lat, errs.Load()
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
