package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/journey-dev/journey/internal/store"
)

// PersonsByDistinctIDs resolves a batch of distinct ids in two queries
// (the persons behind them, then all those persons' ids) instead of
// PersonByDistinctID's three per id: the trigger engine and the sender
// resolve a whole log batch or claim at once (issue 15, performance).
func (s *Store) PersonsByDistinctIDs(ctx context.Context, projectID int64, distinctIDs []string) (map[string]store.ResolvedPerson, error) {
	if len(distinctIDs) > store.MaxDistinctIDs {
		return nil, fmt.Errorf("cannot resolve %d distinct ids: at most %d at once", len(distinctIDs), store.MaxDistinctIDs)
	}
	out := make(map[string]store.ResolvedPerson, len(distinctIDs))
	args := make([]any, 0, len(distinctIDs)+1)
	args = append(args, projectID)
	seen := make(map[string]bool, len(distinctIDs))
	for _, id := range distinctIDs {
		if !seen[id] {
			seen[id] = true
			args = append(args, id)
		}
	}
	if len(args) == 1 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.distinct_id, p.id, p.project_id, p.created_at, p.properties
		FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id AND p.project_id = d.project_id
		WHERE d.project_id = ? AND d.distinct_id IN (`+placeholders(len(args)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %d distinct ids: %w", len(args)-1, err)
	}
	persons := map[int64]*store.ResolvedPerson{}
	byID := map[string]int64{}
	for rows.Next() {
		var did string
		var p store.Person
		var props sql.NullString
		if err := rows.Scan(&did, &p.ID, &p.ProjectID, &p.CreatedAt, &props); err != nil {
			rows.Close()
			return nil, err
		}
		byID[did] = p.ID
		if persons[p.ID] != nil {
			continue
		}
		p.Properties = map[string]any{}
		if props.Valid {
			if err := json.Unmarshal([]byte(props.String), &p.Properties); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot decode properties of person %d: %w", p.ID, err)
			}
		}
		persons[p.ID] = &store.ResolvedPerson{Person: p, DistinctIDs: []string{}}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(persons) == 0 {
		return out, nil
	}
	args = append(args[:1], make([]any, 0, len(persons))...)
	for id := range persons {
		args = append(args, id)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT person_id, distinct_id FROM person_distinct_ids
		WHERE project_id = ? AND person_id IN (`+placeholders(len(args)-1)+`) ORDER BY person_id, distinct_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the distinct ids of %d persons: %w", len(persons), err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var did string
		if err := rows.Scan(&pid, &did); err != nil {
			return nil, err
		}
		if r := persons[pid]; r != nil {
			r.DistinctIDs = append(r.DistinctIDs, did)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for did, pid := range byID {
		out[did] = *persons[pid]
	}
	return out, nil
}
