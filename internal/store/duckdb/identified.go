package duckdb

import (
	"context"
	"fmt"
)

// identifiedSQL lists the person ids of the stored events that asked for
// a merge (store.Identity.Identified), with the resolver's conditions
// (identity.identifies): a string $anon_distinct_id, or an alias, that is
// neither empty nor the event's distinct id.
const identifiedSQL = `
SELECT DISTINCT person_id FROM events
WHERE person_id > 0 AND event IN ('$identify', '$create_alias', '$merge_dangerously') AND CASE event
	WHEN '$identify' THEN json_type(properties, '/$anon_distinct_id') = 'VARCHAR'
		AND json_extract_string(properties, '/$anon_distinct_id') NOT IN ('', distinct_id)
	ELSE json_type(properties, '/alias') IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')
		AND json_extract_string(properties, '/alias') NOT IN ('', distinct_id)
	END`

func (s *Store) identified(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, identifiedSQL)
	if err != nil {
		return nil, fmt.Errorf("cannot read identified persons: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("cannot read identified persons: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
