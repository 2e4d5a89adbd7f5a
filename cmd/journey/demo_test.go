package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/demo"
	ff "github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
)

// TestDemoLearn loads the demo at a small scale through loadDemo, as
// `journey demo` does, and checks the shop's "learn" story over the API:
// the flags, the exposures /flags agrees with, the concluded experiments
// in the archive with their frozen results (a significant win planted in
// New checkout, an honest null in Free-shipping banner) and the running
// one's live results.
func TestDemoLearn(t *testing.T) {
	ctx := context.Background()
	a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: "demo-test-admin-key-0123456789", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	shop, secret, saas, _, err := demoProjects(ctx, a.Meta)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := demoUser(ctx, a.Meta, "demo-test-password")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := loadDemo(ctx, a, shop, saas, owner, 300_000, 60, 42); err != nil {
		t.Fatal(err)
	}
	t.Logf("demo loaded in %s", time.Since(began).Round(100*time.Millisecond))

	call := func(method, path string, body any, v any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, out)
		}
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, out)
		}
	}
	sql := func(q string) [][]any {
		t.Helper()
		var res struct {
			Rows      [][]any `json:"rows"`
			Truncated bool    `json:"truncated"`
		}
		call("POST", "/api/v1/query", map[string]any{"kind": "sql", "query": q, "limit": 10000}, &res)
		if res.Truncated {
			t.Fatalf("%s: truncated", q)
		}
		return res.Rows
	}

	// The flags: new-checkout multivariate 50/50 with a person-property
	// condition and payloads, express-delivery a boolean 30% rollout.
	var fl []struct {
		ID      int64  `json:"id"`
		Key     string `json:"key"`
		Active  bool   `json:"active"`
		Version int    `json:"version"`
		Filters struct {
			Groups []struct {
				Properties []struct {
					Key, Type, Operator string
				} `json:"properties"`
				Rollout *float64 `json:"rollout_percentage"`
			} `json:"groups"`
			Multivariate *struct {
				Variants []struct {
					Key     string  `json:"key"`
					Rollout float64 `json:"rollout_percentage"`
				} `json:"variants"`
			} `json:"multivariate"`
			Payloads map[string]string `json:"payloads"`
		} `json:"filters"`
	}
	call("GET", "/api/v1/flags", nil, &fl)
	byKey := map[string]int{}
	for i, f := range fl {
		byKey[f.Key] = i
	}
	nc, ok := byKey[demo.FlagNewCheckout]
	if !ok {
		t.Fatalf("no %s flag in %+v", demo.FlagNewCheckout, fl)
	}
	checkout := fl[nc]
	if !checkout.Active || checkout.Filters.Multivariate == nil || len(checkout.Filters.Multivariate.Variants) != 2 ||
		checkout.Filters.Multivariate.Variants[0].Rollout != 50 || len(checkout.Filters.Payloads) != 2 ||
		len(checkout.Filters.Groups) != 1 || checkout.Filters.Groups[0].Properties[0].Type != "person" {
		t.Fatalf("new-checkout: %+v", checkout)
	}
	if ed, ok := byKey[demo.FlagExpress]; !ok || !fl[ed].Active || fl[ed].Filters.Multivariate != nil ||
		fl[ed].Filters.Groups[0].Rollout == nil || *fl[ed].Filters.Groups[0].Rollout != 30 {
		t.Fatalf("express-delivery: %+v", fl)
	}

	// Every person exposed to new-checkout saw one variant, and /flags
	// answers them that variant.
	rows := sql(`SELECT distinct_id, json_extract_string(properties, '$."$feature_flag_response"') AS v, count(*) AS n
		FROM events WHERE event = '$feature_flag_called' AND json_extract_string(properties, '$."$feature_flag"') = 'new-checkout'
		GROUP BY 1, 2 ORDER BY 1`)
	seen := map[string]string{}
	perVariant := map[string]int{}
	for _, r := range rows {
		id, v := r[0].(string), r[1].(string)
		if old, ok := seen[id]; ok {
			t.Fatalf("%s exposed to %s and %s", id, old, v)
		}
		seen[id] = v
		perVariant[v]++
	}
	if perVariant["control"] < 500 || perVariant["test"] < 500 || perVariant["false"] == 0 {
		t.Fatalf("exposures per variant %v, want both arms and the holdout", perVariant)
	}
	// flags.Evaluate on the stored flag with each person's stored
	// properties, for every exposed person; /flags itself for a sample
	// (every 10th id: one request reads a person from the event store).
	mf, err := a.Meta.Flag(ctx, shop.ID, checkout.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := flagserve.FromMeta(mf)
	if err != nil {
		t.Fatal(err)
	}
	compiled := ff.MustCompile(stored)
	persons := sql(`SELECT e.distinct_id, any_value(p.properties) FROM events e JOIN persons p ON p.id = e.person_id
		WHERE e.event = '$feature_flag_called' AND json_extract_string(e.properties, '$."$feature_flag"') = 'new-checkout'
		GROUP BY 1 ORDER BY 1`)
	if len(persons) != len(seen) {
		t.Fatalf("%d persons exposed, %d with properties", len(seen), len(persons))
	}
	asked := 0
	for i, r := range persons {
		id, v := r[0].(string), seen[r[0].(string)]
		var props map[string]any
		if err := json.Unmarshal([]byte(r[1].(string)), &props); err != nil {
			t.Fatal(err)
		}
		if got := ff.Evaluate(compiled, &ff.Subject{DistinctID: id, PersonProperties: props}, nil); fmt.Sprint(got.Value()) != v {
			t.Fatalf("flags.Evaluate for %s (%v): %+v, the events show %s", id, props, got, v)
		}
		if i%10 != 0 {
			continue
		}
		var ans struct {
			Flags map[string]struct {
				Enabled bool    `json:"enabled"`
				Variant *string `json:"variant"`
			} `json:"flags"`
			Errors bool `json:"errorsWhileComputingFlags"`
		}
		call("POST", "/flags/?v=2", map[string]any{"token": shop.Token, "distinct_id": id}, &ans)
		got, ok := ans.Flags[demo.FlagNewCheckout]
		switch {
		case !ok || ans.Errors:
			t.Fatalf("/flags for %s: %+v", id, ans)
		case v == "false" && got.Enabled, v != "false" && (got.Variant == nil || *got.Variant != v):
			t.Fatalf("/flags for %s: %+v, the events show %s", id, got, v)
		}
		asked++
	}
	t.Logf("%d persons exposed to new-checkout %v: flags.Evaluate agrees for all, /flags for the %d asked", len(seen), perVariant, asked)
	// posthog-js's properties.
	props := sql(`SELECT properties FROM events WHERE event = '$feature_flag_called'
		AND json_extract_string(properties, '$."$feature_flag"') = 'new-checkout' LIMIT 1`)
	var p map[string]any
	if err := json.Unmarshal([]byte(props[0][0].(string)), &p); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"$feature_flag_response", "$feature_flag_id", "$feature_flag_version", "$feature_flag_reason",
		"$feature_flag_request_id", "locally_evaluated", "$feature/new-checkout", "$session_id"} {
		if _, ok := p[k]; !ok {
			t.Errorf("exposure has no %s: %v", k, p)
		}
	}
	if p["$feature_flag_id"] != float64(checkout.ID) || p["$feature/new-checkout"] != p["$feature_flag_response"] {
		t.Errorf("exposure %v of flag %d", p, checkout.ID)
	}

	// The archive: both concluded experiments, decided, frozen.
	type comparison struct {
		Metric         string     `json:"metric"`
		Effect         *float64   `json:"effect"`
		CI             [2]float64 `json:"ci"`
		Significant    bool       `json:"significant"`
		Better         bool       `json:"better"`
		PValueAdjusted *float64   `json:"p_value_adjusted"`
		ChanceToWin    *float64   `json:"chance_to_win"`
	}
	type result struct {
		Frozen  bool      `json:"frozen"`
		From    time.Time `json:"from"`
		To      time.Time `json:"to"`
		Exposed int64     `json:"exposed"`
		SRM     struct {
			Mismatch bool `json:"mismatch"`
		} `json:"srm"`
		Metrics struct {
			Primary []comparison `json:"primary"`
		} `json:"metrics"`
	}
	var archive []struct {
		ID        int64     `json:"id"`
		Kind      string    `json:"kind"`
		Name      string    `json:"name"`
		Stage     string    `json:"stage"`
		Decision  string    `json:"decision"`
		Shipped   string    `json:"shipped_variant"`
		Notes     string    `json:"notes"`
		StartedAt time.Time `json:"started_at"`
		StoppedAt time.Time `json:"stopped_at"`
		Result    result    `json:"result"`
		FlagKey   string    `json:"flag_key"`
	}
	call("GET", "/api/v1/archive", nil, &archive)
	if len(archive) != 3 {
		t.Fatalf("archive has %d entries, want 2 experiments and the campaign's decision: %+v", len(archive), archive)
	}
	for _, e := range archive {
		if e.Kind == "campaign" { // demo.Act's, checked by internal/demo's TestShopAct
			continue
		}
		r := e.Result
		if !r.Frozen || r.Exposed == 0 || len(r.Metrics.Primary) == 0 || r.Metrics.Primary[0].Effect == nil || r.SRM.Mismatch ||
			!r.From.Equal(e.StartedAt) || !r.To.Equal(e.StoppedAt) || e.Notes == "" {
			t.Fatalf("%s: %+v", e.Name, e)
		}
		// Exposures start with the experiment.
		first := sql(fmt.Sprintf(`SELECT count(*) FROM events WHERE event = '$feature_flag_called'
			AND json_extract_string(properties, '$."$feature_flag"') = '%s' AND epoch_ms(timestamp) < %d`, e.FlagKey, e.StartedAt.UnixMilli()))
		if n := first[0][0].(float64); n != 0 {
			t.Errorf("%s: %v exposures before it started", e.Name, n)
		}
		c := r.Metrics.Primary[0]
		t.Logf("%s: %s, %d exposed, %s effect %+.4f CI [%+.4f, %+.4f]", e.Name, e.Decision, r.Exposed, c.Metric, *c.Effect, c.CI[0], c.CI[1])
		switch e.Name {
		case demo.ExperimentCheckout:
			if e.Decision != "won" || e.Shipped != "test" || e.Stage != "Activation" || !c.Significant || !c.Better ||
				*c.Effect < 0.02 || *c.Effect > 0.10 || c.CI[0] <= 0 {
				t.Errorf("New checkout: %+v, primary %+v", e, c)
			}
		case demo.ExperimentFreeShipping:
			if e.Decision != "inconclusive" || e.Shipped != "" || c.Significant || c.CI[0] >= 0 || c.CI[1] <= 0 || c.ChanceToWin == nil {
				t.Errorf("Free-shipping banner: %+v, primary %+v", e, c)
			}
		default:
			t.Errorf("unexpected experiment %q in the archive", e.Name)
		}
	}

	// The running experiment: live results, and a timeline.
	var exps []struct {
		ID     int64  `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	call("GET", "/api/v1/experiments?status=running", nil, &exps)
	if len(exps) != 1 || exps[0].Name != demo.ExperimentReviews {
		t.Fatalf("running: %+v", exps)
	}
	var holdout struct {
		Percent float64 `json:"percent"`
	}
	call("GET", "/api/v1/experiments/holdout", nil, &holdout)
	var layers []struct {
		Name        string `json:"name"`
		Experiments []struct {
			Name string  `json:"name"`
			To   float64 `json:"to"`
		} `json:"experiments"`
	}
	call("GET", "/api/v1/layers", nil, &layers)
	if holdout.Percent != 5 || len(layers) != 1 || len(layers[0].Experiments) != 1 || layers[0].Experiments[0].Name != demo.ExperimentReviews {
		t.Errorf("holdout %+v, layers %+v", holdout, layers)
	}
	var live result
	call("GET", fmt.Sprintf("/api/v1/experiments/%d/results", exps[0].ID), nil, &live)
	if live.Frozen || live.Exposed == 0 || len(live.Metrics.Primary) == 0 {
		t.Fatalf("live results: %+v", live)
	}
	for _, e := range archive {
		if e.Kind == "campaign" {
			continue
		}
		var tl []struct {
			At     time.Time `json:"at"`
			Kind   string    `json:"kind"`
			Detail string    `json:"detail"`
		}
		call("GET", fmt.Sprintf("/api/v1/experiments/%d/timeline", e.ID), nil, &tl)
		var kinds []string
		for i, x := range tl {
			kinds = append(kinds, x.Kind)
			if i > 0 && x.At.Before(tl[i-1].At) {
				t.Errorf("%s: timeline out of order: %+v", e.Name, tl)
			}
		}
		if got := strings.Join(kinds, ","); !strings.HasPrefix(got, "created,started,note,stopped,decided") {
			t.Errorf("%s: timeline %s", e.Name, got)
		}
	}
	var stages struct {
		Stages []struct {
			Stage        string `json:"stage"`
			Won          int    `json:"won"`
			Inconclusive int    `json:"inconclusive"`
		} `json:"stages"`
	}
	call("GET", "/api/v1/archive/stages", nil, &stages)
	counts := map[string]string{}
	for _, s := range stages.Stages {
		counts[s.Stage] = fmt.Sprintf("%d/%d", s.Won, s.Inconclusive)
	}
	if counts["Activation"] != "2/0" || counts["Retention/Engagement"] != "0/1" {
		t.Errorf("archive stages %+v", stages)
	}
}
