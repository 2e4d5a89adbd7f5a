package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

type defPage struct {
	Results []struct {
		Name         string    `json:"name"`
		Volume       int64     `json:"volume"`
		FirstSeen    time.Time `json:"first_seen"`
		LastSeen     time.Time `json:"last_seen"`
		PropertyType string    `json:"property_type"`
	} `json:"results"`
	Count   int   `json:"count"`
	Dropped int64 `json:"dropped"`
}

// definitionsWritten waits for the loader's definitions writer.
func (x *e2e) definitionsWritten() {
	x.t.Helper()
	select {
	case <-x.a.Loader.DefinitionsIdle():
	case <-time.After(time.Minute):
		x.t.Fatal("definitions not written within a minute")
	}
}

func (x *e2e) defs(path string) defPage {
	x.t.Helper()
	var p defPage
	x.decode(x.do("GET", path, x.key, nil, 200), &p)
	return p
}

// TestDefinitionsAtIngest (issue 17 item 6): events captured through
// /batch/ become event and property definitions with their types, volumes
// and first/last seen, in the documented shape; the property picker
// answers every key from them; bad parameters name their field; and a
// project's event names stop at the cap, the rest counted as dropped.
func TestDefinitionsAtIngest(t *testing.T) {
	x := newE2E(t)
	t0 := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	x.send([]event{
		ev("$pageview", "ann", t0, map[string]any{"plan": "pro", "n": 3, "ok": true, "when": "2024-01-02T03:04:05Z", "tags": []any{"a"},
			"$set": map[string]any{"email": "ann@x.io", "age": 41}}),
		ev("signup", "ann", t0.Add(10*time.Minute), map[string]any{"plan": "free"}),
		ev("$pageview", "bob", t0.Add(time.Hour), map[string]any{"n": 4}),
	})
	x.definitionsWritten()

	d := newDocSchemas(t, x.do("GET", "/api/v1/openapi.json", "", nil, 200))
	body := x.do("GET", "/api/v1/event_definitions", x.key, nil, 200)
	if err := d.check("GET /api/v1/event_definitions", 200, body); err != nil {
		t.Errorf("event_definitions does not match the document: %v\n%s", err, body)
	}
	var evs defPage
	x.decode(body, &evs)
	if evs.Count != 2 || len(evs.Results) != 2 || evs.Results[0].Name != "$pageview" || evs.Results[0].Volume != 2 ||
		!evs.Results[0].FirstSeen.Equal(t0) || !evs.Results[0].LastSeen.Equal(t0.Add(time.Hour)) ||
		evs.Results[1].Name != "signup" || evs.Results[1].Volume != 1 || evs.Results[0].PropertyType != "" {
		t.Fatalf("event definitions = %s", body)
	}
	if p := x.defs("/api/v1/event_definitions?search=SIGN"); p.Count != 1 || p.Results[0].Name != "signup" {
		t.Fatalf("search SIGN = %+v", p)
	}

	body = x.do("GET", "/api/v1/property_definitions?type=event", x.key, nil, 200)
	if err := d.check("GET /api/v1/property_definitions", 200, body); err != nil {
		t.Errorf("property_definitions does not match the document: %v\n%s", err, body)
	}
	var props defPage
	x.decode(body, &props)
	types, volumes := map[string]string{}, map[string]int64{}
	for _, r := range props.Results {
		types[r.Name], volumes[r.Name] = r.PropertyType, r.Volume
	}
	for k, want := range map[string]string{"plan": "String", "n": "Numeric", "ok": "Boolean", "when": "DateTime", "tags": "Array"} {
		if types[k] != want {
			t.Errorf("type of %q = %q, want %q (%s)", k, types[k], want, body)
		}
	}
	if volumes["plan"] != 2 || volumes["n"] != 2 || volumes["ok"] != 1 {
		t.Errorf("volumes = %v, want plan 2, n 2, ok 1", volumes)
	}
	persons := x.defs("/api/v1/property_definitions?type=person")
	ptypes := map[string]string{}
	for _, r := range persons.Results {
		ptypes[r.Name] = r.PropertyType
	}
	if ptypes["email"] != "String" || ptypes["age"] != "Numeric" {
		t.Fatalf("person property definitions = %+v", persons)
	}

	// The picker lists every key from the definitions, with its type.
	var keys []map[string]any
	x.decode(x.do("GET", "/api/v1/properties", x.key, nil, 200), &keys)
	picked := map[string]any{}
	for _, k := range keys {
		picked[k["property"].(string)] = k["property_type"]
	}
	if len(keys) != len(props.Results) || picked["when"] != "DateTime" {
		t.Fatalf("picker keys = %v, want the %d definitions", keys, len(props.Results))
	}

	for path, field := range map[string]string{
		"/api/v1/property_definitions?type=group": "type",
		"/api/v1/event_definitions?limit=0":       "limit",
		"/api/v1/event_definitions?offset=-1":     "offset",
	} {
		var e struct{ Error, Field string }
		x.decode(x.do("GET", path, x.key, nil, 400), &e)
		if e.Field != field || e.Error == "" {
			t.Errorf("GET %s = %+v, want an error naming %q", path, e, field)
		}
	}
	x.do("GET", "/api/v1/event_definitions", "", nil, 401)

	// The cap: 2 names stored, 10 000 more sent; 9 998 fit.
	var many []event
	for i := range meta.MaxDefinitionsPerKind {
		many = append(many, ev(fmt.Sprintf("gen_%05d", i), "bot", t0, nil))
	}
	x.send(many)
	x.definitionsWritten()
	capped := x.defs("/api/v1/event_definitions?limit=1")
	if capped.Count != meta.MaxDefinitionsPerKind || capped.Dropped != 2 {
		t.Fatalf("after the cap: count %d, dropped %d; want %d and 2", capped.Count, capped.Dropped, meta.MaxDefinitionsPerKind)
	}
	// Stored names still count past the cap.
	x.send([]event{ev("signup", "bob", t0.Add(2*time.Hour), nil)})
	x.definitionsWritten()
	if p := x.defs("/api/v1/event_definitions?search=signup"); p.Count != 1 || p.Results[0].Volume != 2 {
		t.Fatalf("signup past the cap = %+v, want volume 2", p)
	}
}
