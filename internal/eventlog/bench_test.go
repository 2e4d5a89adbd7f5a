package eventlog

import (
	"context"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
)

// BenchmarkAppend measures durable appends of 100-event batches from
// concurrent writers (group commit shares each disk sync).
func BenchmarkAppend(b *testing.B) {
	l, err := OpenFile(b.TempDir(), FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e4f"
	}
	batch := batch(1, ids...)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendSingle measures the CPU and allocations of appending
// one-event batches (posthog-js' single-event requests) without the disk
// sync, which BenchmarkAppend includes.
func BenchmarkAppendSingle(b *testing.B) {
	l, err := OpenFile(b.TempDir(), FileOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ev := event.Event{UUID: "0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e4f", Event: "$pageview", DistinctID: "user-1234",
		Timestamp: time.Unix(1_700_000_000, 0).UTC(), ReceivedAt: time.Unix(1_700_000_001, 0).UTC(),
		Properties: map[string]any{"$current_url": "https://shop.example/", "$browser": "Chrome", "$os": "Mac OS X", "$ip": "127.0.0.1", "$lib": "web"}}
	batch := event.Batch{ProjectID: 1, Events: []event.Event{ev}}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
