package api

// Guards of running experiments and of the experiments API against
// races and enumeration (from an attacker review): a running experiment's
// flag keeps its assignment, Journey's bucket salts are the experiments'
// only, writes never undo a concurrent start or stop, owner_id does not
// tell accounts apart, the estimate names the field that needs a value.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// holdoutWorld is project A of an inviteWorld with a 10% holdout set by
// the server admin, and experiment "x" of member ann running on the flag
// it created, exp-flag, with half of layer "checkout".
type holdoutWorld struct {
	*inviteWorld
	expID, flagID, layerID int64
}

func newHoldoutWorld(t *testing.T) *holdoutWorld {
	t.Helper()
	w := &holdoutWorld{inviteWorld: newInviteWorld(t)}
	if err := w.s.Meta.SetMember(context.Background(), w.projectID, w.annID, meta.RoleMember); err != nil {
		t.Fatal(err)
	}
	w.root.do("PUT", w.a+"/experiments/holdout", map[string]any{"percent": 10}, 200)
	w.ann.do("PUT", w.a+"/experiments/holdout", map[string]any{"percent": 0}, 403) // members cannot
	var layer struct{ ID int64 }
	json.Unmarshal(w.ann.do("POST", w.a+"/layers", map[string]any{"name": "checkout"}, 201), &layer)
	var e struct{ ID int64 }
	json.Unmarshal(w.ann.do("POST", w.a+"/experiments", map[string]any{"name": "x", "flag_key": "exp-flag",
		"variants": []map[string]any{{"key": "control", "weight": 1}, {"key": "test", "weight": 1}},
		"metrics":  map[string]any{"primary": []map[string]any{{"kind": "conversion", "event": "buy"}}},
		"layer":    map[string]any{"id": layer.ID, "from": 0, "to": 0.5}}, 201), &e)
	w.ann.do("POST", fmt.Sprintf("%s/experiments/%d/start", w.a, e.ID), map[string]any{}, 200)
	var list []struct {
		ID  int64
		Key string
	}
	json.Unmarshal(w.ann.do("GET", w.a+"/flags", nil, 200), &list)
	for _, f := range list {
		if f.Key == "exp-flag" {
			w.flagID = f.ID
		}
	}
	w.expID, w.layerID = e.ID, layer.ID
	return w
}

// secretKeyTransport sends requests with a secret key.
type secretKeyTransport string

