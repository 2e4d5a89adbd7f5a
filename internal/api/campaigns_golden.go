package api

import (
	"context"
	"net/http"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// goldenDays is how far back a campaign's golden-time report looks by
// default: the delay is chosen from the history of its trigger and goal,
// before and while it runs.
const goldenDays = 90

// campaignGoldenTime answers the golden-time report of a campaign's
// trigger and goal (issue 15 item 3): GET /campaigns/{id}/golden-time
// ?horizon=168h&from=&to= (RFC 3339, default the last 90 days) → the
// insight.GoldenTimeResult of every trigger in the range, matched as the
// campaign matches (goal.match). 400 `kind` for a broadcast or a cohort
// trigger (no trigger event), 400 `horizon` / `from` / `to` as for the
// query.
func (s *Server) campaignGoldenTime(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	l, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	from, to, err := timeRange(r, goldenDays)
	if err != nil {
		writeBad(w, insight.Bad("from", "%v", err))
		return
	}
	q := l.Def.GoldenTime(from, to)
	if q == nil {
		writeBad(w, insight.Bad("kind", "golden time needs a trigger event and a goal (not a broadcast or a cohort trigger)"))
		return
	}
	q.Horizon = r.URL.Query().Get("horizon")
	if err := q.Validate(); err != nil {
		writeBad(w, err)
		return
	}
	timeout := s.queryTimeout()
	ctx, cancel := context.WithTimeout(insight.WithMemoryCap(r.Context(), s.QueryMemory), timeout)
	defer cancel()
	res, err := s.Events.GoldenTime(ctx, p.ID, projectTZ(p), q)
	if err != nil && ctx.Err() != nil {
		err = &timeoutError{timeout}
	}
	if err != nil {
		specError(w, store.AsMemoryError(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}
