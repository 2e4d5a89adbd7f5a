package duckdb

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// secret is what project 2 holds; no query of project 1 may show it.
const secret = "zz-secret-of-project-two"

// twoProjects is a store with a little data in project 1 and the secret in
// every table of project 2 (events, persons, distinct ids, groups).
func twoProjects(t testing.TB) *Store {
	s, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := storetest.NewLoader(t, s)
	l.Load(1, ev("view", "u1", day0, map[string]any{"$set": map[string]any{"plan": "pro"}}), ev("buy", "u2", day0.Add(time.Hour), map[string]any{"revenue": 5}))
	l.Load(2, ev(secret, secret, day0, map[string]any{"$set": map[string]any{"k": secret}, "$groups": map[string]any{"company": secret}}))
	l.Load(2, ev("$identify", secret+"-2", day0.Add(time.Hour), map[string]any{"$anon_distinct_id": secret}))
	l.Load(2, ev("$groupidentify", secret, day0, map[string]any{"$group_type": "company", "$group_key": secret, "$group_set": map[string]any{"k": secret}}))
	return s
}

func runSQL(s *Store, query string) (*insight.SQLResult, error) {
	q := &insight.SQL{Query: query}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return s.SQL(context.Background(), 1, q)
}

// leaks reports whether an answer shows anything of project 2.
func leaks(res *insight.SQLResult) bool {
	b, _ := json.Marshal(res)
	return strings.Contains(string(b), secret)
}

// scopeAttacks are the review's reproductions and variants: each must be
// refused. They seed FuzzSQL too.
var scopeAttacks = []string{
	// A CTE declared in a subquery unlocks nothing outside it.
	`SELECT project_id, distinct_id, person_id FROM (WITH person_distinct_ids AS (SELECT 1) SELECT 1) t, person_distinct_ids WHERE project_id <> 1`,
	`SELECT * FROM (WITH person_overrides AS (SELECT 1) SELECT 1) t, person_overrides`,
	`SELECT * FROM (WITH loader_checkpoint AS (SELECT 1) SELECT 1) t, loader_checkpoint`,
	`SELECT (SELECT count(*) FROM (WITH x AS (SELECT 1) SELECT 1)) FROM person_distinct_ids`,
	`SELECT * FROM events WHERE EXISTS (WITH person_distinct_ids AS (SELECT 1) SELECT 1) UNION ALL SELECT * FROM person_distinct_ids`,
	// A CTE does not see itself (DuckDB binds the name to the real table) …
	`WITH person_distinct_ids AS (SELECT * FROM person_distinct_ids) SELECT * FROM person_distinct_ids`,
	// … nor the CTEs after it.
	`WITH a AS (SELECT * FROM person_distinct_ids), person_distinct_ids AS (SELECT 1) SELECT * FROM a`,
	// Names fold like DuckDB's (ASCII only): a Kelvin sign is not a k.
	"WITH loader_chec\u212apoint AS (SELECT 1) SELECT * FROM loader_checkpoint",
	"WITH \"loader_chec\u212apoint\" AS (SELECT 1) SELECT * FROM loader_checkpoint",
	// Catalog views and tables by name, in every case.
	`SELECT * FROM duckdb_tables`, `SELECT * FROM duckdb_columns`, `SELECT * FROM sqlite_master`,
	`SELECT * FROM pragma_database_list`, `SELECT * FROM pg_settings`, `SELECT * FROM DUCKDB_TABLES`,
	`SELECT * FROM information_schema.tables`, `SELECT * FROM pg_catalog.pg_class`, `SELECT * FROM main.person_distinct_ids`,
	`SELECT * FROM stage_events`, `SELECT * FROM duckdb_settings()`, `SELECT * FROM (SUMMARIZE person_distinct_ids)`,
	`SELECT * FROM (DESCRIBE person_distinct_ids)`, `SELECT * FROM (SHOW TABLES)`, `FROM person_distinct_ids`,
	`SELECT * FROM person_distinct_ids AT (VERSION => 1)`,
	`SELECT * FROM query_table('person_distinct_ids')`, `SELECT * FROM query('SELECT * FROM person_distinct_ids')`,
	`SELECT pg_catalog.lower('A')`, `SELECT other.main.lower('A')`, `SELECT main.current_setting('threads')`,
	`SELECT current_setting('threads')`, `SELECT getvariable('x')`, `SELECT nextval('s')`, `SELECT version()`,
	`SELECT current_query()`, `SELECT json_serialize_sql('SELECT 1')`, `SELECT json_execute_serialized_sql('x')`,
	`SELECT count(*) EXPORT_STATE FROM events`,
}

