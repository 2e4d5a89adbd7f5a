// Package postgres is the scale-out metadata store, shared by every Journey
// replica: the same schema and behaviour as the embedded SQLite store (the
// same code, internal/meta/sqlmeta; both pass internal/meta/metatest). This
// package opens the database, migrates it, and adds what only PostgreSQL
// has: advisory locks, for migrations and for electing the loader.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlmeta"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while a migration is applied,
// so replicas that start together apply each migration once, one after the
// other, instead of racing on CREATE TABLE. Any fixed number shared by all
// replicas works; this one is "journey" in ASCII.
const migrationLockKey int64 = 0x6a6f75726e6579

// Store is meta.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	// Everything but migrations and advisory locks is the shared code over
	// database/sql (see sqlmeta); db runs on the same pool.
	db *sql.DB
	*sqlmeta.Tables
}

var _ meta.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, as libpq takes) and migrates it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message already names the DSN, with any password redacted.
		return nil, fmt.Errorf("cannot parse metadata database address: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		// Lets an operator tell Journey's connections apart in pg_stat_activity.
		cfg.ConnConfig.RuntimeParams["application_name"] = "journey"
	}
	// Named without user or password, so errors never leak a secret.
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open metadata database %q: %w", where, err)
	}
	// The pool connects lazily; fail here, with a plain message, when the
	// server cannot be reached at all.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot connect to metadata database %q: %w", where, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Store{pool: pool, db: db, Tables: sqlmeta.New(db, sqlmeta.PostgreSQL)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot migrate metadata database %q: %w", where, err)
	}
	if err := s.Tables.HashShareTokens(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot migrate metadata database %q: %w", where, err)
	}
	return s, nil
}

// migrationList returns the embedded migrations in version order, the twins
// of the SQLite store's (the same versions and file names).
func migrationList() ([]sqlmeta.Migration, error) {
	return sqlmeta.Migrations(migrations, "migrations")
}

func (s *Store) migrate(ctx context.Context) error {
	list, err := migrationList()
	if err != nil {
		return err
	}
	for _, m := range list {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply applies one migration unless it already is, in one transaction
// under the migration lock: PostgreSQL's DDL is transactional, so a failed
// migration leaves nothing behind, and the lock (released by commit or
// rollback, even if this process dies) makes a second replica wait and then
// find the version recorded.
func (s *Store) apply(ctx context.Context, m sqlmeta.Migration) error {
	// Read committed, whatever the server's default: each statement after the
	// lock must see what the replica that held it before us committed, which
	// a repeatable-read snapshot taken at the lock statement would not.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("cannot begin migration %q: %w", m.Name, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("cannot take migration lock for %q: %w", m.Name, err)
	}
	// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
	// still fail on PostgreSQL's catalog unique indexes.
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("cannot create table %q: %w", "schema_migrations", err)
	}
	var applied bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&applied); err != nil {
		return fmt.Errorf("cannot read table %q: %w", "schema_migrations", err)
	}
	if applied {
		return nil
	}
	// No arguments: pgx sends it with the simple protocol, which allows the
	// several statements a migration file holds.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("cannot apply migration %q: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.Version, time.Now().UTC()); err != nil {
		return fmt.Errorf("cannot record migration %q: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit migration %q: %w", m.Name, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.db.Close()
	s.pool.Close()
	return nil
}
