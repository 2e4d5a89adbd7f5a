package sqlmeta

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/journey-dev/journey/internal/meta"
)

// CreateProject creates a project with a fresh token and its first secret
// key, in one transaction.
func (t *Tables) CreateProject(ctx context.Context, name, timezone string) (meta.Project, string, error) {
	if timezone == "" {
		timezone = "UTC"
	}
	p := meta.Project{Name: name, Timezone: timezone, Token: meta.NewToken(), CreatedAt: t.d.now()}
	secret := meta.NewSecret()
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	defer tx.Rollback()
	if p.ID, err = t.insertOn(ctx, tx, `INSERT INTO projects (name, timezone, token, created_at) VALUES (?, ?, ?, ?)`,
		p.Name, p.Timezone, p.Token, t.d.timeArg(p.CreatedAt)); err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	if err := t.addKey(ctx, tx, p.ID, secret); err != nil {
		return p, "", fmt.Errorf("cannot create secret key for project %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return p, "", fmt.Errorf("cannot create project %q: %w", name, err)
	}
	return p, secret, nil
}

const projectCols = `p.id, p.name, p.timezone, p.token, p.created_at`

// scanProject scans projectCols, then extra.
func scanProject(row interface{ Scan(...any) error }, extra ...any) (meta.Project, error) {
	var p meta.Project
	var created atTime
	if err := row.Scan(append([]any{&p.ID, &p.Name, &p.Timezone, &p.Token, &created}, extra...)...); err != nil {
		return meta.Project{}, notFound(err)
	}
	p.CreatedAt = created.t
	return p, nil
}

// ProjectByToken finds the project whose public token is token.
func (t *Tables) ProjectByToken(ctx context.Context, token string) (meta.Project, error) {
	if !t.d.bindable(token) {
		return meta.Project{}, meta.ErrNotFound
	}
	p, err := scanProject(t.row(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.token = ?`, token))
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return p, err
		}
		return p, fmt.Errorf("cannot look up project token: %w", err)
	}
	// The index finds the row, the constant-time comparison decides.
	if subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) != 1 {
		return meta.Project{}, meta.ErrNotFound
	}
	return p, nil
}

// ProjectBySecret finds the project that owns the secret key.
func (t *Tables) ProjectBySecret(ctx context.Context, secret string) (meta.Project, error) {
	hash := meta.HashSecret(secret)
	var stored string
	p, err := scanProject(t.row(ctx, `SELECT `+projectCols+`, k.key_hash FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = ?`, hash), &stored)
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
func (t *Tables) Project(ctx context.Context, id int64) (meta.Project, error) {
	p, err := scanProject(t.row(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = ?`, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return p, fmt.Errorf("cannot read project %d: %w", id, err)
	}
	return p, err
}

// Projects lists all projects in creation (id) order; an empty list is
// empty, not nil, so the API answers [] rather than null.
func (t *Tables) Projects(ctx context.Context) ([]meta.Project, error) {
	rows, err := t.query(ctx, `SELECT `+projectCols+` FROM projects p ORDER BY p.id`)
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
