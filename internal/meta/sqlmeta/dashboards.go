package sqlmeta

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// CreateDashboard saves a dashboard.
func (t *Tables) CreateDashboard(ctx context.Context, d meta.Dashboard) (meta.Dashboard, error) {
	tiles, err := tilesJSON(d.Tiles)
	if err != nil {
		return meta.Dashboard{}, err
	}
	now := ms(time.Now())
	id, err := t.insert(ctx, `INSERT INTO dashboards (project_id, name, date_range, refresh_seconds, tiles, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ProjectID, d.Name, d.Range, d.RefreshSeconds, tiles, now, now)
	if err != nil {
		return meta.Dashboard{}, fmt.Errorf("cannot create dashboard %q: %w", d.Name, err)
	}
	return t.Dashboard(ctx, d.ProjectID, id)
}

func tilesJSON(tiles []meta.Tile) (string, error) {
	if tiles == nil {
		tiles = []meta.Tile{}
	}
	b, err := json.Marshal(tiles)
	return string(b), err
}

const dashboardCols = `id, project_id, name, date_range, refresh_seconds, tiles, share_token, created_ms, updated_ms`

func scanDashboard(row interface{ Scan(...any) error }) (meta.Dashboard, error) {
	var d meta.Dashboard
	var tiles string
	var share sql.NullString
	var created, updated int64
	if err := row.Scan(&d.ID, &d.ProjectID, &d.Name, &d.Range, &d.RefreshSeconds, &tiles, &share, &created, &updated); err != nil {
		return meta.Dashboard{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(tiles), &d.Tiles); err != nil {
		return meta.Dashboard{}, fmt.Errorf("cannot decode tiles of dashboard %d: %w", d.ID, err)
	}
	d.ShareToken, d.CreatedAt, d.UpdatedAt = share.String, fromMS(created), fromMS(updated)
	return d, nil
}

// Dashboard returns one dashboard of the project.
func (t *Tables) Dashboard(ctx context.Context, projectID, id int64) (meta.Dashboard, error) {
	return scanDashboard(t.row(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE project_id = ? AND id = ?`, projectID, id))
}

// Dashboards lists the project's dashboards by name.
func (t *Tables) Dashboards(ctx context.Context, projectID int64) ([]meta.Dashboard, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT `+dashboardCols+` FROM dashboards WHERE project_id = ? ORDER BY name, id`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Dashboard{}
	for rows.Next() {
		d, err := scanDashboard(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDashboard replaces a dashboard's name, range, refresh and tiles.
func (t *Tables) UpdateDashboard(ctx context.Context, d meta.Dashboard) (meta.Dashboard, error) {
	tiles, err := tilesJSON(d.Tiles)
	if err != nil {
		return meta.Dashboard{}, err
	}
	if err := affected(t.exec(ctx, `UPDATE dashboards SET name = ?, date_range = ?, refresh_seconds = ?, tiles = ?, updated_ms = ? WHERE project_id = ? AND id = ?`,
		d.Name, d.Range, d.RefreshSeconds, tiles, ms(time.Now()), d.ProjectID, d.ID)); err != nil {
		return meta.Dashboard{}, err
	}
	return t.Dashboard(ctx, d.ProjectID, d.ID)
}

// DeleteDashboard deletes a dashboard (its share link stops working with it).
func (t *Tables) DeleteDashboard(ctx context.Context, projectID, id int64) error {
	return affected(t.exec(ctx, `DELETE FROM dashboards WHERE project_id = ? AND id = ?`, projectID, id))
}

// SetShareToken sets or ("" ) revokes a dashboard's share token.
func (t *Tables) SetShareToken(ctx context.Context, projectID, id int64, token string) error {
	var v any
	if token != "" {
		v = token
	}
	return affected(t.exec(ctx, `UPDATE dashboards SET share_token = ? WHERE project_id = ? AND id = ?`, v, projectID, id))
}

// DashboardByShareToken finds the dashboard a share link points to.
func (t *Tables) DashboardByShareToken(ctx context.Context, token string) (meta.Dashboard, error) {
	if token == "" {
		return meta.Dashboard{}, meta.ErrNotFound
	}
	return scanDashboard(t.row(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE share_token = ?`, token))
}
