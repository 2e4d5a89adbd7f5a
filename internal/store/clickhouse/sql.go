package clickhouse

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// The SQL insight on ClickHouse: a user's SELECT over the project's events,
// persons and groups, with the same columns as on DuckDB. ClickHouse 18 has
// no parser to ask, so the statement is tokenized here (sqltok.go) and
// checked token by token: one SELECT; tables only events, persons and
// groups, unqualified, in FROM / JOIN; no table functions, no functions
// that read dictionaries or other tables, no SETTINGS / FORMAT / INTO. Each
// table name is then replaced by a subquery restricted to the project, and
// the query runs with readonly=1, which also stops it changing settings.

var deniedClauses = map[string]bool{
	"SETTINGS": true, "FORMAT": true, "INTO": true, "OUTFILE": true, "INSERT": true, "ALTER": true,
	"CREATE": true, "DROP": true, "ATTACH": true, "DETACH": true, "RENAME": true, "OPTIMIZE": true,
	"KILL": true, "SYSTEM": true, "SET": true, "GRANT": true, "REVOKE": true, "TRUNCATE": true,
}

// deniedNames may not appear anywhere, even where the checks do not expect
// a table: the server's own databases and the store's real tables.
var deniedNames = map[string]bool{"system": true, "information_schema": true, "default": true,
	"person_overrides": true, "person_distinct_ids": true, "loader_checkpoint": true}

// notAlias are the keywords that can follow a table name where an alias
// could stand; anything else there is the user's alias.
var notAlias = map[string]bool{
	"WHERE": true, "PREWHERE": true, "GROUP": true, "ORDER": true, "LIMIT": true, "HAVING": true, "JOIN": true,
	"LEFT": true, "RIGHT": true, "INNER": true, "FULL": true, "CROSS": true, "ANY": true, "ALL": true, "ARRAY": true,
	"GLOBAL": true, "ON": true, "USING": true, "UNION": true, "FINAL": true, "SAMPLE": true, "AS": true, "WITH": true,
	"ASOF": true, "SEMI": true, "ANTI": true, "OUTER": true, "PASTE": true,
}

// tables are the subqueries the allowed table names stand for; %[1]d is
// the project id, %[2]s the database, %[3]s the events table.
var tables = map[string]string{
	"events": `(SELECT uuid, event, distinct_id, if(merged != 0, merged, raw_person_id) AS person_id, ts AS timestamp, properties FROM (
  SELECT uuid, event, distinct_id, person_id AS raw_person_id, ts, properties FROM %[3]s WHERE project_id = %[1]d
) ANY LEFT JOIN (
  SELECT opid AS raw_person_id, argMax(npid, version) AS merged FROM (SELECT old_person_id AS opid, person_id AS npid, version FROM %[2]s.person_overrides WHERE project_id = %[1]d) GROUP BY opid
) USING raw_person_id)`,
	"persons": `(SELECT id, c_at AS created_at, props AS properties FROM (
  SELECT id, argMax(created_at, version) AS c_at, argMax(properties, version) AS props, argMax(is_deleted, version) AS deleted FROM %[2]s.persons WHERE project_id = %[1]d GROUP BY id
) WHERE deleted = 0)`,
	"groups": `(SELECT group_type, group_key, c_at AS created_at, props AS properties FROM (
  SELECT group_type, group_key, argMax(created_at, version) AS c_at, argMax(properties, version) AS props FROM %[2]s.groups WHERE project_id = %[1]d GROUP BY group_type, group_key
))`,
}

// scopeSQL checks a user's query and returns it with the tables scoped to
// the project.
func (s *Store) scopeSQL(projectID int64, query string) (string, error) {
	toks, err := tokenize(query)
	if err != nil {
		return "", insight.Bad("query", "%v", err)
	}
	for len(toks) > 0 && toks[len(toks)-1].text == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 || (!toks[0].is("SELECT") && !toks[0].is("WITH")) {
		return "", insight.Bad("query", "only a SELECT statement is allowed")
	}
	var out strings.Builder
	last := 0
	// scopes[i] says whether paren level i is a query (SELECT …) rather
	// than a function's arguments, where FROM means something else
	// (extract(day FROM ts)).
	scopes := []bool{true}
	for i, t := range toks {
		switch {
		case t.text == ";":
			return "", insight.Bad("query", "exactly one statement is allowed")
		case t.text == "(":
			scopes = append(scopes, i+1 < len(toks) && (toks[i+1].is("SELECT") || toks[i+1].is("WITH")))
			continue
		case t.text == ")":
			if len(scopes) > 1 {
				scopes = scopes[:len(scopes)-1]
			}
			continue
		case t.kind != tokIdent:
			continue
		}
		upper := strings.ToUpper(t.text)
		if deniedClauses[upper] {
			return "", insight.Bad("query", "%s is not allowed", upper)
		}
		if err := s.checkName(toks, i); err != nil {
			return "", err
		}
		if i == 0 || !scopes[len(scopes)-1] || !tablePosition(toks, i) {
			continue
		}
		sub, err := s.tableRef(projectID, toks, i)
		if err != nil {
			return "", err
		}
		out.WriteString(query[last:t.start])
		out.WriteString(sub)
		last = t.end
	}
	for i, t := range toks {
		if (t.is("FROM") || t.is("JOIN")) && i+1 < len(toks) && toks[i+1].kind == tokQuoted {
			return "", insight.Bad("query", "quoted table names are not allowed (use events, persons, groups)")
		}
		if t.is("IN") && i+1 < len(toks) && toks[i+1].text != "(" {
			return "", insight.Bad("query", "IN needs a list or a subquery: IN (…)")
		}
	}
	if err := checkQualified(toks); err != nil {
		return "", err
	}
	out.WriteString(query[last:toks[len(toks)-1].end])
	return out.String(), nil
}

