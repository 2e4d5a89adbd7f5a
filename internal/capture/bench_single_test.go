package capture

import (
	"bytes"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

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
	cpu := processCPU()
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
	reportCPU(b, cpu)
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: the process's CPU time per operation since
// start, the log's writer goroutine and the GC included. Unlike ns/op it
// hardly moves when other processes share the machine's cores, which is
// what the capture path's cost must be compared by on a busy machine.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}
