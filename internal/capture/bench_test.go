package capture

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkDecodePostHogBatch decodes what posthog-node sends: 100 events,
// gzip, to /batch/. The ingest target (100 000 events/s on 2 cores) leaves
// capture a few microseconds per event.
func BenchmarkDecodePostHogBatch(b *testing.B) {
	var evs []string
	for i := 0; i < 100; i++ {
		evs = append(evs, fmt.Sprintf(`{"event":"product viewed","distinct_id":"user-%d","uuid":"0190b0a2-8c1e-7d3a-9f00-%012d","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/p/%d","price":19.99,"$lib":"posthog-node","$groups":{"company":"c%d"}}}`, i, i, i, i%7))
	}
	body := gz(b, `{"api_key":"tok_a","sent_at":"2024-05-01T12:00:00Z","batch":[`+strings.Join(evs, ",")+`]}`)
	r := Request{Path: "/batch/", Header: http.Header{"Content-Encoding": {"gzip"}}, Body: body, Now: testNow}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := DecodePostHog(r)
		if err != nil || len(d.Events) != 100 {
			b.Fatal(err, len(d.Events))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
