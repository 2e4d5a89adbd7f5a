package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/websdk"
)

// keyCall sends one request with a bearer key and returns the status and
// body.
func keyCall(t *testing.T, url, key, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// newKey creates a personal key from c's session.
func newKey(t *testing.T, c *uiClient, name string, scopes ...string) (meta.PersonalKey, string) {
	t.Helper()
	var out struct {
		Key    meta.PersonalKey `json:"key"`
		Secret string           `json:"secret"`
	}
	if err := json.Unmarshal(c.do("POST", "/ui/api/personal-keys", map[string]any{"name": name, "scopes": scopes}, 201), &out); err != nil {
		t.Fatal(err)
	}
	return out.Key, out.Secret
}

type metaTokens struct{ m meta.Store }

func (t metaTokens) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	p, err := t.m.ProjectByToken(ctx, token)
	if err == meta.ErrNotFound {
		return 0, false, nil
	}
	return p.ID, err == nil, err
}

// TestPersonalKeyScopes (issue 17, checked by): a read key reads but
// cannot write (403 on POST, PATCH, PUT, DELETE); a write key of a member
// writes what a member may, not what needs an admin; a flags key reads the
// local-evaluation definitions only; no key reaches a project its user
// cannot see (404), and a key's project is named by ?project_id= or the
// header.
func TestPersonalKeyScopes(t *testing.T) {
	w := newInviteWorld(t)
	ctx := context.Background()
	s, a := w.s, fmt.Sprint(w.projectID)
	if err := s.Meta.SetMember(ctx, w.projectID, w.annID, meta.RoleMember); err != nil {
		t.Fatal(err)
	}
	b, _, _ := s.Meta.CreateProject(ctx, "B", "UTC")
	pa, _ := s.Meta.Project(ctx, w.projectID)
	flag := `{"key":"beta","name":"Beta","active":true,"filters":{"groups":[{"properties":[],"rollout_percentage":50}]}}`

	_, read := newKey(t, w.ann, "dashboards", "read")
	_, write := newKey(t, w.ann, "ci", "write")
	_, flagsOnly := newKey(t, w.ann, "sdk", "flags:definitions")

	// Ann sees project A only: a key needs no project_id.
	if code, out := keyCall(t, w.url, read, "GET", "/api/v1/flags", ""); code != 200 || out != "[]\n" {
		t.Fatalf("read key lists flags: %d %s", code, out)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/flags", flag},
		{"PATCH", "/api/v1/flags/1", `{"active":false}`},
		{"DELETE", "/api/v1/flags/1", ""},
		{"PUT", "/api/v1/dashboards/1", `{"name":"d"}`},
		{"POST", "/api/v1/cohorts", `{"name":"c","definition":{}}`},
		{"POST", "/api/v1/insights", `{"name":"i","spec":{}}`},
	} {
		code, out := keyCall(t, w.url, read, c.method, c.path+"?project_id="+a, c.body)
		if code != 403 || !strings.Contains(out, "read key") {
			t.Fatalf("read key %s %s: %d %s, want 403", c.method, c.path, code, out)
		}
	}
	// A write key writes with the member's role, no more.
	code, out := keyCall(t, w.url, write, "POST", "/api/v1/flags?project_id="+a, flag)
	if code != 201 {
		t.Fatalf("write key creates a flag: %d %s", code, out)
	}
	id := decodeFlag(t, out).ID
	if code, out := keyCall(t, w.url, read, "GET", fmt.Sprintf("/api/v1/flags/%d", id), ""); code != 200 || decodeFlag(t, out).Key != "beta" {
		t.Fatalf("read key reads the flag: %d %s", code, out)
	}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/settings/sdk", `{}`},
		{"GET", "/api/v1/members", ""},
		{"POST", "/api/v1/keys", ""},
		{"GET", "/api/v1/audit", ""},
		{"GET", "/api/v1/persons/1/export", ""},
	} {
		code, out := keyCall(t, w.url, write, c.method, c.path, c.body)
		if code != 403 || !strings.Contains(out, "your role (member)") {
			t.Fatalf("member's write key %s %s: %d %s, want 403", c.method, c.path, code, out)
		}
	}
	// A flags key opens nothing on /api/v1.
	for _, path := range []string{"/api/v1/flags", "/api/v1/cohorts"} {
		if code, out := keyCall(t, w.url, flagsOnly, "GET", path, ""); code != 403 || !strings.Contains(out, "flag definitions") {
			t.Fatalf("flags key GET %s: %d %s", path, code, out)
		}
	}
	// ... and reads the definitions server SDKs poll, for its user's
	// projects only; a read key may too, a write key reads as well.
	sdk := httptest.NewServer(websdk.NewHandler(metaTokens{s.Meta}, s.Meta))
	t.Cleanup(sdk.Close)
	for _, path := range []string{"/flags/definitions?token=" + pa.Token, "/api/feature_flag/local_evaluation?token=" + pa.Token + "&send_cohorts=true"} {
		for _, key := range []string{flagsOnly, read, write} {
			code, out := keyCall(t, sdk.URL, key, "GET", path, "")
			if code != 200 || !strings.Contains(out, `"key":"beta"`) {
				t.Fatalf("GET %s with %s: %d %s", path, key[:12], code, out)
			}
		}
	}
	if code, _ := keyCall(t, sdk.URL, flagsOnly, "GET", "/flags/definitions?token="+b.Token, ""); code != 404 {
		t.Fatalf("flags key on another's project: %d, want 404", code)
	}
	if code, _ := keyCall(t, sdk.URL, flagsOnly, "GET", "/flags/definitions", ""); code != 400 {
		t.Fatalf("flags key without a token: %d, want 400", code)
	}
	// Another user's project is not found, whatever the key.
	for _, key := range []string{read, write} {
		if code, out := keyCall(t, w.url, key, "GET", fmt.Sprintf("/api/v1/flags?project_id=%d", b.ID), ""); code != 404 {
			t.Fatalf("ann's key on project B: %d %s, want 404", code, out)
		}
		req, _ := http.NewRequest("GET", w.url+"/api/v1/cohorts", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set(projectHeader, fmt.Sprint(b.ID))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("ann's key on project B by header: %d, want 404", resp.StatusCode)
		}
	}
	if code, _ := keyCall(t, w.url, read, "GET", "/api/v1/flags?project_id=x", ""); code != 400 {
		t.Fatalf("bad project_id: %d", code)
	}
	// The server admin sees two projects: a key must name one.
	_, rootKey := newKey(t, w.root, "root", "read")
	if code, out := keyCall(t, w.url, rootKey, "GET", "/api/v1/flags", ""); code != 400 || !strings.Contains(out, `"field":"project_id"`) {
		t.Fatalf("root's key without a project: %d %s", code, out)
	}
	if code, _ := keyCall(t, w.url, rootKey, "GET", fmt.Sprintf("/api/v1/flags?project_id=%d", b.ID), ""); code != 200 {
		t.Fatalf("root's key on B: %d", code)
	}
	// Personal keys are not admin keys.
	if code, _ := keyCall(t, w.url, rootKey, "GET", "/api/v1/projects", ""); code != 401 {
		t.Fatalf("personal key on an admin route: %d, want 401", code)
	}
}

