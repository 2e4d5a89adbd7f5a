package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

const betaFlag = `{"key":"beta","name":"Beta","active":true,"ensure_experience_continuity":false,
 "filters":{"groups":[{"properties":[{"key":"plan","value":["pro"],"operator":"exact","type":"person"}],"rollout_percentage":45,"variant":null}],
  "multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},
  "payloads":{"test":"{\"color\":\"red\"}"}}}`

type apiFlag struct {
	ID      int64  `json:"id"`
	Key     string `json:"key"`
	Name    string `json:"name"`
	Active  bool   `json:"active"`
	Version int    `json:"version"`
	Filters struct {
		Groups []struct {
			RolloutPercentage *float64 `json:"rollout_percentage"`
		} `json:"groups"`
		Multivariate *struct {
			Variants []struct {
				Key string `json:"key"`
			} `json:"variants"`
		} `json:"multivariate"`
		Payloads map[string]string `json:"payloads"`
	} `json:"filters"`
	EnsureExperienceContinuity bool  `json:"ensure_experience_continuity"`
	CreatedBy                  int64 `json:"created_by"`
	UpdatedBy                  int64 `json:"updated_by"`
}

func decodeFlag(t *testing.T, out string) apiFlag {
	t.Helper()
	var f apiFlag
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("not a flag: %v: %s", err, out)
	}
	return f
}

