package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// FeedbackPersons answers a ranking's question about feedback authors in
// one query: their distinct ids' persons after merges (dp), the stored
// person ids whose events are theirs (rawp: each survivor and the persons
// merged into it), then the range's events of those ids only (ev), then
// the group keys in $groups and the bad events of those, grouped by person
// and key. ev is materialized so that the JSON is read of the joined
// events only (and of the columns a source's matches read: the others are
// a third of the scan): left to itself DuckDB pushes the test "bad or in a group"
// below the join and reads every event's JSON in the range (a third of
// the query at 1 M events). The range is written as TIMESTAMP literals:
// a bound time.Time is a TIMESTAMPTZ, which makes DuckDB cast every
// event's ts (another third). The distinct ids travel as one JSON array
// parameter, as binding a list costs a cgo call per element (100 000 of
// them at issue 16's scale, about 70 ms), and come back as their
// subscripts in it, in its order, so no id is read back as a string and
// looked up, and a caller walks its own list in order (Asked).
func (s *Store) FeedbackPersons(ctx context.Context, projectID int64, q *store.FeedbackPersonsQuery) ([]store.FeedbackPerson, error) {
	out := []store.FeedbackPerson{}
	if len(q.DistinctIDs) == 0 {
		return out, nil
	}
	if len(q.DistinctIDs) > store.MaxFeedbackPersons {
		return nil, fmt.Errorf("cannot read %d feedback persons: at most %d at once", len(q.DistinctIDs), store.MaxFeedbackPersons)
	}
	src := newSource(projectID, &insight.Range{From: q.From, To: q.To})
	cols := sqlf("NULL::VARCHAR AS grp, ")
	if q.GroupType != "" {
		cols = sqlf("json_extract_string(e.properties, ?) AS grp, ", groupPath(q.GroupType))
	}
	if len(q.Bad) > 0 {
		cols.AddFrag(matchFrag(&src, q.Bad)) // may ask for persons (src.persons)
	} else {
		cols.Add("false")
	}
	ids, pos, err := idsJSON(q.DistinctIDs)
	if err != nil {
		return nil, err
	}
	query := sqlf(`WITH l AS (SELECT from_json(?, '["VARCHAR"]') AS l),
		d AS (SELECT distinct_id, min(i) AS i FROM (SELECT unnest(l) AS distinct_id, generate_subscripts(l, 1) AS i FROM l) GROUP BY distinct_id),
		dp AS MATERIALIZED (SELECT d.i, coalesce(o.person_id, m.person_id) AS pid
			FROM person_distinct_ids m JOIN d ON d.distinct_id = m.distinct_id
			LEFT JOIN person_overrides o ON o.old_person_id = m.person_id WHERE m.project_id = ?),
		rawp AS MATERIALIZED (SELECT DISTINCT pid AS raw FROM dp
			UNION SELECT o.old_person_id FROM person_overrides o WHERE o.person_id IN (SELECT pid FROM dp)),
		ev AS MATERIALIZED (SELECT e.person_id, e.event, e.ts, e.properties FROM events e JOIN rawp r ON r.raw = e.person_id
			WHERE e.project_id = ? AND e.ts >= `+utcLiteral(q.From)+` AND e.ts < `+utcLiteral(q.To)+`),
		f AS (SELECT actor, grp, bool_or(is_bad) AS bad FROM (
			SELECT coalesce(o.person_id, e.person_id) AS actor, `, ids, projectID, projectID)
	query.AddFrag(cols)
	query.Add(` AS is_bad FROM ev e LEFT JOIN person_overrides o ON o.old_person_id = e.person_id`)
	if src.needsPersons() {
		query.Add(" LEFT JOIN persons p ON p.id = coalesce(o.person_id, e.person_id)")
	}
	query.Add(`
		) s WHERE is_bad OR grp IS NOT NULL GROUP BY actor, grp)
		SELECT dp.i, dp.pid, f.grp, coalesce(f.bad, false) FROM dp LEFT JOIN f ON f.actor = dp.pid ORDER BY dp.i`)
	rows, err := s.db.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read feedback persons: %w", store.AsMemoryError(ctx, err))
	}
	defer rows.Close()
	out = make([]store.FeedbackPerson, 0, len(q.DistinctIDs))
	at := make([]int32, len(q.DistinctIDs)) // an id's row in out, plus one
	for rows.Next() {
		var n int
		var pid int64
		var key sql.NullString
		var isBad bool
		if err := rows.Scan(&n, &pid, &key, &isBad); err != nil {
			return nil, fmt.Errorf("cannot read feedback persons: %w", err)
		}
		id := n - 1 // the list's subscripts start at 1
		if pos != nil {
			id = pos[id]
		}
		i := int(at[id]) - 1
		if i < 0 {
			i = len(out)
			at[id] = int32(i + 1)
			out = append(out, store.FeedbackPerson{DistinctID: q.DistinctIDs[id], Asked: id, Person: pid, Accounts: []string{}})
		}
		if key.Valid {
			out[i].Accounts = append(out[i].Accounts, key.String)
		}
		out[i].Bad = out[i].Bad || isBad
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read feedback persons: %w", store.AsMemoryError(ctx, err))
	}
	for i := range out {
		slices.Sort(out[i].Accounts)
	}
	return out, nil
}

