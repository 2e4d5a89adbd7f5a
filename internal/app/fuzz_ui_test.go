package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
)

// FuzzUIBodies sends arbitrary JSON bodies, as a logged-in server admin, to
// every UI endpoint that decodes one (and to login): whatever the body, the
// answer is never a 500 and the server never panics.
func FuzzUIBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"DAU","spec":{"kind":"trend","series":[{"event":"e"}],"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}}`,
		`{"name":"D","range":"30d","refresh_seconds":60,"tiles":[{"insight_id":1,"width":2}]}`,
		`{"name":"D","tiles":[{"insight_id":-1,"width":3}],"range":"1y"}`,
		`{"email":"x@y.z","password":"long enough","role":"viewer"}`,
		`{"stages":[{"name":"s","events":[{"event":"e"}],"min_count":2}]}`,
		`{"email":"\u0000","password":"\ud800"}`, `{"name":"` + string(make([]byte, 300)) + `"}`,
		`[]`, `null`, `{`, ``, `{"tiles":null,"name":7}`,
	} {
		f.Add([]byte(s))
	}
	a, err := Open(Config{DataDir: f.TempDir(), AdminKey: testAdminKey, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(method, path string, body []byte, csrf string) (int, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := c.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
	code, body := post("POST", "/ui/api/bootstrap", []byte(`{"admin_key":"`+testAdminKey+`","email":"root@x.io","password":"correct horse"}`), "")
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if code != 200 || json.Unmarshal(body, &me) != nil {
		f.Fatalf("bootstrap: %d %s", code, body)
	}
	code, body = post("POST", "/ui/api/projects", []byte(`{"name":"p"}`), me.CSRF)
	var p struct{ ID int64 }
	if code != 201 || json.Unmarshal(body, &p) != nil {
		f.Fatalf("project: %d %s", code, body)
	}
	base := fmt.Sprintf("/ui/api/projects/%d", p.ID)
	post("POST", base+"/insights", []byte(`{"name":"i","spec":{"kind":"trend","series":[{"event":"e"}],"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}}`), me.CSRF)
	post("POST", base+"/dashboards", []byte(`{"name":"d"}`), me.CSRF)
	targets := []struct{ method, path string }{
		{"POST", base + "/insights"}, {"PUT", base + "/insights/1"}, {"POST", base + "/dashboards"}, {"PUT", base + "/dashboards/1"},
		{"POST", base + "/members"}, {"PUT", base + "/settings/journey"}, {"POST", base + "/query"}, {"POST", "/ui/api/projects"},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tg := range targets {
			if code, out := post(tg.method, tg.path, b, me.CSRF); code >= 500 {
				t.Fatalf("%s %s with %q answered %d %s", tg.method, tg.path, b, code, out)
			}
		}
		// Login last: failures count towards the address's limit (429 is fine).
		if code, out := post("POST", "/ui/api/login", b, ""); code >= 500 {
			t.Fatalf("login with %q answered %d %s", b, code, out)
		}
	})
}
