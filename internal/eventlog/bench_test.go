package eventlog

import (
	"context"
	"testing"
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
