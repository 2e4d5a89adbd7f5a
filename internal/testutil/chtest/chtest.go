// Package chtest gives tests a fresh database on the local ClickHouse that
// scripts/clickhouse.sh starts (127.0.0.1, HTTP port 18123), for
// differential tests: the same data in ClickHouse and in Journey's stores,
// compared against ClickHouse's own functions (windowFunnel, retention).
package chtest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testutil"
)

// URL is the HTTP interface of the first local ClickHouse instance.
var URL = envOr("JOURNEY_TEST_CLICKHOUSE_HTTP", "http://127.0.0.1:18123")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// DB is a ClickHouse database that exists for one test.
type DB struct {
	t    *testing.T
	Name string
}

// Open creates a fresh database and drops it when the test ends. Without a
// reachable server it skips locally and fails in CI (CI=true), where
// `make test` has started one.
func Open(t *testing.T) *DB {
	t.Helper()
	resp, err := http.Get(URL + "/ping")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 200 {
		testutil.Missing(t, "ClickHouse not reachable at %s (run scripts/clickhouse.sh start): %v", URL, err)
	}
	db := &DB{t: t, Name: fmt.Sprintf("journey_test_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))}
	db.Exec("CREATE DATABASE " + db.Name)
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + db.Name) })
	return db
}

// Exec runs a statement, failing the test on error.
func (db *DB) Exec(query string) {
	db.t.Helper()
	if _, err := db.do(query, ""); err != nil {
		db.t.Fatal(err)
	}
}

// Insert sends rows in TabSeparated format to table.
func (db *DB) Insert(table string, rows [][]string) {
	db.t.Helper()
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, "\t"))
		b.WriteByte('\n')
	}
	if _, err := db.do("INSERT INTO "+db.Name+"."+table+" FORMAT TabSeparated", b.String()); err != nil {
		db.t.Fatal(err)
	}
}

// Query runs a SELECT and returns its rows as strings (TabSeparated).
func (db *DB) Query(query string) [][]string {
	db.t.Helper()
	out, err := db.do(query+" FORMAT TabSeparated", "")
	if err != nil {
		db.t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

func (db *DB) do(query, body string) (string, error) {
	u := URL + "/?database=" + url.QueryEscape(db.Name) + "&query=" + url.QueryEscape(query)
	if db.Name == "" || strings.HasPrefix(query, "CREATE DATABASE") {
		u = URL + "/?query=" + url.QueryEscape(query)
	}
	resp, err := http.Post(u, "text/plain", strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("cannot reach ClickHouse: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("clickhouse: %s: %s (query %q)", resp.Status, strings.TrimSpace(string(b)), query)
	}
	return string(b), nil
}
