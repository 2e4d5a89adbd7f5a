// Package sqlite is the embedded metadata store: a SQLite file, migrated at
// open, under the shared implementation in internal/meta/sqlmeta.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlmeta"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is meta.Store on SQLite.
type Store struct {
	db *sql.DB
	*sqlmeta.Tables
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates it.
func Open(path string) (*Store, error) {
	// The driver sets busy_timeout first, so the other pragmas and the
	// migration lock wait for another process rather than fail.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open metadata database %q: %w", path, err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; one connection avoids SQLITE_BUSY
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot migrate metadata database %q: %w", path, err)
	}
	t := sqlmeta.New(db, sqlmeta.SQLite)
	if err := t.HashShareTokens(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot migrate metadata database %q: %w", path, err)
	}
	return &Store{db: db, Tables: t}, nil
}

func migrationList() ([]sqlmeta.Migration, error) {
	return sqlmeta.Migrations(migrations, "migrations")
}

func migrate(ctx context.Context, db *sql.DB) error {
	list, err := migrationList()
	if err != nil {
		return err
	}
	// One connection for all of them: the migration lock is this
	// connection's transaction.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, m := range list {
		if err := apply(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

// apply applies one migration unless it already is, checking and applying
// in one BEGIN IMMEDIATE transaction. IMMEDIATE takes SQLite's write lock
// on the file at BEGIN, before the check, so it is the migration lock
// across processes: two journey processes opening one data dir at once
// take turns (busy_timeout makes the second wait), and the second finds
// the version recorded instead of applying it again. SQLite's DDL is
// transactional, so a failed migration leaves nothing behind, and the lock
// goes with the process if it dies.
func apply(ctx context.Context, conn *sql.Conn, m sqlmeta.Migration) (err error) {
	// database/sql's BeginTx would send a plain (deferred) BEGIN, which
	// takes no lock until the first write: two processes would both find
	// the version missing.
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("cannot take migration lock for %q: %w", m.Name, err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), `ROLLBACK`)
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("cannot create table %q: %w", "schema_migrations", err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return fmt.Errorf("cannot read table %q: %w", "schema_migrations", err)
	}
	if n == 0 {
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("cannot apply migration %q: %w", m.Name, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			m.Version, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("cannot record migration %q: %w", m.Name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("cannot commit migration %q: %w", m.Name, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
