package app

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/journey-dev/journey/internal/bench"
)

// BenchmarkCaptureBatch measures capture of gzip batches of 100 events
// through the whole embedded pipeline (decode, durable log, loader).
func BenchmarkCaptureBatch(b *testing.B) {
	a, err := Open(Config{DataDir: b.TempDir(), AdminKey: testAdminKey})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	p, _, err := a.Meta.CreateProject(b.Context(), "bench", "UTC")
	if err != nil {
		b.Fatal(err)
	}
	payloads := make([][]byte, 512)
	for i := range payloads {
		payloads[i] = bench.Gzip(bench.EventBatch(p.Token, 100, i))
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req, _ := http.NewRequest("POST", "/batch/", bytes.NewReader(payloads[i%int64(len(payloads))]))
			req.Header.Set("Content-Encoding", "gzip")
			w := &discard{h: http.Header{}}
			a.Handler.ServeHTTP(w, req)
			if w.code != 200 && w.code != 0 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(c int)           { d.code = c }

// BenchmarkCaptureSingle measures single-event requests (the posthog-js
// /i/v0/e/ path) through the whole embedded pipeline.
func BenchmarkCaptureSingle(b *testing.B) {
	a, err := Open(Config{DataDir: b.TempDir(), AdminKey: testAdminKey})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	p, _, err := a.Meta.CreateProject(b.Context(), "bench", "UTC")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"api_key":"` + p.Token + `","event":"$pageview","distinct_id":"u1","properties":{"$current_url":"https://shop.example/"}}`)
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", "/i/v0/e/", bytes.NewReader(body))
			w := &discard{h: http.Header{}}
			a.Handler.ServeHTTP(w, req)
			if w.code != 200 && w.code != 0 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