// TestFlagsAPIValidation: a bad body is a 400 naming the field (the
// first in "field", each in "errors"); a taken key is a 409 naming "key".
func TestFlagsAPIValidation(t *testing.T) {
	s, h := testServer(t)
	_, key, _ := s.Meta.CreateProject(context.Background(), "a", "UTC")
	for body, field := range map[string]string{
		`{"name":"n"}`:               "key",
		`{"key":"has space"}`:        "key",
		`{"key":"k","colour":"red"}`: "colour",
		`{"key":"k","active":"yes"}`: "active",
		`{"key":"k","filters":{"groups":[{"rollout_percentage":101}]}}`:                                                            "filters.groups[0].rollout_percentage",
		`{"key":"k","filters":{"groups":[{"properties":[{"key":"plan","value":"x","operator":"near"}]}]}}`:                         "filters.groups[0].properties[0].operator",
		`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a","rollout_percentage":60}]}}}`:                                "filters.multivariate.variants",
		`{"key":"k","filters":{"groups":[{"variant":"nope"}],"multivariate":{"variants":[{"key":"a","rollout_percentage":100}]}}}`: "filters.groups[0].variant",
		`{"key":"k","filters":{"payloads":{"true":"{not json"}}}`:                                                                  "filters.payloads.true",
		`{"key":"k","filters":{"groups":[{"properties":[{"key":"x","type":"cohort","value":"abc"}]}]}}`:                            "filters.groups[0].properties[0].value",
		`{"key":"k","name":"a\u0000b"}`: "name",
		`[1]`:                           "body",
		`{"key":`:                       "body",
	} {
		code, out := call(t, h, key, "POST", "/api/v1/flags", body)
		var e struct {
			Error  string `json:"error"`
			Field  string `json:"field"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		json.Unmarshal([]byte(out), &e)
		if code != 400 || e.Field != field || e.Error == "" {
			t.Errorf("POST %s: %d %s, want 400 naming %s", body, code, out, field)
		}
	}
	// A cohort filter names one of the project's own cohorts.
	pb, _, _ := s.Meta.CreateProject(context.Background(), "b", "UTC")
	theirs, err := s.Meta.CreateCohort(context.Background(), pb.ID, "theirs", []byte(`{"distinct_ids":["u"]}`))
	if err != nil {
		t.Fatal(err)
	}
	cohortFlag := func(id int64) string {
		return fmt.Sprintf(`{"key":"c","filters":{"groups":[{"properties":[{"key":"id","type":"cohort","value":%d}]}]}}`, id)
	}
	if code, out := call(t, h, key, "POST", "/api/v1/flags", cohortFlag(theirs.ID)); code != 400 || !strings.Contains(out, `"field":"filters.groups[0].properties[0].value"`) {
		t.Errorf("another project's cohort: %d %s, want 400", code, out)
	}
	pa, _ := s.Meta.ProjectBySecret(context.Background(), key)
	ours, _ := s.Meta.CreateCohort(context.Background(), pa.ID, "ours", []byte(`{"distinct_ids":["u"]}`))
	if code, out := call(t, h, key, "POST", "/api/v1/flags", cohortFlag(ours.ID)); code != 201 {
		t.Errorf("own cohort: %d %s", code, out)
	}
	if code, out := call(t, h, key, "POST", "/api/v1/flags", betaFlag); code != 201 {
		t.Fatalf("create: %d %s", code, out)
	}
	code, out := call(t, h, key, "POST", "/api/v1/flags", `{"key":"beta"}`)
	if code != http.StatusConflict || !strings.Contains(out, `"field":"key"`) {
		t.Errorf("duplicate key: %d %s, want 409 naming key", code, out)
	}
	big := `{"key":"k","name":"` + strings.Repeat("x", maxFlagBody) + `"}`
	if code, _ := call(t, h, key, "POST", "/api/v1/flags", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over %d bytes: %d, want 413", maxFlagBody, code)
	}
	if code, _ := call(t, h, "nope", "GET", "/api/v1/flags", ""); code != 401 {
		t.Errorf("unknown key: %d, want 401", code)
	}
}

// TestFlagsAPICRUD: create answers the flag with its id; PATCH merges
// top-level fields (filters kept unless given), checks an optional
// version, refuses a bad merge naming the field; history lists who, when
// and what; DELETE frees the key; another project's key reaches none of
// it.
func TestFlagsAPICRUD(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	_, keyA, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	_, keyB, _ := s.Meta.CreateProject(ctx, "b", "UTC")

	code, out := call(t, h, keyA, "POST", "/api/v1/flags", betaFlag)
	if code != 201 {
		t.Fatalf("create: %d %s", code, out)
	}
	f := decodeFlag(t, out)
	if f.ID == 0 || f.Key != "beta" || f.Version != 1 || !f.Active || f.Filters.Multivariate == nil || len(f.Filters.Multivariate.Variants) != 2 ||
		f.Filters.Payloads["test"] != `{"color":"red"}` || *f.Filters.Groups[0].RolloutPercentage != 45 {
		t.Fatalf("created %s", out)
	}
	path := fmt.Sprintf("/api/v1/flags/%d", f.ID)
	if code, got := call(t, h, keyA, "GET", path, ""); code != 200 || decodeFlag(t, got).Key != "beta" {
		t.Fatalf("get: %d %s", code, got)
	}

	// Tenant isolation: B sees, changes and deletes nothing of A's.
	for _, m := range []struct{ method, path, body string }{
		{"GET", path, ""}, {"PATCH", path, `{"name":"stolen"}`}, {"DELETE", path, ""}, {"GET", path + "/versions", ""},
	} {
		if code, out := call(t, h, keyB, m.method, m.path, m.body); code != 404 {
			t.Errorf("project B %s %s: %d %s, want 404", m.method, m.path, code, out)
		}
	}
	if code, out := call(t, h, keyB, "GET", "/api/v1/flags", ""); code != 200 || strings.TrimSpace(out) != "[]" {
		t.Errorf("project B lists %d %s", code, out)
	}
	// B may have its own flag of the same key.
	if code, out := call(t, h, keyB, "POST", "/api/v1/flags", `{"key":"beta"}`); code != 201 {
		t.Errorf("project B's own beta: %d %s", code, out)
	}

	code, out = call(t, h, keyA, "PATCH", path, `{"name":"Beta 2","active":false}`)
	if g := decodeFlag(t, out); code != 200 || g.Name != "Beta 2" || g.Active || g.Version != 2 || g.Filters.Multivariate == nil || *g.Filters.Groups[0].RolloutPercentage != 45 {
		t.Fatalf("patch name: %d %s", code, out)
	}
	if code, out := call(t, h, keyA, "PATCH", path, `{"version":1,"active":true}`); code != http.StatusConflict || !strings.Contains(out, `"field":"version"`) {
		t.Errorf("stale version: %d %s, want 409 naming version", code, out)
	}
	if code, out := call(t, h, keyA, "PATCH", path, `{"version":2,"filters":{"groups":[{"rollout_percentage":100}]}}`); code != 200 {
		t.Fatalf("patch filters at version 2: %d %s", code, out)
	} else if g := decodeFlag(t, out); g.Filters.Multivariate != nil || g.Version != 3 || g.Name != "Beta 2" {
		t.Errorf("filters are replaced whole: %s", out)
	}
	for body, field := range map[string]string{
		`{"filters":{"groups":[{"rollout_percentage":-1}]}}`: "filters.groups[0].rollout_percentage",
		`{"key":"a b"}`:   "key",
		`{"bogus":1}`:     "bogus",
		`{"version":"x"}`: "version",
		`{"id":9}`:        "id",
		`"name"`:          "body",
	} {
		if code, out := call(t, h, keyA, "PATCH", path, body); code != 400 || !strings.Contains(out, `"field":"`+field+`"`) {
			t.Errorf("PATCH %s: %d %s, want 400 naming %s", body, code, out, field)
		}
	}
	code, out = call(t, h, keyA, "POST", "/api/v1/flags", `{"key":"other"}`)
	other := decodeFlag(t, out)
	if code, out := call(t, h, keyA, "PATCH", fmt.Sprintf("/api/v1/flags/%d", other.ID), `{"key":"beta"}`); code != http.StatusConflict {
		t.Errorf("renaming onto a taken key: %d %s, want 409", code, out)
	}
	if code, out := call(t, h, keyA, "GET", "/api/v1/flags", ""); code != 200 || !strings.Contains(out, `"key":"beta"`) || !strings.Contains(out, `"key":"other"`) {
		t.Errorf("list: %d %s", code, out)
	}

	if code, _ := call(t, h, keyA, "DELETE", path, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := call(t, h, keyA, "GET", path, ""); code != 404 {
		t.Errorf("deleted flag: %d, want 404", code)
	}
	if code, _ := call(t, h, keyA, "DELETE", path, ""); code != 404 {
		t.Errorf("deleted twice: %d, want 404", code)
	}
	code, out = call(t, h, keyA, "GET", path+"/versions", "")
	var history []struct {
		Version int    `json:"version"`
		Action  string `json:"action"`
		UserID  int64  `json:"user_id"`
		At      string `json:"at"`
		Name    string `json:"name"`
		Active  bool   `json:"active"`
		Filters struct {
			Groups []any `json:"groups"`
		} `json:"filters"`
	}
	if err := json.Unmarshal([]byte(out), &history); code != 200 || err != nil {
		t.Fatalf("versions: %d %s", code, out)
	}
	var actions []string
	for _, v := range history {
		actions = append(actions, fmt.Sprintf("%d:%s:%s:%v", v.Version, v.Action, v.Name, v.Active))
		if v.At == "" || v.UserID != 0 {
			t.Errorf("version %d: at %q user %d (a secret key is user 0)", v.Version, v.At, v.UserID)
		}
	}
	if got, want := strings.Join(actions, " "), "1:created:Beta:true 2:updated:Beta 2:false 3:updated:Beta 2:false 4:deleted:Beta 2:false"; got != want {
		t.Errorf("history %s, want %s", got, want)
	}
	// The key is free again.
	if code, out := call(t, h, keyA, "POST", "/api/v1/flags", `{"key":"beta"}`); code != 201 {
		t.Errorf("reuse of a deleted key: %d %s", code, out)
	}
	for _, p := range []string{"/api/v1/flags/x", "/api/v1/flags/99999"} {
		if code, _ := call(t, h, keyA, "GET", p, ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}

// TestFlagsAPIUI: the UI session reaches the same flags by project,
// members change them, viewers only read, and the history names the user.
func TestFlagsAPIUI(t *testing.T) {
	w := newInviteWorld(t)
	base := w.a + "/flags"
	var f apiFlag
	var body map[string]any
	json.Unmarshal([]byte(betaFlag), &body)
	if err := json.Unmarshal(w.pa.do("POST", base, body, 201), &f); err != nil || f.ID == 0 {
		t.Fatalf("UI create: %v %+v", err, f)
	}
	w.pa.do("PATCH", fmt.Sprintf("%s/%d", base, f.ID), map[string]any{"name": "from the UI"}, 200)
	var history []struct {
		Action string `json:"action"`
		UserID int64  `json:"user_id"`
	}
	json.Unmarshal(w.pa.do("GET", fmt.Sprintf("%s/%d/versions", base, f.ID), nil, 200), &history)
	if len(history) != 2 || history[0].UserID == 0 || history[0].UserID != history[1].UserID {
		t.Errorf("UI history %+v, want two entries by the project admin", history)
	}
	w.eve.do("GET", base, nil, 404) // not a member
	if err := w.s.Meta.SetMember(context.Background(), w.projectID, w.annID, "viewer"); err != nil {
		t.Fatal(err)
	}
	w.ann.do("GET", base, nil, 200)
	w.ann.do("POST", base, map[string]any{"key": "x"}, 403)

	w.pa.do("PUT", base+"/group_types", map[string]string{"0": "company", "1": "team"}, 200)
	if got := string(w.ann.do("GET", base+"/group_types", nil, 200)); !strings.Contains(got, `"0":"company"`) {
		t.Errorf("group types %s", got)
	}
	w.pa.do("PUT", base+"/group_types", map[string]string{"7": "x"}, 400)
}

// TestFlagsListDecodesOnly: listing and reading flags decode the stored
// definitions without compiling them (GET /api/v1/flags compiled every
// flag on each list: 2.7 s with pathological regexes); a write still
// validates the whole flag. A stored definition whose regex does not
// compile shows that: it lists, and a PATCH of it is refused.
func TestFlagsListDecodesOnly(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	def := `{"filters":{"groups":[{"properties":[{"key":"email","value":"(","operator":"regex","type":"person"}],"rollout_percentage":100}]}}`
	m, err := s.Meta.CreateFlag(ctx, meta.Flag{ProjectID: p.ID, Key: "stored", Active: true, Definition: json.RawMessage(def)})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, h, key, "GET", "/api/v1/flags", ""); code != 200 || !strings.Contains(out, `"value":"("`) {
		t.Errorf("list: %d %s", code, out)
	}
	path := fmt.Sprintf("/api/v1/flags/%d", m.ID)
	if code, out := call(t, h, key, "GET", path, ""); code != 200 || decodeFlag(t, out).Key != "stored" {
		t.Errorf("get: %d %s", code, out)
	}
	if code, out := call(t, h, key, "PATCH", path, `{"name":"x"}`); code != 400 || !strings.Contains(out, `"field":"filters.groups[0].properties[0].value"`) {
		t.Errorf("PATCH of a flag that does not compile: %d %s, want 400 naming its regex", code, out)
	}
}
