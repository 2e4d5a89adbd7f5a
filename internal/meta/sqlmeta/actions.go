package sqlmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.ActionStore = (*Tables)(nil)

const actionCols = `id, project_id, name, description, steps, created_ms, updated_ms`

// CreateAction saves a new action of a.ProjectID.
func (t *Tables) CreateAction(ctx context.Context, a meta.Action) (meta.Action, error) {
	now := fromMS(ms(time.Now()))
	id, err := t.insert(ctx, `INSERT INTO actions (project_id, name, description, steps, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ProjectID, a.Name, a.Description, string(a.Steps), ms(now), ms(now))
	if err != nil {
		return meta.Action{}, fmt.Errorf("cannot create action %q: %w", a.Name, err)
	}
	a.ID, a.CreatedAt, a.UpdatedAt = id, now, now
	return a, nil
}

func scanAction(row interface{ Scan(...any) error }) (meta.Action, error) {
	var a meta.Action
	var steps string
	var created, updated int64
	if err := row.Scan(&a.ID, &a.ProjectID, &a.Name, &a.Description, &steps, &created, &updated); err != nil {
		return meta.Action{}, notFound(err)
	}
	a.Steps, a.CreatedAt, a.UpdatedAt = json.RawMessage(steps), fromMS(created), fromMS(updated)
	return a, nil
}

// Action returns one action of the project.
func (t *Tables) Action(ctx context.Context, projectID, id int64) (meta.Action, error) {
	return scanAction(t.row(ctx, `SELECT `+actionCols+` FROM actions WHERE project_id = ? AND id = ?`, projectID, id))
}

// Actions lists the project's actions by name (then id).
func (t *Tables) Actions(ctx context.Context, projectID int64) ([]meta.Action, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT `+actionCols+` FROM actions WHERE project_id = ? ORDER BY name, id`), projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list actions: %w", err)
	}
	defer rows.Close()
	out := []meta.Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAction replaces an action's name, description and steps.
func (t *Tables) UpdateAction(ctx context.Context, a meta.Action) (meta.Action, error) {
	if err := affected(t.exec(ctx, `UPDATE actions SET name = ?, description = ?, steps = ?, updated_ms = ? WHERE project_id = ? AND id = ?`,
		a.Name, a.Description, string(a.Steps), ms(time.Now()), a.ProjectID, a.ID)); err != nil {
		return meta.Action{}, err
	}
	return t.Action(ctx, a.ProjectID, a.ID)
}

// DeleteAction deletes an action of the project.
func (t *Tables) DeleteAction(ctx context.Context, projectID, id int64) error {
	return affected(t.exec(ctx, `DELETE FROM actions WHERE project_id = ? AND id = ?`, projectID, id))
}
