package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// ListGroups reads a page of a type's groups. The search is a substring
// test (contains), not LIKE, so a user's % and _ match only themselves;
// the order truncates created_at to the second as ClickHouse stores it.
func (s *Store) ListGroups(ctx context.Context, projectID int64, q store.GroupQuery) ([]store.Group, error) {
	if q.Limit <= 0 || q.Limit > store.MaxGroupsPage+1 || q.Offset < 0 {
		return nil, fmt.Errorf("cannot list groups of type %q: limit %d, offset %d out of range", q.Type, q.Limit, q.Offset)
	}
	query := `SELECT group_key, created_at, properties FROM groups WHERE project_id = ? AND group_type = ?`
	args := []any{projectID, q.Type}
	if q.Key != "" {
		query += ` AND group_key = ?`
		args = append(args, q.Key)
	}
	if q.Search != "" {
		query += ` AND contains(lower(group_key), lower(?))`
		args = append(args, q.Search)
	}
	query += ` ORDER BY date_trunc('second', created_at) DESC, group_key LIMIT ? OFFSET ?`
	args = append(args, q.Limit, q.Offset)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		g := store.Group{ProjectID: projectID, Type: q.Type, Properties: map[string]any{}}
		var props sql.NullString
		var at time.Time
		if err := rows.Scan(&g.Key, &at, &props); err != nil {
			return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
		}
		g.CreatedAt = at.UTC()
		if props.Valid {
			_ = json.Unmarshal([]byte(props.String), &g.Properties) // stored by Apply from decoded JSON
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
	}
	return out, nil
}
