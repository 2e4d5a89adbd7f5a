package websdk_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/api"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/websdk"
)

type tokens struct{ m meta.Store }

func (t tokens) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	p, err := t.m.ProjectByToken(ctx, token)
	if err != nil {
		return 0, false, nil
	}
	return p.ID, true, nil
}

type settingsEnv struct {
	t       *testing.T
	m       *sqlite.Store
	mux     *http.ServeMux
	project meta.Project
	secret  string
}

func newSettingsEnv(t *testing.T) *settingsEnv {
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, secret, err := m.CreateProject(context.Background(), "web", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&api.Server{Meta: m}).Register(mux)
	return &settingsEnv{t: t, m: m, mux: mux, project: p, secret: secret}
}

func (e *settingsEnv) call(method, path, body string, header ...string) (int, map[string]any) {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

// config reads the project's remote config from a fresh websdk handler
// (no cached settings), as posthog-js would.
func (e *settingsEnv) config() map[string]any {
	w := httptest.NewRecorder()
	websdk.NewHandler(tokens{e.m}, e.m).ServeHTTP(w, httptest.NewRequest("GET", "/array/"+e.project.Token+"/config", nil))
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 {
		e.t.Fatalf("config: %d %s", w.Code, w.Body.String())
	}
	return out
}

// session logs a user of the given role in (a session row, as login makes).
func (e *settingsEnv) session(email, role string) []string {
	ctx := context.Background()
	u, err := e.m.CreateUser(ctx, email, "x", false)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.m.SetMember(ctx, e.project.ID, u.ID, role); err != nil {
		e.t.Fatal(err)
	}
	token, csrf := meta.NewSessionToken(), meta.NewCSRFToken()
	if err := e.m.CreateSession(ctx, meta.HashSecret(token), u.ID, csrf, time.Now().Add(time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	return []string{"Cookie", "journey_session=" + token, "X-CSRF-Token", csrf}
}

func TestSDKSettingsAPI(t *testing.T) {
	e := newSettingsEnv(t)
	auth := []string{"Authorization", "Bearer " + e.secret}
	if code, got := e.call("GET", "/api/v1/settings/sdk", "", auth...); code != 200 || got["autocapture"] != true || got["ip"] != "keep" {
		t.Fatalf("defaults: %d %v", code, got)
	}
	if c := e.config(); c["autocapture_opt_out"] != false {
		t.Fatalf("default config autocapture_opt_out %v", c["autocapture_opt_out"])
	}
	code, got := e.call("PUT", "/api/v1/settings/sdk", `{"autocapture":false,"heatmaps":true,"ip":"truncate"}`, auth...)
	if code != 200 || got["autocapture"] != false || got["heatmaps"] != true || got["ip"] != "truncate" || got["dead_clicks"] != true {
		t.Fatalf("PUT: %d %v", code, got)
	}
	if _, got := e.call("GET", "/api/v1/settings/sdk", "", auth...); got["autocapture"] != false || got["ip"] != "truncate" {
		t.Fatalf("read back: %v", got)
	}
	if c := e.config(); c["autocapture_opt_out"] != true || c["heatmaps"] != true {
		t.Fatalf("config after PUT: autocapture_opt_out %v heatmaps %v", c["autocapture_opt_out"], c["heatmaps"])
	}
	for body, want := range map[string]string{
		`{"ip":"mask"}`:        `invalid field "ip"`,
		`{"autocapure":false}`: "unknown field",
		`{"autocapture":"no"}`: "cannot decode",
	} {
		if code, got := e.call("PUT", "/api/v1/settings/sdk", body, auth...); code != 400 || !strings.Contains(got["error"].(string), want) {
			t.Errorf("PUT %s: %d %v, want 400 naming %q", body, code, got, want)
		}
	}
	if code, _ := e.call("GET", "/api/v1/settings/sdk", ""); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _ := e.call("GET", "/api/v1/settings/sdk", "", "Authorization", "Bearer "+e.project.Token); code != 401 {
		t.Errorf("project token as key: %d, want 401", code)
	}
}

func TestSDKSettingsUI(t *testing.T) {
	e := newSettingsEnv(t)
	admin, viewer := e.session("admin@example.com", meta.RoleAdmin), e.session("viewer@example.com", meta.RoleViewer)
	base := "/ui/api/projects/" + strconv.FormatInt(e.project.ID, 10)
	code, got := e.call("GET", base+"/settings", "", viewer...)
	if code != 200 {
		t.Fatalf("settings: %d %v", code, got)
	}
	snippet, _ := got["snippet"].(string)
	if !strings.Contains(snippet, "/static/loader.js?project_token="+e.project.Token) || !strings.Contains(snippet, `data-api-host="http://example.com"`) {
		t.Errorf("snippet:\n%s", snippet)
	}
	if v := got["sdk_versions"].(map[string]any); v["posthog-js"] != websdk.PostHogJSVersion || v["@segment/analytics-next"] != websdk.SegmentVersion {
		t.Errorf("sdk_versions %v", v)
	}
	if sdk := got["sdk"].(map[string]any); sdk["autocapture"] != true {
		t.Errorf("sdk %v", sdk)
	}
	if code, _ := e.call("PUT", base+"/settings/sdk", `{"autocapture":false,"ip":"drop"}`, viewer...); code != http.StatusForbidden {
		t.Errorf("viewer PUT: %d, want 403", code)
	}
	if code, got := e.call("PUT", base+"/settings/sdk", `{"autocapture":false,"ip":"drop"}`, admin...); code != 200 || got["ip"] != "drop" {
		t.Fatalf("admin PUT: %d %v", code, got)
	}
	if code, got := e.call("PUT", base+"/settings/sdk", `{"ip":""}`, admin...); code != 400 || !strings.Contains(got["error"].(string), `invalid field "ip"`) {
		t.Errorf("admin PUT of a bad ip: %d %v", code, got)
	}
	noCSRF := admin[:2]
	if code, _ := e.call("PUT", base+"/settings/sdk", `{"ip":"keep"}`, noCSRF...); code != http.StatusForbidden {
		t.Errorf("PUT without CSRF token: %d, want 403", code)
	}
	if _, got := e.call("GET", base+"/settings", "", viewer...); got["sdk"].(map[string]any)["ip"] != "drop" {
		t.Errorf("settings after PUT: %v", got["sdk"])
	}
	if c := e.config(); c["autocapture_opt_out"] != true {
		t.Errorf("config after the UI's PUT: %v", c["autocapture_opt_out"])
	}
}
