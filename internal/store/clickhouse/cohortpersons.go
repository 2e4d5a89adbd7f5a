package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// CohortPersons pages through a cohort's current persons (store.Store),
// as DuckDB does: the persons not deleted (a merge deletes the merged-away
// one), kept by the condition cohort filters use with the person's id as
// the actor; then the page's least distinct ids (current mappings, by
// argMax of version), read for the page's persons only.
func (s *Store) CohortPersons(ctx context.Context, projectID int64, c *insight.CohortDef, asOf time.Time, after int64, limit int) ([]store.CohortPerson, error) {
	if c == nil || limit < 1 || limit > store.MaxCohortPage {
		return nil, fmt.Errorf("cannot page a cohort: a definition and a limit of 1..%d are needed", store.MaxCohortPage)
	}
	src := source{s: s, projectID: projectID, cohortTo: asOf}
	var w where
	w.add("deleted = 0")
	src.cohort(&w, insight.Filter{Type: "cohort", Op: "in", Cohort: c})
	q := sqlf("SELECT actor FROM (SELECT id AS actor, argMax(is_deleted, version) AS deleted FROM "+s.db+
		".persons WHERE project_id = ? AND id > ? GROUP BY id) WHERE ", uint64(projectID), after)
	q.AddFrag(w.frag())
	q.Add(" ORDER BY actor LIMIT ?", uint64(limit))
	ids, err := s.cohortPage(ctx, q)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	names, err := s.leastDistinctIDs(ctx, projectID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]store.CohortPerson, len(ids))
	for i, id := range ids {
		out[i] = store.CohortPerson{ID: id, DistinctID: names[id]}
	}
	return out, nil
}

// cohortPage reads a page's person ids.
func (s *Store) cohortPage(ctx context.Context, q frag) ([]int64, error) {
	rows, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the persons of a cohort: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot read the persons of a cohort: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// leastDistinctIDs is the least current distinct id of each person.
func (s *Store) leastDistinctIDs(ctx context.Context, projectID int64, ids []int64) (map[int64]string, error) {
	rows, err := s.query(ctx, "SELECT pid, min(distinct_id) FROM (SELECT distinct_id, argMax(person_id, version) AS pid FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id) WHERE has(?, pid) GROUP BY pid", uint64(projectID), ids)
	if err != nil {
		return nil, fmt.Errorf("cannot read the distinct ids of a cohort's persons: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]string, len(ids))
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("cannot read the distinct ids of a cohort's persons: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}
