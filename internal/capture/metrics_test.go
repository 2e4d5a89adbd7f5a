package capture

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/eventlog"
)

// series reads one series' value from the /metrics exposition (0 when
// absent).
func series(t *testing.T, name string) float64 {
	t.Helper()
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	for _, line := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestCaptureMetrics sends requests over a real connection to capture
// writing to the real file log: each is counted by route and status with
// its body's bytes as received, made-up paths fall under "other", and
// a log that cannot append shows as 503s.
func TestCaptureMetrics(t *testing.T) {
	log, err := eventlog.OpenFile(filepath.Join(t.TempDir(), "log"), eventlog.FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(testProjects, log, Options{}))
	defer srv.Close()
	post := func(path string, body []byte, headers ...string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		for _, kv := range headers {
			k, v, _ := strings.Cut(kv, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := `journey_capture_requests_total{route="/batch",status="200"}`
	okBytes := `journey_capture_request_bytes_total{route="/batch",status="200"}`
	took := `journey_capture_request_duration_seconds_count{route="/batch"}`
	other := `journey_capture_requests_total{route="other",status="404"}`
	failed := `journey_capture_requests_total{route="/e",status="503"}`
	before := map[string]float64{}
	for _, s := range []string{ok, okBytes, took, other, failed} {
		before[s] = series(t, s)
	}
	plain := []byte(`{"api_key":"tok_a","batch":[{"event":"a","distinct_id":"d","properties":{}}]}`)
	zipped := gz(t, string(plain))
	if c := post("/batch/", plain); c != 200 {
		t.Fatalf("plain batch: %d", c)
	}
	if c := post("/batch", zipped, "Content-Encoding: gzip"); c != 200 {
		t.Fatalf("gzipped batch: %d", c)
	}
	if c := post("/batch/made-up", plain); c != 404 {
		t.Fatalf("made-up path: %d", c)
	}
	log.Close()
	if c := post("/e/", []byte(`{"api_key":"tok_a","event":"a","distinct_id":"d"}`)); c != 503 {
		t.Fatalf("closed log: %d", c)
	}
	for s, d := range map[string]float64{ok: 2, okBytes: float64(len(plain) + len(zipped)), took: 2, other: 1, failed: 1} {
		if got := series(t, s) - before[s]; got != d {
			t.Errorf("%s grew by %v, want %v", s, got, d)
		}
	}
}
