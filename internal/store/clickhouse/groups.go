package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// ListGroups reads a page of a type's groups with the DuckDB store's
// semantics: the latest properties (argMax by version) and the first
// created_at of each key; the search is a substring test, not LIKE, so a
// user's % and _ match only themselves.
func (s *Store) ListGroups(ctx context.Context, projectID int64, q store.GroupQuery) ([]store.Group, error) {
	if q.Limit <= 0 || q.Limit > store.MaxGroupsPage+1 || q.Offset < 0 {
		return nil, fmt.Errorf("cannot list groups of type %q: limit %d, offset %d out of range", q.Type, q.Limit, q.Offset)
	}
	query := "SELECT group_key, min(created_at) AS c, argMax(properties, version) FROM " + s.db + ".groups WHERE project_id = ? AND group_type = ?"
	args := []any{uint64(projectID), q.Type}
	if q.Key != "" {
		query += " AND group_key = ?"
		args = append(args, q.Key)
	}
	if q.Search != "" {
		query += " AND positionCaseInsensitiveUTF8(group_key, ?) > 0"
		args = append(args, q.Search)
	}
	query += fmt.Sprintf(" GROUP BY group_key ORDER BY c DESC, group_key LIMIT %d OFFSET %d", q.Limit, q.Offset)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		g := store.Group{ProjectID: projectID, Type: q.Type, Properties: map[string]any{}}
		var props string
		var at time.Time
		if err := rows.Scan(&g.Key, &at, &props); err != nil {
			return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
		}
		g.CreatedAt = at.UTC()
		_ = json.Unmarshal([]byte(props), &g.Properties) // stored by Apply from decoded JSON
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list groups of type %q: %w", q.Type, err)
	}
	return out, nil
}
