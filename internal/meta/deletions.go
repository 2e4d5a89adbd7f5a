package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Deletion job statuses.
const (
	DeletionQueued  = "queued"
	DeletionRunning = "running"
	DeletionDone    = "done"
	DeletionFailed  = "failed"
)

// Deletion job steps, in order: resolve the person (waiting for the loader
// to store what was captured before the job started), delete it from the
// event store, delete its metadata, done.
const (
	StepResolve  = "resolve"
	StepEvents   = "events"
	StepMetadata = "metadata"
	StepDone     = "done"
)

// MaxDeletionAttempts is how many claims a job gets before it fails.
const MaxDeletionAttempts = 20

// DeletionCounts is what a deletion removed (events-store counts are what
// it found before deleting them).
type DeletionCounts struct {
	Events        int64 `json:"events"`
	DistinctIDs   int64 `json:"distinct_ids"`
	Persons       int64 `json:"persons"`
	Overrides     int64 `json:"overrides"`
	Feedback      int64 `json:"feedback"`
	Sends         int64 `json:"sends"`
	CohortMembers int64 `json:"cohort_members"`
	FlagHashKeys  int64 `json:"flag_hash_keys"`
}

// DeletionSubject is what identifies the person, recorded before anything
// is deleted so that a job that resumes after a crash deletes the same
// ids even once the event store no longer knows them. The distinct ids
// are personal data: a job that is done keeps only the person ids.
type DeletionSubject struct {
	PersonID    int64    `json:"person_id"`
	MergedIDs   []int64  `json:"merged_ids"`
	DistinctIDs []string `json:"distinct_ids"`
}

// DeletionJob is a person's deletion (issue 17 item 1): requested by
// person id or by distinct id, run step by step by whichever replica
// loads events, each step recorded so that a restart resumes it.
// LogPosition is the event log's end when the job was first claimed:
// the job waits until the loader has stored everything before it.
type DeletionJob struct {
	ID          int64           `json:"id"`
	ProjectID   int64           `json:"-"`
	PersonID    int64           `json:"person_id"`
	DistinctID  string          `json:"distinct_id,omitempty"` // the request's; cleared when done
	Status      string          `json:"status"`
	Step        string          `json:"step"`
	Subject     DeletionSubject `json:"-"`
	Counts      DeletionCounts  `json:"counts"`
	LogPosition uint64          `json:"-"`
	Attempts    int             `json:"attempts"`
	Error       string          `json:"error,omitempty"`
	RequestedBy string          `json:"requested_by"` // "key" or "user:<id>"
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	DoneAt      time.Time       `json:"done_at,omitzero"`
	// ClaimedBy holds the job until ClaimedUntil.
	ClaimedBy    string    `json:"-"`
	ClaimedUntil time.Time `json:"-"`
}

// PersonMetadata is what the metadata store holds about a person, for an
// export: feedback items with their comments, campaign sends, cohort
// trigger memberships and flag hash keys (experience continuity).
type PersonMetadata struct {
	Feedback      []PersonFeedback   `json:"feedback"`
	Sends         []Send             `json:"sends"`
	CohortMembers []CohortMembership `json:"cohort_memberships"`
	FlagHashKeys  []FlagHashKey      `json:"flag_hash_keys"`
}

// PersonFeedback is a feedback item and its comments.
type PersonFeedback struct {
	FeedbackItem
	Comments []FeedbackComment `json:"comments"`
}

// CohortMembership is a campaign's cohort trigger that saw the person.
type CohortMembership struct {
	CampaignID int64 `json:"campaign_id"`
	PersonID   int64 `json:"person_id"`
	Generation int64 `json:"generation"`
}

// FlagHashKey is the hash key a distinct id was first bucketed with.
type FlagHashKey struct {
	DistinctID string    `json:"distinct_id"`
	FlagKey    string    `json:"flag_key"`
	HashKey    string    `json:"hash_key"`
	CreatedAt  time.Time `json:"created_at"`
}

// MaxPersonMetadata bounds each list of one PersonMetadata.
const MaxPersonMetadata = 10_000

// DeletionStore keeps deletion jobs and deletes and exports a person's
// metadata. Every project-scoped call stays in its project.
type DeletionStore interface {
	// CreateDeletion queues a job for j.ProjectID and j.PersonID (or
	// j.DistinctID when PersonID is 0), or returns the subject's job that
	// is still queued or running.
	CreateDeletion(ctx context.Context, j DeletionJob) (DeletionJob, error)
	// Deletion reads one job of the project; ErrNotFound when none.
	Deletion(ctx context.Context, projectID, id int64) (DeletionJob, error)
	// ClaimDeletion claims the oldest job that is queued or running and
	// not held by another owner (its claim ran out, or owner holds it)
	// for owner until now+lease, counting an attempt; ok is false when
	// there is none. A job past MaxDeletionAttempts fails instead.
	ClaimDeletion(ctx context.Context, owner string, now time.Time, lease time.Duration) (j DeletionJob, ok bool, err error)
	// SaveDeletion stores j's status, step, person, subject, counts, log
	// position and error while owner holds the claim, which then lasts
	// until `until`; ErrNotClaimed otherwise. A job saved done has its
	// request's distinct id and its subject's distinct ids cleared.
	SaveDeletion(ctx context.Context, j DeletionJob, owner string, until time.Time) error
	// ErasePersonMetadata deletes what the metadata store holds about
	// j.Subject (feedback items of its distinct ids or persons with their
	// comments, tags and search grams; campaign sends; cohort trigger
	// memberships; flag hash keys of its distinct ids) and saves j done
	// with the counts, in one transaction, while owner holds the claim.
	ErasePersonMetadata(ctx context.Context, j DeletionJob, owner string) (DeletionJob, error)
	// PersonMetadata reads what ErasePersonMetadata would delete, each
	// list bounded by MaxPersonMetadata.
	PersonMetadata(ctx context.Context, projectID int64, personIDs []int64, distinctIDs []string) (PersonMetadata, error)
}

// SettingRetention is the project setting of its data retention.
const SettingRetention = "retention"

// MaxRetentionDays bounds retention_days (about a hundred years).
const MaxRetentionDays = 36_500

// Retention is the value of SettingRetention: events older than Days are
// dropped on a schedule; 0 keeps them forever (the default).
type Retention struct {
	Days int `json:"retention_days"`
}

// Validate names the field that is wrong.
func (r Retention) Validate() error {
	if r.Days < 0 || r.Days > MaxRetentionDays {
		return &FieldError{Field: "retention_days", Msg: fmt.Sprintf("want 0 (keep forever) to %d days, got %d", MaxRetentionDays, r.Days), Err: ErrInvalid}
	}
	return nil
}

// LoadRetention reads a project's retention, zero when unset.
func LoadRetention(ctx context.Context, st Store, projectID int64) (Retention, error) {
	var r Retention
	raw, err := st.Setting(ctx, projectID, SettingRetention)
	if errors.Is(err, ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("cannot read retention of project %d: %w", projectID, err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return Retention{}, fmt.Errorf("cannot decode retention of project %d: %w", projectID, err)
	}
	return r, nil
}
