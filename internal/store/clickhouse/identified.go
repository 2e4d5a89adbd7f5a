package clickhouse

import (
	"context"
	"fmt"
	"strings"
)

// identifiedSQL lists the person ids of the stored events that asked for
// a merge (store.Identity.Identified), with the resolver's conditions
// (identity.identifies): a string $anon_distinct_id, or an alias (a
// string, or a number as written), that is neither empty nor the event's
// distinct id. {events} is the (distributed) events table.
const identifiedSQL = `
SELECT DISTINCT person_id FROM (
	SELECT person_id, distinct_id,
		if(event = '$identify', visitParamExtractString(properties, '$anon_distinct_id'),
			if(substring(visitParamExtractRaw(properties, 'alias'), 1, 1) = '"', visitParamExtractString(properties, 'alias'),
				if(match(visitParamExtractRaw(properties, 'alias'), '^-?[0-9]'), visitParamExtractRaw(properties, 'alias'), ''))) AS other
	FROM {events}
	WHERE person_id > 0 AND event IN ('$identify', '$create_alias', '$merge_dangerously'))
WHERE other != '' AND other != distinct_id`

func (s *Store) identified(ctx context.Context) ([]int64, error) {
	rows, err := s.q().Query(ctx, strings.ReplaceAll(identifiedSQL, "{events}", s.events))
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
