package api

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/insight"
)

// TestReadyzBody: /readyz carries the loader's lag whether ready or not,
// and the reason when not.
func TestReadyzBody(t *testing.T) {
	ready := true
	s := &Server{Ready: func() (bool, string) { return ready, "loader is 400 MiB behind" },
		LoaderLag: func() any { return map[string]int{"bytes": 400 << 20} }}
	for _, want := range []int{200, 503} {
		w := httptest.NewRecorder()
		s.readyz(w, httptest.NewRequest("GET", "/readyz", nil))
		var body struct {
			Status string         `json:"status"`
			Reason string         `json:"reason"`
			Lag    map[string]int `json:"loader_lag"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != want || body.Lag["bytes"] != 400<<20 ||
			(want == 503) != (body.Status == "not ready" && body.Reason == "loader is 400 MiB behind") {
			t.Fatalf("readyz: %d %s, want %d", w.Code, w.Body, want)
		}
		ready = false
	}
}

// TestMetricsToken: without a token /metrics is open; with one, only its
// exact bearer reads it (a prefix or an extension of it does not).
func TestMetricsToken(t *testing.T) {
	get := func(s *Server, auth string) int {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		s.metrics(w, r)
		if w.Code == 200 && !strings.Contains(w.Body.String(), "go_goroutines") {
			t.Fatalf("/metrics answered 200 without the exposition")
		}
		return w.Code
	}
	if c := get(&Server{}, ""); c != 200 {
		t.Fatalf("open /metrics: %d", c)
	}
	s := &Server{MetricsToken: "0123456789abcdef"}
	for auth, want := range map[string]int{"": 401, "Bearer 0123456789abcde": 401, "Bearer 0123456789abcdefg": 401, "Basic 0123456789abcdef": 401, "Bearer 0123456789abcdef": 200} {
		if c := get(s, auth); c != want {
			t.Errorf("Authorization %q: %d, want %d", auth, c, want)
		}
	}
}

// TestQueryOutcome: the outcome label of each error runSpec returns.
func TestQueryOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                "ok",
		&timeoutError{}:                    "timeout",
		insight.Bad("series", "empty"):     "bad",
		errors.New("connection refused"):   "error",
		&insight.MemoryError{Cap: 1 << 20}: "memory",
	} {
		if got := queryOutcome(err); got != want {
			t.Errorf("queryOutcome(%v) = %q, want %q", err, got, want)
		}
	}
}
