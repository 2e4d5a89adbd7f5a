// Package scaleout gives tests a fresh scale-out stack on the servers the
// test scripts start on loopback: a new PostgreSQL database, ClickHouse
// database and JetStream stream, named uniquely per test. Without the
// servers a test skips locally and fails in CI (CI=true).
package scaleout

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-dev/journey/internal/testutil"
)

// Stack holds the addresses to give journey's --events, --meta and --log.
type Stack struct {
	Events, Meta, Log string
	db                string // the ClickHouse database
}

// New creates the databases and stream names for one test; shards > 1
// puts events on the two-shard cluster.
func New(t testing.TB, shards int) Stack {
	t.Helper()
	name := fmt.Sprintf("journey_t_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pgAdmin := envOr("JOURNEY_TEST_POSTGRES", "postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable")
	conn, err := pgx.Connect(ctx, pgAdmin)
	if err != nil {
		testutil.Missing(t, "PostgreSQL not available (scripts/postgres.sh start): %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgAdmin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	events := "clickhouse://127.0.0.1:19000/" + name
	if shards > 1 {
		events = "clickhouse://127.0.0.1:19000,127.0.0.1:19001/" + name + "?cluster=journey_two_shards"
	}
	stream := strings.ToUpper(name)
	t.Cleanup(func() { dropClickHouse(name); deleteStream(stream) })
	return Stack{
		Events: events,
		Meta:   strings.Replace(pgAdmin, "/postgres?", "/"+name+"?", 1),
		Log:    envOr("JOURNEY_TEST_NATS", "nats://127.0.0.1:14222") + "?stream=" + stream,
		db:     name,
	}
}

// Query runs a SELECT in the stack's ClickHouse database (through the
// first server's HTTP port) and returns its rows as strings
// (TabSeparated), failing the test on error: tests read stored rows with
// it, not through the event store.
func (s Stack) Query(t testing.TB, query string) [][]string {
	t.Helper()
	u := "http://127.0.0.1:18123/?database=" + url.QueryEscape(s.db) + "&query=" + url.QueryEscape(query+" FORMAT TabSeparated")
	resp, err := http.Post(u, "text/plain", nil)
	if err != nil {
		t.Fatalf("cannot reach ClickHouse: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("clickhouse: %s: %s %v (query %q)", resp.Status, strings.TrimSpace(string(b)), err, query)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// dropClickHouse drops the test's database on both local servers (their
// HTTP ports), best effort: a test must not fail on cleanup.
func dropClickHouse(name string) {
	for _, port := range []string{"18123", "18124"} {
		resp, err := http.Post("http://127.0.0.1:"+port+"/", "text/plain", strings.NewReader("DROP DATABASE IF EXISTS "+name))
		if err == nil {
			resp.Body.Close()
		}
	}
}

// deleteStream deletes the test's JetStream stream, best effort.
func deleteStream(stream string) {
	nc, err := nats.Connect(envOr("JOURNEY_TEST_NATS", "nats://127.0.0.1:14222"), nats.Timeout(2*time.Second))
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, stream)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
