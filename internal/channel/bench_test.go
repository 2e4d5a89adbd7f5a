package channel

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWebhookLoopback measures signed webhook deliveries per second
// to a loopback receiver that verifies every signature, through one
// pooled HTTPClient, with 8 senders per core (the issue asks for at least
// 2 000/s on 2 cores). Run: go test -run '^$' -bench WebhookLoopback -cpu 2 ./internal/channel/
func BenchmarkWebhookLoopback(b *testing.B) {
	secret := NewSecret()
	key, _ := ParseSecret(secret)
	var ok, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if Verify(key, r.Header, body, time.Now(), 5*time.Minute) != nil {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	wh, err := NewWebhook(srv.URL+"/hook", secret, NewHTTPClient(ClientOptions{AllowPrivate: true, MaxIdleConnsPerHost: 64}))
	if err != nil {
		b.Fatal(err)
	}
	m := testMessage()
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if o := wh.Send(context.Background(), m); !o.Delivered {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 || bad.Load() > 0 {
		b.Fatalf("%d failed deliveries, %d bad signatures", failed.Load(), bad.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}
