package api_test

import (
	"fmt"
	"testing"
	"time"
)

// TestFlagUsage: a flag's usage counts the $feature_flag_called events of
// that flag only, per day and per value, with persons counted once a day;
// another project's key sees no such flag.
func TestFlagUsage(t *testing.T) {
	x := newE2E(t)
	var f struct {
		ID int64 `json:"id"`
	}
	x.decode(x.do("POST", "/api/v1/flags", x.key, map[string]any{"key": "checkout", "name": "Checkout", "active": true,
		"filters": map[string]any{"groups": []any{map[string]any{"properties": []any{}, "rollout_percentage": 100}},
			"multivariate": map[string]any{"variants": []any{map[string]any{"key": "control", "rollout_percentage": 50}, map[string]any{"key": "test", "rollout_percentage": 50}}}}}, 201), &f)
	today := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1) // whole days in the past
	yesterday := today.AddDate(0, 0, -1)
	var evs []event
	// Yesterday: a, b, c see control (a twice), d sees test; today d sees
	// test three times; e's calls are of another flag.
	for _, c := range []struct{ who, variant string }{{"a", "control"}, {"a", "control"}, {"b", "control"}, {"c", "control"}, {"d", "test"}} {
		evs = append(evs, exposure("checkout", c.variant, c.who, yesterday.Add(time.Hour)))
	}
	for i := range 3 {
		evs = append(evs, exposure("checkout", "test", "d", today.Add(time.Duration(i)*time.Minute)))
	}
	evs = append(evs, exposure("banner", "true", "e", yesterday.Add(time.Hour)))
	x.send(evs)

	var u struct {
		Key   string `json:"key"`
		Usage struct {
			Series []struct {
				Label          string  `json:"label"`
				BreakdownValue *string `json:"breakdown_value"`
				Points         []struct {
					T     string  `json:"t"`
					Value float64 `json:"value"`
				} `json:"points"`
			} `json:"series"`
		} `json:"usage"`
	}
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/flags/%d/usage?days=7", f.ID), x.key, nil, 200), &u)
	got := map[string]float64{}
	for _, s := range u.Usage.Series {
		for _, p := range s.Points {
			if p.Value != 0 {
				got[fmt.Sprintf("%s %s", s.Label, p.T)] = p.Value
			}
		}
	}
	y, d := yesterday.Format("2006-01-02"), today.Format("2006-01-02")
	want := map[string]float64{
		"calls - control " + y: 4, "calls - test " + y: 1, "calls - test " + d: 3,
		"persons - control " + y: 3, "persons - test " + y: 1, "persons - test " + d: 1,
	}
	if u.Key != "checkout" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("usage of %q = %v, want %v", u.Key, got, want)
	}
	x.do("GET", fmt.Sprintf("/api/v1/flags/%d/usage?days=0", f.ID), x.key, nil, 400)
	x.do("GET", "/api/v1/flags/999/usage", x.key, nil, 404)
	var other struct {
		SecretKey string `json:"secret_key"`
	}
	x.decode(x.do("POST", "/api/v1/projects", e2eAdminKey, map[string]string{"name": "other", "timezone": "UTC"}, 201), &other)
	x.do("GET", fmt.Sprintf("/api/v1/flags/%d/usage", f.ID), other.SecretKey, nil, 404)
}
