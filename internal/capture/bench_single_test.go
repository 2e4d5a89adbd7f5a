package capture

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/journey-dev/journey/internal/eventlog"
)

// BenchmarkSingleEventAck is what one posthog-js request costs the
// server from the decoded HTTP request to its answer: decode, append to
// the real file log (without the disk sync, which BenchmarkAppend in
// internal/eventlog measures) and the 200. SPEC §10's 10 000 such
// requests/s on 2 cores leave all of capture, the loader and net/http
// 200 µs of CPU a request.
func BenchmarkSingleEventAck(b *testing.B) {
	l, err := eventlog.OpenFile(b.TempDir(), eventlog.FileOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h := NewHandler(testProjects, l, Options{})
	body := []byte(`{"api_key":"tok_a","event":"$pageview","distinct_id":"lat-17","uuid":"0190b0a2-8c1e-7d3a-9f00-000000000017","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/"}}`)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/i/v0/e/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
