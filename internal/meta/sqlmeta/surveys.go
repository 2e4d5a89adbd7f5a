package sqlmeta

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.SurveyStore = (*Tables)(nil)

const surveyCols = `id, project_id, name, type, status, definition, start_ms, end_ms, version, created_by, updated_by, created_ms, updated_ms`

func scanSurvey(row interface{ Scan(...any) error }) (meta.Survey, error) {
	var s meta.Survey
	var def string
	var start, end sql.NullInt64
	var created, updated int64
	if err := row.Scan(&s.ID, &s.ProjectID, &s.Name, &s.Type, &s.Status, &def, &start, &end, &s.Version,
		&s.CreatedBy, &s.UpdatedBy, &created, &updated); err != nil {
		return meta.Survey{}, notFound(err)
	}
	s.Definition, s.CreatedAt, s.UpdatedAt = json.RawMessage(def), fromMS(created), fromMS(updated)
	if start.Valid {
		s.StartDate = fromMS(start.Int64)
	}
	if end.Valid {
		s.EndDate = fromMS(end.Int64)
	}
	return s, nil
}

// optMS is a time column: NULL for the zero time.
func optMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(t), Valid: true}
}

// checkSurvey normalises s for storing (defaults, dates to the
// millisecond as they read back), or names the field it refuses.
func checkSurvey(s *meta.Survey) error {
	if s.Type == "" {
		s.Type = meta.SurveyPopover
	}
	if s.Status == "" {
		s.Status = meta.SurveyDraft
	}
	if !s.StartDate.IsZero() {
		s.StartDate = fromMS(ms(s.StartDate))
	}
	if !s.EndDate.IsZero() {
		s.EndDate = fromMS(ms(s.EndDate))
	}
	invalid := func(field, msg string) error { return &meta.FieldError{Field: field, Msg: msg, Err: meta.ErrInvalid} }
	switch {
	case strings.TrimSpace(s.Name) == "":
		return invalid("name", "a survey needs a name")
	case !storable(s.Name):
		return invalid("name", "not valid UTF-8 text")
	case !surveyType(s.Type):
		return invalid("type", fmt.Sprintf("unknown type %q: want popover, widget or api", s.Type))
	case !surveyStatus(s.Status):
		return invalid("status", fmt.Sprintf("unknown status %q: want draft, running or stopped", s.Status))
	case !s.StartDate.IsZero() && !s.EndDate.IsZero() && s.EndDate.Before(s.StartDate):
		return invalid("end_date", "the survey ends before it starts")
	}
	s.Definition = json.RawMessage(jsonText(s.Definition))
	trimmed := bytes.TrimSpace(s.Definition)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' || !storable(string(s.Definition)) {
		return invalid("definition", "not a JSON object")
	}
	return nil
}

func surveyType(t string) bool {
	switch t {
	case meta.SurveyPopover, meta.SurveyWidget, meta.SurveyAPI:
		return true
	}
	return false
}

func surveyStatus(s string) bool {
	switch s {
	case meta.SurveyDraft, meta.SurveyRunning, meta.SurveyStopped:
		return true
	}
	return false
}

