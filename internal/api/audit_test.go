package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

type auditPageOut struct {
	Entries    []meta.AuditEntry `json:"entries"`
	NextBefore int64             `json:"next_before"`
}

// TestAuditLog (issue 17 item 2): each kind of admin action (keys,
// members, flags, campaigns, experiment decisions, deletions, settings,
// personal keys) leaves one entry naming the route, who (user, secret key
// or personal key), the project, the target and the outcome; reads and
// unauthenticated refusals leave none; the log is read by admins only, a
// page at a time, and each project's holds only its own actions.
func TestAuditLog(t *testing.T) {
	w := newInviteWorld(t)
	ctx := context.Background()
	s, a := w.s, w.a
	secret, err := s.Meta.CreateKey(ctx, w.projectID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Meta.SetMember(ctx, w.projectID, w.annID, meta.RoleMember); err != nil {
		t.Fatal(err)
	}
	api := func(key, method, path, body string, want int) string {
		t.Helper()
		code, out := keyCall(t, w.url, key, method, path, body)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
		return out
	}
	// Keys and members, from the UI.
	var key struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(w.pa.do("POST", a+"/keys", nil, 201), &key); err != nil {
		t.Fatal(err)
	}
	w.pa.do("DELETE", fmt.Sprintf("%s/keys/%d", a, key.ID), nil, 204)
	w.pa.do("POST", a+"/members", map[string]string{"email": "new@x.io", "role": "viewer"}, 201)
	w.ann.do("POST", a+"/members", map[string]string{"email": "x@x.io", "role": "viewer"}, 403) // a member may not
	// Flags, with the secret key.
	flag := decodeFlag(t, api(secret, "POST", "/api/v1/flags", `{"key":"beta","filters":{"groups":[{"rollout_percentage":10}]}}`, 201))
	api(secret, "PATCH", fmt.Sprintf("/api/v1/flags/%d", flag.ID), `{"active":false}`, 200)
	// An experiment's decision to start and stop.
	var exp struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(api(secret, "POST", "/api/v1/experiments", checkoutExperiment, 201)), &exp); err != nil {
		t.Fatal(err)
	}
	api(secret, "POST", fmt.Sprintf("/api/v1/experiments/%d/start", exp.ID), `{}`, 200)
	// A campaign refused, and a decision on one that does not exist: the
	// outcome is recorded too.
	api(secret, "POST", "/api/v1/campaigns", `{"name":"c"}`, 400)
	api(secret, "POST", "/api/v1/campaigns/999/decision", `{"decision":"ship","variant":"a"}`, 404)
	// A person's deletion, and settings.
	api(secret, "DELETE", "/api/v1/persons/42", "", 501) // no event store here: the refusal is recorded
	api(secret, "PUT", "/api/v1/settings/journey", `{"stages":[{"name":"Visit","events":[{"event":"$pageview"}]}]}`, 200)
	// A personal key of the admin writes; reads and 401s leave nothing.
	_, pk := newKey(t, w.pa, "ci", "write")
	api(pk, "PUT", "/api/v1/settings/retention", `{"retention_days":90}`, 200)
	api(secret, "GET", "/api/v1/flags", "", 200)
	api("", "POST", "/api/v1/flags", `{}`, 401)
	api("jsk_wrong", "DELETE", "/api/v1/persons/1", "", 401)

	var page auditPageOut
	if err := json.Unmarshal(w.pa.do("GET", a+"/audit?limit=200", nil, 200), &page); err != nil {
		t.Fatal(err)
	}
	type row struct{ actor, action, target string }
	var got []row
	byAction := map[string]meta.AuditEntry{}
	for i := len(page.Entries) - 1; i >= 0; i-- { // oldest first
		e := page.Entries[i]
		if e.ProjectID != w.projectID || e.At.IsZero() {
			t.Fatalf("entry %+v", e)
		}
		got = append(got, row{strings.SplitN(e.Actor, ":", 2)[0], e.Action, e.Target})
		byAction[e.Action] = e
	}
	ui, v1 := "/ui/api/projects/{pid}", "/api/v1"
	want := []row{
		{"user", "POST " + ui + "/keys", fmt.Sprintf("id=%d", key.ID)},
		{"user", "DELETE " + ui + "/keys/{id}", fmt.Sprintf("id=%d", key.ID)},
		{"user", "POST " + ui + "/members", "id=1"}, // the invite
		{"user", "POST " + ui + "/members", ""},
		{"secret_key", "POST " + v1 + "/flags", fmt.Sprintf("id=%d", flag.ID)},
		{"secret_key", "PATCH " + v1 + "/flags/{id}", fmt.Sprintf("id=%d", flag.ID)},
		{"secret_key", "POST " + v1 + "/experiments", fmt.Sprintf("id=%d", exp.ID)},
		{"secret_key", "POST " + v1 + "/experiments/{id}/start", fmt.Sprintf("id=%d", exp.ID)},
		{"secret_key", "POST " + v1 + "/campaigns", ""},
		{"secret_key", "POST " + v1 + "/campaigns/{id}/decision", "id=999"},
		{"secret_key", "DELETE " + v1 + "/persons/{id}", "id=42"},
		{"secret_key", "PUT " + v1 + "/settings/journey", ""},
		{"personal_key", "PUT " + v1 + "/settings/retention", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit log:\n got %v\nwant %v", got, want)
	}
	if e := byAction["POST "+v1+"/campaigns"]; e.Status != 400 {
		t.Fatalf("refused campaign recorded as %+v", e)
	}
	if e := byAction["PUT "+v1+"/settings/retention"]; e.Status != 200 || !strings.Contains(e.ActorName, "pa@x.io") || !strings.HasPrefix(e.ActorName, "jpk_") {
		t.Fatalf("personal key's entry %+v", e)
	}
	if e := page.Entries[len(page.Entries)-4]; e.Actor != fmt.Sprintf("user:%d", w.annID) || e.Status != 403 || e.ActorName != "ann@x.io" {
		t.Fatalf("member's refused invite recorded as %+v", e)
	}

	// Pages: newest first, next_before until the end.
	var all []int64
	for before := int64(0); ; {
		var p auditPageOut
		path := fmt.Sprintf("/api/v1/audit?limit=5&before=%d", before)
		if before == 0 {
			path = "/api/v1/audit?limit=5"
		}
		if err := json.Unmarshal([]byte(api(secret, "GET", path, "", 200)), &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			all = append(all, e.ID)
		}
		if p.NextBefore == 0 {
			break
		}
		before = p.NextBefore
	}
	if len(all) != len(page.Entries) || all[0] != page.Entries[0].ID || all[len(all)-1] != page.Entries[len(page.Entries)-1].ID {
		t.Fatalf("paged ids %v, want the %d entries", all, len(page.Entries))
	}
	for _, bad := range []string{"limit=0", "limit=201", "before=x"} {
		api(secret, "GET", "/api/v1/audit?"+bad, "", 400)
	}
	// Admins only: a member's session or write key, or a read key, is 403.
	w.ann.do("GET", a+"/audit", nil, 403)
	_, annKey := newKey(t, w.ann, "ann", "write")
	api(annKey, "GET", "/api/v1/audit", "", 403)
	_, readKey := newKey(t, w.pa, "read", "read")
	api(readKey, "GET", "/api/v1/audit", "", 403)

	// Server level: personal keys and projects, for server admins.
	var server auditPageOut
	if err := json.Unmarshal(w.root.do("GET", "/ui/api/audit", nil, 200), &server); err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, e := range server.Entries {
		if e.ProjectID != 0 {
			t.Fatalf("server log holds %+v", e)
		}
		if e.Action == "POST /ui/api/personal-keys" && e.Target != "" {
			keys++
		}
	}
	if keys != 3 {
		t.Fatalf("server log %+v, want the 3 personal keys created", server.Entries)
	}
	w.pa.do("GET", "/ui/api/audit", nil, 403)
	code, out := keyCall(t, w.url, "test-admin-key", "GET", fmt.Sprintf("/api/v1/admin/audit?project_id=%d&limit=1", w.projectID), "")
	if code != 200 || !strings.Contains(out, `"next_before":`) {
		t.Fatalf("admin key reads the project's log: %d %s", code, out)
	}
	// Another project's log holds none of A's.
	_, bKey, _ := s.Meta.CreateProject(ctx, "B", "UTC")
	if out := api(bKey, "GET", "/api/v1/audit", "", 200); !strings.Contains(out, `"entries":[]`) {
		t.Fatalf("project B's log: %s", out)
	}
}
