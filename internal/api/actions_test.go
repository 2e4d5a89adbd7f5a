package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// specStore is an event store that keeps the specs it is asked to run.
type specStore struct {
	store.Store // nil: only the methods below are called
	trends      []*insight.Trend
	funnels     []*insight.Funnel
}

func (s *specStore) Trend(_ context.Context, _ int64, _ *time.Location, q *insight.Trend) (*insight.TrendResult, error) {
	s.trends = append(s.trends, q)
	return &insight.TrendResult{Kind: "trend", Series: []insight.SeriesResult{}}, nil
}

func (s *specStore) Funnel(_ context.Context, _ int64, _ *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	s.funnels = append(s.funnels, q)
	return &insight.FunnelResult{Kind: "funnel"}, nil
}

// call sends one secret-key request and returns status and body.
func call(t *testing.T, h http.Handler, key, method, path, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	out, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(out)
}

// TestActionsAPI: CRUD under /api/v1/actions, scoped to the key's project,
// steps validated and stored with their defaults; a query naming an
// action by id (or action_id, or in a cohort's behaviour) reaches the
// store with the definition, labelled by its name; unknown and other
// projects' ids are a 400.
func TestActionsAPI(t *testing.T) {
	s, h := testServer(t)
	events := &specStore{}
	s.Events = events
	ctx := context.Background()
	_, keyA, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	_, keyB, _ := s.Meta.CreateProject(ctx, "b", "UTC")

	for body, field := range map[string]string{
		`{"steps":[{"event":"x"}]}`:                                                                               "name",
		`{"name":"n","steps":[]}`:                                                                                 "steps",
		`{"name":"n","steps":[{"text":"Buy"}]}`:                                                                   "steps[0].event",
		`{"name":"n","steps":[{"event":"x","selector":"a:hover"}]}`:                                               "steps[0].selector",
		`{"name":"n","steps":[{"event":"x","url":"(","url_matching":"regex"}]}`:                                   "steps[0].url",
		`{"name":"n","steps":[{"event":"x","text_matching":"glob"}]}`:                                             "steps[0].text_matching",
		`{"name":"n","steps":[{"event":"x","filters":[{"type":"person","property":"p","op":"eq","value":"v"}]}]}`: "steps[0].filters[0].type",
		`[1]`: "body",
	} {
		if code, out := call(t, h, keyA, "POST", "/api/v1/actions", body); code != 400 || !strings.Contains(out, `\"`+field+`\"`) {
			t.Errorf("POST %s: %d %s, want 400 naming %s", body, code, out, field)
		}
	}
	code, out := call(t, h, keyA, "POST", "/api/v1/actions", `{"name":" Clicked buy ","steps":[{"event":"$autocapture","text":"Buy now","selector":"button.buy"},{"event":"purchase"}]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, out)
	}
	var created struct {
		ID    int64                `json:"id"`
		Name  string               `json:"name"`
		Steps []insight.ActionStep `json:"steps"`
	}
	json.Unmarshal([]byte(out), &created)
	if created.Name != "Clicked buy" || len(created.Steps) != 2 || created.Steps[0].TextMatching != "exact" || created.Steps[0].URLMatching != "contains" {
		t.Fatalf("created %s", out)
	}
	id := strconv.FormatInt(created.ID, 10)
	if code, out := call(t, h, keyB, "GET", "/api/v1/actions/"+id, ""); code != 404 {
		t.Fatalf("b reads a's action: %d %s", code, out)
	}
	if code, out := call(t, h, keyB, "DELETE", "/api/v1/actions/"+id, ""); code != 404 {
		t.Fatalf("b deletes a's action: %d %s", code, out)
	}
	if code, out := call(t, h, keyA, "GET", "/api/v1/actions", ""); code != 200 || !strings.Contains(out, `"Clicked buy"`) {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out := call(t, h, keyB, "GET", "/api/v1/actions", ""); code != 200 || out != "[]\n" && out != "[]" {
		t.Fatalf("b's list: %d %q", code, out)
	}

	rng := `"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"`
	query := func(key, body string) (int, string) { return call(t, h, key, "POST", "/api/v1/query", body) }
	if code, out := query(keyA, `{"kind":"trend","series":[{"action":`+id+`},{"action_id":`+id+`,"label":"mine"}],`+rng+`}`); code != 200 {
		t.Fatalf("trend with actions: %d %s", code, out)
	}
	tr := events.trends[len(events.trends)-1]
	for i, want := range []string{"Clicked buy", "mine"} {
		a := tr.Series[i].Action
		if a == nil || len(a.Steps) != 2 || a.Steps[0].Selector != "button.buy" || a.Name != "Clicked buy" || tr.Series[i].Label != want {
			t.Fatalf("series %d reached the store as %+v (action %+v)", i, tr.Series[i], a)
		}
	}
	cohort := `{"type":"cohort","cohort":{"behavior":{"action":` + id + `,"days":7}}}`
	if code, out := query(keyA, `{"kind":"funnel","steps":[{"event":"a"},{"action":`+id+`}],"filters":[`+cohort+`],`+rng+`}`); code != 200 {
		t.Fatalf("funnel with an action: %d %s", code, out)
	}
	fu := events.funnels[len(events.funnels)-1]
	if fu.Steps[1].Action == nil || len(fu.Steps[1].Action.Steps) != 2 || fu.Steps[1].Label != "Clicked buy" ||
		len(fu.Filters[0].Cohort.Behavior.Action.Steps) != 2 {
		t.Fatalf("funnel reached the store as %+v", fu)
	}
	if code, out := query(keyB, `{"kind":"trend","series":[{"action":`+id+`}],`+rng+`}`); code != 400 || !strings.Contains(out, `\"series[0].action\"`) {
		t.Fatalf("b queries a's action: %d %s", code, out)
	}
	if code, out := query(keyA, `{"kind":"trend","series":[{"event":"x","action":`+id+`}],`+rng+`}`); code != 400 {
		t.Fatalf("event and action: %d %s", code, out)
	}

	code, out = call(t, h, keyA, "PUT", "/api/v1/actions/"+id, `{"name":"Bought","steps":[{"event":"purchase"}]}`)
	if code != 200 || !strings.Contains(out, `"Bought"`) {
		t.Fatalf("update: %d %s", code, out)
	}
	if code, out := call(t, h, keyA, "DELETE", "/api/v1/actions/"+id, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, out := query(keyA, `{"kind":"trend","series":[{"action":`+id+`}],`+rng+`}`); code != 400 || !strings.Contains(out, "no action") {
		t.Fatalf("query of a deleted action: %d %s", code, out)
	}
}

// SampleProperties answers the recent clicks: two the same, one without
// a chain but with the old array.
func (s *specStore) SampleProperties(_ context.Context, _ int64, event string, _ bool, _ int) ([]string, error) {
	if event != "$autocapture" {
		return nil, nil
	}
	c := `{"$elements_chain":"button.buy:nth-child=\"1\"nth-of-type=\"1\"text=\"Buy\"","$current_url":"https://x/p","$browser":"Chrome"}`
	return []string{c, c, `{"$elements":[{"tag_name":"a"}],"$current_url":"https://x/"}`, `{}`}, nil
}

// TestUIActions: the UI's action routes, role-checked (members write,
// others of the project only read, strangers get nothing), and the
// recent distinct clicks with only what a step needs.
func TestUIActions(t *testing.T) {
	w := newInviteWorld(t)
	w.s.Events = &specStore{}
	body := map[string]any{"name": "Buy", "steps": []map[string]any{{"event": "$autocapture", "text": "Buy"}}}
	var a struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(w.pa.do("POST", w.a+"/actions", body, 201), &a)
	path := w.a + "/actions/" + strconv.FormatInt(a.ID, 10)
	if err := w.s.Meta.SetMember(context.Background(), w.projectID, w.annID, "viewer"); err != nil {
		t.Fatal(err)
	}
	w.ann.do("GET", path, nil, 200)
	w.ann.do("PUT", path, body, 403)
	w.ann.do("DELETE", path, nil, 403)
	w.eve.do("GET", w.a+"/actions", nil, 404)
	w.pa.do("POST", w.a+"/actions", map[string]any{"name": "x", "steps": []any{}}, 400)
	w.pa.do("PUT", path, map[string]any{"name": "Buy 2", "steps": []map[string]any{{"event": "purchase"}}}, 200)
	if list := string(w.ann.do("GET", w.a+"/actions", nil, 200)); !strings.Contains(list, `"Buy 2"`) {
		t.Fatalf("list %s", list)
	}
	clicks := string(w.ann.do("GET", w.a+"/recent-clicks", nil, 200))
	want := `[{"$current_url":"https://x/p","$elements_chain":"button.buy:nth-child=\"1\"nth-of-type=\"1\"text=\"Buy\""},{"$current_url":"https://x/","$elements":[{"tag_name":"a"}]}]`
	if strings.TrimSpace(clicks) != want {
		t.Fatalf("recent clicks %s, want %s", clicks, want)
	}
	w.pa.do("DELETE", path, nil, 204)
	w.pa.do("GET", path, nil, 404)
}
