package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// uiOnly are the UI project routes that have no /api/v1 twin, each with
// the reason. Every other one must have one (TestUIRoutesHaveTwins).
var uiOnly = map[string]string{
	"GET " + uiBase + "/live": "a browser's live event stream, bound to its session (re-checked at every ping); API clients read events with the sql kind of POST /api/v1/query",
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestUIRoutesHaveTwins (issue 17 item 2): every UI project route
// registered, by this session or any later one, has an /api/v1 twin that
// serves the same method and path behind the secret-key check (401
// without a key), and a personal key there needs the UI route's role.
func TestUIRoutesHaveTwins(t *testing.T) {
	s, h := testServer(t)
	mux := h.(*http.ServeMux)
	n := 0
	for _, pattern := range s.routes.list() {
		method, path, _ := strings.Cut(pattern, " ")
		rest, ok := strings.CutPrefix(path, uiBase)
		if !ok || uiOnly[pattern] != "" {
			continue
		}
		n++
		url := apiBase + wildcard.ReplaceAllString(rest, "1")
		req := httptest.NewRequest(method, url, nil)
		_, twin := mux.Handler(req)
		if !strings.HasPrefix(twin, method+" "+apiBase) {
			t.Errorf("%s has no /api/v1 twin (%s %s is not served): add one (twins.go) or list it in uiOnly with the reason", pattern, method, url)
			continue
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without a key: %d %s, want 401", twin, rec.Code, rec.Body)
		}
		if ui, api := s.routes.uiRole[pattern], s.routes.need(twin); ui != api && twin == method+" "+apiBase+rest {
			t.Errorf("%s needs %s, its twin %s %s", pattern, ui, twin, api)
		}
	}
	if n < 100 {
		t.Fatalf("only %d UI project routes checked", n)
	}
	for pattern := range uiOnly {
		if !contains(s.routes.list(), pattern) {
			t.Errorf("uiOnly lists %s, which is not registered", pattern)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestTwinsAnswerAsUI: the twins added for this item answer with a
// secret key what their UI routes answer in a session: insights and
// dashboards CRUD, settings, members and invites, keys.
func TestTwinsAnswerAsUI(t *testing.T) {
	w := newInviteWorld(t)
	ctx := context.Background()
	secret, err := w.s.Meta.CreateKey(ctx, w.projectID)
	if err != nil {
		t.Fatal(err)
	}
	api := func(method, path, body string, want int) string {
		t.Helper()
		code, out := keyCall(t, w.url, secret, method, path, body)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
		return out
	}
	spec := `{"kind":"trend","series":[{"event":"$pageview","math":"total"}],"interval":"day","from":"2026-01-01T00:00:00Z","to":"2026-01-08T00:00:00Z"}`
	var ins struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(api("POST", "/api/v1/insights", `{"name":"Views","spec":`+spec+`}`, 201)), &ins); err != nil || ins.Name != "Views" {
		t.Fatalf("created insight %+v, %v", ins, err)
	}
	uiList := w.pa.do("GET", w.a+"/insights", nil, 200)
	if got := api("GET", "/api/v1/insights", "", 200); got != string(uiList) {
		t.Fatalf("API insights %s, UI's %s", got, uiList)
	}
	api("PUT", fmt.Sprintf("/api/v1/insights/%d", ins.ID), `{"name":"Page views","spec":`+spec+`}`, 200)
	if got := string(w.pa.do("GET", fmt.Sprintf("%s/insights/%d", w.a, ins.ID), nil, 200)); !strings.Contains(got, "Page views") {
		t.Fatalf("UI reads %s after the API's update", got)
	}
	var dash struct {
		ID int64 `json:"id"`
	}
	tiles := fmt.Sprintf(`{"name":"Growth","tiles":[{"insight_id":%d}]}`, ins.ID)
	if err := json.Unmarshal([]byte(api("POST", "/api/v1/dashboards", tiles, 201)), &dash); err != nil {
		t.Fatal(err)
	}
	if got, ui := api("GET", fmt.Sprintf("/api/v1/dashboards/%d", dash.ID), "", 200), w.pa.do("GET", fmt.Sprintf("%s/dashboards/%d", w.a, dash.ID), nil, 200); got != string(ui) {
		t.Fatalf("API dashboard %s, UI's %s", got, ui)
	}
	api("POST", fmt.Sprintf("/api/v1/dashboards/%d/share", dash.ID), "", 200)
	api("DELETE", fmt.Sprintf("/api/v1/dashboards/%d/share", dash.ID), "", 204)
	api("DELETE", fmt.Sprintf("/api/v1/dashboards/%d", dash.ID), "", 204)
	api("DELETE", fmt.Sprintf("/api/v1/insights/%d", ins.ID), "", 204)
	api("GET", fmt.Sprintf("/api/v1/insights/%d", ins.ID), "", 404)

	if got, ui := api("GET", "/api/v1/settings", "", 200), w.pa.do("GET", w.a+"/settings", nil, 200); got != string(ui) {
		t.Fatalf("API settings %s, UI's %s", got, ui)
	}
	api("POST", "/api/v1/members", `{"email":"new@x.io","role":"viewer"}`, 201)
	if got := api("GET", "/api/v1/invites", "", 200); !strings.Contains(got, "new@x.io") {
		t.Fatalf("invites %s", got)
	}
	if got := api("GET", "/api/v1/members", "", 200); !strings.Contains(got, "pa@x.io") {
		t.Fatalf("members %s", got)
	}
	var key struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret_key"`
	}
	if err := json.Unmarshal([]byte(api("POST", "/api/v1/keys", "", 201)), &key); err != nil || !strings.HasPrefix(key.Secret, "jsk_") {
		t.Fatalf("new key %+v, %v", key, err)
	}
	if code, _ := keyCall(t, w.url, key.Secret, "GET", "/api/v1/insights", ""); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	// Another project's secret key sees none of it.
	_, other, _ := w.s.Meta.CreateProject(ctx, "B", "UTC")
	if code, out := keyCall(t, w.url, other, "GET", "/api/v1/members", ""); code != 200 || strings.Contains(out, "pa@x.io") {
		t.Fatalf("B's key lists A's members: %d %s", code, out)
	}
}
