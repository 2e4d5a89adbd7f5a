package sqlmeta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.CampaignStore = (*Tables)(nil)

const campaignCols = `id, project_id, name, kind, status, definition, secret, version, created_by, updated_by, created_ms, updated_ms`

func scanCampaign(row interface{ Scan(...any) error }) (meta.Campaign, error) {
	var c meta.Campaign
	var def string
	var created, updated int64
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &c.Kind, &c.Status, &def, &c.Secret, &c.Version, &c.CreatedBy, &c.UpdatedBy, &created, &updated); err != nil {
		return meta.Campaign{}, notFound(err)
	}
	c.Definition, c.CreatedAt, c.UpdatedAt = json.RawMessage(def), fromMS(created), fromMS(updated)
	return c, nil
}

// checkCampaign normalises c for storing, or names the field it refuses.
func checkCampaign(c *meta.Campaign) error {
	if c.Kind == "" {
		c.Kind = meta.CampaignTriggered
	}
	if c.Status == "" {
		c.Status = meta.CampaignDraft
	}
	switch {
	case strings.TrimSpace(c.Name) == "":
		return &meta.FieldError{Field: "name", Msg: "a campaign needs a name", Err: meta.ErrInvalid}
	case !storable(c.Name):
		return &meta.FieldError{Field: "name", Msg: "not valid UTF-8 text", Err: meta.ErrInvalid}
	case c.Kind != meta.CampaignTriggered && c.Kind != meta.CampaignBroadcast:
		return &meta.FieldError{Field: "kind", Msg: fmt.Sprintf("unknown kind %q: want triggered or broadcast", c.Kind), Err: meta.ErrInvalid}
	case !campaignStatus(c.Status):
		return &meta.FieldError{Field: "status", Msg: fmt.Sprintf("unknown status %q: want draft, active, paused or stopped", c.Status), Err: meta.ErrInvalid}
	case !storable(c.Secret):
		return &meta.FieldError{Field: "secret", Msg: "not valid UTF-8 text", Err: meta.ErrInvalid}
	}
	c.Definition = json.RawMessage(jsonText(c.Definition))
	if !json.Valid(c.Definition) || !storable(string(c.Definition)) {
		return &meta.FieldError{Field: "definition", Msg: "not a JSON document", Err: meta.ErrInvalid}
	}
	return nil
}

func campaignStatus(s string) bool {
	switch s {
	case meta.CampaignDraft, meta.CampaignActive, meta.CampaignPaused, meta.CampaignStopped:
		return true
	}
	return false
}

// bumpCampaignsRevision adds one to the project's campaigns revision, in
// the transaction of the change.
func (t *Tables) bumpCampaignsRevision(ctx context.Context, q queryer, projectID int64) error {
	if _, err := q.ExecContext(ctx, t.q(`INSERT INTO campaign_revisions (project_id, revision) VALUES (?, 1)
		ON CONFLICT (project_id) DO UPDATE SET revision = campaign_revisions.revision + 1`), projectID); err != nil {
		return fmt.Errorf("cannot bump the campaigns revision of project %d: %w", projectID, err)
	}
	return nil
}

