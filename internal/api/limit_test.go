package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// testServer is a Server over a fresh SQLite metadata store (no event
// store: these tests never run a query) and its routes.
func testServer(t *testing.T) (*Server, http.Handler) {
	t.Helper()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := &Server{Meta: m, AdminKey: "test-admin-key"}
	mux := http.NewServeMux()
	s.Register(mux)
	return s, mux
}

// send serves one request from the client address remote and returns the
// status.
func send(h http.Handler, method, path, remote, body string) int {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestLoginThrottleSurvivesAddressSpray: a throttled address stays
// throttled after failures from 100 001 other addresses (the old table
// was wiped past 100 000 addresses), and the table stays bounded.
func TestLoginThrottleSurvivesAddressSpray(t *testing.T) {
	var f failures
	const victim = "198.51.100.7"
	for i := 0; i < maxFailures; i++ {
		if !f.reserve(victim) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if f.reserve(victim) {
		t.Fatal("attempt over the limit allowed")
	}
	for i := 0; i <= maxFailureKeys; i++ {
		if !f.reserve(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)) {
			t.Fatalf("spray address %d refused with room to evict", i)
		}
	}
	if f.reserve(victim) {
		t.Fatal("the spray freed the throttled address")
	}
	if n := f.l.size(); n > maxFailureKeys {
		t.Fatalf("%d addresses remembered, bound %d", n, maxFailureKeys)
	}
}

// TestLoginThrottleSprayOverHTTP: the same attack through the login
// endpoints. Failures are counted by bootstrap with a wrong admin key (no
// bcrypt, so 100 001 of them run fast) and login shares the counter.
func TestLoginThrottleSprayOverHTTP(t *testing.T) {
	_, h := testServer(t)
	const victim = "198.51.100.7:4000"
	wrong := `{"admin_key":"wrong","email":"root@x.io","password":"correct horse"}`
	for i := 0; i < maxFailures; i++ {
		if code := send(h, "POST", "/ui/api/bootstrap", victim, wrong); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	if code := send(h, "POST", "/ui/api/login", victim, `{"email":"root@x.io","password":"correct horse"}`); code != http.StatusTooManyRequests {
		t.Fatalf("login over the limit: %d, want 429", code)
	}
	for i := 0; i <= maxFailureKeys; i++ {
		remote := fmt.Sprintf("10.%d.%d.%d:4000", i>>16&255, i>>8&255, i&255)
		if code := send(h, "POST", "/ui/api/bootstrap", remote, wrong); code != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d", i, code)
		}
	}
	if code := send(h, "POST", "/ui/api/login", victim, `{"email":"root@x.io","password":"correct horse"}`); code != http.StatusTooManyRequests {
		t.Fatalf("login after a spray from %d addresses: %d, want 429", maxFailureKeys+1, code)
	}
}

// TestShareLimitSurvivesBogusTokens: runs through made-up share tokens
// answer 404 and are not counted, so 10 002 of them (the old limiter was
// wiped past 10 000 tokens) leave a real link limited.
func TestShareLimitSurvivesBogusTokens(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, _, err := s.Meta.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Meta.CreateDashboard(ctx, meta.Dashboard{ProjectID: p.ID, Name: "d"})
	if err != nil {
		t.Fatal(err)
	}
	token := meta.NewShareToken()
	if err := s.Meta.SetShareToken(ctx, p.ID, d.ID, token); err != nil {
		t.Fatal(err)
	}
	s.ShareRunsPerMinute = 3
	run := func(tok string) int {
		return send(h, "POST", "/ui/api/shared/"+tok+"/insights/999/run", "203.0.113.1:1", "")
	}
	for i := 0; i < 3; i++ { // counted, then 404: no such insight on the dashboard
		if code := run(token); code != http.StatusNotFound {
			t.Fatalf("run %d: %d", i+1, code)
		}
	}
	if code := run(token); code != http.StatusTooManyRequests {
		t.Fatalf("run over the limit: %d, want 429", code)
	}
	for i := 0; i < 10_002; i++ {
		if code := run(fmt.Sprintf("jsh_bogus%d", i)); code != http.StatusNotFound {
			t.Fatalf("bogus token %d: %d, want 404", i, code)
		}
	}
	if n := s.shares.l.size(); n != 1 {
		t.Fatalf("limiter holds %d keys, want 1 (bogus tokens must not be counted)", n)
	}
	if code := run(token); code != http.StatusTooManyRequests {
		t.Fatalf("real link after 10 002 bogus tokens: %d, want 429", code)
	}
}

// clock is a settable time for limiter tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestLimiterEviction: a full table drops expired entries first, then the
// least recently counted one under its limit, and never a live one at
// its limit: with only those left it refuses new keys until one expires.
func TestLimiterEviction(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := &limiter{now: c.now}
	p := limitPolicy{limit: 2, window: time.Minute, maxKeys: 3}
	must := func(key string, want bool) {
		t.Helper()
		if got := l.reserve(key, p); got != want {
			t.Fatalf("reserve(%q) = %v, want %v", key, got, want)
		}
	}
	must("a", true)
	c.t = c.t.Add(10 * time.Second)
	must("b", true)
	must("c", true)
	must("c", true) // c at its limit
	c.t = c.t.Add(55 * time.Second)
	must("d", true) // a expired: dropped first
	if _, ok := l.keys["a"]; ok || l.size() != 3 {
		t.Fatalf("a kept (%d keys)", l.size())
	}
	must("e", true) // b is the oldest under its limit; c is held
	if _, ok := l.keys["b"]; ok {
		t.Fatal("b kept")
	}
	must("c", false) // still held: evictions never freed it
	must("d", true)
	must("e", true) // d, e and c all held now
	must("f", false)
	if l.size() != 3 {
		t.Fatalf("%d keys, bound 3", l.size())
	}
	c.t = c.t.Add(6 * time.Second) // c's events left the window
	must("f", true)
	if _, ok := l.keys["c"]; ok {
		t.Fatal("expired c kept")
	}
	// A success gives its attempt back; with nothing left the key goes.
	l.release("f")
	if _, ok := l.keys["f"]; ok {
		t.Fatal("f kept with nothing counted")
	}
	l.release("d")
	must("d", true) // back under its limit after the release
	must("d", false)
}

// TestLimiterSlidingWindow: events leave the window one by one.
func TestLimiterSlidingWindow(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := &limiter{now: c.now}
	p := limitPolicy{limit: 2, window: time.Minute, maxKeys: 10}
	l.reserve("k", p)
	c.t = c.t.Add(30 * time.Second)
	l.reserve("k", p)
	if l.reserve("k", p) {
		t.Fatal("third event in a minute allowed")
	}
	c.t = c.t.Add(30 * time.Second) // the first left the window
	if !l.reserve("k", p) {
		t.Fatal("refused after the first event left the window")
	}
	if l.reserve("k", p) {
		t.Fatal("allowed past the limit again")
	}
}