func (b secretKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// storedFlag is the flag as stored.
func (w *holdoutWorld) storedFlag(t *testing.T) (meta.Flag, *flags.Flag) {
	t.Helper()
	m, err := w.s.Meta.Flag(context.Background(), w.projectID, w.flagID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := flagserve.FromMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

// salts lists the flag's bucket filter keys, per condition.
func salts(f *flags.Flag) string {
	var out []string
	for _, g := range f.Filters.Groups {
		var keys []string
		for _, p := range g.Properties {
			if p.Type == flags.TypeBucket {
				keys = append(keys, p.Key)
			}
		}
		out = append(out, strings.Join(keys, "+"))
	}
	return strings.Join(out, " | ")
}

// TestMemberCannotStripHoldout: the holdout is an admin setting
// (PUT …/experiments/holdout needs admin) and a layer share is checked for
// overlaps at start; both live only as bucket filters in the running
// experiment's flag. A member PATCHing that flag through the flags API
// (member role), removing the holdout and layer filters and changing the
// split, is a 409 naming the experiment; so is a secret key, a change of
// key or experience continuity, and a delete. Switching the flag off (the
// kill switch) and renaming it work, and the switch is in the timeline.
func TestMemberCannotStripHoldout(t *testing.T) {
	w := newHoldoutWorld(t)
	flagPath := fmt.Sprintf("%s/flags/%d", w.a, w.flagID)
	before, bf := w.storedFlag(t)
	wantSalts := fmt.Sprintf("layer:%d+holdout:%d", w.layerID, w.projectID)
	if got := salts(bf); got != wantSalts {
		t.Fatalf("running flag's bucket filters %q, want %q", got, wantSalts)
	}
	strip := map[string]any{"filters": map[string]any{
		"groups":       []map[string]any{{"properties": []any{}, "rollout_percentage": 100}},
		"multivariate": map[string]any{"variants": []map[string]any{{"key": "control", "rollout_percentage": 10}, {"key": "test", "rollout_percentage": 90}}},
	}}
	out := w.ann.do("PATCH", flagPath, strip, 409)
	var c struct {
		Error        string `json:"error"`
		Field        string `json:"field"`
		ExperimentID int64  `json:"experiment_id"`
	}
	json.Unmarshal(out, &c)
	if c.ExperimentID != w.expID || c.Field != "filters.multivariate" || !strings.Contains(c.Error, fmt.Sprintf("stop experiment %d first", w.expID)) {
		t.Errorf("PATCH stripping the holdout: %s, want 409 naming filters.multivariate and experiment %d", out, w.expID)
	}
	// The same without touching the split still changes the filters.
	_, f := w.storedFlag(t)
	noHoldout, _ := json.Marshal(f.Filters)
	var filters map[string]any
	json.Unmarshal(noHoldout, &filters)
	filters["groups"] = []map[string]any{{"properties": []any{}, "rollout_percentage": 100}}
	out = w.ann.do("PATCH", flagPath, map[string]any{"filters": filters}, 409)
	if json.Unmarshal(out, &c); c.Field != "filters" || c.ExperimentID != w.expID {
		t.Errorf("PATCH of the conditions: %s, want 409 naming filters", out)
	}
	w.ann.do("PATCH", flagPath, map[string]any{"key": "other"}, 409)
	w.ann.do("PATCH", flagPath, map[string]any{"ensure_experience_continuity": true}, 409)
	w.root.do("PATCH", flagPath, strip, 409) // server admins too: stop it first
	out = w.ann.do("DELETE", flagPath, nil, 409)
	if json.Unmarshal(out, &c); c.ExperimentID != w.expID || !strings.Contains(c.Error, "stop experiment") {
		t.Errorf("DELETE of a running experiment's flag: %s", out)
	}

	// The secret-key API is held to the same.
	key, err := w.s.Meta.CreateKey(context.Background(), w.projectID)
	if err != nil {
		t.Fatal(err)
	}
	sk := &uiClient{t: t, url: w.url, c: &http.Client{Transport: secretKeyTransport(key)}}
	sk.do("PATCH", fmt.Sprintf("/api/v1/flags/%d", w.flagID), strip, 409)
	sk.do("DELETE", fmt.Sprintf("/api/v1/flags/%d", w.flagID), nil, 409)

	after, af := w.storedFlag(t)
	if after.Version != before.Version || salts(af) != wantSalts {
		t.Fatalf("refused changes changed the flag: version %d -> %d, bucket filters %q", before.Version, after.Version, salts(af))
	}

	// A rename, and the kill switch: off and on again, in the timeline.
	w.ann.do("PATCH", flagPath, map[string]any{"name": "Checkout experiment"}, 200)
	w.ann.do("PATCH", flagPath, map[string]any{"active": false}, 200)
	if m, f := w.storedFlag(t); m.Active || salts(f) != wantSalts {
		t.Errorf("kill switch: active %v, bucket filters %q", m.Active, salts(f))
	}
	w.ann.do("PATCH", flagPath, map[string]any{"active": true, "version": after.Version + 2}, 200)
	var timeline []meta.ExperimentEvent
	json.Unmarshal(w.ann.do("GET", fmt.Sprintf("%s/experiments/%d/timeline", w.a, w.expID), nil, 200), &timeline)
	var notes []string
	for _, ev := range timeline {
		if ev.Kind == "note" && strings.Contains(ev.Detail, "exp-flag") {
			notes = append(notes, ev.Detail)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "switched off") || !strings.Contains(notes[1], "switched on") {
		t.Errorf("timeline notes of the kill switch %q", notes)
	}
	var ex struct{ Status string }
	json.Unmarshal(w.ann.do("GET", fmt.Sprintf("%s/experiments/%d", w.a, w.expID), nil, 200), &ex)
	if ex.Status != meta.ExperimentRunning {
		t.Errorf("experiment %s after the kill switch, want running", ex.Status)
	}
}

// TestJourneySaltsAreExperimentsOnly: bucket filters on layer:… and
// holdout:… salts cannot be added to a flag through the flags API (create
// or PATCH), nor removed or changed from one, even once its experiment
// stopped; other bucket salts are the flag's own.
func TestJourneySaltsAreExperimentsOnly(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	c := expClient{t, h, key}
	holdout := fmt.Sprintf("holdout:%d", p.ID)
	withBucket := func(salt string, to float64) map[string]any {
		return map[string]any{"key": "f", "filters": map[string]any{"groups": []map[string]any{{
			"properties":         []map[string]any{{"type": "bucket", "key": salt, "operator": "not_in_range", "value": []float64{0, to}}},
			"rollout_percentage": 100}}}}
	}
	for _, salt := range []string{holdout, "holdout:999", "layer:1"} {
		out := c.do("POST", "/api/v1/flags", withBucket(salt, 0.1), 400)
		if !strings.Contains(string(out), `"field":"filters.groups[0].properties[0]"`) || !strings.Contains(string(out), "managed by experiments") {
			t.Errorf("create with bucket salt %s: %s", salt, out)
		}
	}
	own := decodeFlag(t, string(c.do("POST", "/api/v1/flags", withBucket("my-salt", 0.1), 201)))
	c.do("PATCH", fmt.Sprintf("/api/v1/flags/%d", own.ID), map[string]any{"filters": withBucket(holdout, 0.1)["filters"]}, 400)
	c.do("PATCH", fmt.Sprintf("/api/v1/flags/%d", own.ID), map[string]any{"filters": withBucket("my-salt", 0.3)["filters"]}, 200)

	// An experiment's flag after it stopped without shipping keeps them
	// until someone removes them.
	s.Events = &countsStore{arms: [][2]float64{{100, 10}, {100, 12}}}
	c.do("PUT", "/api/v1/experiments/holdout", map[string]any{"percent": 10}, 200)
	e := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(checkoutExperiment), 201))
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/start", e.ID), nil, 200)
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/stop", e.ID), map[string]any{"decision": "inconclusive"}, 200)
	m, _, _ := s.flagByKey(ctx, p.ID, "checkout-v2")
	f, err := flagserve.FromMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	if salts(f) != holdout {
		t.Fatalf("stopped experiment's flag: bucket filters %q", salts(f))
	}
	path := fmt.Sprintf("/api/v1/flags/%d", m.ID)
	raw, _ := json.Marshal(f.Filters)
	var filters map[string]any
	json.Unmarshal(raw, &filters)
	// Same filters with the holdout's numbers written otherwise: no change.
	group := filters["groups"].([]any)[0].(map[string]any)
	prop := group["properties"].([]any)[0].(map[string]any)
	prop["value"] = []any{0.0, json.Number("1e-1")}
	group["rollout_percentage"] = 50
	c.do("PATCH", path, map[string]any{"filters": filters}, 200)
	prop["value"] = []any{0, 0.5}
	if out := c.do("PATCH", path, map[string]any{"filters": filters}, 400); !strings.Contains(string(out), "managed by experiments") {
		t.Errorf("widening the holdout: %s", out)
	}
	// No experiment runs on it any more: the team may drop the holdout
	// (an experiment's filters leave with it).
	group["properties"] = []any{}
	c.do("PATCH", path, map[string]any{"filters": filters}, 200)
	m, _, _ = s.flagByKey(ctx, p.ID, "checkout-v2")
	if f, err := flagserve.FromMeta(m); err != nil || salts(f) != "" {
		t.Errorf("after removing the holdout: %v", err)
	}
	c.do("PATCH", path, map[string]any{"active": false, "name": "done"}, 200)
	c.do("DELETE", path, nil, 204) // not running: the flag can go
}

// staleExperimentMeta runs hook once, right after the first Experiment
// read it serves (the handler's load), to interleave a concurrent
// request deterministically.
type staleExperimentMeta struct {
	meta.Store
	mu   sync.Mutex
	hook func()
}

func (m *staleExperimentMeta) Experiment(ctx context.Context, projectID, id int64) (meta.Experiment, error) {
	e, err := m.Store.Experiment(ctx, projectID, id)
	m.mu.Lock()
	h := m.hook
	m.hook = nil
	m.mu.Unlock()
	if h != nil {
		h()
	}
	return e, err
}

// TestPatchDoesNotUndoStart: PATCH writes with the version it read, so a
// start landing between its read and its write is kept (the old code
// wrote the whole experiment it read with no version: a draft again,
// started_at gone, while its flag stayed active with the layer and
// holdout filters; seen over HTTP in 2 of 30 tries of PATCH racing
// start). Without "version" the merge is retried over the started
// experiment (and refused when the field cannot change while it runs);
// with "version" it is a 409. Start and stop racing a rename keep both.
func TestPatchDoesNotUndoStart(t *testing.T) {
	s, h := testServer(t)
	s.Events = &countsStore{arms: [][2]float64{{100, 10}, {100, 12}}}
	ctx := context.Background()
	_, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	c := expClient{t, h, key}
	hm := &staleExperimentMeta{Store: s.Meta}
	s.Meta = hm
	get := func(id int64) expAnswer {
		return decodeAs[expAnswer](t, c.do("GET", fmt.Sprintf("/api/v1/experiments/%d", id), nil, 200))
	}
	start := func(id int64) func() {
		return func() { c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/start", id), nil, 200) }
	}

	e := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(checkoutExperiment), 201))
	hm.hook = start(e.ID)
	c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", e.ID), map[string]any{"name": "renamed"}, 200)
	got := get(e.ID)
	if got.Status != meta.ExperimentRunning || got.StartedAt == nil || got.Name != "renamed" {
		t.Errorf("after start and a concurrent PATCH of its name: status %q, started_at %v, name %q; want running, renamed "+
			"(PATCH should write with the version it read, and retry or 409)", got.Status, got.StartedAt, got.Name)
	}

	// A stop racing a rename: both land.
	hm.hook = func() {
		c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", e.ID), map[string]any{"name": "renamed again"}, 200)
	}
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/stop", e.ID), map[string]any{"decision": "won"}, 200)
	if got := get(e.ID); got.Status != meta.ExperimentStopped || got.Decision != "won" || got.Name != "renamed again" {
		t.Errorf("stop racing a rename: %+v", got)
	}

	// A start racing a rename: both land.
	body := strings.Replace(checkoutExperiment, "checkout-v2", "checkout-v3", 1)
	e2 := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(body), 201))
	hm.hook = func() {
		c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", e2.ID), map[string]any{"notes": "from a colleague"}, 200)
	}
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/start", e2.ID), nil, 200)
	if got := get(e2.ID); got.Status != meta.ExperimentRunning || got.Notes != "from a colleague" {
		t.Errorf("start racing a PATCH of notes: %+v", got)
	}

	// A PATCH of the layer racing start: the layer cannot change once it
	// runs, so the retried merge is a 409; with "version", any race is.
	body = strings.Replace(checkoutExperiment, "checkout-v2", "checkout-v4", 1)
	e3 := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(body), 201))
	var layer struct{ ID int64 }
	json.Unmarshal(c.do("POST", "/api/v1/layers", map[string]any{"name": "l"}, 201), &layer)
	hm.hook = start(e3.ID)
	c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", e3.ID), map[string]any{"layer": map[string]any{"id": layer.ID, "from": 0, "to": 0.5}}, 409)
	body = strings.Replace(checkoutExperiment, "checkout-v2", "checkout-v5", 1)
	e4 := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(body), 201))
	hm.hook = start(e4.ID)
	out := c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", e4.ID), map[string]any{"name": "stale", "version": 1}, 409)
	if !strings.Contains(string(out), `"field":"version"`) {
		t.Errorf("PATCH with a stale version: %s", out)
	}
	for _, id := range []int64{e3.ID, e4.ID} {
		if got := get(id); got.Status != meta.ExperimentRunning || got.StartedAt == nil || got.Name == "stale" {
			t.Errorf("experiment %d after a refused racing PATCH: %+v", id, got)
		}
	}
}

