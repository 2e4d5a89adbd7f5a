package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/bench"
)

// privacyCall sends a request with a secret key and decodes the answer.
func privacyCall(t *testing.T, method, url, key string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// deletionEvents captures n events each for alice (with an anonymous id
// merged in) and bob, and waits until they are loaded.
func deletionEvents(t *testing.T, srv *bench.Server, token string, n int) {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	var batch []map[string]any
	add := func(event, who string, i int, props map[string]any) {
		if props == nil {
			props = map[string]any{}
		}
		batch = append(batch, map[string]any{"event": event, "distinct_id": who, "uuid": uuid.NewString(), "properties": props,
			"timestamp": at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano)})
	}
	add("view", "anon-1", 0, nil)
	add("$identify", "alice", 1, map[string]any{"$anon_distinct_id": "anon-1", "$set": map[string]any{"email": "alice@example.com"}})
	for i := range n {
		add("view", "alice", 2+i, nil)
		add("view", "bob", 2+i, nil)
	}
	body, _ := json.Marshal(map[string]any{"api_key": token, "batch": batch})
	resp, err := http.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("capture: %v %v", err, resp)
	}
	resp.Body.Close()
	if err := srv.WaitLoaded(time.Minute); err != nil {
		t.Fatal(err)
	}
}

// waitStep polls a deletion job until it is at step (or done).
func waitStep(t *testing.T, srv *bench.Server, secret, job, step string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		code, j := privacyCall(t, "GET", srv.URL+job, secret, nil)
		if code != 200 {
			t.Fatalf("job %s: %d %v", job, code, j)
		}
		if j["step"] == step || j["status"] == "failed" {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not reach step %s", job, step)
	return nil
}

func personID(t *testing.T, srv *bench.Server, secret, distinct string) (float64, int) {
	t.Helper()
	code, p := privacyCall(t, "GET", srv.URL+"/api/v1/persons/by-distinct-id/"+distinct, secret, nil)
	id, _ := p["id"].(float64)
	return id, code
}

func sqlCount(t *testing.T, srv *bench.Server, secret, query string) string {
	t.Helper()
	code, res := privacyCall(t, "POST", srv.URL+"/api/v1/query", secret, map[string]any{"kind": "sql", "query": query})
	if code != 200 {
		t.Fatalf("%s: %d %v", query, code, res)
	}
	return fmt.Sprint(res["rows"])
}

// TestDeletionKill9 kills a real `journey serve` with SIGKILL twice during
// a person's deletion job (JOURNEY_TEST_DELETION_PAUSE holds the job after
// each step it records): once with the subject recorded and nothing yet
// deleted, once with the events deleted and the metadata not. Each restart
// resumes the job, which ends done with the counts it found before the
// first kill; the person is gone, the other one untouched, and a new
// capture with the deleted distinct id starts a new person.
func TestDeletionKill9(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("JOURNEY_TEST_DELETION_PAUSE", "3s")
	srv, err := bench.StartServer(binary, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Kill() }()
	token, secret, err := srv.CreateProject("privacy")
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	deletionEvents(t, srv, token, n)
	alice, code := personID(t, srv, secret, "alice")
	bob, _ := personID(t, srv, secret, "bob")
	if code != 200 {
		t.Fatalf("alice: %d", code)
	}
	bobEvents := fmt.Sprintf("SELECT count(*) AS n FROM events WHERE person_id = %d", int64(bob))
	if got := sqlCount(t, srv, secret, bobEvents); got != fmt.Sprintf("[[%d]]", n) {
		t.Fatalf("bob's events = %s", got)
	}
	code, job := privacyCall(t, "DELETE", fmt.Sprintf("%s/api/v1/persons/%d", srv.URL, int64(alice)), secret, nil)
	if code != 202 {
		t.Fatalf("delete: %d %v", code, job)
	}
	url := job["url"].(string)

	for _, step := range []string{"events", "metadata"} {
		j := waitStep(t, srv, secret, url, step)
		if j["status"] != "running" {
			t.Fatalf("at step %s the job is %v", step, j)
		}
		if fmt.Sprint(j["counts"].(map[string]any)["events"]) != fmt.Sprint(n+2) {
			t.Fatalf("counts recorded at step %s = %v, want %d events", step, j["counts"], n+2)
		}
		srv.Kill()
		if step == "metadata" {
			t.Setenv("JOURNEY_TEST_DELETION_PAUSE", "0s")
		}
		if srv, err = bench.StartServer(binary, dir); err != nil {
			t.Fatal(err)
		}
	}
	done := waitStep(t, srv, secret, url, "done")
	counts := done["counts"].(map[string]any)
	if done["status"] != "done" || counts["events"] != float64(n+2) || counts["distinct_ids"] != float64(2) || counts["persons"] != float64(1) ||
		done["attempts"].(float64) < 3 {
		t.Fatalf("job after two kills = %v", done)
	}
	if _, code := personID(t, srv, secret, "alice"); code != 404 {
		t.Fatalf("alice after the deletion: %d", code)
	}
	if _, code := personID(t, srv, secret, "anon-1"); code != 404 {
		t.Fatalf("anon-1 after the deletion: %d", code)
	}
	if got := sqlCount(t, srv, secret, "SELECT count(*) AS n FROM events"); got != fmt.Sprintf("[[%d]]", n) {
		t.Fatalf("events left = %s, want bob's %d", got, n)
	}
	if got := sqlCount(t, srv, secret, bobEvents); got != fmt.Sprintf("[[%d]]", n) {
		t.Fatalf("bob's events after = %s", got)
	}
	// A new capture with alice's id: a new person, under a new id.
	body, _ := json.Marshal(map[string]any{"api_key": token, "batch": []map[string]any{{"event": "view", "distinct_id": "alice", "properties": map[string]any{}}}})
	resp, err := http.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("capture: %v %v", err, resp)
	}
	resp.Body.Close()
	if err := srv.WaitLoaded(time.Minute); err != nil {
		t.Fatal(err)
	}
	if again, code := personID(t, srv, secret, "alice"); code != 200 || again == alice || again == bob {
		t.Fatalf("alice after coming back = %v (%d), was %v", again, code, alice)
	}
}