// TestSQLScopeAttacks: the review's reproductions and variants. Each is
// refused with a 400 naming the query, and none reaches project 2.
func TestSQLScopeAttacks(t *testing.T) {
	s := twoProjects(t)
	for _, q := range scopeAttacks {
		res, err := runSQL(s, q)
		var e *insight.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: want a 400, got %v (leaks: %v)", q, err, res != nil && leaks(res))
		}
	}
}

// TestSQLMemoryBombsRefused: queries whose memory DuckDB does not bound
// are refused before they run.
func TestSQLMemoryBombsRefused(t *testing.T) {
	s := twoProjects(t)
	for q, want := range map[string]string{
		`SELECT len(range(100000000))`:                                                            "range",
		`SELECT sum(x) FROM (SELECT unnest(range(100000000)) x)`:                                  "range",
		`SELECT sum(x) FROM (SELECT unnest(generate_series(1, 100000000)) x)`:                     "generate_series",
		`WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t) SELECT len(s) FROM t`: "recursive",
		`SELECT length(string_agg(a.properties, ',')) FROM events a, events b`:                    "string_agg",
		`SELECT len(list(a.uuid)) FROM events a, events b`:                                        "list",
		`SELECT len(array_agg(a.uuid)) FROM events a, events b`:                                   "array_agg",
		`SELECT median(a.timestamp) FROM events a, events b`:                                      "median",
		`SELECT mode(a.uuid) FROM events a, events b`:                                             "mode",
		`SELECT histogram(a.uuid) FROM events a`:                                                  "histogram",
		`SELECT length(repeat('x', 1000000000))`:                                                  "repeat",
		`SELECT length(lpad('x', 1000000000, 'y'))`:                                               "lpad",
		`SELECT len(list_resize([1], 100000000))`:                                                 "list_resize",
		`SELECT length(printf('%1000000000d', 1))`:                                                "printf",
		`SELECT length(format('{:>1000000000}', 1))`:                                              "format",
		// Found in review: nesting multiplies, or one call is quadratic.
		`SELECT sum(length(replace(replace(replace(s, 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'))) FROM (SELECT 'xxxxxxxxx' s)`: "replace",
		`SELECT length(regexp_replace(properties, '(.)', '\1\1\1\1', 'g')) FROM events`:                                                         "regexp_replace",
		`SELECT damerau_levenshtein(properties, reverse(properties)) FROM events`:                                                               "damerau_levenshtein",
		`SELECT levenshtein(properties, reverse(properties)) FROM events`:                                                                       "levenshtein",
		`SELECT jaro_winkler_similarity(properties, properties) FROM events`:                                                                    "jaro_winkler_similarity",
		`SELECT list_aggregate(list_value(properties), 'string_agg') FROM events`:                                                               "list_aggregate",
		`SELECT length(array_to_string(string_split(properties, ''), properties)) FROM events`:                                                  "array_to_string",
		`SELECT len(list_transform(string_split(properties, ''), x -> string_split(properties, ''))) FROM events`:                               "list_transform",
		`SELECT length(bar(1, 0, 1, 1000000000))`:                                                                                               "bar",
	} {
		_, err := runSQL(s, q)
		var e *insight.Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want a 400 naming %q", q, err, want)
		}
	}
}

