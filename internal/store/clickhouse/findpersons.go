package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/journey-dev/journey/internal/store"
)

// FindPersons is SearchPersons with the page's persons and their distinct
// ids in one query (the persons list used to read each person by itself):
// the page is cut first; the current distinct ids (argMax over versions)
// of the page's persons are grouped into one sorted array each and joined.
func (s *Store) FindPersons(ctx context.Context, projectID int64, q string, limit int) ([]store.FoundPerson, error) {
	needle, _ := json.Marshal(q)
	id, _ := strconv.ParseInt(q, 10, 64)
	current := "SELECT distinct_id, argMax(person_id, version) AS pid FROM " + s.db + ".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id"
	page := "SELECT id, c_at, pprops FROM (SELECT id, argMax(created_at, version) AS c_at, argMax(properties, version) AS pprops, argMax(is_deleted, version) AS deleted FROM " + s.db +
		".persons WHERE project_id = ? GROUP BY id) WHERE deleted = 0 AND (? = '' OR id = ? OR position(pprops, ?) > 0" +
		" OR id IN (SELECT pid FROM (" + current + ") WHERE position(distinct_id, ?) > 0)) ORDER BY id DESC LIMIT ?"
	pageArgs := []any{uint64(projectID), q, id, string(needle), uint64(projectID), q, uint64(limit)}
	// The distinct ids are those whose latest row points at a page person.
	dids := "SELECT pid AS id, arraySort(groupArray(distinct_id)) AS dids FROM (" + current + ") WHERE pid IN (SELECT id FROM (" + page + ")) GROUP BY pid"
	args := append(append(pageArgs, uint64(projectID)), pageArgs...)
	rows, err := s.q().Query(ctx, "SELECT id, c_at, pprops, dids FROM ("+page+") ANY LEFT JOIN ("+dids+") USING id ORDER BY id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("cannot search persons for %q: %w", q, err)
	}
	defer rows.Close()
	out := []store.FoundPerson{}
	for rows.Next() {
		f := store.FoundPerson{Person: store.Person{ProjectID: projectID, Properties: map[string]any{}}}
		var props string
		if err := rows.Scan(&f.ID, &f.CreatedAt, &props, &f.DistinctIDs); err != nil {
			return nil, err
		}
		if props != "" {
			if err := json.Unmarshal([]byte(props), &f.Properties); err != nil {
				return nil, fmt.Errorf("cannot decode properties of person %q: %w", strconv.FormatInt(f.ID, 10), err)
			}
		}
		if f.DistinctIDs == nil {
			f.DistinctIDs = []string{}
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
