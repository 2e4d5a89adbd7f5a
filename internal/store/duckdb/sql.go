package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// The SQL insight runs a user's SELECT with the project's data in scope and
// nothing else. DuckDB parses the statement (json_serialize_sql, which only
// serializes SELECTs) and checkSQL (sqlcheck.go) checks its tree. The query
// then runs inside CTEs named events, persons and groups restricted to the
// project, which shadow the real tables.

// SQL runs a checked, project-scoped, read-only query.
func (s *Store) SQL(ctx context.Context, projectID int64, q *insight.SQL) (*insight.SQLResult, error) {
	var raw string
	if err := s.db.QueryRowContext(ctx, `SELECT json_serialize_sql(?::VARCHAR)::VARCHAR`, q.Query).Scan(&raw); err != nil {
		return nil, insight.Bad("query", "%v", err)
	}
	var tree map[string]any
	if err := json.Unmarshal([]byte(raw), &tree); err != nil {
		return nil, fmt.Errorf("cannot decode parse tree: %w", err)
	}
	if err := checkSQL(tree); err != nil {
		return nil, err
	}
	ctx, done := s.guard.watch(ctx)
	defer done()
	user := strings.TrimRight(strings.TrimSpace(q.Query), ";")
	res, retry, err := s.runSQL(ctx, projectID, user, nil, q.Limit)
	if retry != nil {
		// JSON columns come back as text: the driver would decode them
		// into float64 and fail on numbers like 1e400.
		res, _, err = s.runSQL(ctx, projectID, user, retry, q.Limit)
	}
	return res, err
}

// scopedSQL wraps a checked user query in the project's tables. projectID
// is an integer we own, so it is written into the text; the user's query
// is checked and wrapped, never spliced into ours. With cols, the outer
// select lists the columns by position, casting the JSON ones to text.
func scopedSQL(projectID int64, user string, cols []string, jsonCols map[int]bool, limit int) string {
	outer := "*"
	if cols != nil {
		parts := make([]string, len(cols))
		for i, c := range cols {
			ref := fmt.Sprintf("#%d", i+1)
			if jsonCols[i] {
				ref = "CAST(" + ref + " AS VARCHAR)"
			}
			parts[i] = ref + ` AS "` + strings.ReplaceAll(c, `"`, `""`) + `"`
		}
		outer = strings.Join(parts, ", ")
	}
	return fmt.Sprintf(`WITH events AS (
    SELECT e.uuid, e.event, e.distinct_id, coalesce(o.person_id, e.person_id) AS person_id, e.ts AS timestamp, e.properties
    FROM main.events e LEFT JOIN main.person_overrides o ON o.old_person_id = e.person_id
    WHERE e.project_id = %[1]d),
persons AS (SELECT id, created_at, properties FROM main.persons WHERE project_id = %[1]d),
groups AS (SELECT group_type, group_key, created_at, properties FROM main.groups WHERE project_id = %[1]d)
SELECT %[4]s FROM (%[2]s
) AS user_query LIMIT %[3]d`, projectID, user, limit+1, outer)
}

// jsonRetry says which columns to read as JSON text on a second run.
type jsonRetry struct {
	cols     []string
	jsonCols map[int]bool
}

func (s *Store) runSQL(ctx context.Context, projectID int64, user string, retry *jsonRetry, limit int) (*insight.SQLResult, *jsonRetry, error) {
	var cols []string
	var jsonCols map[int]bool
	if retry != nil {
		cols, jsonCols = retry.cols, retry.jsonCols
	}
	rows, err := s.db.QueryContext(ctx, scopedSQL(projectID, user, cols, jsonCols, limit))
	if err != nil {
		return nil, nil, queryError(ctx, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(types))
	dbTypes := make([]string, len(types))
	for i, ct := range types {
		names[i], dbTypes[i] = ct.Name(), ct.DatabaseTypeName()
		if retry == nil && dbTypes[i] == "JSON" {
			if jsonCols == nil {
				jsonCols = map[int]bool{}
			}
			jsonCols[i] = true
		}
	}
	if retry == nil && jsonCols != nil {
		return nil, &jsonRetry{cols: names, jsonCols: jsonCols}, nil
	}
	for i := range dbTypes {
		if jsonCols[i] {
			dbTypes[i] = "JSON"
		}
	}
	res := &insight.SQLResult{Kind: "sql", Columns: names, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, queryError(ctx, err)
		}
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		finite := make([]bool, len(vals))
		for i, v := range vals {
			vals[i], finite[i] = store.SQLValue(v, dbTypes[i])
		}
		if err := res.AddRow(vals, finite); err != nil {
			return nil, nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, queryError(ctx, err)
	}
	return res, nil, nil
}

// queryError is what a failed user query answers: the context's error
// when it was cancelled, a memory error when the engine ran out, else the
// engine's message as the query's fault (400).
func queryError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil && c != ctx.Err() {
			return c
		}
		return ctx.Err()
	}
	if m := store.AsMemoryError(ctx, err); m != err {
		return m // not the query's fault
	}
	return insight.Bad("query", "%v", err)
}
