package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/obs"
)

// metrics serves the Prometheus exposition, behind MetricsToken when set.
// The token is compared as SHA-256 digests in constant time, so neither
// its bytes nor its length leak through timing.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.MetricsToken != "" {
		got, want := sha256.Sum256([]byte(bearer(r))), sha256.Sum256([]byte(s.MetricsToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeError(w, http.StatusUnauthorized, "metrics token required (Authorization: Bearer <metrics token>)")
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	metrics.WritePrometheus(w, true)
}

// queryTimes is the latency of the queries of POST /api/v1/query, the UI's
// insights, dashboards and share links (runSpec), by kind and store; the
// kind is one of insight.Kinds, so the series stay few.
var queryTimes = obs.NewFamily("journey_query_duration_seconds", obs.LatencyBuckets)

// queryOutcomes counts the same queries by outcome: ok, bad (the spec),
// timeout, memory (over its cap) or error.
var queryOutcomes sync.Map // "kind\x00store\x00outcome" → *metrics.Counter

// observeQuery records one query run on events.
func observeQuery(kind string, events any, took time.Duration, err error) {
	store := obs.PackageName(events)
	labels := obs.Label("kind", kind) + "," + obs.Label("store", store)
	queryTimes.With(labels).Observe(took.Seconds())
	outcome := queryOutcome(err)
	key := kind + "\x00" + store + "\x00" + outcome
	c, ok := queryOutcomes.Load(key)
	if !ok {
		c, _ = queryOutcomes.LoadOrStore(key, metrics.GetOrCreateCounter("journey_queries_total{"+labels+","+obs.Label("outcome", outcome)+"}"))
	}
	c.(*metrics.Counter).Inc()
}

func queryOutcome(err error) string {
	var bad *insight.Error
	var timeout *timeoutError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &timeout):
		return "timeout"
	case insight.IsMemoryError(err):
		return "memory"
	case errors.As(err, &bad):
		return "bad"
	}
	return "error"
}
