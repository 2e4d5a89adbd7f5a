package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/journey-dev/journey/internal/event"
)

var plans = []struct {
	name string
	mrr  float64
	w    float64
}{{"free", 0, 50}, {"starter", 49, 30}, {"growth", 299, 15}, {"enterprise", 1990, 5}}

var onboardingSteps = []string{"created_workspace", "connected_data_source", "invited_teammate", "built_first_report"}
var features = []string{"report_viewed", "dashboard_viewed", "export_csv", "alert_created", "query_run"}

// SaaS generates B2B accounts (group "company" with plan and MRR) whose
// users sign up, go through onboarding, use features and open tickets.
func SaaS(ctx context.Context, project int64, sink Sink, o Options, n int, onBatch func(int)) (int, error) {
	r := rand.New(rand.NewPCG(o.Seed, 3))
	g := &gen{rng: r, project: project, sink: sink, uuidRng: rand.New(rand.NewPCG(o.Seed, 4)), onBatch: onBatch}
	start := o.start()
	for a := 0; g.sent+len(g.buf) < n; a++ {
		if err := saasAccount(ctx, g, a, start, o.Days); err != nil {
			return g.sent, err
		}
	}
	return g.sent, g.flush(ctx)
}

func saasAccount(ctx context.Context, g *gen, a int, start time.Time, days int) error {
	r := g.rng
	plan := plans[weighted(r, []float64{50, 30, 15, 5})]
	company := fmt.Sprintf("acct-%05d", a)
	groups := map[string]any{"company": company}
	created := r.IntN(days)
	users := 1 + r.IntN(2+int(plan.mrr/150))
	if users > 12 {
		users = 12
	}
	owner := fmt.Sprintf("%s-u1", company)
	t := instant(r, start, created)
	if err := g.emit(ctx, event.Event{Event: event.GroupIdentify, DistinctID: owner, Timestamp: t,
		Properties: map[string]any{"$group_type": "company", "$group_key": company,
			"$group_set": map[string]any{"name": "Company " + company[5:], "plan": plan.name, "mrr": plan.mrr,
				"industry": pick(r, []string{"retail", "fintech", "media", "health", "logistics"})}}}); err != nil {
		return err
	}
	for u := 1; u <= users; u++ {
		user := fmt.Sprintf("%s-u%d", company, u)
		t := instant(r, start, min(created+r.IntN(7), days-1)) // teammates join within a week
		props := func(extra map[string]any) map[string]any {
			p := map[string]any{"$groups": groups, "plan": plan.name}
			for k, v := range extra {
				p[k] = v
			}
			return p
		}
		if err := g.emit(ctx, event.Event{Event: "signed_up", DistinctID: user, Timestamp: t, Properties: props(map[string]any{"role": pick(r, []string{"admin", "analyst", "viewer"})}),
			Set: map[string]any{"email": user + "@" + company + ".example", "company": company}}); err != nil {
			return err
		}
		// Onboarding: each step is reached by fewer users.
		for i, step := range onboardingSteps {
			if r.Float64() > []float64{0.92, 0.7, 0.55, 0.6}[i] {
				break
			}
			t = t.Add(time.Duration(5+r.IntN(600)) * time.Minute)
			if err := g.emit(ctx, event.Event{Event: "onboarding_step_completed", DistinctID: user, Timestamp: t, Properties: props(map[string]any{"step": step, "step_number": i + 1})}); err != nil {
				return err
			}
			if i == len(onboardingSteps)-1 {
				if err := g.emit(ctx, event.Event{Event: "onboarding_completed", DistinctID: user, Timestamp: t.Add(time.Second), Properties: props(nil)}); err != nil {
					return err
				}
			}
		}
		// Usage on later days, heavier on paid plans.
		active := 0.15 + 0.1*float64(weightIndex(plan.name))
		for d := created + 1; d < days; d++ {
			if r.Float64() > active {
				continue
			}
			t := instant(r, start, d)
			for k := 0; k < 1+r.IntN(8); k++ {
				t = t.Add(time.Duration(1+r.IntN(300)) * time.Second)
				if err := g.emit(ctx, event.Event{Event: pick(r, features), DistinctID: user, Timestamp: t, Properties: props(nil)}); err != nil {
					return err
				}
			}
			if r.Float64() < 0.01 {
				if err := g.emit(ctx, event.Event{Event: "$exception", DistinctID: user, Timestamp: t.Add(time.Second), Properties: props(map[string]any{"$exception_type": "QueryTimeout"})}); err != nil {
					return err
				}
			}
			if r.Float64() < 0.015 {
				if err := g.emit(ctx, event.Event{Event: "support_ticket_created", DistinctID: user, Timestamp: t.Add(2 * time.Second), Properties: props(map[string]any{"topic": pick(r, []string{"billing", "sso", "bug", "how-to"})})}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func weightIndex(plan string) int {
	for i, p := range plans {
		if p.name == plan {
			return i
		}
	}
	return 0
}