// TestSQLAllowedShapes: the checker keeps what analysts write.
func TestSQLAllowedShapes(t *testing.T) {
	s := twoProjects(t)
	for q, rows := range map[string]int{
		`WITH a AS (SELECT * FROM events), b AS (SELECT event FROM a) SELECT * FROM b`:                       2,
		`WITH x AS (SELECT 1 AS v) SELECT * FROM x UNION ALL SELECT * FROM x`:                                2,
		`WITH events AS (SELECT * FROM events WHERE event = 'buy') SELECT * FROM events`:                     1,
		`SELECT * FROM (WITH x AS (SELECT event FROM events) SELECT * FROM x) t`:                             2,
		`WITH x AS (SELECT 1 AS v) SELECT (SELECT v FROM x), * FROM (SELECT * FROM x) q`:                     1,
		`SELECT event, row_number() OVER (ORDER BY timestamp) FROM events`:                                   2,
		`SELECT list_filter([1, 2], x -> x > 1), {'a': 1}, [1] || [2], properties->>'$.revenue' FROM events`: 2,
		`SELECT e.event, p.properties FROM events e JOIN persons p ON p.id = e.person_id`:                    2,
		`SELECT * FROM (VALUES (1), (2)) v(x)`:                                                               2,
		`SELECT approx_quantile(1, 0.5), count(DISTINCT person_id), sum(1) FILTER (WHERE true) FROM events`:  1,
		`SELECT date_trunc('day', timestamp), count(*) FROM events GROUP BY ALL`:                             1,
		`SELECT * FROM groups`: 0,
		`SELECT coalesce(json_extract_string(properties, '$.plan'), 'none') FROM persons`: 2,
	} {
		res, err := runSQL(s, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if len(res.Rows) != rows || leaks(res) {
			t.Errorf("%s: %d rows %v, want %d", q, len(res.Rows), res.Rows, rows)
		}
	}
}

// TestSQLCatalogUnreachable: every table and view in DuckDB's catalog,
// reached by name, by a CTE-shadow trick and qualified, is refused unless
// it is one of the three project tables.
func TestSQLCatalogUnreachable(t *testing.T) {
	s := twoProjects(t)
	rows, err := s.db.Query(`SELECT DISTINCT table_name FROM information_schema.tables UNION SELECT DISTINCT view_name FROM duckdb_views()`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if len(names) < 20 {
		t.Fatalf("only %d catalog names: %v", len(names), names)
	}
	for _, n := range names {
		for _, q := range []string{
			`SELECT * FROM "` + n + `"`,
			`SELECT * FROM (WITH "` + n + `" AS (SELECT 1) SELECT 1) t, "` + n + `"`,
			`WITH "` + n + `" AS (SELECT * FROM "` + n + `") SELECT * FROM "` + n + `"`,
		} {
			res, err := runSQL(s, q)
			if allowedTables[n] {
				if err != nil || leaks(res) {
					t.Errorf("%s: %v", q, err)
				}
				continue
			}
			var e *insight.Error
			if !errors.As(err, &e) {
				t.Errorf("%s: want a 400, got %v", q, err)
			}
		}
	}
}

// TestSQLValues: every DuckDB type reads as JSON a client can use.
func TestSQLValues(t *testing.T) {
	s := twoProjects(t)
	for q, want := range map[string]string{
		`SELECT sum(1) FROM events`:                                                                 `[[2]]`,
		`SELECT 170141183460469231731687303715884105727::HUGEINT`:                                   `[[170141183460469231731687303715884105727]]`,
		`SELECT 18446744073709551615::UBIGINT, 1::UHUGEINT, -3::TINYINT`:                            `[[18446744073709551615,1,-3]]`,
		`SELECT '00000000-0000-0000-0000-00000000000a'::UUID`:                                       `[["00000000-0000-0000-0000-00000000000a"]]`,
		`SELECT count(*) > 0 FROM (SELECT uuid FROM events WHERE uuid::VARCHAR LIKE '%-%')`:         `[[true]]`,
		`SELECT 1.50::DECIMAL(10,2), -0.001::DECIMAL(38,10), 12345678901234567890.5::DECIMAL(38,2)`: `[[1.5,-0.001,12345678901234567890.5]]`,
		`SELECT [1, 2], [[1], []], ['a', NULL]`:                                                     `[[[1,2],[[1],[]],["a",null]]]`,
		`SELECT {'a': 1, 'b': [true]}`:                                                              `[[{"a":1,"b":[true]}]]`,
		`SELECT MAP {'k': 1}, MAP {1: 'x'}`:                                                         `[[{"k":1},[{"key":1,"value":"x"}]]]`,
		`SELECT INTERVAL 3 DAY, INTERVAL 2 MONTH, INTERVAL 1500 MILLISECOND`:                        `[[{"months":0,"days":3,"micros":0},{"months":2,"days":0,"micros":0},{"months":0,"days":0,"micros":1500000}]]`,
		`SELECT 'ab'::BLOB, '\x00\xFF\x5C'::BLOB`:                                                   `[["ab","\\x00\\xFF\\x5C"]]`,
		`SELECT DATE '2020-01-02', TIME '10:00:01.5', TIMESTAMP '2020-01-02 03:04:05.123'`:          `[["2020-01-02","10:00:01.5","2020-01-02T03:04:05.123Z"]]`,
		`SELECT TIMETZ '10:00:00+05'`:                                                               `[["05:00:00Z"]]`,
		`SELECT TIMESTAMPTZ '2020-01-02 03:04:05+02'`:                                               `[["2020-01-02T01:04:05Z"]]`,
		`SELECT '{"a":[1,2.5]}'::JSON, json_extract('{"a":1e400}', '$.a')`:                          `[[{"a":[1,2.5]},null]]`,
		`SELECT 'abc'::ENUM('abc','d'), union_value(k := 1), 0.1::FLOAT, '101'::BIT`:                `[["abc",{"k":1},0.1,"101"]]`,
		`SELECT 'inf'::DOUBLE, 'nan'::DOUBLE, '-inf'::FLOAT, 1.5`:                                   `[[null,null,null,1.5]]`,
		`SELECT [1.5, 'inf'::DOUBLE]`:                                                               `[[[1.5,null]]]`,
	} {
		res, err := runSQL(s, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		b, err := json.Marshal(res.Rows)
		if err != nil || string(b) != want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", q, b, err, want)
		}
	}
	res, err := runSQL(s, `SELECT 1, 'inf'::DOUBLE UNION ALL SELECT 2, [1, 'nan'::DOUBLE][2]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.NonFinite, " "); got != "rows[0][1] rows[1][1]" && got != "rows[1][1] rows[0][1]" {
		t.Fatalf("non_finite = %q", got)
	}
}

// FuzzSQL: whatever query text project 1 sends, the answer never shows
// project 2's data (its events, persons, distinct ids and groups all hold
// the secret), and the checker never panics. The attacks seed it.
func FuzzSQL(f *testing.F) {
	for _, q := range scopeAttacks {
		f.Add(q)
	}
	for _, q := range []string{
		`SELECT * FROM events`, `WITH x AS (SELECT * FROM persons) SELECT * FROM x`,
		`SELECT * FROM (SELECT 1) a, (WITH events AS (SELECT 1) SELECT * FROM events) b`,
		`SELECT len(range(100000000))`, `SELECT string_agg(properties, ',') FROM events`,
	} {
		f.Add(q)
	}
	s := twoProjects(f)
	f.Fuzz(func(t *testing.T, query string) {
		if strings.Contains(strings.ToLower(query), secret[:8]) {
			return // the query names the secret itself
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		q := &insight.SQL{Query: query, Limit: 100}
		if q.Validate() != nil {
			return
		}
		res, err := s.SQL(ctx, 1, q)
		if err == nil && leaks(res) {
			t.Fatalf("%s: answer shows project 2: %v", query, res.Rows)
		}
	})
}

// TestFunctionsClassified: every function DuckDB offers is either allowed
// or refused by the checker, never both; a DuckDB upgrade that adds one
// fails here until it is classified, so it cannot silently widen what user
// SQL may call. Journey's own feeds are refused.
func TestFunctionsClassified(t *testing.T) {
	s := testdb(t)
	rows, err := s.db.Query(`SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate', 'macro', 'window')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if !classified(name) {
			t.Errorf("DuckDB function %q is neither allowed nor refused by the sql checker", name)
		}
	}
	if n < 300 {
		t.Fatalf("only %d functions listed", n)
	}
	for name := range allowedFunctions {
		if refusedFunctions[name] {
			t.Errorf("%q is both allowed and refused", name)
		}
	}
	for _, own := range []string{"journey_funnel_feed", "journey_actor_periods", "journey_index_feed", "journey_experiment_feed"} {
		if allowedFunctions[own] || !refusedFunctions[own] {
			t.Errorf("Journey's own %s must be refused", own)
		}
	}
}
