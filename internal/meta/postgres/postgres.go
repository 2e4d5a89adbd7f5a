// Package postgres is the scale-out metadata store: the same schema and
// behaviour as the embedded SQLite store (both pass internal/meta/metatest),
// shared by every Journey replica.
package postgres

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// The UI tables are shared code over database/sql (see sqlmeta); db
	// runs on the same pool.
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
	s := &Store{pool: pool, db: db, Tables: sqlmeta.New(db, true)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot migrate metadata database %q: %w", where, err)
	}
	return s, nil
}

type migration struct {
	version int
	name    string
}

// migrationList returns the embedded migrations in version order. Versions
// are the numeric prefixes of the file names, identical to the SQLite
// store's, so both record the same versions in schema_migrations.
func migrationList() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("cannot parse migration version of %q: %w", base, err)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("cannot order migration %q: version %d is also %q", base, version, other)
		}
		seen[version] = base
		out = append(out, migration{version, name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
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
func (s *Store) apply(ctx context.Context, m migration) error {
	// Read committed, whatever the server's default: each statement after the
	// lock must see what the replica that held it before us committed, which
	// a repeatable-read snapshot taken at the lock statement would not.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("cannot begin migration %q: %w", m.name, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("cannot take migration lock for %q: %w", m.name, err)
	}
	// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
	// still fail on PostgreSQL's catalog unique indexes.
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("cannot create table %q: %w", "schema_migrations", err)
	}
	var applied bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&applied); err != nil {
		return fmt.Errorf("cannot read table %q: %w", "schema_migrations", err)
	}
	if applied {
		return nil
	}
	body, err := migrations.ReadFile(m.name)
	if err != nil {
		return fmt.Errorf("cannot read migration %q: %w", m.name, err)
	}
	// No arguments: pgx sends it with the simple protocol, which allows the
	// several statements a migration file holds.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("cannot apply migration %q: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.version, now()); err != nil {
		return fmt.Errorf("cannot record migration %q: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit migration %q: %w", m.name, err)
	}
	return nil
}

