package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

// uiClient is a logged-in browser against a test server.
type uiClient struct {
	t    *testing.T
	url  string
	c    *http.Client
	csrf string
}

func (c *uiClient) do(method, path string, body any, want int) []byte {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		r = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, c.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, c.csrf)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// inviteWorld is a project A with a project admin, a server admin, and
// users who belong to no project.
type inviteWorld struct {
	s                  *Server
	url                string
	a                  string // A's UI API path
	projectID          int64
	root, pa, ann, eve *uiClient
	annID              int64
}

func newInviteWorld(t *testing.T) *inviteWorld {
	t.Helper()
	s, h := testServer(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	p, _, err := s.Meta.CreateProject(ctx, "A", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword("long enough")
	if err != nil {
		t.Fatal(err)
	}
	w := &inviteWorld{s: s, url: srv.URL, a: fmt.Sprintf("/ui/api/projects/%d", p.ID), projectID: p.ID}
	login := func(email string, admin bool) (*uiClient, int64) {
		u, err := s.Meta.CreateUser(ctx, email, hash, admin)
		if err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		c := &uiClient{t: t, url: srv.URL, c: &http.Client{Jar: jar}}
		var me struct {
			CSRF string `json:"csrf_token"`
		}
		if err := json.Unmarshal(c.do("POST", "/ui/api/login", map[string]string{"email": email, "password": "long enough"}, 200), &me); err != nil {
			t.Fatal(err)
		}
		c.csrf = me.CSRF
		return c, u.ID
	}
	w.root, _ = login("root@x.io", true)
	var paID int64
	w.pa, paID = login("pa@x.io", false)
	if err := s.Meta.SetMember(ctx, p.ID, paID, meta.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	w.ann, w.annID = login("ann@x.io", false)
	w.eve, _ = login("eve@x.io", false)
	return w
}

// shape is a JSON object with the values that differ between any two
// invites (id, email, time) blanked.
func shape(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "email", "created_at"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("invite %s lacks %q", body, k)
		}
		m[k] = "·"
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// TestAddMemberDoesNotRevealAccounts: a project admin adding an email
// that has an account and one that has none gets the same answer (the old
// code said 201 for one and 404 for the other), and the user with the
// account is not a member until they accept.
func TestAddMemberDoesNotRevealAccounts(t *testing.T) {
	w := newInviteWorld(t)
	existing := w.pa.do("POST", w.a+"/members", map[string]string{"email": "ann@x.io", "role": "viewer"}, 201)
	missing := w.pa.do("POST", w.a+"/members", map[string]string{"email": "ghost@x.io", "role": "viewer"}, 201)
	if a, b := shape(t, existing), shape(t, missing); a != b {
		t.Fatalf("answers differ: %s for an account, %s for none", a, b)
	}
	// With a password too: one answer for both, decided before any lookup.
	withPw := func(email string) string {
		return string(w.pa.do("POST", w.a+"/members", map[string]string{"email": email, "password": "attacker-chosen", "role": "viewer"}, 400))
	}
	if a, b := withPw("ann@x.io"), withPw("ghost@x.io"); a != b {
		t.Fatalf("answers with a password differ: %s vs %s", a, b)
	}

	// Not a member yet: no access, not listed, the invite pending.
	w.ann.do("GET", w.a+"/settings", nil, 404)
	var members []meta.Member
	json.Unmarshal(w.pa.do("GET", w.a+"/members", nil, 200), &members)
	if len(members) != 1 || members[0].Email != "pa@x.io" {
		t.Fatalf("members before accepting = %+v", members)
	}
	var pending []meta.Invite
	json.Unmarshal(w.pa.do("GET", w.a+"/invites", nil, 200), &pending)
	if len(pending) != 2 || pending[0].Email != "ann@x.io" || pending[1].Email != "ghost@x.io" {
		t.Fatalf("pending invites = %+v", pending)
	}
	w.ann.do("GET", w.a+"/invites", nil, 404) // project admins only

	// Ann sees the invite and accepts it.
	var mine []meta.Invite
	json.Unmarshal(w.ann.do("GET", "/ui/api/invites", nil, 200), &mine)
	if len(mine) != 1 || mine[0].ProjectID != w.projectID || mine[0].ProjectName != "A" || mine[0].Role != "viewer" {
		t.Fatalf("ann's invites = %+v", mine)
	}
	w.ann.do("POST", fmt.Sprintf("/ui/api/invites/%d/accept", mine[0].ID), nil, 200)
	w.ann.do("GET", w.a+"/settings", nil, 200)
	w.ann.do("POST", w.a+"/members", map[string]string{"email": "x@x.io", "role": "viewer"}, 403) // a viewer, as invited
	json.Unmarshal(w.pa.do("GET", w.a+"/members", nil, 200), &members)
	if len(members) != 2 || members[0].Email != "ann@x.io" || members[0].Role != "viewer" {
		t.Fatalf("members after accepting = %+v", members)
	}
	w.ann.do("POST", fmt.Sprintf("/ui/api/invites/%d/accept", mine[0].ID), nil, 404) // used once
	json.Unmarshal(w.pa.do("GET", w.a+"/invites", nil, 200), &pending)
	if len(pending) != 1 || pending[0].Email != "ghost@x.io" {
		t.Fatalf("pending after accepting = %+v", pending)
	}

	// The project admin revokes the other invite.
	w.pa.do("DELETE", fmt.Sprintf("%s/invites/%d", w.a, pending[0].ID), nil, 204)
	w.pa.do("DELETE", fmt.Sprintf("%s/invites/%d", w.a, pending[0].ID), nil, 404)
	if got := string(w.pa.do("GET", w.a+"/invites", nil, 200)); got != "[]\n" {
		t.Fatalf("pending after revoking = %s", got)
	}

	// A server admin still adds directly: existing users and new ones.
	w.root.do("POST", w.a+"/members", map[string]string{"email": "eve@x.io", "role": "member"}, 201)
	w.eve.do("GET", w.a+"/settings", nil, 200)
	w.root.do("POST", w.a+"/members", map[string]string{"email": "new@x.io", "password": "long enough", "role": "viewer"}, 201)
	w.root.do("POST", w.a+"/members", map[string]string{"email": "nobody@x.io", "role": "viewer"}, 400) // no account, no password
}

// TestInviteOnlyForItsEmail: another user cannot accept (or decline) an
// invite addressed to someone else's email, and does not learn it exists.
func TestInviteOnlyForItsEmail(t *testing.T) {
	w := newInviteWorld(t)
	var in meta.Invite
	json.Unmarshal(w.pa.do("POST", w.a+"/members", map[string]string{"email": "Ann@x.io", "role": "admin"}, 201), &in)
	accept := fmt.Sprintf("/ui/api/invites/%d/accept", in.ID)
	unknown := w.eve.do("POST", "/ui/api/invites/999999/accept", nil, 404)
	if got := w.eve.do("POST", accept, nil, 404); string(got) != string(unknown) {
		t.Fatalf("someone else's invite answers %s, an unknown one %s", got, unknown)
	}
	w.eve.do("POST", fmt.Sprintf("/ui/api/invites/%d/decline", in.ID), nil, 404)
	w.eve.do("GET", w.a+"/settings", nil, 404)
	if got := string(w.eve.do("GET", "/ui/api/invites", nil, 200)); got != "[]\n" {
		t.Fatalf("eve sees %s", got)
	}
	w.eve.do("POST", "/ui/api/invites/x/accept", nil, 404)
	w.eve.csrf = "" // and the CSRF token is required
	w.eve.do("POST", accept, nil, 403)

	// The invite is intact for ann, who declines it.
	var mine []meta.Invite
	json.Unmarshal(w.ann.do("GET", "/ui/api/invites", nil, 200), &mine)
	if len(mine) != 1 || mine[0].ID != in.ID {
		t.Fatalf("ann's invites = %+v", mine)
	}
	w.ann.do("POST", fmt.Sprintf("/ui/api/invites/%d/decline", in.ID), nil, 204)
	w.ann.do("POST", accept, nil, 404)
	w.ann.do("GET", w.a+"/settings", nil, 404)
}
