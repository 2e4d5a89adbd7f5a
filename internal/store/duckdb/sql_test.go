package duckdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestSQLScopedToProject(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	l.Load(1, ev("a", "u1", day0, map[string]any{"$set": map[string]any{"plan": "pro"}}), ev("a", "u2", day0.Add(time.Hour), nil))
	l.Load(2, ev("secret", "x", day0, map[string]any{"$set": map[string]any{"plan": "other"}}))
	run := func(query string) (*insight.SQLResult, error) {
		q := &insight.SQL{Query: query}
		if err := q.Validate(); err != nil {
			return nil, err
		}
		return s.SQL(context.Background(), 1, q)
	}
	ok := func(query string, wantRows int) *insight.SQLResult {
		t.Helper()
		res, err := run(query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if len(res.Rows) != wantRows {
			t.Fatalf("%s: %d rows %v, want %d", query, len(res.Rows), res.Rows, wantRows)
		}
		return res
	}
	refused := func(query, want string) {
		t.Helper()
		_, err := run(query)
		var se *insight.Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err %v, want an insight.Error containing %q", query, err, want)
		}
	}
	res := ok(`SELECT event, count(*) AS n FROM events GROUP BY event`, 1)
	if res.Rows[0][0] != "a" || res.Columns[1] != "n" {
		t.Fatalf("rows = %v columns %v", res.Rows, res.Columns)
	}
	ok(`SELECT * FROM persons`, 2)
	ok(`WITH x AS (SELECT * FROM events WHERE event = 'secret') SELECT * FROM x`, 0)
	ok(`SELECT * FROM events e WHERE e.event IN (SELECT event FROM events)`, 2)
	ok(`SELECT json_extract_string(properties, '$.plan') FROM persons WHERE json_extract_string(properties, '$.plan') = 'pro';`, 1)
	refused(`SELECT * FROM main.events`, "qualified")
	refused(`SELECT * FROM memory.main.events`, "qualified")
	refused(`SELECT * FROM person_overrides`, "unknown table")
	refused(`SELECT * FROM read_csv('/etc/passwd')`, "table functions")
	refused(`SELECT read_text('/etc/passwd')`, "not allowed")
	refused(`SELECT current_setting('memory_limit')`, "not allowed")
	refused(`DELETE FROM events`, "SELECT")
	refused(`SELECT 1; DROP TABLE events`, "")
	refused(`SELECT * FROM duckdb_tables()`, "table functions")
	refused(`SELEC nonsense`, "query")
	if _, err := run(""); err == nil {
		t.Fatal("empty query accepted")
	}
	refused(`SELECT * FROM range(5)`, "table functions")
	// The limit caps rows and says so.
	q := &insight.SQL{Query: `SELECT * FROM events`, Limit: 1}
	res, err := s.SQL(context.Background(), 1, q)
	if err != nil || len(res.Rows) != 1 || !res.Truncated {
		t.Fatalf("limited query = %+v, %v", res, err)
	}
}
