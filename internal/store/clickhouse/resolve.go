package clickhouse

import (
	"context"
	"fmt"
	"sort"

	"github.com/journey-dev/journey/internal/store"
)

// PersonsByDistinctIDs resolves a batch of distinct ids in three queries
// (the current person of each id, those persons, and all their ids)
// instead of PersonByDistinctID's three per id: the trigger engine and
// the sender resolve a whole log batch or claim at once (issue 15,
// performance). Rows are read through argMax(…, version) as
// PersonByDistinctID reads them.
func (s *Store) PersonsByDistinctIDs(ctx context.Context, projectID int64, distinctIDs []string) (map[string]store.ResolvedPerson, error) {
	if len(distinctIDs) > store.MaxDistinctIDs {
		return nil, fmt.Errorf("cannot resolve %d distinct ids: at most %d at once", len(distinctIDs), store.MaxDistinctIDs)
	}
	out := make(map[string]store.ResolvedPerson, len(distinctIDs))
	if len(distinctIDs) == 0 {
		return out, nil
	}
	rows, err := s.q().Query(ctx, "SELECT distinct_id, argMax(person_id, version) FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? AND has(?, distinct_id) GROUP BY distinct_id", uint64(projectID), distinctIDs)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %d distinct ids: %w", len(distinctIDs), err)
	}
	byID := map[string]int64{}
	var pids []int64
	seen := map[int64]bool{}
	for rows.Next() {
		var did string
		var pid int64
		if err := rows.Scan(&did, &pid); err != nil {
			rows.Close()
			return nil, err
		}
		byID[did] = pid
		if !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return out, nil
	}
	persons, err := s.Persons(ctx, pids)
	if err != nil {
		return nil, err
	}
	// The ids that point at these persons now: among the ids that ever
	// pointed at them, those whose latest row still does.
	rows, err = s.q().Query(ctx, "SELECT distinct_id, pid FROM (SELECT distinct_id, argMax(person_id, version) AS pid FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? AND distinct_id IN (SELECT distinct_id FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? AND has(?, person_id)) GROUP BY distinct_id) WHERE has(?, pid)",
		uint64(projectID), uint64(projectID), pids, pids)
	if err != nil {
		return nil, fmt.Errorf("cannot read the distinct ids of %d persons: %w", len(pids), err)
	}
	defer rows.Close()
	ids := map[int64][]string{}
	for rows.Next() {
		var did string
		var pid int64
		if err := rows.Scan(&did, &pid); err != nil {
			return nil, err
		}
		ids[pid] = append(ids[pid], did)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	resolved := make(map[int64]store.ResolvedPerson, len(pids))
	for _, pid := range pids {
		p, ok := persons[pid]
		if !ok || p.ProjectID != projectID {
			continue // deleted, as PersonByID answers
		}
		list := ids[pid]
		if list == nil {
			list = []string{}
		}
		sort.Strings(list)
		resolved[pid] = store.ResolvedPerson{Person: p, DistinctIDs: list}
	}
	for did, pid := range byID {
		if r, ok := resolved[pid]; ok {
			out[did] = r
		}
	}
	return out, nil
}
