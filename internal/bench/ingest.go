// Package bench runs the benchmarks of SPEC §10 against a real server
// process started from the journey binary.
package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
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
	"time"

	"github.com/google/uuid"
)

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
	return StartServerOn(binary, dataDir, nil, extra...)
}

// StartServerOn is StartServer with the server pinned to cpus (all when
// empty).
func StartServerOn(binary, dataDir string, cpus []int, extra ...string) (*Server, error) {
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
	if err := startPinned(s.cmd, cpus); err != nil {
		if s.cmd.Process != nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
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
func EventBatch(token string, n int, seq int) []byte { return eventBatchIDs(token, n, seq, 50000) }

// eventBatchIDs is EventBatch with distinct ids drawn from a set of ids
// (ids <= 0: every event a new distinct id, so the person index grows).
func eventBatchIDs(token string, n, seq, ids int) []byte {
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
			Event: []string{"$pageview", "product_viewed", "added_to_cart"}[i%3], DistinctID: distinctID("user-", seq*n+i, ids),
			UUID: uuid.NewString(), Timestamp: now.Format(time.RFC3339Nano),
			Properties: map[string]any{"$current_url": "https://shop.example/p/" + strconv.Itoa(i), "$browser": "Chrome", "price": 19.99, "utm_source": "newsletter"},
		})
	}
	body, _ := json.Marshal(b)
	return body
}

// distinctID is prefix + k modulo ids (ids <= 0: k itself).
func distinctID(prefix string, k, ids int) string {
	if ids > 0 {
		k %= ids
	}
	return prefix + strconv.Itoa(k)
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
