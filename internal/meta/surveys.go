package meta

import (
	"context"
	"encoding/json"
	"time"
)

// Survey types, as PostHog names them: posthog-js renders popover and
// widget surveys itself; api surveys are for the site's own rendering.
const (
	SurveyPopover = "popover"
	SurveyWidget  = "widget"
	SurveyAPI     = "api"
)

// Survey statuses. A draft has never started; a running survey is served
// to browsers between its start and end dates; a stopped one has ended
// and is no longer served.
const (
	SurveyDraft   = "draft"
	SurveyRunning = "running"
	SurveyStopped = "stopped"
)

// Survey is a survey in PostHog's JSON model. Definition is the rest of
// the survey's PostHog JSON (description, questions with their ids,
// conditions, appearance, iteration, responses limit), validated by
// package voc before it gets here; the store keeps it byte for byte.
// StartDate and EndDate are zero when unset; a survey is active at t when
// it is running, StartDate ≤ t and EndDate is zero or after t.
type Survey struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"-"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`   // SurveyPopover, SurveyWidget or SurveyAPI
	Status     string          `json:"status"` // SurveyDraft, SurveyRunning or SurveyStopped
	Definition json.RawMessage `json:"definition"`
	StartDate  time.Time       `json:"start_date,omitzero"`
	EndDate    time.Time       `json:"end_date,omitzero"`
	Version    int             `json:"version"`
	CreatedBy  int64           `json:"created_by"`
	UpdatedBy  int64           `json:"updated_by"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// SurveyStore keeps a project's surveys. Every call is scoped to a
// project; ids are never reused. Times are kept to the millisecond.
type SurveyStore interface {
	// CreateSurvey saves a new survey of s.ProjectID at version 1, by
	// s.CreatedBy. An empty Type is popover, an empty Status draft;
	// unknown ones, an empty Name, a Definition that is not a JSON object
	// and an EndDate before the StartDate are ErrInvalid (as a
	// *FieldError).
	CreateSurvey(ctx context.Context, s Survey) (Survey, error)
	// UpdateSurvey replaces name, type, status, definition and dates of
	// survey s.ID of s.ProjectID, by s.UpdatedBy, and bumps its version.
	// ErrConflict when expectedVersion is not 0 and not the stored
	// version; ErrNotFound when the survey is absent or deleted.
	UpdateSurvey(ctx context.Context, s Survey, expectedVersion int) (Survey, error)
	// Survey returns a survey that is not deleted.
	Survey(ctx context.Context, projectID, id int64) (Survey, error)
	// Surveys lists the project's surveys that are not deleted, by id; a
	// status other than "" lists only those in that status.
	Surveys(ctx context.Context, projectID int64, status string) ([]Survey, error)
	// ActiveSurveys lists, by id, the project's surveys active at at:
	// running, started at or before at and not ended by then.
	ActiveSurveys(ctx context.Context, projectID int64, at time.Time) ([]Survey, error)
	// DeleteSurvey soft-deletes a survey, by userID: it is no longer
	// read, listed or served. Its responses stay, as events.
	DeleteSurvey(ctx context.Context, projectID, id, userID int64) error
}