// checkName refuses identifier i when it names a denied function, one of
// the server's databases or the store's real tables.
func (s *Store) checkName(toks []token, i int) error {
	t := toks[i]
	lower := strings.ToLower(t.text)
	if deniedNames[lower] || lower == strings.ToLower(s.db) || strings.HasSuffix(lower, "_local") {
		return insight.Bad("query", "name %q is not allowed (use events, persons, groups)", t.text)
	}
	if i+1 < len(toks) && toks[i+1].text == "(" && t.kind == tokIdent {
		if t.is("IN") && !operatorIN(toks, i) {
			return insight.Bad("query", "in(…) as a function is not allowed; write x IN (…)")
		}
		// A word before '(' is a call unless it is a keyword, or a table
		// name (checked where tables go), or a name after AS (an alias
		// of a lambda or tuple: `AS x (`), or a parametric aggregate's
		// second parentheses (which follow ')', not a word).
		upper := strings.ToUpper(t.text)
		if !notFunctions[upper] && !tablePosition(toks, i) && !(i > 0 && toks[i-1].is("AS")) && !functionAllowed(t.text) {
			return insight.Bad("query", "function %q is not allowed", t.text)
		}
	}
	if _, virtual := tables[lower]; virtual && t.kind == tokIdent && !tablePosition(toks, i) &&
		!(i+1 < len(toks) && toks[i+1].text == ".") && !(i > 0 && (toks[i-1].is("AS") || toks[i-1].text == ".")) {
		return insight.Bad("query", "%s can only follow FROM or JOIN (or qualify a column)", t.text)
	}
	if t.is("ARRAY") && i > 0 && toks[i-1].is("AS") {
		return insight.Bad("query", "ARRAY cannot be an alias")
	}
	return nil
}

// operatorIN reports whether the IN at i is the operator (x [GLOBAL] [NOT]
// IN …), which follows an operand, rather than the function in(x, table).
func operatorIN(toks []token, i int) bool {
	j := i - 1
	for j >= 0 && (toks[j].is("NOT") || toks[j].is("GLOBAL")) {
		j--
	}
	if j < 0 {
		return false
	}
	switch t := toks[j]; t.kind {
	case tokNumber, tokString, tokQuoted:
		return true
	case tokPunct:
		return t.text == ")" || t.text == "]"
	default:
		return !operandKeywords[strings.ToUpper(t.text)]
	}
}

// operandKeywords are words after which an expression starts, so an IN
// there is the function form.
var operandKeywords = map[string]bool{"SELECT": true, "WHERE": true, "PREWHERE": true, "HAVING": true, "AND": true, "OR": true,
	"NOT": true, "ON": true, "WHEN": true, "THEN": true, "ELSE": true, "BY": true, "DISTINCT": true, "WITH": true, "CASE": true,
	"AS": true, "IN": true, "LIKE": true, "BETWEEN": true, "IS": true, "ANY": true, "ALL": true, "USING": true, "LIMIT": true,
	"INTERVAL": true, "FROM": true, "JOIN": true, "ARRAY": true, "GLOBAL": true, "EXISTS": true}

// tablePosition reports whether token i stands where a table name goes:
// right after FROM or a JOIN that is not an ARRAY JOIN.
func tablePosition(toks []token, i int) bool {
	if i == 0 {
		return false
	}
	prev := toks[i-1]
	if prev.is("FROM") {
		return true
	}
	return prev.is("JOIN") && !(i >= 2 && toks[i-2].is("ARRAY"))
}

