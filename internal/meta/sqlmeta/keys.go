package sqlmeta

import (
	"context"
	"fmt"

	"github.com/journey-dev/journey/internal/meta"
)

// CreateKey adds a secret key to a project.
func (t *Tables) CreateKey(ctx context.Context, projectID int64) (string, error) {
	secret := meta.NewSecret()
	if err := t.addKey(ctx, t.db, projectID, secret); err != nil {
		return "", fmt.Errorf("cannot create secret key for project %d: %w", projectID, err)
	}
	return secret, nil
}

// addKey stores secret's hash (never the secret) as a key of the project.
func (t *Tables) addKey(ctx context.Context, q queryer, projectID int64, secret string) error {
	_, err := q.ExecContext(ctx, t.q(`INSERT INTO api_keys (project_id, key_hash, created_at) VALUES (?, ?, ?)`),
		projectID, meta.HashSecret(secret), t.d.timeArg(t.d.now()))
	return err
}

// Keys lists a project's secret keys, oldest first.
func (t *Tables) Keys(ctx context.Context, projectID int64) ([]meta.Key, error) {
	rows, err := t.query(ctx, `SELECT id, created_at FROM api_keys WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Key{}
	for rows.Next() {
		var k meta.Key
		var at atTime
		if err := rows.Scan(&k.ID, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = at.t
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteKey revokes a secret key.
func (t *Tables) DeleteKey(ctx context.Context, projectID, keyID int64) error {
	return affected(t.exec(ctx, `DELETE FROM api_keys WHERE project_id = ? AND id = ?`, projectID, keyID))
}