// TestOwnerDoesNotRevealAccounts: owner_id naming no user, a user of no
// project, or a server admin who is not a member gets one answer; a
// member is accepted, and so is the requester (a server admin creating
// an experiment in a project they are not a member of owns it).
func TestOwnerDoesNotRevealAccounts(t *testing.T) {
	w := newInviteWorld(t)
	ctx := context.Background()
	if err := w.s.Meta.SetMember(ctx, w.projectID, w.annID, meta.RoleMember); err != nil {
		t.Fatal(err)
	}
	users := map[string]int64{}
	for _, email := range []string{"root@x.io", "eve@x.io", "ann@x.io"} {
		u, err := w.s.Meta.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		users[email] = u.ID
	}
	body := func(name string, owner int64) map[string]any {
		b := map[string]any{"name": name, "flag_key": "f-" + name,
			"variants": []map[string]any{{"key": "control", "weight": 1}, {"key": "test", "weight": 1}},
			"metrics":  map[string]any{"primary": []map[string]any{{"kind": "conversion", "event": "buy"}}}}
		if owner != 0 {
			b["owner_id"] = owner
		}
		return b
	}
	var answers []string
	for i, owner := range []int64{99999, users["eve@x.io"], users["root@x.io"]} {
		answers = append(answers, string(w.ann.do("POST", w.a+"/experiments", body(fmt.Sprint("n", i), owner), 400)))
	}
	want := `{"error":"invalid field \"owner_id\": not a member of this project","field":"owner_id"}`
	for i, a := range answers {
		if strings.TrimSpace(a) != want {
			t.Errorf("owner %d: %s, want %s (the same for all)", i, a, want)
		}
	}
	var e struct {
		ID      int64 `json:"id"`
		OwnerID int64 `json:"owner_id"`
	}
	json.Unmarshal(w.ann.do("POST", w.a+"/experiments", body("member", users["ann@x.io"]), 201), &e)
	json.Unmarshal(w.root.do("POST", w.a+"/experiments", body("admin", 0), 201), &e)
	if e.OwnerID != users["root@x.io"] {
		t.Errorf("a server admin's own experiment is owned by %d, want %d", e.OwnerID, users["root@x.io"])
	}
	path := fmt.Sprintf("%s/experiments/%d", w.a, e.ID)
	w.root.do("PATCH", path, map[string]any{"owner_id": users["ann@x.io"]}, 200)
	if got := strings.TrimSpace(string(w.ann.do("PATCH", path, map[string]any{"owner_id": 99999}, 400))); got != want {
		t.Errorf("PATCH owner_id of no user: %s", got)
	}
	if got := strings.TrimSpace(string(w.ann.do("PATCH", path, map[string]any{"owner_id": users["eve@x.io"]}, 400))); got != want {
		t.Errorf("PATCH owner_id of a non-member: %s", got)
	}
}

