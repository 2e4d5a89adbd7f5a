package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/api/openapi"
)

// TestOpenAPIRoutes (issue 17, checked by): every route registered
// outside the UI's own API, by this session or any later one, is in the
// OpenAPI document, and every documented route is registered; the
// document served is OpenAPI 3.1 with an operation for each, every schema
// it names defined.
func TestOpenAPIRoutes(t *testing.T) {
	s, h := testServer(t)
	doc, err := openapi.Routes()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, r := range doc {
		documented[r.Pattern] = true
	}
	registered := map[string]bool{}
	for _, p := range s.routes.list() {
		_, path, ok := strings.Cut(p, " ")
		if !ok {
			path = p
		}
		if strings.HasPrefix(path, "/ui/api/") {
			continue // the UI's API: its project routes are the twins of /api/v1's (TestUIRoutesHaveTwins)
		}
		registered[p] = true
		if !documented[p] {
			t.Errorf("%s is registered but not in internal/api/openapi/routes.txt: document it", p)
		}
	}
	for _, r := range doc {
		if !registered[r.Pattern] {
			t.Errorf("routes.txt line %d documents %s, which is not registered", r.Line, r.Pattern)
		}
	}
	if len(registered) < 140 {
		t.Fatalf("only %d routes registered outside /ui/api/", len(registered))
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Header())
	}
	var served struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
		Comp    struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil || served.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v, openapi %q", err, served.OpenAPI)
	}
	ops := 0
	for path, item := range served.Paths {
		for method, op := range item {
			ops++
			if op["summary"] == "" || op["responses"] == nil {
				t.Errorf("%s %s has no summary or responses", method, path)
			}
		}
	}
	if ops != len(doc) {
		t.Fatalf("%d operations served, %d documented", ops, len(doc))
	}
	for _, ref := range refs(rec.Body.String()) {
		if served.Comp.Schemas[ref] == nil {
			t.Errorf("the document refers to schema %q, which it does not define", ref)
		}
	}
	// A route the mux serves only by its exact pattern is found there.
	mux := h.(*http.ServeMux)
	for _, r := range doc {
		if r.Method == "*" || strings.Contains(r.Path, "{") {
			continue
		}
		_, got := mux.Handler(httptest.NewRequest(r.Method, r.Path, nil))
		if got != r.Pattern {
			t.Errorf("%s is served by %q", r.Pattern, got)
		}
	}
}

func refs(doc string) []string {
	var out []string
	for rest := doc; ; {
		i := strings.Index(rest, `"#/components/schemas/`)
		if i < 0 {
			return out
		}
		rest = rest[i+len(`"#/components/schemas/`):]
		j := strings.IndexByte(rest, '"')
		out = append(out, rest[:j])
	}
}
