package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// TestShopLab: the lab's flags and experiments are stored as the API
// stores them, and every $feature_flag_called the shop sends is what the
// stored flag gives that visitor, sent while the experiment runs, with
// posthog-js's properties; the planted checkout effect shows in the raw
// orders. (cmd/journey's TestDemoLearn checks the results on the whole
// stack.)
func TestShopLab(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, _, err := m.CreateProject(ctx, "Demo shop", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Seed: 42, End: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC), Days: 60}
	if NewShopLab(Options{Days: minLabDays - 1}) != nil {
		t.Fatal("a lab in a history too short for it")
	}
	lab := NewShopLab(o)
	if err := lab.Store(ctx, m, p.ID, 0); err != nil {
		t.Fatal(err)
	}
	stored := map[string]*flags.Compiled{}
	mfs, err := m.Flags(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		f, err := flagserve.FromMeta(mf)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Active {
			t.Errorf("flag %s is not active", f.Key)
		}
		stored[f.Key] = flags.MustCompile(f)
	}
	if len(stored) != 4 {
		t.Fatalf("flags %v", mfs)
	}
	exps, err := m.Experiments(ctx, p.ID, meta.ExperimentFilter{Status: meta.ExperimentRunning})
	if err != nil || len(exps) != 3 {
		t.Fatalf("running experiments %+v %v", exps, err)
	}
	started := map[string]time.Time{}
	for _, e := range exps {
		if e.StartedAt == nil || !e.StartedAt.Before(o.End) || e.Hypothesis == "" || e.Stage == "" {
			t.Fatalf("experiment %+v", e)
		}
		started[e.FlagKey] = *e.StartedAt
	}

	o.Lab = lab
	type key struct{ id, flag string }
	variant := map[key]string{}
	person := map[string]map[string]any{}
	orders := map[string]int{}
	var exposures int
	sink := func(_ context.Context, b event.Batch) error {
		for _, e := range b.Events {
			if e.Event == "$identify" {
				person[e.DistinctID] = e.Set
			}
			if e.Event == "order_completed" {
				if v, ok := variant[key{e.DistinctID, FlagNewCheckout}]; ok {
					orders[v]++
				}
			}
			if e.Event != "$feature_flag_called" {
				continue
			}
			exposures++
			flag, _ := e.Properties["$feature_flag"].(string)
			c := stored[flag]
			if c == nil {
				t.Fatalf("exposure to an unknown flag: %v", e.Properties)
			}
			for _, k := range []string{"$feature_flag_response", "$feature_flag_id", "$feature_flag_version", "$feature_flag_reason",
				"$feature_flag_request_id", "locally_evaluated", "$feature/" + flag, "$session_id"} {
				if _, ok := e.Properties[k]; !ok {
					t.Fatalf("exposure without %s: %v", k, e.Properties)
				}
			}
			if s, ok := started[flag]; ok && e.Timestamp.Before(s) {
				t.Fatalf("exposure at %s before %s started at %s", e.Timestamp, flag, s)
			}
			got := fmt.Sprint(e.Properties["$feature_flag_response"])
			want := flags.Evaluate(c, &flags.Subject{DistinctID: e.DistinctID, PersonProperties: person[e.DistinctID]}, nil)
			if got != fmt.Sprint(want.Value()) || e.Properties["$feature_flag_id"] != want.ID {
				t.Fatalf("%s got %s of %s (id %v), the stored flag gives %v (id %d)", e.DistinctID, got, flag, e.Properties["$feature_flag_id"], want.Value(), want.ID)
			}
			k := key{e.DistinctID, flag}
			if old, ok := variant[k]; ok && old != got {
				t.Fatalf("%s saw %s and %s of %s", e.DistinctID, old, got, flag)
			}
			variant[k] = got
		}
		return nil
	}
	if _, err := Shop(ctx, p.ID, sink, o, 100_000, nil); err != nil {
		t.Fatal(err)
	}
	arms := map[string]int{}
	for k, v := range variant {
		if k.flag == FlagNewCheckout {
			arms[v]++
		}
	}
	if arms["control"] < 300 || arms["test"] < 300 || arms["false"] == 0 {
		t.Fatalf("%d exposures; new-checkout arms %v", exposures, arms)
	}
	// Orders per exposed customer, any time after: the one-page checkout sells more.
	if c, tr := float64(orders["control"])/float64(arms["control"]), float64(orders["test"])/float64(arms["test"]); tr <= c {
		t.Errorf("orders per customer: control %.3f, test %.3f", c, tr)
	}
}
