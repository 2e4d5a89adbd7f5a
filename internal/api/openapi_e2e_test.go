package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/journey-dev/journey/internal/api/openapi"
)

// docSchemas compiles the documented answers of the OpenAPI document
// (its schemas are JSON Schema 2020-12, as OpenAPI 3.1's are), with
// formats such as date-time asserted.
type docSchemas struct {
	t *testing.T
	c *jsonschema.Compiler
}

func newDocSchemas(t *testing.T, doc []byte) *docSchemas {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("openapi.json", v); err != nil {
		t.Fatal(err)
	}
	return &docSchemas{t, c}
}

// pointer escapes a JSON pointer token.
func pointer(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// check validates body against the schema documented for pattern's
// answer status.
func (d *docSchemas) check(pattern string, status int, body []byte) error {
	method, path, _ := strings.Cut(pattern, " ")
	loc := fmt.Sprintf("openapi.json#/paths/%s/%s/responses/%d/content/application~1json/schema",
		pointer(openapi.OpenAPIPath(path)), strings.ToLower(method), status)
	sch, err := d.c.Compile(loc)
	if err != nil {
		d.t.Fatalf("%s %d: no documented schema: %v", pattern, status, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		d.t.Fatalf("%s answered no JSON: %v: %s", pattern, err, body)
	}
	return sch.Validate(v)
}

// TestOpenAPIResponses (issue 17, checked by): real answers of the main
// routes, from the embedded stack with events loaded, match the schemas
// the served document gives them; and an answer that breaks its schema is
// caught, so the check can fail.
func TestOpenAPIResponses(t *testing.T) {
	x := newE2E(t)
	now := time.Now().UTC()
	x.send([]event{
		ev("$pageview", "ann", now.Add(-time.Hour), map[string]any{"$set": map[string]any{"email": "ann@x.io"}}),
		ev("signup", "ann", now.Add(-50*time.Minute), nil),
		ev("$pageview", "bob", now.Add(-30*time.Minute), nil),
	})
	doc := x.do("GET", "/api/v1/openapi.json", "", nil, 200)
	d := newDocSchemas(t, doc)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	from, to := now.Add(-48*time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	trend := `{"kind":"trend","series":[{"event":"$pageview","math":"dau"}],"interval":"day","from":"` + from + `","to":"` + to + `"}`

	type call struct {
		pattern, path string
		body          any
		status        int
	}
	first := []call{
		{"POST /api/v1/flags", "/api/v1/flags", raw(`{"key":"beta","name":"Beta","active":true,"filters":{"groups":[{"properties":[],"rollout_percentage":50}],"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":50}]}}}`), 201},
		{"GET /api/v1/flags", "/api/v1/flags", nil, 200},
		{"POST /api/v1/campaigns", "/api/v1/campaigns", reminderBody("https://hooks.example.com/x", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "1h", 0.1), 201},
		{"GET /api/v1/campaigns/{id}/report", "/api/v1/campaigns/1/report", nil, 200},
		{"POST /api/v1/feedback", "/api/v1/feedback", map[string]any{"text": "Invoice export fails", "distinct_id": "ann", "source": "api"}, 201},
		{"POST /api/v1/surveys", "/api/v1/surveys", raw(`{"name":"NPS","type":"popover","questions":[{"id":"nps","type":"rating","display":"number","scale":10,"question":"How likely?"}]}`), 201},
		{"POST /api/v1/query", "/api/v1/query", raw(trend), 200},
		{"POST /api/v1/query", "/api/v1/query", raw(`{"kind":"funnel","steps":[{"event":"$pageview"},{"event":"signup"}],"window":"24h","from":"` + from + `","to":"` + to + `"}`), 200},
		{"POST /api/v1/insights", "/api/v1/insights", raw(`{"name":"Views","spec":` + trend + `}`), 201},
		{"GET /api/v1/insights", "/api/v1/insights", nil, 200},
		{"POST /api/v1/dashboards", "/api/v1/dashboards", raw(`{"name":"Growth","tiles":[{"insight_id":1}]}`), 201},
		{"GET /api/v1/persons", "/api/v1/persons?q=ann", nil, 200},
		{"GET /api/v1/persons/by-distinct-id/{id}", "/api/v1/persons/by-distinct-id/ann", nil, 200},
		{"GET /api/v1/events", "/api/v1/events", nil, 200},
		{"GET /api/v1/properties", "/api/v1/properties", nil, 200},
		{"POST /api/v1/cohorts", "/api/v1/cohorts", raw(`{"name":"Signed up","definition":{"behavior":{"event":"signup","days":7}}}`), 201},
		{"POST /api/v1/experiments", "/api/v1/experiments", raw(`{"name":"Checkout","flag_key":"checkout-v2","variants":[{"key":"control","weight":1},{"key":"one-page","weight":1}],"metrics":{"primary":[{"kind":"conversion","event":"signup"}]}}`), 201},
		{"GET /api/v1/settings", "/api/v1/settings", nil, 200},
		{"GET /api/v1/audit", "/api/v1/audit", nil, 200},
		{"GET /api/v1/projects", "/api/v1/projects", nil, 200},
	}
	for _, c := range first {
		key := x.key
		if c.pattern == "GET /api/v1/projects" {
			key = e2eAdminKey
		}
		out := x.do(strings.SplitN(c.pattern, " ", 2)[0], c.path, key, c.body, c.status)
		if err := d.check(c.pattern, c.status, out); err != nil {
			t.Errorf("%s %s: the answer does not match the document: %v\n%s", c.pattern, c.path, err, out)
		}
	}
	// Errors have the documented shape too.
	out := x.do("POST", "/api/v1/flags", x.key, raw(`{"key":"has space"}`), 400)
	if err := d.check("POST /api/v1/flags", 400, out); err != nil {
		t.Errorf("a refused flag: %v\n%s", err, out)
	}
	// The check fails for an answer that breaks its schema.
	for pattern, bad := range map[string]string{
		"POST /api/v1/flags":                `{"id":1,"key":"beta","name":"Beta","active":"yes","version":1,"filters":{"groups":[]},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`,
		"GET /api/v1/campaigns/{id}/report": `{"campaign_id":1}`,
		"POST /api/v1/query":                `{"kind":"trend","series":[{"label":"x","points":[{"t":"2026-01-01","value":"many"}]}]}`,
		"POST /api/v1/surveys":              `{"id":1,"name":"NPS","type":"popover","status":"draft","questions":[],"version":1,"created_at":"yesterday","updated_at":"2026-01-01T00:00:00Z"}`,
	} {
		status := 200
		if strings.HasPrefix(pattern, "POST /api/v1/flags") || strings.HasPrefix(pattern, "POST /api/v1/surveys") {
			status = 201
		}
		if err := d.check(pattern, status, []byte(bad)); err == nil {
			t.Errorf("%s: %s passed its schema", pattern, bad)
		}
	}
}