// quietStore is a project with the events the test sets: names, and a
// KPI answer.
type quietStore struct {
	store.Store // nil: only what the estimate calls
	names       []store.NameCount
	kpi         insight.KPIResult
}

func (q *quietStore) EventNames(context.Context, int64, time.Time, time.Time, int) ([]store.NameCount, error) {
	return q.names, nil
}

func (q *quietStore) KPI(context.Context, int64, *time.Location, *insight.KPI) (*insight.KPIResult, error) {
	k := q.kpi
	return &k, nil
}

func (q *quietStore) Trend(_ context.Context, _ int64, _ *time.Location, tr *insight.Trend) (*insight.TrendResult, error) {
	return &insight.TrendResult{}, nil
}

// TestEstimateAsksForBaseline: with no baseline given and none to compute
// (no events, no conversions, all converted), the estimate's 400 names
// metric and asks for baseline, not "baseline must be in (0, 1)" of a
// value the client never sent; a baseline given is used as such.
func TestEstimateAsksForBaseline(t *testing.T) {
	s, h := testServer(t)
	q := &quietStore{}
	s.Events = q
	_, key, _ := s.Meta.CreateProject(context.Background(), "a", "UTC")
	c := expClient{t, h, key}
	metric := map[string]any{"kind": "conversion", "event": "buy"}
	check := func(what, wantIn string) {
		t.Helper()
		var a struct{ Error, Field string }
		json.Unmarshal(c.do("POST", "/api/v1/experiments/estimate", map[string]any{"metric": metric, "mde": 0.05}, 400), &a)
		if a.Field != "metric" || !strings.Contains(a.Error, "give baseline") || !strings.Contains(a.Error, wantIn) {
			t.Errorf("%s: %+v, want field metric asking for baseline (%q)", what, a, wantIn)
		}
	}
	check("no events", "no events in the last 30 days")
	q.names = []store.NameCount{{Name: "pageview", Count: 50}}
	q.kpi = insight.KPIResult{Value: 0, Numerator: 0, Denominator: 40}
	check("no conversions", "no conversions in the last 30 days (40 persons active)")
	q.kpi = insight.KPIResult{Value: 1, Numerator: 40, Denominator: 40}
	check("all converted", "all 40 persons")
	var est struct {
		Baseline float64 `json:"baseline"`
		PerArm   int     `json:"per_arm"`
	}
	json.Unmarshal(c.do("POST", "/api/v1/experiments/estimate", map[string]any{"metric": metric, "mde": 0.05, "baseline": 0.2}, 200), &est)
	if est.Baseline != 0.2 || est.PerArm < 100 {
		t.Errorf("estimate with a baseline given: %+v", est)
	}
	var a struct{ Field string }
	json.Unmarshal(c.do("POST", "/api/v1/experiments/estimate", map[string]any{"metric": metric, "mde": 0.05, "baseline": 0}, 400), &a)
	if a.Field != "baseline" {
		t.Errorf("a baseline of 0 given: field %q, want baseline", a.Field)
	}
}
