package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/metatest"
	"github.com/journey-dev/journey/internal/testutil"
)

// adminDSN is a superuser connection to the test server that
// scripts/postgres.sh starts; each test creates its own database on it.
func adminDSN() string {
	if dsn := os.Getenv("JOURNEY_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable"
}

var reach struct {
	once sync.Once
	err  error
}

// admin connects to the test server. When it is down the test is skipped
// locally, but fails under CI, where `make test` starts it: a suite that
// silently skipped there would prove nothing.
func admin(t *testing.T) *pgx.Conn {
	t.Helper()
	reach.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminDSN())
		if err == nil {
			c.Close(ctx)
		}
		reach.err = err
	})
	if reach.err != nil {
		testutil.Missing(t, "PostgreSQL unreachable (run scripts/postgres.sh start, or set JOURNEY_TEST_POSTGRES): %v", reach.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN())
	if err != nil {
		t.Fatalf("cannot connect to PostgreSQL: %v", err)
	}
	return c
}

// freshDB creates an empty database for one test, dropped when it ends, and
// returns its DSN.
func freshDB(t *testing.T) string {
	t.Helper()
	c := admin(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "journey_t_" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		c.Close(ctx)
		t.Fatalf("cannot create database %q: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE: a store a failed test left open must not keep it alive.
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("cannot drop database %q: %v", name, err)
		}
		c.Close(ctx)
	})
	return withDatabase(t, adminDSN(), name)
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") { // key=value form: a later dbname wins
		return dsn + " dbname=" + name
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("cannot parse JOURNEY_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// harness gives the conformance suite a look at the raw api_keys table.
type harness struct{ *Store }

func (h harness) KeyHashes(ctx context.Context, projectID int64) ([]string, error) {
	rows, err := h.pool.Query(ctx, `SELECT key_hash FROM api_keys WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return harness{open(t, freshDB(t))} })
}

func checkApplied(t *testing.T, s *Store) {
	t.Helper()
	list, err := migrationList()
	if err != nil {
		t.Fatal(err)
	}
	got := metatest.AppliedVersions(t, s.db)
	if len(got) != len(list) {
		t.Fatalf("schema_migrations = %v, want the %d embedded migrations", got, len(list))
	}
	for _, m := range list {
		if got[m.Version] != 1 {
			t.Fatalf("migration %d recorded %d times (%v)", m.Version, got[m.Version], got)
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	dsn := freshDB(t)
	for i := 0; i < 2; i++ {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		checkApplied(t, s)
		s.Close()
	}
}

// TestConcurrentOpen: replicas starting together on a new database. Without
// the migration lock they race on CREATE TABLE and all but one fail.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshDB(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	checkApplied(t, stores[0])
	// And they share one working schema.
	p, secret, err := stores[1].CreateProject(context.Background(), "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stores[n-1].ProjectBySecret(context.Background(), secret); err != nil || got.ID != p.ID {
		t.Fatalf("another replica's ProjectBySecret = %+v, %v", got, err)
	}
}

// TestMigrationsMatchSQLite: the same migration files, so a version means
// the same schema on both stores. A migration added to one store only fails
// here.
func TestMigrationsMatchSQLite(t *testing.T) {
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	pg, lite := names("migrations"), names(filepath.Join("..", "sqlite", "migrations"))
	if !slices.Equal(pg, lite) {
		t.Fatalf("PostgreSQL migrations %q, SQLite migrations %q: want the same files", pg, lite)
	}
}

// TestOpenErrorHidesPassword: Open's error is logged at startup; it names
// the server but never the password in the DSN.
func TestOpenErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://journey:s3cr3t-pw@127.0.0.1:1/meta?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=journey password=s3cr3t-pw dbname=meta sslmode=disable connect_timeout=2",
		"postgres://journey:s3cr3t-pw@127.0.0.1:bad/meta",
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		t.Log(err)
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("error leaks the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "cannot ") {
			t.Fatalf("error = %v", err)
		}
	}
}

// TestLoaderLock: one holder at a time; the next gets it when the first
// releases it.
func TestLoaderLock(t *testing.T) {
	a := open(t, freshDB(t))
	ctx := context.Background()
	release, _, err := a.LoaderLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, _, err := a.LoaderLock(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("a second holder got the loader lock while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		r()
	case <-time.After(5 * time.Second):
		t.Fatal("the second holder did not get the lock after release")
	}
}
