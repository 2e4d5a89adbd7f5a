package sqlmeta

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

// share_token_hash, not the token: only its creator ever sees a share
// token (SetShareToken's caller), so a copy of the database or a dashboard
// listing does not open the link.
const dashboardCols = `id, project_id, name, date_range, refresh_seconds, tiles, share_token_hash, created_ms, updated_ms`

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
	d.Shared, d.CreatedAt, d.UpdatedAt = share.Valid, fromMS(created), fromMS(updated)
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

// shareTokenHash is what the dashboards table keeps of a share token: its
// SHA-256 in hex. The token is 128 random bits, so a plain hash (no salt,
// no stretching) is as hard to invert as guessing the token.
func shareTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SetShareToken sets or ("") revokes a dashboard's share token; only its
// hash is stored.
func (t *Tables) SetShareToken(ctx context.Context, projectID, id int64, token string) error {
	var v any
	if token != "" {
		v = shareTokenHash(token)
	}
	return affected(t.exec(ctx, `UPDATE dashboards SET share_token_hash = ?, share_token = NULL WHERE project_id = ? AND id = ?`, v, projectID, id))
}

// DashboardByShareToken finds the dashboard a share link points to, by the
// token's hash.
func (t *Tables) DashboardByShareToken(ctx context.Context, token string) (meta.Dashboard, error) {
	if token == "" {
		return meta.Dashboard{}, meta.ErrNotFound
	}
	return scanDashboard(t.row(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE share_token_hash = ?`, shareTokenHash(token)))
}

// HashShareTokens replaces the plaintext share tokens stored before
// migration 0016 by their hashes. It runs in Go after the migrations, on
// every open (a no-op once done, so a crash between the migration and this
// step only defers it): SQLite has no SHA-256 in SQL, and the twin
// migrations keep one behaviour on both stores. Each row is updated only
// while it still holds the token read, so two replicas opening at once
// agree.
func (t *Tables) HashShareTokens(ctx context.Context) error {
	rows, err := t.query(ctx, `SELECT id, share_token FROM dashboards WHERE share_token IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("cannot read share tokens to hash: %w", err)
	}
	type plain struct {
		id    int64
		token string
	}
	var todo []plain
	for rows.Next() {
		var p plain
		if err := rows.Scan(&p.id, &p.token); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read share tokens to hash: %w", err)
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read share tokens to hash: %w", err)
	}
	for _, p := range todo {
		if _, err := t.exec(ctx, `UPDATE dashboards SET share_token_hash = ?, share_token = NULL WHERE id = ? AND share_token = ?`,
			shareTokenHash(p.token), p.id, p.token); err != nil {
			return fmt.Errorf("cannot hash the share token of dashboard %q: %w", fmt.Sprint(p.id), err)
		}
	}
	return nil
}