// checkQualified refuses a qualified name x.y unless x is one of the
// query's tables or aliases (a column of it): database.table is how a
// query would reach anything else.
func checkQualified(toks []token) error {
	declared := map[string]bool{"events": true, "persons": true, "groups": true}
	for i := 0; i+1 < len(toks); i++ {
		next := toks[i+1]
		if next.kind != tokIdent && next.kind != tokQuoted {
			continue
		}
		if toks[i].is("AS") || toks[i].text == ")" || (i > 0 && tablePosition(toks, i) && !notAlias[strings.ToUpper(next.text)]) {
			declared[strings.ToLower(next.text)] = true
		}
	}
	for i := 0; i+2 < len(toks); i++ {
		if toks[i+1].text != "." || (toks[i].kind != tokIdent && toks[i].kind != tokQuoted) {
			continue
		}
		if !declared[strings.ToLower(toks[i].text)] {
			return insight.Bad("query", "qualified name %s.%s: only the query's own tables and aliases may qualify a name", toks[i].text, toks[i+2].text)
		}
	}
	return nil
}

// tableRef checks the table name at toks[i] and returns its subquery.
func (s *Store) tableRef(projectID int64, toks []token, i int) (string, error) {
	name := strings.ToLower(toks[i].text)
	sub, ok := tables[name]
	if !ok {
		return "", insight.Bad("query", "unknown table %q (use events, persons, groups)", toks[i].text)
	}
	if i+1 < len(toks) {
		switch next := toks[i+1]; {
		case next.text == ".":
			return "", insight.Bad("query", "qualified table names are not allowed")
		case next.text == "(":
			return "", insight.Bad("query", "table functions are not allowed")
		case next.text == ",":
			return "", insight.Bad("query", "join tables with JOIN, not a comma")
		}
	}
	ref := fmt.Sprintf(sub, projectID, s.db, s.events)
	hasAlias := i+1 < len(toks) && (toks[i+1].kind == tokIdent || toks[i+1].kind == tokQuoted) && !notAlias[strings.ToUpper(toks[i+1].text)]
	if i+1 < len(toks) && toks[i+1].is("AS") {
		hasAlias = true
	}
	if !hasAlias {
		ref += " AS " + name
	}
	return ref, nil
}

// SQL runs a checked, project-scoped, read-only query.
func (s *Store) SQL(ctx context.Context, projectID int64, q *insight.SQL) (*insight.SQLResult, error) {
	scoped, err := s.scopeSQL(projectID, q.Query)
	if err != nil {
		return nil, err
	}
	// The sql kind is always bounded, whatever the server's profile
	// allows: its memory by the query's cap, its time by the deadline.
	settings := ch.Settings{"readonly": 1, "max_memory_usage": int(insight.MemoryCap(ctx))}
	if d, ok := ctx.Deadline(); ok {
		settings["max_execution_time"] = max(1, int(time.Until(d).Seconds()+1))
	}
	ctx = ch.Context(ctx, ch.WithSettings(settings))
	rows, err := s.q().Query(ctx, fmt.Sprintf("SELECT * FROM (%s) LIMIT %d", scoped, q.Limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if m := store.AsMemoryError(ctx, err); m != err {
			return nil, m // not the query's fault
		}
		return nil, insight.Bad("query", "%s", s.userError(err))
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	res := &insight.SQLResult{Kind: "sql", Columns: rows.Columns(), Rows: [][]any{}}
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if len(res.Rows) == q.Limit {
			res.Truncated = true
			break
		}
		vals := make([]any, len(ptrs))
		finite := make([]bool, len(ptrs))
		for i, p := range ptrs {
			vals[i], finite[i] = store.SQLValue(reflect.ValueOf(p).Elem().Interface(), chType(types[i].DatabaseTypeName()))
		}
		if err := res.AddRow(vals, finite); err != nil {
			return nil, err
		}
	}
	return res, rows.Err()
}

// userError is ClickHouse's message without what the scoping added: the
// store's database and table names and the rewritten query.
func (s *Store) userError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "Stack trace"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.ReplaceAll(msg, s.events, "events")
	msg = strings.ReplaceAll(msg, s.db+".", "")
	msg = strings.ReplaceAll(msg, "events_local", "events")
	return strings.TrimSpace(msg)
}

// chType is a ClickHouse column type in the words SQLValue knows: the
// type inside Nullable(…) and LowCardinality(…), Date for both date types.
func chType(t string) string {
	for {
		inner, ok := strings.CutPrefix(t, "Nullable(")
		if !ok {
			inner, ok = strings.CutPrefix(t, "LowCardinality(")
		}
		if !ok {
			break
		}
		t = strings.TrimSuffix(inner, ")")
	}
	switch {
	case t == "Date" || t == "Date32":
		return "DATE"
	case t == "UUID":
		return "UUID"
	case strings.HasPrefix(t, "Array("):
		// Array(UInt8) scans as []uint8: numbers, not bytes.
		return "ARRAY(" + chType(strings.TrimSuffix(strings.TrimPrefix(t, "Array("), ")")) + ")"
	}
	return ""
}
