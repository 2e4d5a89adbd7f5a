package flags

import (
	"fmt"
	"testing"
	"time"
)

// benchFlags is a plausible project: twenty flags of every kind.
func benchFlags(tb testing.TB) []*Compiled {
	var out []*Compiled
	for i := 0; i < 8; i++ {
		out = append(out, mustDecodeCompile(tb, fmt.Sprintf(`{"id":%d,"key":"rollout-%d","filters":{"groups":[{"rollout_percentage":%d}]}}`, i+1, i, 10*i+5)))
	}
	for _, js := range []string{
		`{"key":"plans","filters":{"groups":[{"properties":[{"key":"plan","value":["pro","team","enterprise"],"operator":"exact","type":"person"}],"rollout_percentage":50}]}}`,
		`{"key":"staff","filters":{"groups":[{"properties":[{"key":"email","value":"@journey.dev","operator":"icontains"}]},{"rollout_percentage":5}]}}`,
		`{"key":"power","filters":{"groups":[{"properties":[{"key":"orders","value":10,"operator":"gte"},{"key":"country","value":"de","operator":"is_not"}]}]}}`,
		`{"key":"recent","filters":{"groups":[{"properties":[{"key":"signed_up","value":"-30d","operator":"is_date_after"}]}]}}`,
		`{"key":"gmail","filters":{"groups":[{"properties":[{"key":"email","value":"@(gmail|googlemail)\\.com$","operator":"regex"}]}]}}`,
		`{"key":"app-version","filters":{"groups":[{"properties":[{"key":"$app_version","value":"2.3.0","operator":"semver_gte"}]}]}}`,
		`{"key":"checkout","filters":{"groups":[{"rollout_percentage":100}],"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},"payloads":{"test":"{\"cta\":\"Buy now\"}"}}}`,
		`{"key":"pricing","ensure_experience_continuity":true,"filters":{"groups":[{"properties":[{"key":"country","value":["us","ca","gb"]}],"rollout_percentage":80}],"multivariate":{"variants":[{"key":"a","rollout_percentage":34},{"key":"b","rollout_percentage":33},{"key":"c","rollout_percentage":33}]}}}`,
		`{"key":"onboarding","filters":{"groups":[{"properties":[{"key":"id","value":3,"type":"cohort"}],"variant":"short"},{"rollout_percentage":20}],"multivariate":{"variants":[{"key":"short","rollout_percentage":50},{"key":"long","rollout_percentage":50}]}}}`,
		`{"key":"b2b-beta","filters":{"aggregation_group_type_index":0,"groups":[{"properties":[{"key":"seats","value":50,"operator":"gt","type":"group","group_type_index":0}]}]}}`,
		`{"key":"retired","active":false,"filters":{"groups":[{"rollout_percentage":100}]}}`,
		`{"key":"needs-checkout","filters":{"groups":[{"properties":[{"key":"checkout","type":"flag","value":"test","operator":"flag_evaluates_to"}]}]}}`,
	} {
		out = append(out, mustDecodeCompile(tb, js))
	}
	return out
}

func benchSubject() (*Subject, *Env) {
	s := &Subject{
		DistinctID:   "user-8a1f0c",
		HashOverride: "anon-77c1",
		PersonProperties: map[string]any{
			"email": "jo.doe@gmail.com", "plan": "Pro", "orders": 12, "country": "US",
			"signed_up": "2024-05-20T10:00:00Z", "$app_version": "2.4.1", "$browser": "Chrome",
			"$os": "Mac OS X", "utm_source": "newsletter", "name": "Jo Doe", "ltv": 420.5,
		},
		Groups:          map[string]string{"company": "acme"},
		GroupProperties: map[string]map[string]any{"company": {"seats": 120, "plan": "enterprise"}},
	}
	env := &Env{
		GroupTypes: map[int]string{0: "company"},
		Cohorts:    CohortFunc(func(id string, _ *Subject, _ time.Time) (bool, error) { return id == "3", nil }),
		Now:        time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
	}
	return s, env
}

func TestBenchFlagsEvaluate(t *testing.T) {
	s, env := benchSubject()
	rs := EvaluateAll(benchFlags(t), s, env)
	if len(rs) != 20 {
		t.Fatalf("%d results", len(rs))
	}
	byKey := map[string]Result{}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Key, r.Err)
		}
		byKey[r.Key] = r
	}
	for key, want := range map[string]any{
		"staff": Hash("staff", s.DistinctID, "") <= 0.05, "power": true, "recent": true, "gmail": true, "app-version": true,
		"onboarding": "short", "b2b-beta": true, "retired": false,
		"needs-checkout": byKey["checkout"].Variant == "test",
	} {
		if got := byKey[key].Value(); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
}

// BenchmarkEvaluateAll: one /flags request's work, twenty flags for one
// person (reported by `go test -bench`, never asserted).
func BenchmarkEvaluateAll(b *testing.B) {
	cs := benchFlags(b)
	s, env := benchSubject()
	b.ReportAllocs()
	for b.Loop() {
		EvaluateAll(cs, s, env)
	}
}

func BenchmarkEvaluateRollout(b *testing.B) {
	c := mustDecodeCompile(b, `{"key":"simple-flag","filters":{"groups":[{"rollout_percentage":45}]}}`)
	s := &Subject{DistinctID: "distinct_id_0"}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(c, s, &emptyEnv)
	}
}

func BenchmarkCompile(b *testing.B) {
	f := benchFlags(b)[12].Flag() // the regex
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(f); err != nil {
			b.Fatal(err)
		}
	}
}
