package sqlmeta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// CountUsers counts all users.
func (t *Tables) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := t.row(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// CreateUser adds a user; emails are stored lower-case.
func (t *Tables) CreateUser(ctx context.Context, email, passwordHash string, isAdmin bool) (meta.User, error) {
	u := meta.User{Email: strings.ToLower(strings.TrimSpace(email)), IsAdmin: isAdmin, PasswordHash: passwordHash, CreatedAt: fromMS(ms(time.Now()))}
	admin := 0
	if isAdmin {
		admin = 1
	}
	id, err := t.insert(ctx, `INSERT INTO users (email, password_hash, is_admin, created_ms) VALUES (?, ?, ?, ?)`,
		u.Email, u.PasswordHash, admin, ms(u.CreatedAt))
	if t.d.unique(err) {
		return meta.User{}, meta.ErrExists
	}
	if err != nil {
		return meta.User{}, fmt.Errorf("cannot create user %q: %w", u.Email, err)
	}
	u.ID = id
	return u, nil
}

const userCols = `id, email, password_hash, is_admin, created_ms`

func scanUser(row *sql.Row) (meta.User, error) {
	var u meta.User
	var admin int
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &admin, &created); err != nil {
		return meta.User{}, notFound(err)
	}
	u.IsAdmin, u.CreatedAt = admin == 1, fromMS(created)
	return u, nil
}

// UserByEmail finds a user by email, ignoring case.
func (t *Tables) UserByEmail(ctx context.Context, email string) (meta.User, error) {
	return scanUser(t.row(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))))
}

// User finds a user by id.
func (t *Tables) User(ctx context.Context, id int64) (meta.User, error) {
	return scanUser(t.row(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// SetPassword replaces a user's password hash.
func (t *Tables) SetPassword(ctx context.Context, userID int64, passwordHash string) error {
	return affected(t.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, userID))
}

// SetMember gives a user a role in a project.
func (t *Tables) SetMember(ctx context.Context, projectID, userID int64, role string) error {
	if meta.RoleRank(role) == 0 {
		return fmt.Errorf("cannot set role %q: not admin, member or viewer", role)
	}
	_, err := t.exec(ctx, `INSERT INTO memberships (project_id, user_id, role) VALUES (?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, role)
	return err
}

// RemoveMember takes a user out of a project.
func (t *Tables) RemoveMember(ctx context.Context, projectID, userID int64) error {
	return affected(t.exec(ctx, `DELETE FROM memberships WHERE project_id = ? AND user_id = ?`, projectID, userID))
}

// Members lists a project's users by email.
func (t *Tables) Members(ctx context.Context, projectID int64) ([]meta.Member, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.project_id = ? ORDER BY u.email`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Member{}
	for rows.Next() {
		var m meta.Member
		if err := rows.Scan(&m.UserID, &m.Email, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Role is a user's role in a project.
func (t *Tables) Role(ctx context.Context, projectID, userID int64) (string, error) {
	var role string
	err := t.row(ctx, `SELECT role FROM memberships WHERE project_id = ? AND user_id = ?`, projectID, userID).Scan(&role)
	return role, notFound(err)
}

// normEmail is how emails are stored and compared: trimmed, lower-case.
func normEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
