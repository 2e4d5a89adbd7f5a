package api

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
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// countsStore answers experiment queries with counts the test sets: per
// variant, persons exposed and conversions of every metric.
type countsStore struct {
	store.Store // nil: only Experiment is called
	mu          sync.Mutex
	arms        [][2]float64 // per variant: exposed, conversions
	queries     []*insight.Experiment
}

func (c *countsStore) set(arms ...[2]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arms = arms
}

func (c *countsStore) Experiment(_ context.Context, _ int64, _ *time.Location, q *insight.Experiment) (*insight.ExperimentCounts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, q)
	out := &insight.ExperimentCounts{Kind: "experiment", FlagKey: q.FlagKey, Days: []string{"2026-03-01"}}
	for _, m := range q.Metrics {
		out.Metrics = append(out.Metrics, insight.ExperimentMetricInfo{Name: m.Name, Kind: m.Kind})
	}
	for i, key := range q.Variants {
		a := c.arms[i]
		v := insight.ExperimentVariant{Key: key, Exposed: int64(a[0]), Exposures: []int64{int64(a[0])}}
		for range q.Metrics {
			v.Metrics = append(v.Metrics, stats.Proportion(a[0], a[1]))
		}
		out.Variants = append(out.Variants, v)
	}
	return out, nil
}

// expClient sends secret-key requests and checks their status.
type expClient struct {
	t   *testing.T
	h   http.Handler
	key string
}

func (c expClient) do(method, path string, body any, want int) []byte {
	c.t.Helper()
	js := ""
	if body != nil {
		b, _ := json.Marshal(body)
		js = string(b)
	}
	code, out := call(c.t, c.h, c.key, method, path, js)
	if code != want {
		c.t.Fatalf("%s %s %s: %d %s, want %d", method, path, js, code, out, want)
	}
	return []byte(out)
}

type expAnswer struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	Status         string     `json:"status"`
	FlagKey        string     `json:"flag_key"`
	FlagCreated    bool       `json:"flag_created"`
	OwnerID        int64      `json:"owner_id"`
	StartedAt      *time.Time `json:"started_at"`
	StoppedAt      *time.Time `json:"stopped_at"`
	Decision       string     `json:"decision"`
	ShippedVariant string     `json:"shipped_variant"`
	Notes          string     `json:"notes"`
	HoldoutPercent float64    `json:"holdout_percent"`
	Link           string     `json:"link"`
	Variants       []struct {
		Key    string  `json:"key"`
		Weight float64 `json:"weight"`
	} `json:"variants"`
}