// TestPersonalKeyLifecycle: the secret is shown once (never listed), a
// rotated key's old secret is refused (or kept for the overlap asked), a
// revoked key is refused, one user cannot touch another's keys, and the
// last use is recorded once a minute at most.
func TestPersonalKeyLifecycle(t *testing.T) {
	w := newInviteWorld(t)
	if err := w.s.Meta.SetMember(context.Background(), w.projectID, w.annID, meta.RoleViewer); err != nil {
		t.Fatal(err)
	}
	k, secret := newKey(t, w.ann, "ci", "read")
	if !strings.HasPrefix(secret, "jpk_") || k.Prefix != secret[:12] || !k.LastUsedAt.IsZero() {
		t.Fatalf("created %+v %q", k, secret)
	}
	list := string(w.ann.do("GET", "/ui/api/personal-keys", nil, 200))
	if strings.Contains(list, secret) || strings.Contains(list, meta.HashSecret(secret)) || !strings.Contains(list, k.Prefix) {
		t.Fatalf("list shows the secret or its hash, or not the prefix: %s", list)
	}
	if out := string(w.eve.do("GET", "/ui/api/personal-keys", nil, 200)); out != "[]\n" {
		t.Fatalf("eve's keys: %s", out)
	}
	w.ann.do("POST", "/ui/api/personal-keys", map[string]any{"name": "x", "scopes": []string{"root"}}, 400)
	w.ann.do("POST", "/ui/api/personal-keys", map[string]any{"name": "", "scopes": []string{"read"}}, 400)

	lastUsed := func() time.Time {
		var keys []meta.PersonalKey
		if err := json.Unmarshal(w.ann.do("GET", "/ui/api/personal-keys", nil, 200), &keys); err != nil {
			t.Fatal(err)
		}
		return keys[0].LastUsedAt
	}
	if code, _ := keyCall(t, w.url, secret, "GET", "/api/v1/cohorts", ""); code != 200 {
		t.Fatalf("fresh key: %d", code)
	}
	first := lastUsed()
	if first.IsZero() || time.Since(first) > time.Minute {
		t.Fatalf("last used %v after a use", first)
	}
	time.Sleep(5 * time.Millisecond)
	keyCall(t, w.url, secret, "GET", "/api/v1/cohorts", "")
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("a second use within the minute moved last use from %v to %v", first, got)
	}

	// Eve cannot rotate or revoke Ann's key.
	w.eve.do("POST", fmt.Sprintf("/ui/api/personal-keys/%d/rotate", k.ID), nil, 404)
	w.eve.do("DELETE", fmt.Sprintf("/ui/api/personal-keys/%d", k.ID), nil, 404)

	rotate := func(overlap int) string {
		var out struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(w.ann.do("POST", fmt.Sprintf("/ui/api/personal-keys/%d/rotate", k.ID), map[string]int{"overlap_seconds": overlap}, 200), &out); err != nil {
			t.Fatal(err)
		}
		return out.Secret
	}
	fresh := rotate(0)
	if code, out := keyCall(t, w.url, secret, "GET", "/api/v1/cohorts", ""); code != 401 {
		t.Fatalf("rotated-out secret: %d %s, want 401", code, out)
	}
	if code, _ := keyCall(t, w.url, fresh, "GET", "/api/v1/cohorts", ""); code != 200 {
		t.Fatalf("rotated-in secret: %d", code)
	}
	w.ann.do("POST", fmt.Sprintf("/ui/api/personal-keys/%d/rotate", k.ID), map[string]int{"overlap_seconds": 86401}, 400)
	newer := rotate(600)
	for _, sec := range []string{fresh, newer} {
		if code, _ := keyCall(t, w.url, sec, "GET", "/api/v1/cohorts", ""); code != 200 {
			t.Fatalf("within the overlap, %s: %d", sec[:12], code)
		}
	}
	w.ann.do("DELETE", fmt.Sprintf("/ui/api/personal-keys/%d", k.ID), nil, 204)
	for _, sec := range []string{fresh, newer} {
		if code, _ := keyCall(t, w.url, sec, "GET", "/api/v1/cohorts", ""); code != 401 {
			t.Fatalf("revoked key's %s: %d, want 401", sec[:12], code)
		}
	}
	w.ann.do("DELETE", fmt.Sprintf("/ui/api/personal-keys/%d", k.ID), nil, 404)
	if code, _ := keyCall(t, w.url, "jpk_"+strings.Repeat("0", 48), "GET", "/api/v1/cohorts", ""); code != 401 {
		t.Fatalf("unknown key: %d", code)
	}
}
