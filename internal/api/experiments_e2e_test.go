package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
)

// The end-to-end experiment: the embedded stack (SQLite metadata, the
// event log, the loader and DuckDB), events sent to /batch/ as an SDK
// sends them, the experiment driven through the API.

type e2e struct {
	t     *testing.T
	a     *app.App
	url   string
	token string
	key   string
	pid   int64
}

const e2eAdminKey = "e2e-admin-key-0123456789abcdef"

func newE2E(t *testing.T) *e2e {
	t.Helper()
	a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: e2eAdminKey, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	x := &e2e{t: t, a: a, url: srv.URL}
	var p struct {
		ID        int64  `json:"id"`
		Token     string `json:"token"`
		SecretKey string `json:"secret_key"`
	}
	x.decode(x.do("POST", "/api/v1/projects", e2eAdminKey, map[string]string{"name": "shop", "timezone": "UTC"}, 201), &p)
	x.pid, x.token, x.key = p.ID, p.Token, p.SecretKey
	return x
}

func (x *e2e) do(method, path, key string, body any, want int) []byte {
	x.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, x.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		x.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

func (x *e2e) decode(b []byte, v any) {
	x.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		x.t.Fatalf("%v: %s", err, b)
	}
}

type event struct {
	Event      string         `json:"event"`
	DistinctID string         `json:"distinct_id"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
}

func ev(name, who string, at time.Time, props map[string]any) event {
	if props == nil {
		props = map[string]any{}
	}
	return event{Event: name, DistinctID: who, Timestamp: at.UTC().Format(time.RFC3339Nano), Properties: props}
}

func exposure(flag, variant, who string, at time.Time) event {
	return ev("$feature_flag_called", who, at, map[string]any{"$feature_flag": flag, "$feature_flag_response": variant})
}

// send captures events through /batch/ and waits for the loader.
func (x *e2e) send(events []event) {
	x.t.Helper()
	for len(events) > 0 {
		n := min(500, len(events))
		body, _ := json.Marshal(map[string]any{"api_key": x.token, "batch": events[:n]})
		resp, err := http.Post(x.url+"/batch/", "application/json", bytes.NewReader(body))
		if err != nil {
			x.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			x.t.Fatalf("capture: %s", resp.Status)
		}
		events = events[n:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := x.a.Loader.Sync(ctx); err != nil {
		x.t.Fatal(err)
	}
}

type expView struct {
	ID        int64      `json:"id"`
	Status    string     `json:"status"`
	FlagKey   string     `json:"flag_key"`
	StartedAt *time.Time `json:"started_at"`
}

// startBackdated creates and starts an experiment, then moves its start
// back by days (the data below is generated over past days).
func (x *e2e) startBackdated(body string, days int) (expView, time.Time) {
	x.t.Helper()
	var e expView
	x.decode(x.do("POST", "/api/v1/experiments", x.key, json.RawMessage(body), 201), &e)
	x.decode(x.do("POST", fmt.Sprintf("/api/v1/experiments/%d/start", e.ID), x.key, nil, 200), &e)
	ctx := context.Background()
	stored, err := x.a.Meta.Experiment(ctx, x.pid, e.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	start := time.Now().UTC().Add(-time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
	stored.StartedAt = &start
	if _, err := x.a.Meta.UpdateExperiment(ctx, stored, stored.Version); err != nil {
		x.t.Fatal(err)
	}
	return e, start
}

type comparison struct {
	Metric         string      `json:"metric"`
	Variant        string      `json:"variant"`
	ControlMean    *float64    `json:"control_mean"`
	TreatmentMean  *float64    `json:"treatment_mean"`
	NControl       int64       `json:"n_control"`
	NTreatment     int64       `json:"n_treatment"`
	Effect         *float64    `json:"effect"`
	CI             [2]*float64 `json:"ci"`
	PValue         *float64    `json:"p_value"`
	PValueAdjusted *float64    `json:"p_value_adjusted"`
	Significant    bool        `json:"significant"`
	Direction      string      `json:"direction"`
	Better         bool        `json:"better"`
	Error          string      `json:"error"`
}

type results struct {
	Frozen   bool  `json:"frozen"`
	Exposed  int64 `json:"exposed"`
	Variants []struct {
		Key       string  `json:"key"`
		Exposed   int64   `json:"exposed"`
		Exposures []int64 `json:"exposures"`
	} `json:"variants"`
	Days              []string `json:"days"`
	MultipleExposures struct {
		Persons int64 `json:"persons"`
	} `json:"multiple_exposures"`
	SRM struct {
		PValue   float64 `json:"p_value"`
		Mismatch bool    `json:"mismatch"`
	} `json:"srm"`
	Metrics struct {
		Primary   []comparison `json:"primary"`
		Secondary []comparison `json:"secondary"`
		Guardrail []comparison `json:"guardrail"`
	} `json:"metrics"`
	Warnings []map[string]any `json:"warnings"`
}

// TestExperimentEndToEnd: 5 000 persons bucketed by the experiment's own
// flag, exposed over a week, with a planted +5 pp conversion lift: the
// results find it (sign, significance, the CI covering +5 pp), SRM is
// quiet, persons exposed to both variants are excluded; stopping freezes
// the results against later events. A planted 60/40 split of a 50/50
// experiment flags SRM. Then the archive and the estimate.
func TestExperimentEndToEnd(t *testing.T) {
	x := newE2E(t)
	rng := rand.New(rand.NewPCG(14, 5))
	// within draws a duration in [0, d) from one value of the stream, so
	// that the draws do not depend on the clock (Int64N's rejection would).
	within := func(d time.Duration) time.Duration { return time.Duration(rng.Float64() * float64(d)) }
	const checkout = `{"name":"One-page checkout","hypothesis":"A Shorter Checkout sells MORE","stage":"Purchase",
		"flag_key":"checkout-v2","variants":[{"key":"control","weight":50},{"key":"one-page","weight":50}],
		"metrics":{"primary":[{"name":"purchase","kind":"conversion","event":"purchase","window":"3d"}],
		"secondary":[{"kind":"count","event":"$pageview"}],
		"guardrail":[{"kind":"conversion","event":"support_ticket","lower_is_better":true}]}}`
	e, start := x.startBackdated(checkout, 7)
	mf, err := x.a.Meta.Flags(context.Background(), x.pid)
	if err != nil || len(mf) != 1 || !mf[0].Active {
		t.Fatalf("flags %+v %v", mf, err)
	}
	f, err := flagserve.FromMeta(mf[0])
	if err != nil {
		t.Fatal(err)
	}
	compiled := flags.MustCompile(f)

	now := time.Now().UTC()
	span := now.Add(-2 * time.Hour).Sub(start.Add(time.Hour))
	rate := map[string]float64{"control": 0.20, "one-page": 0.25}
	var events []event
	counts := map[string]int{}
	for i := range 5000 {
		who := fmt.Sprintf("person-%d", i)
		variant := flags.Evaluate(compiled, &flags.Subject{DistinctID: who}, nil).Variant
		counts[variant]++
		at := start.Add(time.Hour + within(span))
		events = append(events, ev("$pageview", who, at.Add(-48*time.Hour), nil))
		if rng.Float64() < 0.1 { // bought before: the CUPED covariate
			events = append(events, ev("purchase", who, at.Add(-72*time.Hour), nil))
		}
		events = append(events, exposure("checkout-v2", variant, who, at))
		events = append(events, exposure("checkout-v2", variant, who, at.Add(time.Minute))) // seen twice, one variant
		left := now.Sub(at) - time.Minute
		if rng.Float64() < rate[variant] {
			events = append(events, ev("purchase", who, at.Add(within(min(left, 72*time.Hour))), nil))
		}
		if rng.Float64() < 0.05 {
			events = append(events, ev("support_ticket", who, at.Add(30*time.Minute), nil))
		}
		for range rng.IntN(3) {
			events = append(events, ev("$pageview", who, at.Add(within(left)), nil))
		}
	}
	// 40 persons who saw both variants are excluded from both.
	for i := range 40 {
		who := fmt.Sprintf("both-%d", i)
		at := start.Add(24 * time.Hour)
		events = append(events, exposure("checkout-v2", "control", who, at), exposure("checkout-v2", "one-page", who, at.Add(time.Hour)),
			ev("purchase", who, at.Add(2*time.Hour), nil))
	}
	// Exposures before the start do not count.
	events = append(events, exposure("checkout-v2", "control", "early-bird", start.Add(-time.Hour)))
	x.send(events)

	path := fmt.Sprintf("/api/v1/experiments/%d", e.ID)
	var r results
	x.decode(x.do("GET", path+"/results", x.key, nil, 200), &r)
	if r.Frozen || r.Exposed != 5000 || r.Variants[0].Exposed != int64(counts["control"]) || r.Variants[1].Exposed != int64(counts["one-page"]) {
		t.Fatalf("exposed %d (%+v), want %v", r.Exposed, r.Variants, counts)
	}
	if r.MultipleExposures.Persons != 40 {
		t.Errorf("multiple exposures %d, want 40", r.MultipleExposures.Persons)
	}
	if len(r.Days) < 7 || len(r.Variants[0].Exposures) != len(r.Days) {
		t.Errorf("days %v, exposures %v", r.Days, r.Variants[0].Exposures)
	}
	var perDay int64
	for _, n := range r.Variants[0].Exposures {
		perDay += n
	}
	if perDay != r.Variants[0].Exposed {
		t.Errorf("exposures by day add up to %d, not %d", perDay, r.Variants[0].Exposed)
	}
	if r.SRM.Mismatch || r.SRM.PValue < 0.001 {
		t.Errorf("srm %+v for %v", r.SRM, counts)
	}
	if len(r.Metrics.Primary) != 1 || len(r.Metrics.Secondary) != 1 || len(r.Metrics.Guardrail) != 1 {
		t.Fatalf("metrics %+v", r.Metrics)
	}
	buy := r.Metrics.Primary[0]
	t.Logf("purchase: control %.4f one-page %.4f effect %.4f CI [%.4f, %.4f] p %.2g",
		*buy.ControlMean, *buy.TreatmentMean, *buy.Effect, *buy.CI[0], *buy.CI[1], *buy.PValue)
	if buy.Metric != "purchase" || buy.Variant != "one-page" || buy.Error != "" || buy.NControl != int64(counts["control"]) {
		t.Fatalf("purchase %+v", buy)
	}
	if !buy.Significant || buy.Direction != "up" || !buy.Better || *buy.Effect <= 0 {
		t.Errorf("the lift is not detected: %+v", buy)
	}
	if *buy.CI[0] > 0.05 || *buy.CI[1] < 0.05 {
		t.Errorf("CI [%v, %v] does not cover the planted +0.05", *buy.CI[0], *buy.CI[1])
	}
	if c := *buy.ControlMean; c < 0.17 || c > 0.23 {
		t.Errorf("control conversion %v, planted 0.20", c)
	}
	if g := r.Metrics.Guardrail[0]; g.Significant || len(r.Warnings) != 0 {
		t.Errorf("guardrail moved by chance? %+v %v", g, r.Warnings)
	}

	// Stop: frozen, and events that arrive later change nothing.
	x.do("POST", path+"/stop", x.key, map[string]string{"decision": "won", "shipped_variant": "one-page", "notes": "Rolled out to everyone"}, 200)
	frozen := x.do("GET", path+"/results", x.key, nil, 200)
	var more []event
	for i := range 500 {
		who := fmt.Sprintf("late-%d", i)
		at := start.Add(48 * time.Hour)
		more = append(more, exposure("checkout-v2", "control", who, at), ev("purchase", who, at.Add(time.Hour), nil))
	}
	x.send(more)
	if again := x.do("GET", path+"/results", x.key, nil, 200); !bytes.Equal(again, frozen) {
		t.Fatalf("stopped results changed:\n%s\n%s", frozen, again)
	}
	var fr results
	x.decode(frozen, &fr)
	if !fr.Frozen || fr.Exposed != 5000 {
		t.Errorf("frozen results %+v", fr)
	}
	// The late events are loaded (a running experiment would count them).
	const probe = `{"name":"probe","flag_key":"checkout-v2","metrics":{"primary":[{"kind":"conversion","event":"purchase"}]}}`
	pe, _ := x.startBackdated(probe, 7)
	var pr results
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/experiments/%d/results", pe.ID), x.key, nil, 200), &pr)
	if pr.Exposed != 5500 {
		t.Errorf("probe counts %d exposed, want the 5 000 and the 500 late ones", pr.Exposed)
	}
	x.do("POST", fmt.Sprintf("/api/v1/experiments/%d/stop", pe.ID), x.key, map[string]string{"decision": "inconclusive"}, 200)

	// A 60/40 split of a 50/50 experiment.
	const onboarding = `{"name":"Welcome tour","hypothesis":"A guided tour activates new users","stage":"Activation",
		"flag_key":"welcome-tour","variants":[{"key":"control","weight":1},{"key":"tour","weight":1}],
		"metrics":{"primary":[{"name":"activated","kind":"conversion","event":"signed_up"}]}}`
	// With a 20% holdout: /flags, the server SDKs' fallback, keeps the
	// held-out ids out of the experiment started now.
	x.do("PUT", "/api/v1/experiments/holdout", x.key, map[string]any{"percent": 20}, 200)
	srm, sstart := x.startBackdated(onboarding, 5)
	held := 0
	for i := range 60 {
		who := fmt.Sprintf("visitor-%d", i)
		body, _ := json.Marshal(map[string]any{"token": x.token, "distinct_id": who})
		resp, err := http.Post(x.url+"/flags/?v=2", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var answer struct {
			Flags map[string]struct {
				Enabled bool    `json:"enabled"`
				Variant *string `json:"variant"`
			} `json:"flags"`
		}
		json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		tour := answer.Flags["welcome-tour"]
		out := flags.InBucket(fmt.Sprintf("holdout:%d", x.pid), who, 0, 0.2)
		if out {
			held++
		}
		if tour.Enabled == out || (!out && tour.Variant == nil) {
			t.Fatalf("/flags for %s (held out: %v): %+v", who, out, answer.Flags)
		}
	}
	if held == 0 || held == 60 {
		t.Errorf("%d of 60 held out", held)
	}
	events = events[:0]
	for i := range 3000 {
		who := fmt.Sprintf("newbie-%d", i)
		variant := "control"
		if i%5 >= 3 {
			variant = "tour"
		}
		at := sstart.Add(time.Hour + within(3*24*time.Hour))
		events = append(events, exposure("welcome-tour", variant, who, at))
		if rng.Float64() < 0.3 {
			events = append(events, ev("signed_up", who, at.Add(time.Hour), nil))
		}
	}
	x.send(events)
	spath := fmt.Sprintf("/api/v1/experiments/%d", srm.ID)
	x.decode(x.do("GET", spath+"/results", x.key, nil, 200), &r)
	if r.Variants[0].Exposed != 1800 || r.Variants[1].Exposed != 1200 || !r.SRM.Mismatch || r.SRM.PValue > 1e-10 {
		t.Errorf("60/40 split: %+v srm %+v", r.Variants, r.SRM)
	}
	x.do("POST", spath+"/stop", x.key, map[string]string{"decision": "lost", "notes": "SRM: the tour crashed on Safari"}, 200)

	// The archive: every stopped experiment, newest stop first, searchable.
	type entry struct {
		ID         int64           `json:"id"`
		Name       string          `json:"name"`
		Hypothesis string          `json:"hypothesis"`
		Stage      string          `json:"stage"`
		Decision   string          `json:"decision"`
		Notes      string          `json:"notes"`
		Link       string          `json:"link"`
		Result     json.RawMessage `json:"result"`
	}
	archive := func(query string) []int64 {
		t.Helper()
		var list []entry
		x.decode(x.do("GET", "/api/v1/archive?"+query, x.key, nil, 200), &list)
		var ids []int64
		for _, a := range list {
			if a.Link != fmt.Sprintf("/experiments/%d", a.ID) || len(a.Result) == 0 || a.Decision == "" {
				t.Errorf("archive entry %+v", a)
			}
			ids = append(ids, a.ID)
		}
		return ids
	}
	want := func(query string, ids ...int64) {
		t.Helper()
		if got := archive(query); fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Errorf("archive?%s = %v, want %v", query, got, ids)
		}
	}
	want("", srm.ID, pe.ID, e.ID)
	want("q=shorter+checkout", e.ID)
	want("q="+url.QueryEscape("SAFARI"), srm.ID)
	want("q=nothing-like-this")
	want("outcome=lost", srm.ID)
	want("outcome=won", e.ID)
	want("metric=ACTIVATED", srm.ID)
	want("event=Support_Ticket", e.ID)
	want("event=purchase", pe.ID, e.ID)
	want("stage=purchase", e.ID)
	want("stage=Activation&outcome=won")
	var stages struct {
		Stages []struct {
			Stage       string `json:"stage"`
			Experiments int    `json:"experiments"`
			Won         int    `json:"won"`
			Lost        int    `json:"lost"`
		} `json:"stages"`
	}
	x.decode(x.do("GET", "/api/v1/archive/stages", x.key, nil, 200), &stages)
	got := map[string][3]int{}
	for _, s := range stages.Stages {
		got[strings.ToLower(s.Stage)] = [3]int{s.Experiments, s.Won, s.Lost}
	}
	if got["purchase"] != [3]int{1, 1, 0} || got["activation"] != [3]int{1, 0, 1} || got[""] != [3]int{1, 0, 0} {
		t.Errorf("archive stages %+v", stages.Stages)
	}

	// The estimate reads the project's recent events.
	var est struct {
		Baseline   float64 `json:"baseline"`
		DailyUsers float64 `json:"daily_users"`
		PerArm     int     `json:"per_arm"`
		Days       *int    `json:"days"`
	}
	x.decode(x.do("POST", "/api/v1/experiments/estimate", x.key, map[string]any{
		"metric": map[string]any{"kind": "conversion", "event": "purchase"}, "mde": 0.05}, 200), &est)
	t.Logf("estimate: baseline %.4f daily %.1f per arm %d days %v", est.Baseline, est.DailyUsers, est.PerArm, fmt.Sprint(derefInt(est.Days)))
	if est.Baseline < 0.15 || est.Baseline > 0.5 || est.DailyUsers < 100 || est.PerArm < 100 || est.Days == nil || *est.Days < 1 {
		t.Errorf("estimate %+v", est)
	}
	var exp struct {
		DailyUsers float64 `json:"daily_users"`
		PerArm     int     `json:"per_arm"`
	}
	x.decode(x.do("POST", "/api/v1/experiments/estimate", x.key, map[string]any{
		"metric": map[string]any{"kind": "conversion", "event": "purchase"}, "mde": 0.1, "relative": true,
		"baseline": 0.2, "flag_key": "welcome-tour"}, 200), &exp)
	// 3 000 persons exposed over 3 days of the last 14: about 214 a day.
	if exp.DailyUsers < 150 || exp.DailyUsers > 250 || exp.PerArm < 6000 || exp.PerArm > 7000 {
		t.Errorf("estimate on exposures %+v", exp)
	}
	x.do("POST", "/api/v1/experiments/estimate", x.key, map[string]any{"metric": map[string]any{"kind": "count", "event": "purchase"}, "mde": 0.1}, 400)
	x.do("POST", "/api/v1/experiments/estimate", x.key, map[string]any{"metric": map[string]any{"kind": "conversion", "event": "purchase"}}, 400)
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