func decodeAs[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

const checkoutExperiment = `{"name":"One-page checkout","hypothesis":"Fewer steps sell more","stage":"Purchase",
	"flag_key":"checkout-v2","variants":[{"key":"control","weight":1},{"key":"one-page","weight":1}],
	"metrics":{"primary":[{"kind":"conversion","event":"order_completed"}],
	"guardrail":[{"kind":"conversion","event":"support_ticket_created","lower_is_better":true}]}}`

// TestExperimentsValidation: refused bodies are 400s naming their field.
func TestExperimentsValidation(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	c := expClient{t, h, key}
	if _, err := s.Meta.CreateFlag(ctx, meta.Flag{ProjectID: p.ID, Key: "boolean", Active: true,
		Definition: flagserve.Definition(&flags.Flag{Key: "boolean", Filters: flags.Filters{Groups: []flags.Condition{{}}}})}); err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any { return decodeAs[map[string]any](t, []byte(checkoutExperiment)) }
	metric := func(m map[string]any) map[string]any {
		b := valid()
		b["metrics"] = map[string]any{"primary": []any{m}}
		return b
	}
	for _, tc := range []struct {
		change func(b map[string]any)
		field  string
	}{
		{func(b map[string]any) { delete(b, "name") }, "name"},
		{func(b map[string]any) { b["name"] = "  " }, "name"},
		{func(b map[string]any) { delete(b, "flag_key") }, "flag_key"},
		{func(b map[string]any) { b["flag_key"] = "with space" }, "flag_key"},
		{func(b map[string]any) { delete(b, "variants") }, "flag_key"}, // no such flag to take the variants from
		{func(b map[string]any) { delete(b, "variants"); b["flag_key"] = "boolean" }, "flag_key"},
		{func(b map[string]any) { b["variants"] = []any{map[string]any{"key": "control", "weight": 1}} }, "variants"},
		{func(b map[string]any) {
			b["variants"] = []any{map[string]any{"key": "control", "weight": 1}, map[string]any{"key": "b", "weight": -1}}
		}, "variants[1].weight"},
		{func(b map[string]any) { b["metrics"] = map[string]any{} }, "metrics.primary"},
		{func(b map[string]any) { b["colour"] = "red" }, "colour"},
		{func(b map[string]any) { b["alpha"] = "low" }, "alpha"},
		{func(b map[string]any) { b["method"] = "astrology" }, "method"},
		{func(b map[string]any) { b["correction"] = "bonferroni" }, "correction"},
		{func(b map[string]any) { b["cuped"] = map[string]any{"pre_days": 1000} }, "cuped.pre_days"},
		{func(b map[string]any) { b["layer"] = map[string]any{"id": 99, "from": 0, "to": 0.5} }, "layer.id"},
		{func(b map[string]any) { b["layer"] = map[string]any{"id": 1, "from": 0.6, "to": 0.5} }, "layer.to"},
		{func(b map[string]any) { b["owner_id"] = 12345 }, "owner_id"},
		{func(b map[string]any) {
			b["metrics"] = map[string]any{"primary": []any{map[string]any{"kind": "conversion", "event": "a"}},
				"secondary": []any{map[string]any{"kind": "sum", "event": "order"}}}
		}, "metrics.secondary[0].property"},
	} {
		b := valid()
		tc.change(b)
		body, _ := json.Marshal(b)
		code, out := call(t, h, key, "POST", "/api/v1/experiments", string(body))
		var e struct{ Error, Field string }
		json.Unmarshal([]byte(out), &e)
		if code != 400 || e.Field != tc.field || e.Error == "" {
			t.Errorf("%s: %d %s, want 400 naming %s", body, code, out, tc.field)
		}
	}
	for m, field := range map[string]string{
		`{"kind":"conversion"}`:                          "metrics.primary[0].event",
		`{"kind":"conversion","event":"x","window":"?"}`: "metrics.primary[0].window",
		`{"kind":"magic","event":"x"}`:                   "metrics.primary[0].kind",
		`{"kind":"conversion","action_id":77}`:           "metrics.primary[0].action",
		`{"kind":"ratio","numerator":{"kind":"count","event":"a"},"denominator":{"kind":"count"}}`: "metrics.primary[0].denominator.event",
	} {
		body, _ := json.Marshal(metric(decodeAs[map[string]any](t, []byte(m))))
		code, out := call(t, h, key, "POST", "/api/v1/experiments", string(body))
		if code != 400 || !strings.Contains(out, `"field":"`+field+`"`) {
			t.Errorf("metric %s: %d %s, want 400 naming %s", m, code, out, field)
		}
	}
	// Nothing was stored, and no flag was created on the way.
	if list, _ := s.Meta.Experiments(ctx, p.ID, meta.ExperimentFilter{}); len(list) != 0 {
		t.Errorf("refused bodies stored %d experiments", len(list))
	}
	if fs, _ := s.Meta.Flags(ctx, p.ID); len(fs) != 1 {
		t.Errorf("refused bodies created flags: %d", len(fs))
	}
	c.do("GET", "/api/v1/experiments?status=done", nil, 400)
	c.do("GET", "/api/v1/archive?outcome=maybe", nil, 400)
	c.do("PUT", "/api/v1/experiments/holdout", map[string]any{"percent": 80}, 400)
	c.do("PUT", "/api/v1/experiments/holdout", map[string]any{}, 400)
	c.do("POST", "/api/v1/layers", map[string]any{"name": ""}, 400)
}

// TestExperimentLifecycle: create (the flag is created, inactive), edit,
// start (the flag is activated with the holdout in every condition),
// results while running, stop (results frozen: new counts change
// nothing), what can change in each status, the timeline, delete.
func TestExperimentLifecycle(t *testing.T) {
	s, h := testServer(t)
	events := &countsStore{}
	events.set([2]float64{1000, 200}, [2]float64{1000, 260})
	s.Events = events
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	c := expClient{t, h, key}

	e := decodeAs[expAnswer](t, c.do("POST", "/api/v1/experiments", json.RawMessage(checkoutExperiment), 201))
	if e.Status != "draft" || !e.FlagCreated || e.FlagKey != "checkout-v2" || e.Link != fmt.Sprintf("/experiments/%d", e.ID) ||
		len(e.Variants) != 2 || e.Variants[1].Key != "one-page" || e.Variants[1].Weight != 0.5 {
		t.Fatalf("created %+v", e)
	}
	path := fmt.Sprintf("/api/v1/experiments/%d", e.ID)
	mf, ok, _ := s.flagByKey(ctx, p.ID, "checkout-v2")
	if !ok || mf.Active {
		t.Fatalf("flag created %+v (found %v), want inactive", mf, ok)
	}
	f, err := flagserve.FromMeta(mf)
	if err != nil || f.Filters.Multivariate == nil || f.Filters.Multivariate.Variants[0].RolloutPercentage != 50 {
		t.Fatalf("flag %+v %v", f, err)
	}
	// The key is taken now: the same body again is a conflict, and so is
	// a second experiment on the flag while this one is not stopped.
	c.do("POST", "/api/v1/experiments", json.RawMessage(checkoutExperiment), 409)
	onFlag := `{"name":"again","flag_key":"checkout-v2","metrics":{"primary":[{"kind":"conversion","event":"x"}]}}`
	if out := c.do("POST", "/api/v1/experiments", json.RawMessage(onFlag), 409); !strings.Contains(string(out), `"experiment_id":`) {
		t.Errorf("second experiment on the flag: %s", out)
	}
	c.do("GET", path+"/results", nil, 409) // not started

	// Edits of a draft; the flag and arms are fixed.
	c.do("PATCH", path, map[string]any{"name": "One-page checkout v2", "variants": e.Variants}, 200)
	c.do("PATCH", path, map[string]any{"flag_key": "other"}, 409)
	c.do("PATCH", path, map[string]any{"metrics": map[string]any{"primary": []any{map[string]any{"kind": "count"}}}}, 400)
	c.do("PATCH", path, map[string]any{"version": 1, "name": "stale"}, 409)
	c.do("PATCH", path, map[string]any{"nope": 1}, 400)

	c.do("PUT", "/api/v1/experiments/holdout", map[string]any{"percent": 10}, 200)
	if got := string(c.do("GET", "/api/v1/experiments/holdout", nil, 200)); !strings.Contains(got, `"percent":10`) {
		t.Errorf("holdout %s", got)
	}
	e = decodeAs[expAnswer](t, c.do("POST", path+"/start", nil, 200))
	if e.Status != "running" || e.StartedAt == nil || e.HoldoutPercent != 10 {
		t.Fatalf("started %+v", e)
	}
	c.do("POST", path+"/start", nil, 409)
	mf, _, _ = s.flagByKey(ctx, p.ID, "checkout-v2")
	if !mf.Active || !strings.Contains(string(mf.Definition), fmt.Sprintf(`{"key":"holdout:%d","value":[0,0.1],"operator":"not_in_range","type":"bucket"}`, p.ID)) {
		t.Fatalf("started flag: active %v %s", mf.Active, mf.Definition)
	}
	f, err = flagserve.FromMeta(mf)
	if err != nil {
		t.Fatal(err)
	}
	compiled := flags.MustCompile(f)
	for i := range 500 {
		id := fmt.Sprintf("u%d", i)
		r := flags.Evaluate(compiled, &flags.Subject{DistinctID: id}, nil)
		if held := flags.InBucket(fmt.Sprintf("holdout:%d", p.ID), id, 0, 0.1); r.Enabled == held || (!held && r.Variant == "") {
			t.Fatalf("%s (held out %v): %+v", id, held, r)
		}
	}
	c.do("DELETE", path, nil, 409)                                                                 // running
	c.do("PATCH", path, map[string]any{"layer": map[string]any{"id": 1, "from": 0, "to": 1}}, 409) // running
	c.do("PATCH", path, map[string]any{"alpha": 0.01}, 200)                                        // analysis may change
	c.do("PATCH", path, map[string]any{"alpha": 0.05}, 200)

	type results struct {
		Frozen  bool `json:"frozen"`
		Exposed int64
		Metrics struct {
			Primary   []map[string]any `json:"primary"`
			Guardrail []map[string]any `json:"guardrail"`
		} `json:"metrics"`
		SRM struct {
			Mismatch bool `json:"mismatch"`
		} `json:"srm"`
		Warnings []map[string]any `json:"warnings"`
	}
	running := decodeAs[results](t, c.do("GET", path+"/results", nil, 200))
	if running.Frozen || running.Exposed != 2000 || len(running.Metrics.Primary) != 1 || running.Metrics.Primary[0]["variant"] != "one-page" ||
		running.Metrics.Primary[0]["significant"] != true || len(running.Warnings) != 1 || running.SRM.Mismatch {
		t.Fatalf("running results %+v", running)
	}
	q := events.queries[len(events.queries)-1]
	if q.FlagKey != "checkout-v2" || !q.From.Equal(*e.StartedAt) || q.PreDays != 14 || len(q.Metrics) != 2 {
		t.Errorf("query %+v", q)
	}

	c.do("POST", path+"/stop", map[string]any{}, 400)
	c.do("POST", path+"/stop", map[string]any{"decision": "won", "shipped_variant": "two-page"}, 400)
	e = decodeAs[expAnswer](t, c.do("POST", path+"/stop", map[string]any{"decision": "won", "shipped_variant": "one-page", "notes": "Ship it"}, 200))
	if e.Status != "stopped" || e.StoppedAt == nil || e.Decision != "won" || e.ShippedVariant != "one-page" || e.Notes != "Ship it" {
		t.Fatalf("stopped %+v", e)
	}
	c.do("POST", path+"/stop", map[string]any{"decision": "lost"}, 409)
	frozen := c.do("GET", path+"/results", nil, 200)
	events.set([2]float64{1500, 100}, [2]float64{900, 400})
	if again := c.do("GET", path+"/results", nil, 200); string(again) != string(frozen) {
		t.Fatalf("frozen results changed:\n%s\n%s", frozen, again)
	}
	if r := decodeAs[results](t, frozen); !r.Frozen || r.Exposed != 2000 {
		t.Errorf("frozen %+v", r)
	}
	c.do("PATCH", path, map[string]any{"metrics": map[string]any{"primary": []any{map[string]any{"kind": "count", "event": "x"}}}}, 409)
	c.do("PATCH", path, map[string]any{"method": "bayesian"}, 409)
	c.do("PATCH", path, map[string]any{"notes": "Shipped on March 3", "stage": "Checkout"}, 200)
	c.do("POST", path+"/notes", map[string]any{"text": "  "}, 400)
	c.do("POST", path+"/notes", map[string]any{"text": "Revenue per visitor up too"}, 201)

	var timeline []meta.ExperimentEvent
	timeline = decodeAs[[]meta.ExperimentEvent](t, c.do("GET", path+"/timeline", nil, 200))
	var kinds []string
	for _, ev := range timeline {
		kinds = append(kinds, ev.Kind)
	}
	if got := strings.Join(kinds, " "); got != "created edited started edited edited stopped decided note edited note" {
		t.Errorf("timeline %s", got)
	}
	// Shipping switched the flag to the winner for everyone it targets.
	type shippedFlag struct {
		Key     string `json:"key"`
		Filters struct {
			Groups []struct {
				Properties []any   `json:"properties"`
				Variant    *string `json:"variant"`
			} `json:"groups"`
		} `json:"filters"`
	}
	found := 0
	for _, f := range decodeAs[[]shippedFlag](t, c.do("GET", "/api/v1/flags", nil, 200)) {
		if f.Key != e.FlagKey {
			continue
		}
		found++
		for _, g := range f.Filters.Groups {
			if g.Variant == nil || *g.Variant != "one-page" || len(g.Properties) != 0 {
				t.Errorf("shipped flag group %+v, want one-page for everyone", g)
			}
		}
	}
	if found != 1 {
		t.Errorf("flag %q listed %d times", e.FlagKey, found)
	}
	list := decodeAs[[]expAnswer](t, c.do("GET", "/api/v1/experiments?status=stopped&q=ONE-PAGE", nil, 200))
	if len(list) != 1 || list[0].ID != e.ID {
		t.Errorf("list %+v", list)
	}
	if list := decodeAs[[]expAnswer](t, c.do("GET", "/api/v1/experiments?status=running", nil, 200)); len(list) != 0 {
		t.Errorf("running list %+v", list)
	}
	// A new experiment may take the flag now.
	c.do("POST", "/api/v1/experiments", json.RawMessage(onFlag), 201)
	c.do("DELETE", path, nil, 204)
	c.do("GET", path, nil, 404)
	if _, ok, _ := s.flagByKey(ctx, p.ID, "checkout-v2"); !ok {
		t.Error("a stopped experiment's flag was deleted with it")
	}
}

// TestLayersAndTenancy: shares of a layer may not overlap while the
// experiments holding them have not stopped (409 naming the other);
// another project's key sees none of it.
func TestLayersAndTenancy(t *testing.T) {
	s, h := testServer(t)
	events := &countsStore{}
	events.set([2]float64{100, 10}, [2]float64{100, 12})
	s.Events = events
	ctx := context.Background()
	pa, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	_, key2, _ := s.Meta.CreateProject(ctx, "b", "UTC")
	c, c2 := expClient{t, h, key}, expClient{t, h, key2}
	layer := decodeAs[struct{ ID int64 }](t, c.do("POST", "/api/v1/layers", map[string]string{"name": "Checkout"}, 201))
	c.do("POST", "/api/v1/layers", map[string]string{"name": "Checkout"}, 409)
	exp := func(name string, from, to float64, want int) []byte {
		body := fmt.Sprintf(`{"name":%q,"flag_key":%q,"variants":[{"key":"control","weight":1},{"key":"test","weight":1}],
			"metrics":{"primary":[{"kind":"conversion","event":"buy"}]},"layer":{"id":%d,"from":%v,"to":%v}}`, name, name, layer.ID, from, to)
		return c.do("POST", "/api/v1/experiments", json.RawMessage(body), want)
	}
	a := decodeAs[expAnswer](t, exp("a", 0, 0.5, 201))
	out := exp("b", 0.4, 0.8, 409)
	if !strings.Contains(string(out), `"field":"layer"`) || !strings.Contains(string(out), fmt.Sprintf(`"experiment_id":%d`, a.ID)) || !strings.Contains(string(out), `\"a\"`) {
		t.Errorf("overlap answer %s", out)
	}
	b := decodeAs[expAnswer](t, exp("b", 0.5, 1, 201))
	c.do("PATCH", fmt.Sprintf("/api/v1/experiments/%d", b.ID), map[string]any{"layer": map[string]any{"id": layer.ID, "from": 0.3, "to": 1}}, 409)
	layers := decodeAs[[]struct {
		Name        string
		Experiments []struct{ ID int64 }
	}](t, c.do("GET", "/api/v1/layers", nil, 200))
	if len(layers) != 1 || len(layers[0].Experiments) != 2 || layers[0].Experiments[0].ID != a.ID {
		t.Errorf("layers %+v", layers)
	}
	// The layer's share is in the started flag.
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/start", a.ID), nil, 200)
	mf, _, _ := s.flagByKey(ctx, pa.ID, "a")
	if !strings.Contains(string(mf.Definition), fmt.Sprintf(`{"key":"layer:%d","value":[0,0.5],"operator":"in_range","type":"bucket"}`, layer.ID)) {
		t.Errorf("flag of a: %s", mf.Definition)
	}
	// Once a stops, its share is free.
	c.do("POST", fmt.Sprintf("/api/v1/experiments/%d/stop", a.ID), map[string]string{"decision": "inconclusive"}, 200)
	exp("c", 0, 0.5, 201)

	// Project b cannot see or touch project a's experiments.
	path := fmt.Sprintf("/api/v1/experiments/%d", a.ID)
	for _, rq := range []struct{ method, path string }{
		{"GET", path}, {"PATCH", path}, {"DELETE", path}, {"GET", path + "/results"}, {"GET", path + "/timeline"},
		{"POST", path + "/start"}, {"POST", path + "/notes"},
	} {
		var body any
		switch {
		case strings.HasSuffix(rq.path, "/notes"):
			body = map[string]any{"text": "x"}
		case rq.method == "PATCH":
			body = map[string]any{"name": "x"}
		}
		c2.do(rq.method, rq.path, body, 404)
	}
	c2.do("POST", path+"/stop", map[string]string{"decision": "won"}, 404)
	if got := string(c2.do("GET", "/api/v1/experiments", nil, 200)); got != "[]\n" {
		t.Errorf("b lists %s", got)
	}
	if got := string(c2.do("GET", "/api/v1/archive", nil, 200)); got != "[]\n" {
		t.Errorf("b's archive %s", got)
	}
	if got := string(c2.do("GET", "/api/v1/layers", nil, 200)); got != "[]\n" {
		t.Errorf("b's layers %s", got)
	}
	// b cannot put its experiment in a's layer.
	body := fmt.Sprintf(`{"name":"x","flag_key":"x","variants":[{"key":"control","weight":1},{"key":"test","weight":1}],
		"metrics":{"primary":[{"kind":"conversion","event":"buy"}]},"layer":{"id":%d,"from":0,"to":0.1}}`, layer.ID)
	if code, out := call(t, h, key2, "POST", "/api/v1/experiments", body); code != 400 || !strings.Contains(out, `"field":"layer.id"`) {
		t.Errorf("b into a's layer: %d %s", code, out)
	}
	if code, _ := call(t, h, "", "GET", "/api/v1/experiments", ""); code != 401 {
		t.Errorf("no key: %d", code)
	}
}

// TestExperimentsUI: members create and change experiments through the UI
// routes (owner and timeline user are the session's user), viewers read
// but not write, non-members see nothing, the holdout needs an admin.
func TestExperimentsUI(t *testing.T) {
	w := newInviteWorld(t)
	ctx := context.Background()
	if err := w.s.Meta.SetMember(ctx, w.projectID, w.annID, meta.RoleMember); err != nil {
		t.Fatal(err)
	}
	base := w.a + "/experiments"
	var body map[string]any
	json.Unmarshal([]byte(checkoutExperiment), &body)
	e := decodeAs[expAnswer](t, w.ann.do("POST", base, body, 201))
	if e.OwnerID != w.annID {
		t.Errorf("owner %d, want ann %d", e.OwnerID, w.annID)
	}
	w.ann.do("PATCH", fmt.Sprintf("%s/%d", base, e.ID), map[string]any{"hypothesis": "shorter is better"}, 200)
	w.ann.do("POST", fmt.Sprintf("%s/%d/notes", base, e.ID), map[string]any{"text": "kick-off"}, 201)
	tl := decodeAs[[]meta.ExperimentEvent](t, w.ann.do("GET", fmt.Sprintf("%s/%d/timeline", base, e.ID), nil, 200))
	if len(tl) != 3 || tl[0].UserID != w.annID || tl[2].Kind != "note" {
		t.Errorf("timeline %+v", tl)
	}
	w.ann.do("PUT", base+"/holdout", map[string]any{"percent": 5}, 403)
	w.pa.do("PUT", base+"/holdout", map[string]any{"percent": 5}, 200)
	w.ann.do("POST", w.a+"/layers", map[string]string{"name": "Onboarding"}, 201)
	w.ann.do("GET", w.a+"/archive/stages", nil, 200)
	w.eve.do("GET", base, nil, 404) // not a member
	if err := w.s.Meta.SetMember(ctx, w.projectID, w.annID, meta.RoleViewer); err != nil {
		t.Fatal(err)
	}
	w.ann.do("GET", base, nil, 200)
	w.ann.do("GET", fmt.Sprintf("%s/%d", base, e.ID), nil, 200)
	w.ann.do("POST", fmt.Sprintf("%s/%d/start", base, e.ID), nil, 403)
	w.ann.do("DELETE", fmt.Sprintf("%s/%d", base, e.ID), nil, 403)
	w.pa.do("DELETE", fmt.Sprintf("%s/%d", base, e.ID), nil, 204)
	// The draft's own flag went with it.
	if _, ok, _ := w.s.flagByKey(ctx, w.projectID, "checkout-v2"); ok {
		t.Error("a deleted draft's flag stays")
	}
}
