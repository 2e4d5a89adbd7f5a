package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/journey-dev/journey/internal/app"
)

// VoC channels go through the campaigns' SSRF guard when saved: without
// --webhook-allow-private a loopback or private webhook target is refused
// with its field named, and a public one is taken.
func TestFeedbackNotifyGuard(t *testing.T) {
	a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: e2eAdminKey, NoSync: true, Campaigns: true,
		PublicURL: "https://journey.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	x := &e2e{t: t, a: a, url: srv.URL}
	x.createProject()
	x.refusedPut("/api/v1/feedback/notify", `{"customers":{"type":"webhook","url":"http://127.0.0.1:9/hook"}}`, "customers.url")
	x.refusedPut("/api/v1/feedback/notify", `{"alerts":{"type":"webhook","url":"http://10.0.0.7/hook"}}`, "alerts.url")
	x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{
		"customers": map[string]any{"type": "webhook", "url": "https://hooks.example.com/voc"},
	}, http.StatusOK)
}
