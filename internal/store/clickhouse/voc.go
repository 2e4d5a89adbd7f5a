package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// vocChunk bounds the ids bound into one query's text.
const vocChunk = 10_000

// FeedbackPersons answers with the DuckDB store's semantics, a chunk of
// distinct ids at a time: their persons (the latest mapping), the
// survivors of merges, then the range's events of those persons for the
// group keys in $groups and the bad events.
func (s *Store) FeedbackPersons(ctx context.Context, projectID int64, q *store.FeedbackPersonsQuery) ([]store.FeedbackPerson, error) {
	out := []store.FeedbackPerson{}
	if len(q.DistinctIDs) > store.MaxFeedbackPersons {
		return nil, fmt.Errorf("cannot read %d feedback persons: at most %d at once", len(q.DistinctIDs), store.MaxFeedbackPersons)
	}
	ids := slices.Compact(slices.Sorted(slices.Values(q.DistinctIDs)))
	asked := make(map[string]int, len(ids))
	for i := len(q.DistinctIDs) - 1; i >= 0; i-- {
		asked[q.DistinctIDs[i]] = i // the first of repeats
	}
	for len(ids) > 0 {
		n := min(vocChunk, len(ids))
		part, err := s.feedbackPersons(ctx, projectID, q, ids[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
		ids = ids[n:]
	}
	for i := range out {
		out[i].Asked = asked[out[i].DistinctID]
	}
	return out, nil
}

func (s *Store) feedbackPersons(ctx context.Context, projectID int64, q *store.FeedbackPersonsQuery, ids []string) ([]store.FeedbackPerson, error) {
	persons, err := s.distinctPersons(ctx, projectID, ids)
	if err != nil {
		return nil, err
	}
	if len(persons) == 0 {
		return nil, nil
	}
	pids := make([]int64, 0, len(persons))
	for _, p := range persons {
		pids = append(pids, p.Person)
	}
	facts, err := s.personFacts(ctx, projectID, q, slices.Compact(slices.Sorted(slices.Values(pids))))
	if err != nil {
		return nil, err
	}
	for i := range persons {
		f := facts[persons[i].Person]
		persons[i].Accounts, persons[i].Bad = append([]string{}, f.Accounts...), f.Bad
		slices.Sort(persons[i].Accounts)
	}
	return persons, nil
}

// distinctPersons maps stored distinct ids to their persons after merges.
func (s *Store) distinctPersons(ctx context.Context, projectID int64, ids []string) ([]store.FeedbackPerson, error) {
	rows, err := s.query(ctx, "SELECT d, if(merged != 0, merged, person_id) FROM (SELECT distinct_id AS d, argMax(person_id, version) AS person_id FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? AND has(?, distinct_id) GROUP BY distinct_id) ANY LEFT JOIN ("+s.overridesSQL()+") USING person_id",
		uint64(projectID), ids)
	if err != nil {
		return nil, fmt.Errorf("cannot read feedback persons: %w", err)
	}
	defer rows.Close()
	var out []store.FeedbackPerson
	for rows.Next() {
		var p store.FeedbackPerson
		if err := rows.Scan(&p.DistinctID, &p.Person); err != nil {
			return nil, fmt.Errorf("cannot read feedback persons: %w", err)
		}
		p.Accounts = []string{}
		out = append(out, p)
	}
	return out, rows.Err()
}

// personFacts reads the group keys and bad events of persons (after
// merges) in the query's range.
func (s *Store) personFacts(ctx context.Context, projectID int64, q *store.FeedbackPersonsQuery, pids []int64) (map[int64]store.FeedbackPerson, error) {
	src := s.newSource(projectID, &insight.Range{From: q.From, To: q.To})
	grp := sqlf("'' AS grp")
	if q.GroupType != "" {
		grp = groupKeyFrag(q.GroupType)
		grp.Add(" AS grp")
	}
	src.column(grp)
	bad := sqlf("toUInt8(0)")
	if len(q.Bad) > 0 {
		bad = src.matchEvents(q.Bad)
	}
	bad.Add(" AS is_bad")
	src.column(bad)
	from, err := src.frag()
	if err != nil {
		return nil, err
	}
	query := sqlf("SELECT actor, grp, max(is_bad) FROM (")
	query.AddFrag(from)
	query.Add(") WHERE has(?, actor) AND (is_bad = 1 OR grp != '') GROUP BY actor, grp", pids)
	rows, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read feedback persons: %w", store.AsMemoryError(ctx, err))
	}
	defer rows.Close()
	out := map[int64]store.FeedbackPerson{}
	for rows.Next() {
		var pid int64
		var key string
		var isBad uint8
		if err := rows.Scan(&pid, &key, &isBad); err != nil {
			return nil, fmt.Errorf("cannot read feedback persons: %w", err)
		}
		f := out[pid]
		if key != "" {
			f.Accounts = append(f.Accounts, key)
		}
		f.Bad = f.Bad || isBad == 1
		out[pid] = f
	}
	return out, rows.Err()
}

// GroupProperties reads the current properties of some groups of a type.
func (s *Store) GroupProperties(ctx context.Context, projectID int64, groupType string, keys []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(keys) > store.MaxGroupKeys {
		return nil, fmt.Errorf("cannot read %d groups: at most %d at once", len(keys), store.MaxGroupKeys)
	}
	for len(keys) > 0 {
		n := min(vocChunk, len(keys))
		rows, err := s.query(ctx, "SELECT group_key, argMax(properties, version) FROM "+s.db+".groups WHERE project_id = ? AND group_type = ? AND has(?, group_key) GROUP BY group_key",
			uint64(projectID), groupType, keys[:n])
		if err != nil {
			return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
		}
		for rows.Next() {
			var key, props string
			if err := rows.Scan(&key, &props); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
			}
			m := map[string]any{}
			_ = json.Unmarshal([]byte(props), &m) // stored by Apply from decoded JSON
			out[key] = m
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
		}
		keys = keys[n:]
	}
	return out, nil
}

// GroupPropertyValues is GroupProperties cut to props in Go: ClickHouse
// 18's visitParam functions take constant names only, and find a name in
// nested objects too (see nested.go), so they cannot pick the properties
// in the query as DuckDB's JSON pointers do.
func (s *Store) GroupPropertyValues(ctx context.Context, projectID int64, groupType string, keys, props []string) (map[string]map[string]any, error) {
	all, err := s.GroupProperties(ctx, projectID, groupType, keys)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for key, p := range all {
		for _, prop := range props {
			if v, ok := p[prop]; ok {
				if out[key] == nil {
					out[key] = map[string]any{}
				}
				out[key][prop] = v
			}
		}
	}
	return out, nil
}
