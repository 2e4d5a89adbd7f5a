package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// FuzzPersonalKeyRequests: the bodies of key creation and rotation and
// the audit log's paging parameters are outside input. Whatever they
// hold, the handlers answer no 5xx; a created key has a jpk_ secret and
// scopes from the allow-list; a refusal is a 4xx with an error; an audit
// page has at most the limit asked.
func FuzzPersonalKeyRequests(f *testing.F) {
	for _, seed := range []struct{ create, rotate, query string }{
		{`{"name":"ci","scopes":["read"]}`, `{"overlap_seconds":60}`, "limit=5"},
		{`{"name":"ci","scopes":["write","read","write"]}`, `{}`, "limit=200&before=3"},
		{`{"name":"","scopes":[]}`, `{"overlap_seconds":-1}`, "limit=0"},
		{`{"name":"x","scopes":["admin"]}`, `{"overlap_seconds":86401}`, "before=-1"},
		{`{"name":"\u0000","scopes":["flags:definitions"]}`, `{"overlap_seconds":1e99}`, "limit=abc&before=99999999999999999999"},
		{`[]`, `null`, "%zz"},
		{``, `{"overlap_seconds":"60"}`, ""},
	} {
		f.Add(seed.create, seed.rotate, seed.query)
	}
	m, err := sqlite.Open(filepath.Join(f.TempDir(), "meta.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	s, mux := &Server{Meta: m}, http.NewServeMux()
	s.Register(mux)
	h := http.Handler(mux)
	ctx := context.Background()
	u, err := s.Meta.CreateUser(ctx, "fuzz@x.io", "h", false)
	if err != nil {
		f.Fatal(err)
	}
	p, _, _ := s.Meta.CreateProject(ctx, "A", "UTC")
	if err := s.Meta.SetMember(ctx, p.ID, u.ID, meta.RoleAdmin); err != nil {
		f.Fatal(err)
	}
	token, csrf := meta.NewSessionToken(), meta.NewCSRFToken()
	if err := s.Meta.CreateSession(ctx, meta.HashSecret(token), u.ID, csrf, time.Now().Add(time.Hour)); err != nil {
		f.Fatal(err)
	}
	k, _, err := s.Meta.CreatePersonalKey(ctx, u.ID, "rotated", []string{"read"})
	if err != nil {
		f.Fatal(err)
	}
	call := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(csrfHeader, csrf)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	f.Fuzz(func(t *testing.T, create, rotate, query string) {
		w := call("POST", "/ui/api/personal-keys", create)
		var made struct {
			Key    meta.PersonalKey `json:"key"`
			Secret string           `json:"secret"`
		}
		switch {
		case w.Code == 201:
			if json.Unmarshal(w.Body.Bytes(), &made) != nil || !meta.IsPersonalKey(made.Secret) || len(made.Key.Scopes) == 0 {
				t.Fatalf("%q created %s", create, w.Body)
			}
			for _, sc := range made.Key.Scopes {
				if !slices.Contains(meta.Scopes, sc) {
					t.Fatalf("%q created a key with scope %q", create, sc)
				}
			}
		case w.Code >= 500 || !strings.Contains(w.Body.String(), `"error"`):
			t.Fatalf("create %q: %d %s", create, w.Code, w.Body)
		}
		w = call("POST", "/ui/api/personal-keys/"+itoa(k.ID)+"/rotate", rotate)
		if w.Code >= 500 || (w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`)) {
			t.Fatalf("rotate %q: %d %s", rotate, w.Code, w.Body)
		}
		if v, err := url.ParseQuery(query); err != nil {
			query = "x=" + url.QueryEscape(query)
		} else {
			query = v.Encode() // what a client sends: escaped
		}
		w = call("GET", "/ui/api/projects/"+itoa(p.ID)+"/audit?"+query, "")
		var page auditPageOut
		switch {
		case w.Code == 200:
			limit := 50
			if v, _ := url.ParseQuery(query); v.Get("limit") != "" {
				limit = atoiOr(v.Get("limit"), 50)
			}
			if json.Unmarshal(w.Body.Bytes(), &page) != nil || len(page.Entries) > limit {
				t.Fatalf("audit ?%s: %s", query, w.Body)
			}
		case w.Code != 400 || !strings.Contains(w.Body.String(), `"field"`):
			t.Fatalf("audit ?%s: %d %s", query, w.Code, w.Body)
		}
	})
}

func atoiOr(s string, def int) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}
