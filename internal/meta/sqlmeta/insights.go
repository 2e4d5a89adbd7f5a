package sqlmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// CreateInsight saves a spec.
func (t *Tables) CreateInsight(ctx context.Context, projectID int64, name string, spec []byte) (meta.Insight, error) {
	now := fromMS(ms(time.Now()))
	id, err := t.insert(ctx, `INSERT INTO insights (project_id, name, spec, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)`,
		projectID, name, string(spec), ms(now), ms(now))
	if err != nil {
		return meta.Insight{}, fmt.Errorf("cannot create insight %q: %w", name, err)
	}
	return meta.Insight{ID: id, ProjectID: projectID, Name: name, Spec: spec, CreatedAt: now, UpdatedAt: now}, nil
}

const insightCols = `id, project_id, name, spec, created_ms, updated_ms`

func scanInsight(row interface{ Scan(...any) error }) (meta.Insight, error) {
	var in meta.Insight
	var spec string
	var created, updated int64
	if err := row.Scan(&in.ID, &in.ProjectID, &in.Name, &spec, &created, &updated); err != nil {
		return meta.Insight{}, notFound(err)
	}
	in.Spec, in.CreatedAt, in.UpdatedAt = json.RawMessage(spec), fromMS(created), fromMS(updated)
	return in, nil
}

// Insight returns one saved insight of the project.
func (t *Tables) Insight(ctx context.Context, projectID, id int64) (meta.Insight, error) {
	return scanInsight(t.row(ctx, `SELECT `+insightCols+` FROM insights WHERE project_id = ? AND id = ?`, projectID, id))
}

// Insights lists the project's saved insights, newest first.
func (t *Tables) Insights(ctx context.Context, projectID int64) ([]meta.Insight, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT `+insightCols+` FROM insights WHERE project_id = ? ORDER BY id DESC`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Insight{}
	for rows.Next() {
		in, err := scanInsight(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// UpdateInsight renames and replaces the spec of a saved insight.
func (t *Tables) UpdateInsight(ctx context.Context, projectID, id int64, name string, spec []byte) (meta.Insight, error) {
	if err := affected(t.exec(ctx, `UPDATE insights SET name = ?, spec = ?, updated_ms = ? WHERE project_id = ? AND id = ?`,
		name, string(spec), ms(time.Now()), projectID, id)); err != nil {
		return meta.Insight{}, err
	}
	return t.Insight(ctx, projectID, id)
}

// DeleteInsight deletes a saved insight and takes it off the project's
// dashboards in the same transaction: SQLite may give a later insight the
// same id, which must not appear on a dashboard (or its public share link)
// that showed the deleted one.
func (t *Tables) DeleteInsight(ctx context.Context, projectID, id int64) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := affected(tx.ExecContext(ctx, t.q(`DELETE FROM insights WHERE project_id = ? AND id = ?`), projectID, id)); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, t.q(`SELECT id, tiles FROM dashboards WHERE project_id = ?`), projectID)
	if err != nil {
		return err
	}
	changed := map[int64]string{}
	for rows.Next() {
		var did int64
		var raw string
		if err := rows.Scan(&did, &raw); err != nil {
			rows.Close()
			return err
		}
		var tiles []meta.Tile
		if err := json.Unmarshal([]byte(raw), &tiles); err != nil {
			rows.Close()
			return fmt.Errorf("cannot decode tiles of dashboard %d: %w", did, err)
		}
		kept := tiles[:0]
		for _, tile := range tiles {
			if tile.InsightID != id {
				kept = append(kept, tile)
			}
		}
		if len(kept) != len(tiles) {
			changed[did], _ = tilesJSON(kept)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for did, tiles := range changed {
		if _, err := tx.ExecContext(ctx, t.q(`UPDATE dashboards SET tiles = ?, updated_ms = ? WHERE project_id = ? AND id = ?`),
			tiles, ms(time.Now()), projectID, did); err != nil {
			return err
		}
	}
	return tx.Commit()
}
