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
// serializes SELECTs); the parse tree must reference only the tables events,
// persons and groups (or the query's own CTEs), unqualified, and call no
// table functions or functions that read files, settings or the catalog.
// The query then runs inside CTEs of those names restricted to the project,
// which shadow the real tables.

var allowedTables = map[string]bool{"events": true, "persons": true, "groups": true}

var deniedFunctionPrefixes = []string{"read_", "glob", "getenv", "current_setting", "duckdb_", "pragma_", "query", "sql_", "parquet_", "json_serialize", "json_deserialize", "json_execute", "icu_", "load_", "install_", "enable_", "disable_", "set_"}

func checkSQL(tree map[string]any) error {
	if isErr, _ := tree["error"].(bool); isErr {
		return insight.Bad("query", "%v", tree["error_message"])
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return insight.Bad("query", "exactly one SELECT statement is allowed")
	}
	ctes := map[string]bool{}
	collectCTEs(tree, ctes)
	return walkSQL(tree, ctes)
}

func collectCTEs(v any, ctes map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if m, ok := x["cte_map"].(map[string]any); ok {
			entries, _ := m["map"].([]any)
			for _, e := range entries {
				if em, ok := e.(map[string]any); ok {
					if k, ok := em["key"].(string); ok {
						ctes[strings.ToLower(k)] = true
					}
				}
			}
		}
		for _, c := range x {
			collectCTEs(c, ctes)
		}
	case []any:
		for _, c := range x {
			collectCTEs(c, ctes)
		}
	}
}

func walkSQL(v any, ctes map[string]bool) error {
	switch x := v.(type) {
	case map[string]any:
		switch x["type"] {
		case "BASE_TABLE":
			name := strings.ToLower(fmt.Sprint(x["table_name"]))
			if x["schema_name"] != "" || x["catalog_name"] != "" {
				return insight.Bad("query", "table %q: qualified table names are not allowed", name)
			}
			if !allowedTables[name] && !ctes[name] {
				return insight.Bad("query", "unknown table %q (use events, persons, groups)", name)
			}
		case "TABLE_FUNCTION":
			return insight.Bad("query", "table functions are not allowed")
		}
		if fn, ok := x["function_name"].(string); ok {
			lower := strings.ToLower(fn)
			for _, p := range deniedFunctionPrefixes {
				if strings.HasPrefix(lower, p) {
					return insight.Bad("query", "function %q is not allowed", fn)
				}
			}
		}
		for _, c := range x {
			if err := walkSQL(c, ctes); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range x {
			if err := walkSQL(c, ctes); err != nil {
				return err
			}
		}
	}
	return nil
}

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
	// projectID is an integer we own, so it is written into the text; the
	// user's query is checked above and wrapped, never spliced into ours.
	scoped := fmt.Sprintf(`WITH events AS (
    SELECT e.uuid, e.event, e.distinct_id, coalesce(o.person_id, e.person_id) AS person_id, e.ts AS timestamp, e.properties
    FROM main.events e LEFT JOIN main.person_overrides o ON o.old_person_id = e.person_id
    WHERE e.project_id = %[1]d),
persons AS (SELECT id, created_at, properties FROM main.persons WHERE project_id = %[1]d),
groups AS (SELECT group_type, group_key, created_at, properties FROM main.groups WHERE project_id = %[1]d)
SELECT * FROM (%[2]s
) AS user_query LIMIT %[3]d`, projectID, strings.TrimRight(strings.TrimSpace(q.Query), ";"), q.Limit+1)
	rows, err := s.db.QueryContext(ctx, scoped)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if m := store.AsMemoryError(ctx, err); m != err {
			return nil, m // not the query's fault
		}
		return nil, insight.Bad("query", "%v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &insight.SQLResult{Kind: "sql", Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if len(res.Rows) == q.Limit {
			res.Truncated = true
			break
		}
		for i, v := range vals {
			vals[i] = store.SQLValue(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}
