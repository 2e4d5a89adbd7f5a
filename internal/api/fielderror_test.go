package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBadRequestsNameTheirField: a 400 from an *insight.Error carries the
// field's path in the data as well as in the text ({"error", "field"}):
// queries (UI and secret-key API), saved insights (under "spec"), actions,
// cohorts and journey stages. Other 400s have no field.
func TestBadRequestsNameTheirField(t *testing.T) {
	w := newInviteWorld(t)
	w.s.Events = &specStore{}
	_, key, err := w.s.Meta.CreateProject(context.Background(), "B", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.s.Register(mux)
	api := func(path, body string) []byte {
		t.Helper()
		code, out := call(t, mux, key, "POST", path, body)
		if code != 400 {
			t.Fatalf("POST %s %s: %d %s, want 400", path, body, code, out)
		}
		return []byte(out)
	}
	rng := `"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"`
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	check := func(what string, out []byte, field string) {
		t.Helper()
		var e struct {
			Error string  `json:"error"`
			Field *string `json:"field"`
		}
		if err := json.Unmarshal(out, &e); err != nil {
			t.Fatalf("%s: %v in %s", what, err, out)
		}
		switch {
		case field == "" && e.Field != nil:
			t.Errorf("%s: field %q, want none (%s)", what, *e.Field, out)
		case field != "" && (e.Field == nil || *e.Field != field):
			t.Errorf("%s: %s, want field %q", what, out, field)
		case field != "" && field != "spec" && !strings.Contains(e.Error, `"`+strings.TrimPrefix(field, "spec.")+`"`):
			t.Errorf("%s: the message %q does not name %q", what, e.Error, field)
		}
	}
	for spec, field := range map[string]string{
		`{"kind":"funnel","steps":[{"event":"a"},{"event":""}],` + rng + `}`:                             "steps[1].event",
		`{"kind":"trend","series":[{"event":"a","filters":[{"property":"p","op":"nope"}]}],` + rng + `}`: "series[0].filters[0].op",
		`{"kind":"nope"}`: "kind",
		`[1]`:             "body",
	} {
		check("UI query "+spec, w.pa.do("POST", w.a+"/query", raw(spec), 400), field)
		check("API query "+spec, api("/api/v1/query", spec), field)
		inSpec := "spec." + field
		if field == "body" {
			inSpec = "spec" // the spec as a whole
		}
		check("insight "+spec, w.pa.do("POST", w.a+"/insights", map[string]any{"name": "n", "spec": raw(spec)}, 400), inSpec)
	}
	check("action", w.pa.do("POST", w.a+"/actions", map[string]any{"name": "n", "steps": []map[string]string{{"text": "Buy"}}}, 400), "steps[0].event")
	// Cohort ids are resolved when the query runs (not when it is saved).
	unknown := `{"kind":"trend","series":[{"event":"a"}],"filters":[{"type":"cohort","value":999999}],` + rng + `}`
	check("UI query of an unknown cohort", w.pa.do("POST", w.a+"/query", raw(unknown), 400), "filters[0].value")
	check("API action", api("/api/v1/actions", `{"name":"n","steps":[{"event":"x","selector":"a:hover"}]}`), "steps[0].selector")
	check("cohort", api("/api/v1/cohorts", `{"name":"n","definition":{}}`), "definition")
	check("journey stages", w.root.do("PUT", w.a+"/settings/journey", map[string]any{"stages": make([]map[string]any, 11)}, 400), "stages")
	check("insight without a name", w.pa.do("POST", w.a+"/insights", map[string]any{"name": "", "spec": raw(`{"kind":"trend"}`)}, 400), "")
}
