package api

import (
	"context"
	"errors"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// checkCampaignCohort refuses a broadcast's or a cohort trigger's cohort
// that the project does not have, or whose definition the event stores
// cannot run (400 naming broadcast.cohort or trigger.cohort); campaign
// cohorts are read by the scheduler as queries read them.
func (s *Server) checkCampaignCohort(ctx context.Context, projectID int64, d *campaign.Definition) error {
	field, id := "", int64(0)
	switch {
	case d.Kind == campaign.KindBroadcast && d.Broadcast != nil:
		field, id = "broadcast.cohort", d.Broadcast.Cohort
	case d.Trigger != nil && d.Trigger.Cohort != 0:
		field, id = "trigger.cohort", d.Trigger.Cohort
	default:
		return nil
	}
	_, err := campaign.CohortDef(ctx, s.Meta, projectID, id)
	var bad *insight.Error
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return insight.Bad(field, "no cohort %d in this project", id)
	case errors.As(err, &bad):
		return insight.Bad(field, "cohort %d cannot be used: %s", id, bad.Msg)
	}
	return err
}
