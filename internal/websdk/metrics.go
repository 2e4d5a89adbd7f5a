package websdk

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/flagserve"
)

// Flag evaluations by endpoint: flags (/flags), decide (/decide) and ofrep
// (/ofrep/v1/evaluate/flags[/{key}]). Requests counts the answers
// evaluated (or failed: errors), flags the flags evaluated in them.
type flagCounters struct{ requests, flags, errors *metrics.Counter }

var flagMetrics = func() map[string]flagCounters {
	m := map[string]flagCounters{}
	for _, e := range []string{"flags", "decide", "ofrep"} {
		l := `{endpoint="` + e + `"}`
		m[e] = flagCounters{
			requests: metrics.NewCounter("journey_flag_requests_total" + l),
			flags:    metrics.NewCounter("journey_flag_evaluations_total" + l),
			errors:   metrics.NewCounter("journey_flag_errors_total" + l),
		}
	}
	return m
}()

// countFlags counts one evaluation at endpoint (a key of flagMetrics).
func countFlags(endpoint string, ans *flagserve.Answer, err error) {
	c := flagMetrics[endpoint]
	if err != nil {
		c.errors.Inc()
		return
	}
	c.requests.Inc()
	c.flags.Add(len(ans.Results))
}

func flagsEndpoint(decide bool) string {
	if decide {
		return "decide"
	}
	return "flags"
}