// now is truncated to what TIMESTAMPTZ keeps (microseconds), so a value
// returned by a Create call equals the one read back later.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// storable reports whether s can be a TEXT value at all: PostgreSQL rejects
// NUL bytes and invalid UTF-8 with an error, where a lookup of such a string
// should simply find nothing (as it does on SQLite).
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// CreateProject creates a project with a fresh token and secret key.
func (s *Store) CreateProject(ctx context.Context, name, timezone string) (meta.Project, string, error) {
	if timezone == "" {
		timezone = "UTC"
	}
	p := meta.Project{Name: name, Timezone: timezone, Token: meta.NewToken(), CreatedAt: now()}
	secret := meta.NewSecret()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	defer tx.Rollback(ctx)
	if err := tx.QueryRow(ctx, `INSERT INTO projects (name, timezone, token, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		p.Name, p.Timezone, p.Token, p.CreatedAt).Scan(&p.ID); err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO api_keys (project_id, key_hash, created_at) VALUES ($1, $2, $3)`,
		p.ID, meta.HashSecret(secret), now()); err != nil {
		return p, "", fmt.Errorf("cannot create secret key for project %q: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	return p, secret, nil
}

// CreateKey adds a secret key to a project.
func (s *Store) CreateKey(ctx context.Context, projectID int64) (string, error) {
	secret := meta.NewSecret()
	if _, err := s.pool.Exec(ctx, `INSERT INTO api_keys (project_id, key_hash, created_at) VALUES ($1, $2, $3)`,
		projectID, meta.HashSecret(secret), now()); err != nil {
		return "", fmt.Errorf("cannot create secret key for project %d: %w", projectID, err)
	}
	return secret, nil
}

const projectCols = `p.id, p.name, p.timezone, p.token, p.created_at`

func scanProject(row pgx.Row, extra ...any) (meta.Project, error) {
	var p meta.Project
	if err := row.Scan(append([]any{&p.ID, &p.Name, &p.Timezone, &p.Token, &p.CreatedAt}, extra...)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return meta.Project{}, meta.ErrNotFound
		}
		return meta.Project{}, err
	}
	// pgx returns TIMESTAMPTZ in the process's local zone; the SQLite store,
	// and the API, use UTC.
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// ProjectByToken finds the project whose public token is token.
func (s *Store) ProjectByToken(ctx context.Context, token string) (meta.Project, error) {
	if !storable(token) {
		return meta.Project{}, meta.ErrNotFound
	}
	p, err := scanProject(s.pool.QueryRow(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.token = $1`, token))
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return p, err
		}
		return p, fmt.Errorf("cannot look up project token: %w", err)
	}
	// As in the SQLite store: the index finds the row, the constant-time
	// comparison decides.
	if subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) != 1 {
		return meta.Project{}, meta.ErrNotFound
	}
	return p, nil
}

// ProjectBySecret finds the project that owns the secret key.
func (s *Store) ProjectBySecret(ctx context.Context, secret string) (meta.Project, error) {
	hash := meta.HashSecret(secret)
	var stored string
	p, err := scanProject(s.pool.QueryRow(ctx, `SELECT `+projectCols+`, k.key_hash FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = $1`, hash), &stored)
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return p, err
		}
		return p, fmt.Errorf("cannot look up secret key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return meta.Project{}, meta.ErrNotFound
	}
	return p, nil
}

// Project returns the project with the given id.
func (s *Store) Project(ctx context.Context, id int64) (meta.Project, error) {
	p, err := scanProject(s.pool.QueryRow(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = $1`, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return p, fmt.Errorf("cannot read project %d: %w", id, err)
	}
	return p, err
}

// Projects lists all projects.
func (s *Store) Projects(ctx context.Context) ([]meta.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+projectCols+` FROM projects p ORDER BY p.id`)
	if err != nil {
		return nil, fmt.Errorf("cannot list projects: %w", err)
	}
	defer rows.Close()
	out := []meta.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list projects: %w", err)
	}
	return out, nil
}

// Setting returns a project setting.
func (s *Store) Setting(ctx context.Context, projectID int64, key string) ([]byte, error) {
	if !storable(key) {
		return nil, meta.ErrNotFound
	}
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM project_settings WHERE project_id = $1 AND key = $2`, projectID, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, meta.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read setting %q: %w", key, err)
	}
	return []byte(v), nil
}

// SetSetting stores a project setting.
func (s *Store) SetSetting(ctx context.Context, projectID int64, key string, value []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO project_settings (project_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, projectID, key, string(value), now())
	if err != nil {
		return fmt.Errorf("cannot store setting %q: %w", key, err)
	}
	return nil
}

// CreateCohort stores a cohort.
func (s *Store) CreateCohort(ctx context.Context, projectID int64, name string, definition []byte) (meta.Cohort, error) {
	c := meta.Cohort{ProjectID: projectID, Name: name, Definition: definition, CreatedAt: now()}
	if err := s.pool.QueryRow(ctx, `INSERT INTO cohorts (project_id, name, definition, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		projectID, name, string(definition), c.CreatedAt).Scan(&c.ID); err != nil {
		return c, fmt.Errorf("cannot create cohort %q: %w", name, err)
	}
	return c, nil
}

const cohortCols = `id, project_id, name, definition, created_at`

func scanCohort(row pgx.Row) (meta.Cohort, error) {
	var c meta.Cohort
	var def string
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &def, &c.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return meta.Cohort{}, meta.ErrNotFound
		}
		return meta.Cohort{}, err
	}
	c.Definition = []byte(def)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// Cohort returns one of a project's cohorts.
func (s *Store) Cohort(ctx context.Context, projectID, id int64) (meta.Cohort, error) {
	c, err := scanCohort(s.pool.QueryRow(ctx, `SELECT `+cohortCols+` FROM cohorts WHERE project_id = $1 AND id = $2`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return c, fmt.Errorf("cannot read cohort %d: %w", id, err)
	}
	return c, err
}

// Cohorts lists a project's cohorts.
func (s *Store) Cohorts(ctx context.Context, projectID int64) ([]meta.Cohort, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+cohortCols+` FROM cohorts WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Cohort{}
	for rows.Next() {
		c, err := scanCohort(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
	}
	return out, nil
}

// UpdateCohort replaces a cohort's name and definition.
func (s *Store) UpdateCohort(ctx context.Context, projectID, id int64, name string, definition []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE cohorts SET name = $1, definition = $2 WHERE project_id = $3 AND id = $4`, name, string(definition), projectID, id)
	if err != nil {
		return fmt.Errorf("cannot update cohort %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// DeleteCohort removes a cohort.
func (s *Store) DeleteCohort(ctx context.Context, projectID, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM cohorts WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return fmt.Errorf("cannot delete cohort %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.db.Close()
	s.pool.Close()
	return nil
}
