package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"
)

// TestStatsCalculator drives the calculator endpoints with GrowthBook's
// published cases (gbstats tests/frequentist and tests/bayesian
// test_tests.py, the back end's SRM test, the shared package's Holm
// vector) and a hand-computed sample size, and checks the field errors.
func TestStatsCalculator(t *testing.T) {
	s, h := testServer(t)
	_, key, err := s.Meta.CreateProject(context.Background(), "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		code, out := call(t, h, key, http.MethodPost, "/api/v1/stats/"+path, body)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s: %s: %v", path, out, err)
		}
		return code, m
	}
	near := func(name string, got any, want float64) {
		t.Helper()
		g, ok := got.(float64)
		if !ok || math.Abs(g-want) > 5e-6 {
			t.Errorf("%s = %v, want %.6f", name, got, want)
		}
	}
	// TestTwoSidedTTest.test_two_sided_ttest_binom: 14/28 vs 16/30, relative.
	code, m := post("compare", `{"method":"frequentist","relative":true,"alpha":0.05,"control":{"n":28,"conversions":14},"treatment":{"n":30,"conversions":16}}`)
	if code != 200 {
		t.Fatalf("compare: %d %v", code, m)
	}
	near("effect", m["effect"], 0.06667)
	near("se", m["se"], 0.27170)
	near("p_value", m["p_value"], 0.80707)
	ci, _ := m["ci"].([]any)
	if len(ci) != 2 {
		t.Fatalf("ci = %v", m["ci"])
	}
	near("ci[0]", ci[0], -0.47767)
	near("ci[1]", ci[1], 0.61101)
	for _, absent := range []string{"chance_to_win", "risk"} {
		if _, ok := m[absent]; ok {
			t.Errorf("frequentist answer has %q: %v", absent, m)
		}
	}
	// TestBinom.test_bayesian_binomial_ab_test: 49/100 vs 51/100.
	code, m = post("compare", `{"method":"bayesian","relative":true,"control":{"n":100,"conversions":49},"treatment":{"n":100,"conversions":51}}`)
	if code != 200 {
		t.Fatalf("bayesian: %d %v", code, m)
	}
	near("effect", m["effect"], 0.04082)
	near("chance_to_win", m["chance_to_win"], 0.60918)
	risk, _ := m["risk"].([]any)
	if len(risk) != 2 {
		t.Fatalf("risk = %v", m["risk"])
	}
	near("risk[0]", risk[0], 0.0814)
	near("risk[1]", risk[1], 0.04058)
	if _, ok := m["p_value"]; ok {
		t.Errorf("bayesian answer has p_value: %v", m)
	}
	// A mean metric in the sum form: the engine's answer for Welch by hand
	// (n 3, values 1,2,3 vs 2,4,6: means 2 and 4, variances 1 and 4, se =
	// sqrt(1/3 + 4/3)).
	code, m = post("compare", `{"control":{"n":3,"sum":6,"sum_squares":14},"treatment":{"n":3,"sum":12,"sum_squares":56}}`)
	if code != 200 {
		t.Fatalf("mean: %d %v", code, m)
	}
	near("effect", m["effect"], 2)
	near("se", m["se"], math.Sqrt(5.0/3))

	code, m = post("srm", `{"users":[1000,1200],"weights":[0.5,0.5]}`) // "Simple 2-way test"
	if code != 200 {
		t.Fatalf("srm: %d %v", code, m)
	}
	near("p_value", m["p_value"], 0.000020079)
	if m["mismatch"] != true {
		t.Errorf("srm mismatch = %v", m["mismatch"])
	}
	code, m = post("adjust", `{"method":"holm","p_values":[0.01,0.04,0.03,0.005,0.55,0.6]}`)
	if code != 200 {
		t.Fatalf("adjust: %d %v", code, m)
	}
	ps, _ := m["p_values"].([]any)
	want := []float64{0.05, 0.12, 0.12, 0.03, 1, 1}
	if len(ps) != len(want) {
		t.Fatalf("p_values = %v", m["p_values"])
	}
	for i, w := range want {
		near("p_values", ps[i], w)
	}
	// 10% → 12% at alpha 0.05, power 0.8: (1.95996 + 0.84162)² (0.09 +
	// 0.1056) / 0.02² = 3840.8, so 3841 per arm.
	code, m = post("sample-size", `{"baseline":0.1,"mde":0.02,"relative":false,"alpha":0.05,"power":0.8}`)
	if code != 200 || m["per_arm"] != float64(3841) {
		t.Fatalf("sample-size: %d %v", code, m)
	}

	for body, field := range map[string]string{
		`{"control":{"n":10,"conversions":2}}`:                                                       "treatment",
		`{"control":{"conversions":2},"treatment":{"n":10,"conversions":3}}`:                         "control.n",
		`{"control":{"n":10,"sum":2},"treatment":{"n":10,"conversions":3}}`:                          "control.sum_squares",
		`{"method":"magic","control":{"n":10,"conversions":2},"treatment":{"n":10,"conversions":3}}`: "method",
		`{"control":{"n":10,"conversions":20},"treatment":{"n":10,"conversions":3}}`:                 "control.conversions",
		`{"contrl":{}}`: "body",
	} {
		code, m := post("compare", body)
		if code != 400 || m["field"] != field {
			t.Errorf("%s: %d %v, want 400 naming %q", body, code, m, field)
		}
	}
	if code, m := post("adjust", `{"method":"holm","p_values":[0.2,1.5]}`); code != 400 || m["field"] != "p_values[1]" {
		t.Errorf("adjust out of range: %d %v", code, m)
	}
	if code, _ := call(t, h, "wrong", http.MethodPost, "/api/v1/stats/srm", `{}`); code != 401 {
		t.Errorf("unknown key: %d", code)
	}
}
