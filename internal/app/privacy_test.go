package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

var privacyDay = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)

// capture sends a batch of events to /batch/.
func (ta *testApp) capture(token string, events ...map[string]any) {
	ta.t.Helper()
	for _, e := range events {
		if _, ok := e["timestamp"]; !ok {
			e["timestamp"] = privacyDay.Add(time.Hour).Format(time.RFC3339)
		}
	}
	body, _ := json.Marshal(map[string]any{"api_key": token, "batch": events})
	resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(string(body)))
	if err != nil || resp.StatusCode != 200 {
		ta.t.Fatalf("capture: %v %v", err, resp)
	}
	resp.Body.Close()
}

func ev(name, distinct string, props map[string]any) map[string]any {
	if props == nil {
		props = map[string]any{}
	}
	return map[string]any{"event": name, "distinct_id": distinct, "properties": props}
}

// wantCode checks a call's status and decodes its answer.
func (ta *testApp) wantCode(want int, method, path, key string, body any) map[string]any {
	ta.t.Helper()
	code, out := ta.do(method, path, key, body)
	if code != want {
		ta.t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// waitDeletion polls a job until it is done (or failed).
func (ta *testApp) waitDeletion(url, key string) map[string]any {
	ta.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		j := ta.wantCode(200, "GET", url, key, nil)
		switch j["status"] {
		case "done":
			return j
		case "failed":
			ta.t.Fatalf("deletion failed: %v", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ta.t.Fatalf("deletion %s not done in 30 s", url)
	return nil
}

// TestPersonDeletionAPI: a person's export lists its events, survey
// answers and feedback; its deletion is a job whose status endpoint
// reaches done with the counts, after which the person is gone from the
// API and queries while other persons and projects keep theirs, and a
// later capture with its distinct id starts a new person. Refusals: no
// key 401, unknown ids 404, missing distinct_id 400 naming it, another
// project's key 404 for the person and for the job.
func TestPersonDeletionAPI(t *testing.T) { personDeletionScript(t, newTestApp(t)) }

// TestPersonDeletionAPIScaleOut: the same on JetStream, PostgreSQL and
// two-shard ClickHouse, where the job runs in the replica holding the
// loader lock and deletes by mutations.
func TestPersonDeletionAPIScaleOut(t *testing.T) {
	so := scaleout.New(t, 2)
	personDeletionScript(t, newTestAppWith(t, Config{Events: so.Events, Meta: so.Meta, Log: so.Log}))
}

func personDeletionScript(t *testing.T, ta *testApp) {
	a, b := ta.project("a"), ta.project("b")
	ta.capture(a.Token,
		ev("view", "anon-1", nil), ev("view", "alice", map[string]any{"$set": map[string]any{"email": "alice@example.com"}}),
		ev("$identify", "alice", map[string]any{"$anon_distinct_id": "anon-1"}),
		ev("survey sent", "alice", map[string]any{"$survey_id": "s1", "$survey_response": 3}),
		ev("view", "bob", nil), ev("buy", "bob", nil))
	ta.capture(b.Token, ev("view", "alice", nil))
	ta.sync()
	ta.wantCode(201, "POST", "/api/v1/feedback", a.SecretKey, map[string]any{"text": "too slow", "distinct_id": "alice"})
	ta.sync() // the item's $feedback_submitted event is alice's too
	alice, code := ta.person(a.SecretKey, "alice")
	if code != 200 || !slices.Equal(alice.DistinctIDs, []string{"alice", "anon-1"}) {
		t.Fatalf("alice = %+v %d", alice, code)
	}
	bob, _ := ta.person(a.SecretKey, "bob")
	otherAlice, _ := ta.person(b.SecretKey, "alice")

	// Refusals.
	ta.wantCode(401, "DELETE", fmt.Sprintf("/api/v1/persons/%d", alice.ID), "", nil)
	ta.wantCode(401, "DELETE", fmt.Sprintf("/api/v1/persons/%d", alice.ID), a.Token, nil) // a capture token cannot delete
	ta.wantCode(404, "DELETE", "/api/v1/persons/abc", a.SecretKey, nil)
	ta.wantCode(404, "DELETE", "/api/v1/persons/987654", a.SecretKey, nil)
	if m := ta.wantCode(400, "DELETE", "/api/v1/persons", a.SecretKey, nil); m["field"] != "distinct_id" {
		t.Fatalf("no distinct_id: %v", m)
	}
	ta.wantCode(404, "DELETE", "/api/v1/persons?distinct_id=nobody", a.SecretKey, nil)
	ta.wantCode(404, "DELETE", fmt.Sprintf("/api/v1/persons/%d", alice.ID), b.SecretKey, nil) // project b has no such person
	ta.wantCode(404, "GET", fmt.Sprintf("/api/v1/persons/%d/export", alice.ID), b.SecretKey, nil)
	ta.wantCode(404, "GET", fmt.Sprintf("/api/v1/persons/%d/other", alice.ID), a.SecretKey, nil)

	// The export.
	exp := ta.wantCode(200, "GET", fmt.Sprintf("/api/v1/persons/%d/export", alice.ID), a.SecretKey, nil)
	events, _ := exp["events"].([]any)
	answers, _ := exp["survey_answers"].([]any)
	feedback, _ := exp["feedback"].([]any)
	if field(exp, "person", "properties", "email") != "alice@example.com" || len(events) != 5 || len(answers) != 1 || len(feedback) != 1 ||
		fmt.Sprint(exp["distinct_ids"]) != "[alice anon-1]" {
		t.Fatalf("export = %v", exp)
	}

	// The deletion.
	job := ta.wantCode(202, "DELETE", fmt.Sprintf("/api/v1/persons/%d", alice.ID), a.SecretKey, nil)
	url, _ := job["url"].(string)
	if job["status"] != "queued" || !strings.HasPrefix(url, "/api/v1/deletions/") {
		t.Fatalf("job = %v", job)
	}
	ta.wantCode(404, "GET", url, b.SecretKey, nil) // another project's job
	done := ta.waitDeletion(url, a.SecretKey)
	if fmt.Sprint(done["counts"]) != "map[cohort_members:0 distinct_ids:2 events:5 feedback:1 flag_hash_keys:0 overrides:1 persons:1 sends:0]" {
		t.Fatalf("done job = %v", done)
	}
	if _, code := ta.person(a.SecretKey, "alice"); code != 404 {
		t.Fatalf("alice after deletion: %d", code)
	}
	ta.wantCode(404, "GET", fmt.Sprintf("/api/v1/persons/%d/export", alice.ID), a.SecretKey, nil)
	ta.wantCode(404, "DELETE", fmt.Sprintf("/api/v1/persons/%d", alice.ID), a.SecretKey, nil)
	if got := ta.trend(a.SecretKey, "view", "dau", privacyDay, privacyDay.AddDate(0, 0, 1)); fmt.Sprint(got) != "[1]" {
		t.Fatalf("viewers after alice's deletion = %v, want [1] (bob)", got)
	}
	if p, code := ta.person(a.SecretKey, "bob"); code != 200 || p.ID != bob.ID {
		t.Fatalf("bob after alice's deletion = %+v %d", p, code)
	}
	if p, code := ta.person(b.SecretKey, "alice"); code != 200 || p.ID != otherAlice.ID {
		t.Fatalf("project b's alice = %+v %d", p, code)
	}
	fb := ta.wantCode(200, "GET", "/api/v1/feedback", a.SecretKey, nil)
	if items, _ := fb["items"].([]any); len(items) != 0 {
		t.Fatalf("feedback after deletion = %v", fb)
	}

	// Alice comes back: a new person, without the old distinct ids.
	ta.capture(a.Token, ev("view", "alice", nil))
	ta.sync()
	back, code := ta.person(a.SecretKey, "alice")
	if code != 200 || back.ID == alice.ID || !slices.Equal(back.DistinctIDs, []string{"alice"}) || len(back.Properties) != 0 {
		t.Fatalf("alice after coming back = %+v %d (was %d)", back, code, alice.ID)
	}

	// By distinct id.
	job = ta.wantCode(202, "DELETE", "/api/v1/persons?distinct_id=bob", a.SecretKey, nil)
	done = ta.waitDeletion(job["url"].(string), a.SecretKey)
	if done["person_id"] != float64(bob.ID) || done["distinct_id"] != nil || field(done, "counts", "events") != float64(2) {
		t.Fatalf("deletion by distinct id = %v", done)
	}
}

// TestPrivacyUI: the UI twins need the project admin role (a viewer gets
// 403) and a member of another project gets 404.
func TestPrivacyUI(t *testing.T) {
	ta := newTestApp(t)
	admin := ta.browser()
	res := admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	admin.csrf = field(res, "csrf_token").(string)
	pa := admin.call("POST", "/ui/api/projects", map[string]string{"name": "A", "timezone": "UTC"}, 201)
	pb := admin.call("POST", "/ui/api/projects", map[string]string{"name": "B", "timezone": "UTC"}, 201)
	a := fmt.Sprintf("/ui/api/projects/%v", field(pa, "id"))
	bp := fmt.Sprintf("/ui/api/projects/%v", field(pb, "id"))
	admin.call("POST", a+"/members", map[string]string{"email": "view@x.io", "password": "correct horse", "role": "viewer"}, 201)
	admin.call("POST", bp+"/members", map[string]string{"email": "other@x.io", "password": "correct horse", "role": "admin"}, 201)
	ta.capture(field(pa, "token").(string), ev("view", "carol", nil))
	ta.sync()
	carol, _ := ta.person(field(pa, "secret_key").(string), "carol")

	viewer := ta.browser()
	viewer.login("view@x.io", "correct horse")
	viewer.call("DELETE", fmt.Sprintf("%s/persons/%d", a, carol.ID), nil, 403)
	viewer.call("GET", fmt.Sprintf("%s/persons/%d/export", a, carol.ID), nil, 403)
	viewer.call("PUT", a+"/settings/retention", map[string]int{"retention_days": 30}, 403)
	other := ta.browser()
	other.login("other@x.io", "correct horse")
	other.call("DELETE", fmt.Sprintf("%s/persons/%d", a, carol.ID), nil, 404)

	if got := admin.call("PUT", a+"/settings/retention", map[string]int{"retention_days": 30}, 200); fmt.Sprint(got) != "map[retention_days:30]" {
		t.Fatalf("retention = %v", got)
	}
	if got := admin.call("PUT", a+"/settings/retention", map[string]int{"retention_days": -1}, 400); field(got, "field") != "retention_days" {
		t.Fatalf("bad retention = %v", got)
	}
	admin.call("PUT", a+"/settings/retention", map[string]any{"retention": 30}, 400)
	if got := admin.call("GET", a+"/settings/retention", nil, 200); fmt.Sprint(got) != "map[retention_days:30]" {
		t.Fatalf("retention read back = %v", got)
	}
	exp := admin.call("GET", fmt.Sprintf("%s/persons/%d/export", a, carol.ID), nil, 200)
	if events, _ := field(exp, "events").([]any); len(events) != 1 {
		t.Fatalf("UI export = %v", exp)
	}
	job := admin.call("DELETE", fmt.Sprintf("%s/persons/%d", a, carol.ID), nil, 202)
	url := field(job, "url").(string)
	if !strings.HasPrefix(url, a+"/deletions/") || field(job, "requested_by") == "key" {
		t.Fatalf("UI job = %v", job)
	}
	deadline := time.Now().Add(30 * time.Second)
	for field(admin.call("GET", url, nil, 200), "status") != "done" {
		if time.Now().After(deadline) {
			t.Fatal("UI deletion not done in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	other.call("GET", url, nil, 404)
}

// TestRetentionLoop: with retention_days set, the loop drops the events
// older than that and keeps the newer ones and other projects'.
func TestRetentionLoop(t *testing.T) {
	ta := newTestAppWith(t, Config{RetentionInterval: 100 * time.Millisecond})
	a, b := ta.project("a"), ta.project("b")
	old := privacyDay.AddDate(0, 0, -30).Format(time.RFC3339)
	recent := privacyDay.Format(time.RFC3339)
	for _, p := range []project{a, b} {
		e1, e2 := ev("view", "u1", nil), ev("view", "u1", nil)
		e1["timestamp"], e2["timestamp"] = old, recent
		ta.capture(p.Token, e1, e2)
	}
	ta.sync()
	ta.wantCode(200, "PUT", "/api/v1/settings/retention", a.SecretKey, map[string]int{"retention_days": 10})
	if got := ta.wantCode(200, "GET", "/api/v1/settings/retention", b.SecretKey, nil); fmt.Sprint(got) != "map[retention_days:0]" {
		t.Fatalf("b's retention = %v", got)
	}
	count := func(key string) float64 {
		res := ta.wantCode(200, "POST", "/api/v1/query", key, map[string]any{"kind": "sql", "query": "SELECT count(*) AS n FROM events"})
		return field(res, "rows", 0, 0).(float64)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(a.SecretKey) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("project a still has %v events", count(a.SecretKey))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(b.SecretKey); n != 2 {
		t.Fatalf("project b has %v events, want 2", n)
	}
}
