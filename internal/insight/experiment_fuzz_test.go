package insight

import (
	"errors"
	"testing"
)

// FuzzParseExperiment: any body either fails with an error naming its
// field or gives an experiment within its limits, whose validation can
// run again (the API re-validates after resolving actions).
func FuzzParseExperiment(f *testing.F) {
	f.Add([]byte(`{"flag_key":"new-checkout","variants":["control","test"],"from":"2026-01-05T00:00:00Z","to":"2026-02-05T00:00:00Z",
		"metrics":[{"kind":"conversion","event":"purchase","window":"7d"},{"kind":"sum","event":"purchase","property":"amount","cap":{"type":"percentile","value":0.99}}]}`))
	f.Add([]byte(`{"flag_key":"f","variants":["a","b","c"],"cuped":false,"from":"2026-01-05T00:00:00Z","to":"2026-01-06T00:00:00Z",
		"metrics":[{"kind":"ratio","numerator":{"kind":"sum","event":"p","property":"x"},"denominator":{"kind":"count","event":"v"}}]}`))
	f.Add([]byte(`{"flag_key":"f","variants":["a","b"],"pre_days":400,"metrics":[{"kind":"conversion","steps":[{"event":"a"},{"event":"b"}]}]}`))
	f.Add([]byte(`{"flag_key":"f","variants":["a","a"],"metrics":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := ParseExperiment(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if q.FlagKey == "" || len(q.Variants) < 2 || len(q.Variants) > MaxExperimentVariants ||
			len(q.Metrics) == 0 || len(q.Metrics) > MaxExperimentMetrics || q.PreDays < 0 || q.PreDays > MaxPreDays || !q.To.After(q.From) {
			t.Fatalf("accepted a bad experiment: %+v", q)
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("validation does not run twice: %v", err)
		}
	})
}
