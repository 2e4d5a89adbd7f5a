package websdk

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/testutil"
)

// TestVendoredMatchesNPM: every embedded posthog-js file is byte for byte
// the file of the pinned npm package that test/ui installs (package.json
// pins posthog-js at PostHogJSVersion), surveys.js included, the bundle
// posthog-js lazy-loads for surveys. scripts/vendor-sdk.sh (make
// vendor-sdk) re-vendors them.
func TestVendoredMatchesNPM(t *testing.T) {
	pkg := filepath.Join("..", "..", "test", "ui", "node_modules", "posthog-js")
	raw, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		testutil.Missing(t, "needs test/ui/node_modules/posthog-js (scripts/test-deps.sh): %v", err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(raw, &p); err != nil || p.Version != PostHogJSVersion {
		t.Fatalf("test/ui installs posthog-js %q (%v), Journey vendors %s: pin the same release", p.Version, err, PostHogJSVersion)
	}
	names := assetNames()
	if !contains(names, "surveys.js") {
		t.Fatalf("surveys.js is not embedded (have %v)", names)
	}
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(pkg, "dist", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(asset(name).body, want) {
			t.Errorf("embedded %s differs from posthog-js %s's dist/%s: run scripts/vendor-sdk.sh", name, p.Version, name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSurveysBundlePaths: surveys.js is served where posthog-js 1.449
// asks for it (/static/surveys.js?v=<version> on its assets host, which
// is the api host for a self-hosted one) and at the versioned paths.
func TestSurveysBundlePaths(t *testing.T) {
	h := NewHandler(fakeProjects{}, nil)
	for _, path := range []string{"/static/surveys.js?v=" + PostHogJSVersion, "/static/surveys.js", "/static/" + PostHogJSVersion + "/surveys.js"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), asset("surveys.js").body) || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("GET %s: %d, %d bytes, CORS %q", path, w.Code, w.Body.Len(), w.Header().Get("Access-Control-Allow-Origin"))
		}
	}
	if !strings.Contains(string(asset("array.js").body), "/static/${i}.js?v=${t.version}") {
		t.Fatal("array.js no longer loads extensions from /static/<name>.js?v=<version>: check where posthog-js asks for surveys.js")
	}
}

type fakeProjects struct{}

func (fakeProjects) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	return 0, false, nil
}

// surveysMeta is a metadata store whose only active surveys are those of
// its field (the rest of meta.Store panics if called).
type surveysMeta struct {
	meta.Store
	active map[int64]int
	calls  int
}

func (m *surveysMeta) ActiveSurveys(ctx context.Context, projectID int64, at time.Time) ([]meta.Survey, error) {
	m.calls++
	return make([]meta.Survey, m.active[projectID]), nil
}

// TestSurveysCache: whether a project has an active survey is read once
// per ttl.
func TestSurveysCache(t *testing.T) {
	m := &surveysMeta{active: map[int64]int{1: 2}}
	c := newSurveysCache(m, time.Minute, 10)
	now := time.Now()
	c.now = func() time.Time { return now }
	if !c.active(context.Background(), 1) || c.active(context.Background(), 2) || !c.active(context.Background(), 1) || m.calls != 2 {
		t.Fatalf("active = wrong answers or %d store reads, want 2", m.calls)
	}
	m.active[2] = 1
	now = now.Add(2 * time.Minute)
	if !c.active(context.Background(), 2) || m.calls != 3 {
		t.Fatalf("after the ttl: %d reads", m.calls)
	}
}

// TestRemoteConfigSurveys: config.js, config and /flags?config=true say
// surveys exist once the project has an active survey (a draft does not
// count), so posthog-js loads surveys.js and asks /api/surveys/.
func TestRemoteConfigSurveys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	read := func() (config any, js bool, flags any) {
		c := decodeMap(t, f.do("GET", "/array/"+f.token+"/config", nil).Body.Bytes())
		script := f.do("GET", "/array/"+f.token+"/config.js", nil).Body.String()
		fl := decodeMap(t, f.do("POST", "/flags/?v=2&config=true", []byte(`{"token":"`+f.token+`","distinct_id":"d"}`)).Body.Bytes())
		return c["surveys"], strings.Contains(script, `"surveys":true`), fl["surveys"]
	}
	if _, err := f.meta.CreateSurvey(ctx, meta.Survey{ProjectID: f.id, Name: "draft"}); err != nil {
		t.Fatal(err)
	}
	if c, js, fl := read(); c != false || js || fl != false {
		t.Fatalf("with a draft only: config %v, config.js %v, flags %v; want false", c, js, fl)
	}
	if _, err := f.meta.CreateSurvey(ctx, meta.Survey{ProjectID: f.id, Name: "NPS", Status: meta.SurveyRunning, StartDate: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.h.surveys.now = func() time.Time { return time.Now().Add(settingsTTL) } // past the cached answer
	if c, js, fl := read(); c != true || !js || fl != true {
		t.Fatalf("with a running survey: config %v, config.js %v, flags %v; want true", c, js, fl)
	}
}
