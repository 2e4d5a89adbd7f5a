// Package sqlmeta is the metadata store's one implementation: projects and
// their keys, settings, cohorts, actions, users, invites, sessions, saved
// insights and dashboards, in SQL that SQLite and PostgreSQL both run, over
// database/sql. The stores in internal/meta/sqlite and internal/meta/postgres
// only open their database, migrate it, and add what truly differs
// (PostgreSQL's advisory locks).
//
// What does differ between the databases is a Dialect field (dialect.go),
// never a test of the SQL text: placeholders, the *_at columns of the two
// oldest migrations (RFC 3339 text on SQLite, TIMESTAMPTZ on PostgreSQL),
// unique-violation errors, and which strings PostgreSQL can bind as TEXT.
//
// Every table added from now on is read and written here once, and is
// created by twin migrations (sqlite/migrations and postgres/migrations:
// the same file names, tables and columns) in portable types only: integer
// ids, Unix-millisecond times, 0/1 flags and JSON as text.
package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// Tables is the metadata store over one database: all of meta.Store but
// Close, which belongs to whoever opened the database.
type Tables struct {
	db *sql.DB
	d  Dialect
}

// New returns the tables of db, a database of dialect d (SQLite or
// PostgreSQL), already migrated.
func New(db *sql.DB, d Dialect) *Tables { return &Tables{db: db, d: d} }

var _ interface {
	Projects(ctx context.Context) ([]meta.Project, error)
	meta.ActionStore
	meta.UI
} = (*Tables)(nil)

// queryer is what both *sql.DB and *sql.Tx run statements with.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q rewrites the placeholders of query for the database.
func (t *Tables) q(query string) string { return t.d.rebind(query) }

func (t *Tables) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.db.ExecContext(ctx, t.q(query), args...)
}

func (t *Tables) row(ctx context.Context, query string, args ...any) *sql.Row {
	return t.db.QueryRowContext(ctx, t.q(query), args...)
}

func (t *Tables) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.db.QueryContext(ctx, t.q(query), args...)
}

// insert runs an INSERT … RETURNING id (both databases support it).
func (t *Tables) insert(ctx context.Context, query string, args ...any) (int64, error) {
	return t.insertOn(ctx, t.db, query, args...)
}

// insertOn is insert in a transaction (or on the database, q being t.db).
func (t *Tables) insertOn(ctx context.Context, q queryer, query string, args ...any) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, t.q(query+" RETURNING id"), args...).Scan(&id)
	return id, err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return meta.ErrNotFound
	}
	return err
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return meta.ErrNotFound
	}
	return nil
}