// CreateCampaign saves a new campaign at version 1 and bumps the project's
// campaigns revision, in one transaction.
func (t *Tables) CreateCampaign(ctx context.Context, c meta.Campaign) (meta.Campaign, error) {
	if err := checkCampaign(&c); err != nil {
		return meta.Campaign{}, err
	}
	// A given creation time is kept (a campaign with a history: the
	// demo's, an import); reports and triggers start from it.
	created := fromMS(ms(time.Now()))
	if !c.CreatedAt.IsZero() {
		created = fromMS(ms(c.CreatedAt))
	}
	c.Version, c.UpdatedBy, c.CreatedAt, c.UpdatedAt = 1, c.CreatedBy, created, created
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Campaign{}, err
	}
	defer tx.Rollback()
	c.ID, err = t.insertOn(ctx, tx, `INSERT INTO campaigns (project_id, name, kind, status, definition, secret, version, created_by, updated_by, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ProjectID, c.Name, c.Kind, c.Status, string(c.Definition), c.Secret, c.Version, c.CreatedBy, c.UpdatedBy, ms(created), ms(created))
	if err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot create campaign %q: %w", c.Name, err)
	}
	if err := t.bumpCampaignsRevision(ctx, tx, c.ProjectID); err != nil {
		return meta.Campaign{}, err
	}
	if err := tx.Commit(); err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot create campaign %q: %w", c.Name, err)
	}
	return c, nil
}

// UpdateCampaign replaces a live campaign's fields in one statement that
// also checks and bumps its version, so two concurrent updates expecting
// one version cannot both succeed.
func (t *Tables) UpdateCampaign(ctx context.Context, c meta.Campaign, expectedVersion int) (meta.Campaign, error) {
	if err := checkCampaign(&c); err != nil {
		return meta.Campaign{}, err
	}
	now := fromMS(ms(time.Now()))
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Campaign{}, err
	}
	defer tx.Rollback()
	up, err := scanCampaign(tx.QueryRowContext(ctx, t.q(`UPDATE campaigns SET name = ?, kind = ?, status = ?, definition = ?, secret = ?,
		version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL AND (? = 0 OR version = ?)
		RETURNING `+campaignCols),
		c.Name, c.Kind, c.Status, string(c.Definition), c.Secret, c.UpdatedBy, ms(now), c.ProjectID, c.ID, expectedVersion, expectedVersion))
	if errors.Is(err, meta.ErrNotFound) {
		var version int
		err := tx.QueryRowContext(ctx, t.q(`SELECT version FROM campaigns WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`), c.ProjectID, c.ID).Scan(&version)
		if err != nil {
			return meta.Campaign{}, notFound(err)
		}
		return meta.Campaign{}, &meta.FieldError{Field: "version",
			Msg: fmt.Sprintf("campaign %d is at version %d, not %d", c.ID, version, expectedVersion), Err: meta.ErrConflict}
	}
	if err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot update campaign %d: %w", c.ID, err)
	}
	if err := t.bumpCampaignsRevision(ctx, tx, c.ProjectID); err != nil {
		return meta.Campaign{}, err
	}
	if err := tx.Commit(); err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot update campaign %d: %w", c.ID, err)
	}
	return up, nil
}

// DeleteCampaign marks a live campaign deleted, cancels its pending sends
// and bumps the revision, in one transaction.
func (t *Tables) DeleteCampaign(ctx context.Context, projectID, id, userID int64) error {
	now := ms(time.Now())
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = affected(tx.ExecContext(ctx, t.q(`UPDATE campaigns SET deleted_ms = ?, version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`), now, userID, now, projectID, id))
	if errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("cannot delete campaign %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, t.q(`UPDATE sends SET state = 'cancelled', last_error = ?
		WHERE project_id = ? AND campaign_id = ? AND state = 'pending'`), "campaign deleted", projectID, id); err != nil {
		return fmt.Errorf("cannot cancel the sends of deleted campaign %d: %w", id, err)
	}
	if err := t.bumpCampaignsRevision(ctx, tx, projectID); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot delete campaign %d: %w", id, err)
	}
	return nil
}

// Campaign returns a live campaign of the project.
func (t *Tables) Campaign(ctx context.Context, projectID, id int64) (meta.Campaign, error) {
	c, err := scanCampaign(t.row(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return c, fmt.Errorf("cannot read campaign %d: %w", id, err)
	}
	return c, err
}

// Campaigns lists the project's live campaigns, in one status unless
// status is "", by id.
func (t *Tables) Campaigns(ctx context.Context, projectID int64, status string) ([]meta.Campaign, error) {
	out := []meta.Campaign{}
	query, args := `SELECT `+campaignCols+` FROM campaigns WHERE project_id = ? AND deleted_ms IS NULL`, []any{projectID}
	if status != "" {
		if !campaignStatus(status) {
			return out, nil // matches nothing stored
		}
		query, args = query+` AND status = ?`, append(args, status)
	}
	rows, err := t.query(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list campaigns of project %d: %w", projectID, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list campaigns of project %d: %w", projectID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list campaigns of project %d: %w", projectID, err)
	}
	return out, nil
}

// CampaignsRevision reads the project's campaigns revision, 0 before any
// change.
func (t *Tables) CampaignsRevision(ctx context.Context, projectID int64) (int64, error) {
	var rev int64
	err := t.row(ctx, `SELECT revision FROM campaign_revisions WHERE project_id = ?`, projectID).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read the campaigns revision of project %d: %w", projectID, err)
	}
	return rev, nil
}
