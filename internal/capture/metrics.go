package capture

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/obs"
)

// Capture's series: requests and request bytes (as received, before any
// decompression) by route and status, and the latency by route, from the
// first byte of the handler to the answer (the event log's durable append
// included). Routes are the capture paths of Routes (trailing slash
// trimmed, Segment's settings under settingsPrefix) or "other", so the
// series stay few whatever paths clients make up.
var captureSeconds = obs.NewFamily("journey_capture_request_duration_seconds", obs.LatencyBuckets)

// routeSeries are one route's series, looked up once per request without
// building label strings: the latency histogram, and the request and byte
// counters of each status, made when the status is first answered.
type routeSeries struct {
	seconds  *obs.Histogram
	statuses [600]atomic.Pointer[routeCounters] // by status
}

type routeCounters struct{ requests, bytes *metrics.Counter }

// captureRoutes has every route label; it is only read after init.
var captureRoutes = func() map[string]*routeSeries {
	m := map[string]*routeSeries{}
	for _, r := range append(append([]string(nil), Routes...), "other") {
		m[r] = &routeSeries{seconds: captureSeconds.With(obs.Label("route", r))}
	}
	return m
}()

func seriesOf(route string) *routeSeries {
	if rs, ok := captureRoutes[route]; ok {
		return rs
	}
	return captureRoutes["other"]
}

func (rs *routeSeries) counters(route string, status int) *routeCounters {
	if status < 0 || status >= len(rs.statuses) {
		return newCounters(route, status) // not an HTTP status net/http sends
	}
	slot := &rs.statuses[status]
	if c := slot.Load(); c != nil {
		return c
	}
	slot.CompareAndSwap(nil, newCounters(route, status))
	return slot.Load() // either way the same counters: GetOrCreateCounter
}

func newCounters(route string, status int) *routeCounters {
	labels := obs.Label("route", route) + "," + obs.Label("status", strconv.Itoa(status))
	return &routeCounters{
		requests: metrics.GetOrCreateCounter("journey_capture_requests_total{" + labels + "}"),
		bytes:    metrics.GetOrCreateCounter("journey_capture_request_bytes_total{" + labels + "}"),
	}
}

func countersOf(route string, status int) *routeCounters {
	return seriesOf(route).counters(route, status)
}

// routeLabel is the route label of a request path.
func routeLabel(path string) string {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if _, ok := settingsWriteKey(path); ok {
		return settingsPrefix
	}
	if _, ok := lookupRoute(path); ok {
		return path
	}
	return "other"
}

// ServeHTTP serves a capture request (serve) and counts it.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := &measured{ResponseWriter: w, status: http.StatusOK}
	if r.Body != nil && r.Body != http.NoBody {
		m.body.ReadCloser = r.Body
		r.Body = &m.body
	}
	h.serve(m, r)
	route := routeLabel(r.URL.Path)
	rs := seriesOf(route)
	rs.seconds.Since(start)
	c := rs.counters(route, m.status)
	c.requests.Inc()
	c.bytes.Add(int(m.body.n))
}

// measured records a response's status and the request bytes read, in one
// allocation per request.
type measured struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   countingBody
}

func (m *measured) WriteHeader(code int) {
	if !m.wrote && code >= 200 {
		m.status, m.wrote = code, true
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *measured) Write(b []byte) (int, error) {
	m.wrote = true
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines on slow bodies).
func (m *measured) Unwrap() http.ResponseWriter { return m.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}
