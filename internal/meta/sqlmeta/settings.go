package sqlmeta

import (
	"context"
	"errors"
	"fmt"

	"github.com/journey-dev/journey/internal/meta"
)

// Setting returns a project setting, byte for byte as stored (TEXT, not
// JSONB, on PostgreSQL), ErrNotFound when unset.
func (t *Tables) Setting(ctx context.Context, projectID int64, key string) ([]byte, error) {
	if !t.d.bindable(key) {
		return nil, meta.ErrNotFound
	}
	var v string
	if err := notFound(t.row(ctx, `SELECT value FROM project_settings WHERE project_id = ? AND key = ?`, projectID, key).Scan(&v)); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot read setting %q: %w", key, err)
	}
	return []byte(v), nil
}

// SetSetting stores a project setting; the last write wins.
func (t *Tables) SetSetting(ctx context.Context, projectID int64, key string, value []byte) error {
	_, err := t.exec(ctx, `INSERT INTO project_settings (project_id, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		projectID, key, string(value), t.d.timeArg(t.d.now()))
	if err != nil {
		return fmt.Errorf("cannot store setting %q: %w", key, err)
	}
	return nil
}