// CreateSurvey saves a new survey at version 1.
func (t *Tables) CreateSurvey(ctx context.Context, s meta.Survey) (meta.Survey, error) {
	if err := checkSurvey(&s); err != nil {
		return meta.Survey{}, err
	}
	now := fromMS(ms(time.Now()))
	s.Version, s.UpdatedBy, s.CreatedAt, s.UpdatedAt = 1, s.CreatedBy, now, now
	id, err := t.insert(ctx, `INSERT INTO surveys (project_id, name, type, status, definition, start_ms, end_ms, version, created_by, updated_by, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ProjectID, s.Name, s.Type, s.Status, string(s.Definition), optMS(s.StartDate), optMS(s.EndDate), s.Version,
		s.CreatedBy, s.UpdatedBy, ms(now), ms(now))
	if err != nil {
		return meta.Survey{}, fmt.Errorf("cannot create survey %q: %w", s.Name, err)
	}
	s.ID = id
	return s, nil
}

// UpdateSurvey replaces a live survey's fields in one statement that also
// checks and bumps its version, so two concurrent updates expecting one
// version cannot both succeed.
func (t *Tables) UpdateSurvey(ctx context.Context, s meta.Survey, expectedVersion int) (meta.Survey, error) {
	if err := checkSurvey(&s); err != nil {
		return meta.Survey{}, err
	}
	now := ms(time.Now())
	up, err := scanSurvey(t.row(ctx, `UPDATE surveys SET name = ?, type = ?, status = ?, definition = ?, start_ms = ?, end_ms = ?,
		version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL AND (? = 0 OR version = ?)
		RETURNING `+surveyCols,
		s.Name, s.Type, s.Status, string(s.Definition), optMS(s.StartDate), optMS(s.EndDate), s.UpdatedBy, now,
		s.ProjectID, s.ID, expectedVersion, expectedVersion))
	if errors.Is(err, meta.ErrNotFound) {
		var version int
		err := t.row(ctx, `SELECT version FROM surveys WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`, s.ProjectID, s.ID).Scan(&version)
		if err != nil {
			return meta.Survey{}, notFound(err)
		}
		return meta.Survey{}, &meta.FieldError{Field: "version",
			Msg: fmt.Sprintf("survey %d is at version %d, not %d", s.ID, version, expectedVersion), Err: meta.ErrConflict}
	}
	if err != nil {
		return meta.Survey{}, fmt.Errorf("cannot update survey %d: %w", s.ID, err)
	}
	return up, nil
}

// DeleteSurvey marks a live survey deleted.
func (t *Tables) DeleteSurvey(ctx context.Context, projectID, id, userID int64) error {
	now := ms(time.Now())
	err := affected(t.exec(ctx, `UPDATE surveys SET deleted_ms = ?, version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`, now, userID, now, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("cannot delete survey %d: %w", id, err)
	}
	return err
}

// Survey returns a live survey of the project.
func (t *Tables) Survey(ctx context.Context, projectID, id int64) (meta.Survey, error) {
	s, err := scanSurvey(t.row(ctx, `SELECT `+surveyCols+` FROM surveys WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return s, fmt.Errorf("cannot read survey %d: %w", id, err)
	}
	return s, err
}

// Surveys lists the project's live surveys, in one status unless status
// is "", by id.
func (t *Tables) Surveys(ctx context.Context, projectID int64, status string) ([]meta.Survey, error) {
	query, args := `SELECT `+surveyCols+` FROM surveys WHERE project_id = ? AND deleted_ms IS NULL`, []any{projectID}
	if status != "" {
		if !surveyStatus(status) {
			return []meta.Survey{}, nil // matches nothing stored
		}
		query, args = query+` AND status = ?`, append(args, status)
	}
	return t.listSurveys(ctx, projectID, query+` ORDER BY id`, args...)
}

// ActiveSurveys lists the surveys running at at (by the status index, then
// their dates).
func (t *Tables) ActiveSurveys(ctx context.Context, projectID int64, at time.Time) ([]meta.Survey, error) {
	return t.listSurveys(ctx, projectID, `SELECT `+surveyCols+` FROM surveys
		WHERE project_id = ? AND status = ? AND deleted_ms IS NULL AND start_ms <= ? AND (end_ms IS NULL OR end_ms > ?)
		ORDER BY id`, projectID, meta.SurveyRunning, ms(at), ms(at))
}

func (t *Tables) listSurveys(ctx context.Context, projectID int64, query string, args ...any) ([]meta.Survey, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list surveys of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Survey{}
	for rows.Next() {
		s, err := scanSurvey(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list surveys of project %d: %w", projectID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list surveys of project %d: %w", projectID, err)
	}
	return out, nil
}
