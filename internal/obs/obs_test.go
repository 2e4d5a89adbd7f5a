package obs

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// TestHistogramExposition checks the lines Prometheus reads: cumulative
// buckets with an inclusive le, +Inf equal to the count, the sum, and the
// series written by the same WritePrometheus that writes every counter.
func TestHistogramExposition(t *testing.T) {
	f := NewFamily("obs_test_seconds", []float64{0.1, 1})
	if NewFamily("obs_test_seconds", []float64{5}) != f {
		t.Fatal("a second NewFamily with the same name made another family")
	}
	h := f.With(Label("route", `/a"b`))
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.Observe(v)
	}
	f.With(Label("route", "/b")).Observe(2)
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	out := buf.String()
	for _, want := range []string{
		"# TYPE obs_test_seconds histogram\n",
		`obs_test_seconds_bucket{route="/a\"b",le="0.1"} 2` + "\n",
		`obs_test_seconds_bucket{route="/a\"b",le="1"} 3` + "\n",
		`obs_test_seconds_bucket{route="/a\"b",le="+Inf"} 4` + "\n",
		`obs_test_seconds_sum{route="/a\"b"} 3.65` + "\n",
		`obs_test_seconds_count{route="/a\"b"} 4` + "\n",
		`obs_test_seconds_bucket{route="/b",le="1"} 0` + "\n",
		`obs_test_seconds_count{route="/b"} 1` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, `route="/a\"b"`) > strings.Index(out, `route="/b"`) {
		t.Error("series are not sorted by label set")
	}
}

// TestHistogramConcurrent: counts and the sum survive concurrent writers.
func TestHistogramConcurrent(t *testing.T) {
	h := NewFamily("obs_test_concurrent_seconds", LatencyBuckets).With("")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(0.5)
			}
		}()
	}
	wg.Wait()
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	for _, want := range []string{"obs_test_concurrent_seconds_count 8000\n", "obs_test_concurrent_seconds_sum 4000\n", `obs_test_concurrent_seconds_bucket{le="0.25"} 0` + "\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}
