package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// CohortPersons pages through a cohort's current persons (store.Store):
// the persons table holds only current persons (a merge deletes the
// merged-away one), and the cohort condition is the one cohort filters
// use, with the person's id as the actor. The page is cut first, then its
// least distinct ids are joined, so a page costs one pass of the cohort's
// condition and an index lookup per person.
func (s *Store) CohortPersons(ctx context.Context, projectID int64, c *insight.CohortDef, asOf time.Time, after int64, limit int) ([]store.CohortPerson, error) {
	if c == nil || limit < 1 || limit > store.MaxCohortPage {
		return nil, fmt.Errorf("cannot page a cohort: a definition and a limit of 1..%d are needed", store.MaxCohortPage)
	}
	src := source{projectID: projectID, cohortTo: asOf}
	var w where
	w.add("p.project_id = ?", projectID)
	w.add("p.id > ?", after)
	src.cohort(&w, sqlf("p.id"), insight.Filter{Type: "cohort", Op: "in", Cohort: c})
	q := sqlf("WITH page AS (SELECT p.id FROM persons p WHERE ")
	q.AddFrag(w.frag())
	q.Add(" ORDER BY p.id LIMIT ?)\nSELECT page.id, coalesce(min(d.distinct_id), '') FROM page LEFT JOIN person_distinct_ids d ON d.project_id = ? AND d.person_id = page.id GROUP BY page.id ORDER BY page.id",
		limit, projectID)
	text, args := q.SQL()
	rows, err := s.db.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the persons of a cohort: %w", err)
	}
	defer rows.Close()
	out := make([]store.CohortPerson, 0, min(limit, 1024))
	for rows.Next() {
		var p store.CohortPerson
		if err := rows.Scan(&p.ID, &p.DistinctID); err != nil {
			return nil, fmt.Errorf("cannot read the persons of a cohort: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
