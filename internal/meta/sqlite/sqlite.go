// Package sqlite is the embedded metadata store.
package sqlite

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
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open metadata database %q: %w", path, err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; one connection avoids SQLITE_BUSY
	s := &Store{db: db, Tables: sqlmeta.New(db, false)}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("cannot create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("cannot parse migration version of %q: %w", base, err)
		}
		if err := s.apply(ctx, version, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, version int, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("cannot read schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("cannot apply migration %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, now()); err != nil {
		return err
	}
	return tx.Commit()
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// CreateProject creates a project with a fresh token and secret key.
func (s *Store) CreateProject(ctx context.Context, name, timezone string) (meta.Project, string, error) {
	if timezone == "" {
		timezone = "UTC"
	}
	p := meta.Project{Name: name, Timezone: timezone, Token: meta.NewToken(), CreatedAt: time.Now().UTC()}
	secret := meta.NewSecret()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return p, "", err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO projects (name, timezone, token, created_at) VALUES (?, ?, ?, ?)`,
		p.Name, p.Timezone, p.Token, p.CreatedAt.Format(time.RFC3339Nano))
	if err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	if p.ID, err = res.LastInsertId(); err != nil {
		return p, "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (project_id, key_hash, created_at) VALUES (?, ?, ?)`,
		p.ID, meta.HashSecret(secret), now()); err != nil {
		return p, "", fmt.Errorf("cannot create secret key for project %q: %w", name, err)
	}
	return p, secret, tx.Commit()
}

// CreateKey adds a secret key to a project.
func (s *Store) CreateKey(ctx context.Context, projectID int64) (string, error) {
	secret := meta.NewSecret()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (project_id, key_hash, created_at) VALUES (?, ?, ?)`,
		projectID, meta.HashSecret(secret), now()); err != nil {
		return "", fmt.Errorf("cannot create secret key for project %d: %w", projectID, err)
	}
	return secret, nil
}

const projectCols = `p.id, p.name, p.timezone, p.token, p.created_at`

func scanProject(row interface{ Scan(...any) error }) (meta.Project, error) {
	var p meta.Project
	var created string
	if err := row.Scan(&p.ID, &p.Name, &p.Timezone, &p.Token, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, meta.ErrNotFound
		}
		return p, err
	}
	p.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return p, nil
}

// ProjectByToken finds the project whose public token is token.
func (s *Store) ProjectByToken(ctx context.Context, token string) (meta.Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.token = ?`, token))
	if err == nil && subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) != 1 {
		return meta.Project{}, meta.ErrNotFound
	}
	return p, err
}

// ProjectBySecret finds the project that owns the secret key.
func (s *Store) ProjectBySecret(ctx context.Context, secret string) (meta.Project, error) {
	hash := meta.HashSecret(secret)
	var stored string
	row := s.db.QueryRowContext(ctx, `SELECT `+projectCols+`, k.key_hash FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = ?`, hash)
	var p meta.Project
	var created string
	if err := row.Scan(&p.ID, &p.Name, &p.Timezone, &p.Token, &created, &stored); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, meta.ErrNotFound
		}
		return p, err
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return meta.Project{}, meta.ErrNotFound
	}
	p.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return p, nil
}

// Project returns the project with the given id.
func (s *Store) Project(ctx context.Context, id int64) (meta.Project, error) {
	return scanProject(s.db.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = ?`, id))
}

// Projects lists all projects.
func (s *Store) Projects(ctx context.Context) ([]meta.Project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+projectCols+` FROM projects p ORDER BY p.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Project{} // [] in JSON, as on PostgreSQL
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Setting returns a project setting.
func (s *Store) Setting(ctx context.Context, projectID int64, key string) ([]byte, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM project_settings WHERE project_id = ? AND key = ?`, projectID, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrNotFound
	}
	return []byte(v), err
}

// SetSetting stores a project setting.
func (s *Store) SetSetting(ctx context.Context, projectID int64, key string, value []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO project_settings (project_id, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, projectID, key, string(value), now())
	if err != nil {
		return fmt.Errorf("cannot store setting %q: %w", key, err)
	}
	return nil
}

// CreateCohort stores a cohort.
func (s *Store) CreateCohort(ctx context.Context, projectID int64, name string, definition []byte) (meta.Cohort, error) {
	c := meta.Cohort{ProjectID: projectID, Name: name, Definition: definition, CreatedAt: time.Now().UTC()}
	res, err := s.db.ExecContext(ctx, `INSERT INTO cohorts (project_id, name, definition, created_at) VALUES (?, ?, ?, ?)`,
		projectID, name, string(definition), c.CreatedAt.Format(time.RFC3339Nano))
	if err != nil {
		return c, fmt.Errorf("cannot create cohort %q: %w", name, err)
	}
	c.ID, err = res.LastInsertId()
	return c, err
}

func scanCohort(row interface{ Scan(...any) error }) (meta.Cohort, error) {
	var c meta.Cohort
	var def, created string
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &def, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, meta.ErrNotFound
		}
		return c, err
	}
	c.Definition = []byte(def)
	c.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return c, nil
}

// Cohort returns one of a project's cohorts.
func (s *Store) Cohort(ctx context.Context, projectID, id int64) (meta.Cohort, error) {
	return scanCohort(s.db.QueryRowContext(ctx, `SELECT id, project_id, name, definition, created_at FROM cohorts WHERE project_id = ? AND id = ?`, projectID, id))
}

// Cohorts lists a project's cohorts.
func (s *Store) Cohorts(ctx context.Context, projectID int64) ([]meta.Cohort, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, project_id, name, definition, created_at FROM cohorts WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Cohort{}
	for rows.Next() {
		c, err := scanCohort(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCohort replaces a cohort's name and definition.
func (s *Store) UpdateCohort(ctx context.Context, projectID, id int64, name string, definition []byte) error {
	res, err := s.db.ExecContext(ctx, `UPDATE cohorts SET name = ?, definition = ? WHERE project_id = ? AND id = ?`, name, string(definition), projectID, id)
	if err != nil {
		return fmt.Errorf("cannot update cohort %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// DeleteCohort removes a cohort.
func (s *Store) DeleteCohort(ctx context.Context, projectID, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM cohorts WHERE project_id = ? AND id = ?`, projectID, id)
	if err != nil {
		return fmt.Errorf("cannot delete cohort %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
