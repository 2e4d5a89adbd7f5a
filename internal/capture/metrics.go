package capture

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
var (
	captureSeconds = obs.NewFamily("journey_capture_request_duration_seconds", obs.LatencyBuckets)
	captureSeries  sync.Map // routeStatus → *routeCounters
)

type routeStatus struct {
	route  string
	status int
}

type routeCounters struct{ requests, bytes *metrics.Counter }

func countersOf(route string, status int) *routeCounters {
	k := routeStatus{route, status}
	if c, ok := captureSeries.Load(k); ok {
		return c.(*routeCounters)
	}
	labels := obs.Label("route", route) + "," + obs.Label("status", strconv.Itoa(status))
	c, _ := captureSeries.LoadOrStore(k, &routeCounters{
		requests: metrics.GetOrCreateCounter("journey_capture_requests_total{" + labels + "}"),
		bytes:    metrics.GetOrCreateCounter("journey_capture_request_bytes_total{" + labels + "}"),
	})
	return c.(*routeCounters)
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
	captureSeconds.With(obs.Label("route", route)).Since(start)
	c := countersOf(route, m.status)
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
