package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/journey-dev/journey/internal/store"
)

// FindPersons is SearchPersons with the page's persons and their distinct
// ids in one query (the persons list used to read each person by itself):
// the page is cut first, then joined to its distinct ids, which travel as
// one JSON list per person.
func (s *Store) FindPersons(ctx context.Context, projectID int64, q string, limit int) ([]store.FoundPerson, error) {
	needle, _ := json.Marshal(q)
	id, _ := strconv.ParseInt(q, 10, 64)
	rows, err := s.db.QueryContext(ctx, `WITH page AS (
			SELECT id, project_id, created_at, properties FROM persons WHERE project_id = ? AND (? = ''
				OR id = ?
				OR id IN (SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND contains(distinct_id, ?))
				OR contains(properties, ?))
			ORDER BY id DESC LIMIT ?)
		SELECT page.id, page.project_id, page.created_at, page.properties,
			coalesce(to_json(list(d.distinct_id ORDER BY d.distinct_id) FILTER (WHERE d.distinct_id IS NOT NULL)), '[]')::VARCHAR
		FROM page LEFT JOIN person_distinct_ids d ON d.project_id = page.project_id AND d.person_id = page.id
		GROUP BY page.id, page.project_id, page.created_at, page.properties
		ORDER BY page.id DESC`, projectID, q, id, projectID, q, string(needle), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot search persons for %q: %w", q, err)
	}
	defer rows.Close()
	out := []store.FoundPerson{}
	for rows.Next() {
		var ids string
		var f store.FoundPerson
		p, err := scanPerson(scanWith(rows, &ids))
		if err != nil {
			return nil, err
		}
		f.Person = p
		if err := json.Unmarshal([]byte(ids), &f.DistinctIDs); err != nil {
			return nil, fmt.Errorf("cannot decode distinct ids of person %q: %w", strconv.FormatInt(p.ID, 10), err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// scanWith lets scanPerson read a row that has more columns after the
// person's: they go to extra.
func scanWith(row interface{ Scan(...any) error }, extra ...any) interface{ Scan(...any) error } {
	return scanFunc(func(dest ...any) error { return row.Scan(append(dest, extra...)...) })
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }
