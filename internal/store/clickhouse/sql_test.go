package clickhouse

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestScopeSQL checks the SQL insight's token checks without a server:
// what is refused with a 400, and that allowed table names are replaced by
// project-scoped subqueries (aliased with their own name unless the user
// gave one).
func TestScopeSQL(t *testing.T) {
	s := &Store{db: "journey", events: "journey.events"}
	ok := func(query string, subqueries int) {
		t.Helper()
		got, err := s.scopeSQL(7, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if n := strings.Count(got, "project_id = 7"); n < subqueries || (subqueries == 0 && n != 0) {
			t.Fatalf("%s: %d scoped subqueries in\n%s", query, n, got)
		}
	}
	ok(`SELECT extract(day FROM timestamp) AS d FROM events`, 1)
	ok(`SELECT 'FROM system.tables' AS s FROM events`, 1)
	ok(`SELECT * FROM events /* FROM system.tables */`, 1)
	ok(`SELECT 1 -- ; DROP TABLE x`, 0)
	ok(`SELECT x FROM events ARRAY JOIN [1, 2] AS x`, 1)
	ok(`WITH 1 AS one SELECT one FROM events`, 1)
	ok(`SELECT e.event FROM events AS e ANY LEFT JOIN persons p USING id;`, 2)
	ok(`SELECT count() FROM (SELECT event FROM events WHERE event IN ('a', 'b'))`, 1)
	ok(`SELECT count() FROM events WHERE event NOT IN ('a') AND event GLOBAL IN (SELECT event FROM events)`, 2)
	ok(`SELECT t.1 FROM (SELECT (1, 2) AS t)`, 0)
	ok(`SELECT e.event, p.id FROM events e JOIN persons AS p ON p.id = e.person_id`, 2)
	if got, _ := s.scopeSQL(7, `SELECT events.event FROM events WHERE 1`); !strings.Contains(got, ") AS events WHERE 1") {
		t.Fatalf("no alias added: %s", got)
	}
	if got, _ := s.scopeSQL(7, `SELECT e.event FROM events e`); strings.Contains(got, "AS events") {
		t.Fatalf("alias added where the user gave one: %s", got)
	}

	bad := func(query, want string) {
		t.Helper()
		_, err := s.scopeSQL(7, query)
		var e *insight.Error
		if !errors.As(err, &e) || e.Field != "query" || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: got %v, want a query error containing %q", query, err, want)
		}
	}
	bad(`SELECT * FROM system.tables`, "SYSTEM is not allowed")
	bad(`SELECT * FROM journey.events`, `name "journey" is not allowed`)
	bad(`SELECT * FROM events_local`, `name "events_local" is not allowed`)
	bad(`SELECT * FROM events.x`, "qualified")
	// Found in review: each of these passed an earlier version of the checks.
	bad("SELECT count() FROM\v journey.events_local", `name "journey" is not allowed`)
	bad("SELECT (\vSELECT any(properties) FROM journey.persons WHERE project_id != 7)", `name "journey" is not allowed`)
	bad("SELECT * FROM\v`system`.databases", "quoted table names")
	bad("SELECT count() FROM (SELECT toUInt64(1) AS project_id) AS array RIGHT JOIN jour.events_local USING project_id", "ARRAY cannot be an alias")
	bad("SELECT in((1), jour.events_local)", "in(…) as a function")
	bad("SELECT 1 WHERE in(1, customers)", "in(…) as a function")
	bad("SELECT event FROM events WHERE in(event, persons)", "in(…) as a function")
	bad("SELECT event FROM events WHERE notIn(event, persons)", `function "notIn"`)
	bad("SELECT event FROM events WHERE event IN (persons)", "persons can only follow FROM or JOIN")
	bad("SELECT 1 --\r FROM system.tables", "control character")
	bad("SELECT 1 FROM\u00a0system.tables", "is not allowed outside quotes")
	bad("SELECT 1 # comment", "is not allowed outside quotes")
	bad("SELECT customers.x FROM events", "qualified name customers.x")
	bad("SELECT x FROM events AS e JOIN other_db.t USING x", `unknown table "other_db"`)
	bad("SELECT count() FROM events WHERE x = other_db.t.y", "qualified name other_db.t")
	bad(`SELECT * FROM "events"`, "quoted table names")
	bad("SELECT * FROM `system`.`tables`", "quoted table names")
	bad(`SELECT * FROM events, persons`, "comma")
	bad(`SELECT * FROM url('http://x', CSV, 'a String')`, `unknown table "url"`)
	bad(`SELECT * FROM (SELECT * FROM numbers(10))`, `unknown table "numbers"`)
	bad(`SELECT dictGetString('d', 'a', toUInt64(1))`, "dictGetString")
	bad(`SELECT joinGet('j', 'v', 1)`, "joinGet")
	bad(`SELECT * FROM events SETTINGS max_threads = 1`, "SETTINGS")
	bad(`SELECT * FROM events FORMAT JSON`, "FORMAT")
	bad(`SELECT * FROM events INTO OUTFILE 'x'`, "INTO")
	bad(`SELECT 1 WHERE 1 IN some_table`, "IN needs")
	bad(`SELECT 1; SELECT 2`, "one statement")
	bad(`DROP TABLE events`, "only a SELECT")
	bad(`SELECT 'unterminated`, "unterminated")
	bad(`SELECT 1 /* open`, "unterminated")
	bad(`SELECT (SELECT count() FROM system_parts)`, `unknown table "system_parts"`)
	bad(`SELECT 1 UNION ALL SELECT name FROM databases`, `unknown table "databases"`)
}

// FuzzScopeSQL: the checker never panics, and whatever it accepts names no
// table but the scoped subqueries.
func FuzzScopeSQL(f *testing.F) {
	for _, seed := range []string{`SELECT * FROM events`, `SELECT 'a''b' FROM persons p JOIN groups USING x`, "SELECT `x` FROM (SELECT 1)", `SELECT /* c */ 1 -- d`} {
		f.Add(seed)
	}
	s := &Store{db: "journey", events: "journey.events"}
	f.Fuzz(func(t *testing.T, query string) {
		got, err := s.scopeSQL(1, query)
		if err != nil {
			return
		}
		if strings.Contains(strings.ToLower(got), "system.") && !strings.Contains(strings.ToLower(query), "system.") {
			t.Fatalf("rewrite introduced a system table: %s", got)
		}
	})
}

// TestScopeSQLFunctions: only allow-listed functions run, combinators
// included; keywords before '(' are not calls.
func TestScopeSQLFunctions(t *testing.T) {
	s := &Store{db: "journey", events: "journey.events"}
	for _, q := range []string{
		`SELECT countIf(event = 'a'), uniqExactIf(person_id, 1), sumArray([1]), quantile(0.5)(toFloat64(1)) FROM events`,
		`SELECT arrayMap(x -> x + 1, [1, 2]), if(1, 'a', 'b'), toStartOfDay(timestamp) FROM events WHERE (1 = 1) AND (event IN ('a'))`,
		`SELECT CAST(1 AS String), visitParamExtractString(properties, 'plan') FROM events GROUP BY (1) ORDER BY (1)`,
		`SELECT count() FROM (SELECT event FROM events) WHERE NOT (1 = 2)`,
	} {
		if _, err := s.scopeSQL(1, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`SELECT dictGet('d', 'a', toUInt64(1))`, `SELECT joinGet('j', 'v', 1)`, `SELECT getSetting('max_threads')`,
		`SELECT currentDatabase()`, `SELECT hostName()`, `SELECT version()`, `SELECT getMacro('shard')`,
		`SELECT hasColumnInTable('journey', 'events', 'x')`, `SELECT file('x')`, `SELECT sleep(3)`,
		`SELECT throwIf(1)`, `SELECT runningAccumulate(x) FROM events`, `SELECT bar(1, 0, 1, 1000000000)`,
		`SELECT countIfMadeUp(1) FROM events`, `SELECT filesystemAvailable()`, `SELECT uptime()`,
		`SELECT globalIn(1, events)`, `SELECT notIn(1, events)`, `SELECT arrayJoin(range(100000000))`,
	} {
		_, err := s.scopeSQL(1, q)
		var e *insight.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: want a 400, got %v", q, err)
		}
	}
}

// TestSQLTwoProjects: on a real ClickHouse, the review's attacks answer a
// 400 and nothing of project 2 shows in what project 1 may run; values of
// every type read as JSON.
func TestSQLTwoProjects(t *testing.T) {
	s := testdb(t, false)
	l := storetest.NewLoader(t, s)
	const secret = "zz-secret-of-project-two"
	l.Load(1, storetest.Ev("view", "u1", storetest.Day0, nil))
	l.Load(2, storetest.Ev(secret, secret, storetest.Day0, map[string]any{"$set": map[string]any{"k": secret}}))
	ctx := context.Background()
	for _, q := range []string{
		`SELECT project_id, distinct_id, person_id FROM (WITH person_distinct_ids AS (SELECT 1) SELECT 1) t, person_distinct_ids WHERE project_id <> 1`,
		`WITH person_distinct_ids AS (SELECT * FROM person_distinct_ids) SELECT * FROM person_distinct_ids`,
		`SELECT * FROM person_distinct_ids`, `SELECT * FROM system.tables`, `SELECT * FROM system.settings`,
		`SELECT * FROM remote('127.0.0.1', system.one)`, `SELECT * FROM merge(currentDatabase(), '')`,
		`SELECT length(groupArray(number)) FROM numbers(100000000)`,
	} {
		res, err := s.SQL(ctx, 1, &insight.SQL{Query: q, Limit: 10})
		var e *insight.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: want a 400, got %v %v", q, err, res)
		}
	}
	for q, want := range map[string]string{
		`SELECT count() AS n FROM events`:                                        `[[1]]`,
		`SELECT toUInt64(18446744073709551615), toInt8(-3), 1.5, nan, inf, -inf`: `[[18446744073709551615,-3,1.5,null,null,null]]`,
		`SELECT toUUID('6ba7b810-9dad-11d1-80b4-00c04fd430c8')`:                  `[["6ba7b810-9dad-11d1-80b4-00c04fd430c8"]]`,
		`SELECT toDecimal64(1.5, 2), toDecimal32(-0.001, 3)`:                     `[[1.5,-0.001]]`,
		`SELECT [1, 2], ['a'], tuple(1, 'a'), [[1], []]`:                         `[[[1,2],["a"],[1,"a"],[[1],[]]]]`,
		`SELECT toDate('2020-01-02'), toDateTime('2020-01-02 03:04:05', 'UTC')`:  `[["2020-01-02","2020-01-02T03:04:05Z"]]`,
		`SELECT toNullable(1), NULL, toFixedString('ab', 2), 'x'`:                `[[1,null,"ab","x"]]`,
	} {
		res, err := s.SQL(ctx, 1, &insight.SQL{Query: q, Limit: 10})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		b, _ := json.Marshal(res.Rows)
		if string(b) != want || strings.Contains(string(b), secret) {
			t.Errorf("%s:\n got %s\nwant %s", q, b, want)
		}
	}
}