// idsJSON writes distinct ids as a JSON array for from_json. An id that
// is not UTF-8 is left out: DuckDB stores none (VARCHAR is UTF-8), and
// JSON would turn it into another, storable, id; then pos is each written
// id's index in ids (nil: all are written).
func idsJSON(ids []string) (string, []int, error) {
	valid := ids
	var pos []int
	if slices.ContainsFunc(ids, notUTF8) {
		valid = nil
		for i, id := range ids {
			if !notUTF8(id) {
				valid, pos = append(valid, id), append(pos, i)
			}
		}
	}
	b := make([]byte, 0, 16*len(valid)+2)
	b = append(b, '[')
	for i, id := range valid {
		if i > 0 {
			b = append(b, ',')
		}
		if plainJSON(id) {
			b = append(append(append(b, '"'), id...), '"')
			continue
		}
		q, err := json.Marshal(id)
		if err != nil {
			return "", nil, fmt.Errorf("cannot write the distinct id %q as JSON: %w", id, err)
		}
		b = append(b, q...)
	}
	return string(append(b, ']')), pos, nil
}

// plainJSON says whether s is written in JSON as it is, between quotes:
// printable ASCII other than the quote and the backslash. Most ids are;
// encoding/json writes the others (it took about 30 ms to write all of a
// ranking's 100 000).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func notUTF8(s string) bool { return !utf8.ValidString(s) }

// GroupProperties reads the properties of some groups of a type.
func (s *Store) GroupProperties(ctx context.Context, projectID int64, groupType string, keys []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(keys) == 0 {
		return out, nil
	}
	if len(keys) > store.MaxGroupKeys {
		return nil, fmt.Errorf("cannot read %d groups: at most %d at once", len(keys), store.MaxGroupKeys)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT group_key, properties FROM groups
		WHERE project_id = ? AND group_type = ? AND group_key IN (SELECT unnest(?::VARCHAR[]))`, projectID, groupType, keys)
	if err != nil {
		return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var props sql.NullString
		if err := rows.Scan(&key, &props); err != nil {
			return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
		}
		m := map[string]any{}
		if props.Valid {
			_ = json.Unmarshal([]byte(props.String), &m) // stored by Apply from decoded JSON
		}
		out[key] = m
	}
	return out, rows.Err()
}

// GroupPropertyValues reads props of some groups of a type: DuckDB
// extracts each property's JSON, and only that is decoded. The keys
// travel as one JSON array (see FeedbackPersons).
func (s *Store) GroupPropertyValues(ctx context.Context, projectID int64, groupType string, keys, props []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(keys) == 0 || len(props) == 0 {
		return out, nil
	}
	if len(keys) > store.MaxGroupKeys {
		return nil, fmt.Errorf("cannot read %d groups: at most %d at once", len(keys), store.MaxGroupKeys)
	}
	list, _, err := idsJSON(keys)
	if err != nil {
		return nil, err
	}
	values := make([]string, len(props))
	args := []any{}
	for i, prop := range props {
		values[i] = "(?::INTEGER, ?)"
		args = append(args, i, propPath(prop))
	}
	args = append(args, projectID, groupType, list)
	rows, err := s.db.QueryContext(ctx, `SELECT g.group_key, p.i, json_extract(g.properties, p.path)::VARCHAR AS v
		FROM groups g, (VALUES `+strings.Join(values, ", ")+`) p(i, path)
		WHERE g.project_id = ? AND g.group_type = ? AND g.group_key IN (SELECT unnest(from_json(?, '["VARCHAR"]')))
		AND v IS NOT NULL`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, raw string
		var i int
		if err := rows.Scan(&key, &i, &raw); err != nil {
			return nil, fmt.Errorf("cannot read groups of type %q: %w", groupType, err)
		}
		addGroupValue(out, key, props[i], raw)
	}
	return out, rows.Err()
}

// addGroupValue decodes one property's JSON into out[key] (a value that
// does not decode is left out, as a whole blob's decoding leaves it).
func addGroupValue(out map[string]map[string]any, key, prop, raw string) {
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return
	}
	m := out[key]
	if m == nil {
		m = map[string]any{}
		out[key] = m
	}
	m[prop] = v
}
