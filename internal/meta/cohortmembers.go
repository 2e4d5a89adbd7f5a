package meta

import (
	"context"
	"time"
)

// CohortRun is a campaign's current pass over its cohort (a broadcast's
// one pass over its members, or one of a cohort trigger's periodic
// evaluations), kept durably so that a pass cut short by a crash goes on
// where it was, at the same as-of time, by the replica that claims it.
type CohortRun struct {
	ProjectID  int64 `json:"-"`
	CampaignID int64 `json:"campaign_id"`
	// Generation counts the passes: 0 before the first, 1 the first (a
	// cohort trigger's baseline, a broadcast's only one).
	Generation int64 `json:"generation"`
	// Cursor is the last person id the pass is done with (0: none); the
	// pass goes on with the persons after it.
	Cursor int64 `json:"cursor"`
	// AsOf is when the pass evaluates the cohort (fixed at its start);
	// DoneAt when it ended (zero while it runs).
	AsOf         time.Time `json:"as_of"`
	DoneAt       time.Time `json:"done_at,omitzero"`
	ClaimedBy    string    `json:"claimed_by"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// CohortMemberStore keeps the passes of campaigns over their cohorts and
// the members a cohort trigger saw (who entered is who is a member now and
// was not at the pass before). Every call is scoped to a project; times
// are to the millisecond.
type CohortMemberStore interface {
	// ClaimCohortRun claims the campaign's run for owner until now+lease
	// when nobody else holds it (never claimed, its lease ran out, or
	// owner holds it already) and returns it with ok; a campaign without a
	// run gets one at generation 0. When another owner holds it, ok is
	// false and the run is returned as stored. ErrNotFound when the
	// campaign is absent or deleted and has no run.
	ClaimCohortRun(ctx context.Context, projectID, campaignID int64, owner string, now time.Time, lease time.Duration) (run CohortRun, ok bool, err error)
	// SaveCohortRun stores r's Generation, Cursor, AsOf and DoneAt while
	// owner holds the claim, which then holds until `until` (now: given
	// back); ErrNotClaimed when another owner claimed the run since,
	// ErrNotFound when the campaign has no run.
	SaveCohortRun(ctx context.Context, r CohortRun, owner string, until time.Time) error
	// CohortRun reads the campaign's run; ErrNotFound when none.
	CohortRun(ctx context.Context, projectID, campaignID int64) (CohortRun, error)
	// ResetCohortRun deletes the campaign's run and members while owner
	// holds the claim (a cohort trigger that was not active starts again
	// from a baseline); ErrNotClaimed otherwise, nil when there is no run.
	ResetCohortRun(ctx context.Context, projectID, campaignID int64, owner string) error
	// CohortEntered returns, in the order given, those of up to
	// MaxSendBatch persons who entered the campaign's cohort at
	// generation: the persons seen neither at generation-1 nor at
	// generation itself (a pass repeated after a crash). None at
	// generation 1 and below (the baseline). It only reads.
	CohortEntered(ctx context.Context, projectID, campaignID, generation int64, personIDs []int64) ([]int64, error)
	// MarkCohortMembers records that up to MaxSendBatch persons were seen
	// in the cohort at generation.
	MarkCohortMembers(ctx context.Context, projectID, campaignID, generation int64, personIDs []int64) error
	// DropCohortMembers deletes the campaign's members not seen at
	// generation (those who left the cohort) and returns how many.
	DropCohortMembers(ctx context.Context, projectID, campaignID, generation int64) (int, error)
}
