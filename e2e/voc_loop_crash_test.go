package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// TestVoCCloseLoopKill9 (issue 16, checked by): a theme marked done
// notifies each linked customer exactly once even when `journey serve` is
// killed with SIGKILL in the middle — first while the theme is being
// marked done (its notices being scheduled), then twice while they are
// delivered — and restarted on the same data directory. 200 persons are
// linked to the theme, 40 of them by two items under two distinct ids
// that an $identify merged; others' feedback is on another theme. The
// receiver verifies Standard Webhooks signatures and counts by
// webhook-id: 200 messages, one per person, none with two bodies.
func TestVoCCloseLoopKill9(t *testing.T) {
	const persons, merged = 200, 40
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	dir := t.TempDir()
	secret := channel.NewSecret()
	rc, err := bench.NewReceiver(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := func() *bench.Server {
		// A 3 s lease: a killed sender's claims come back soon.
		s, err := bench.StartServer(binary, dir, "--webhook-allow-private", "--campaign-lease", "3s")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv := start()
	defer func() { srv.Kill() }()
	token, key, err := srv.CreateProject("voc-loop")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	must := func(method, path string, body any, want int) []byte {
		t.Helper()
		st, out := call(method, path, body)
		if st != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, st, out, want)
		}
		return out
	}
	// Each delivery takes 0.5 s (a slow receiver behind a proxy that
	// finishes forwarding even when the sender is killed meanwhile: a
	// message delivered but not recorded as sent), so the kills land
	// while the messages go out.
	slow := slowProxy(t, rc.URL, 500*time.Millisecond)
	must("PUT", "/api/v1/feedback/notify", map[string]any{"customers": map[string]any{"type": "webhook", "url": slow, "secret": secret}}, 200)
	var batch []map[string]any
	for k := range merged {
		batch = append(batch, map[string]any{"event": "$identify", "distinct_id": fmt.Sprintf("user-%d", k), "timestamp": time.Now().Format(time.RFC3339Nano),
			"properties": map[string]any{"$anon_distinct_id": fmt.Sprintf("anon-%d", k)}})
	}
	b, _ := json.Marshal(map[string]any{"api_key": token, "batch": batch})
	if resp, err := http.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(b)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("identify batch: %v %v", resp, err)
	}
	if err := srv.WaitLoaded(time.Minute); err != nil {
		t.Fatal(err)
	}
	var theme, other struct{ ID int64 }
	json.Unmarshal(must("POST", "/api/v1/themes", map[string]string{"name": "Invoice export fails"}, 201), &theme)
	json.Unmarshal(must("POST", "/api/v1/themes", map[string]string{"name": "Dark mode"}, 201), &other)
	item := func(who string, th int64) {
		must("POST", "/api/v1/feedback", map[string]any{"text": "invoice export fails for " + who, "distinct_id": who, "theme_id": th}, 201)
	}
	for i := range persons {
		item(fmt.Sprintf("user-%d", i), theme.ID)
		if i < merged {
			item(fmt.Sprintf("anon-%d", i), theme.ID)
		}
	}
	for j := range 20 {
		item(fmt.Sprintf("other-%d", j), other.ID)
	}

	// Kill 1: while the theme is marked done and its notices scheduled.
	patched := make(chan int, 1)
	go func() {
		st, _ := call("PATCH", fmt.Sprintf("/api/v1/themes/%d", theme.ID), map[string]string{"status": "done"})
		patched <- st
	}()
	time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
	srv.Kill()
	t.Logf("kill 1 while marking the theme done (PATCH answered %d): %d messages received", <-patched, rc.Counts().Unique)
	srv = start()
	var th struct{ Status string }
	json.Unmarshal(must("GET", fmt.Sprintf("/api/v1/themes/%d", theme.ID), nil, 200), &th)
	if th.Status != "done" { // killed before the change was stored: the user tries again
		must("PATCH", fmt.Sprintf("/api/v1/themes/%d", theme.ID), map[string]string{"status": "done"}, 200)
	}
	// Kills 2 and 3: while the notices are delivered.
	for k := 2; k <= 3; k++ {
		from := rc.Counts().Unique
		for t0 := time.Now(); rc.Counts().Unique == from && time.Since(t0) < 10*time.Second; {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		srv.Kill()
		c := rc.Counts()
		t.Logf("kill %d while delivering: %d of %d messages received, %d raw", k, c.Unique, persons, c.Raw)
		srv = start()
	}
	if err := rc.WaitUnique(persons, 2*time.Minute); err != nil {
		srv.Kill()
		logOpenSends(t, dir)
		t.Fatal(err)
	}
	// Late re-deliveries, and a sweep of the restarted server, count too.
	time.Sleep(2 * time.Second)
	c := rc.Counts()
	t.Logf("%d unique messages, %d raw deliveries (%d re-deliveries deduplicated by webhook-id)", c.Unique, c.Raw, c.Raw-c.Unique)
	if c.Unique != persons || c.Doubled != 0 || c.Conflicts != 0 || c.Bad != 0 {
		t.Fatalf("after 3 kills: %d unique messages for %d persons, %d distinct ids messaged twice, %d webhook-ids with two bodies, %d bad signatures",
			c.Unique, persons, c.Doubled, c.Conflicts, c.Bad)
	}
}

// slowProxy forwards each request to target after a delay, with a context
// of its own, so a request whose client is gone still arrives.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(delay)
		req, _ := http.NewRequestWithContext(context.Background(), r.Method, target, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

// logOpenSends logs the sends of a stopped server's data directory that
// were not sent, to tell a dropped message from a late one.
func logOpenSends(t *testing.T, dir string) {
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Log(err)
		return
	}
	defer m.Close()
	for pid := int64(1); pid <= 2; pid++ {
		for person := int64(0); person <= 400; person++ {
			sends, _ := m.SendsForPerson(context.Background(), pid, person)
			for _, sd := range sends {
				if sd.State != "sent" {
					t.Logf("send %d %s person %d (%s): %s, %d attempts, next %s, error %q", sd.ID, sd.Key, sd.PersonID, sd.DistinctID, sd.State, sd.Attempts, sd.NextAttemptAt, sd.LastError)
				}
			}
		}
	}
}
