package eventlog

import "github.com/journey-dev/journey/internal/obs"

// appendSeconds times Append from the call to its durable answer (the
// group commit's sync included), by log: what capture waits for before it
// acknowledges.
var (
	appendSeconds    = obs.NewFamily("journey_eventlog_append_seconds", obs.LatencyBuckets)
	fileAppends      = appendSeconds.With(obs.Label("log", "file"))
	jetStreamAppends = appendSeconds.With(obs.Label("log", "jetstream"))
)
