// Package sqlmeta implements meta.UI (users, invites, sessions, keys, saved
// insights, dashboards) once, in SQL that SQLite and PostgreSQL both run, over
// database/sql. The tables (migration 0003) use only portable types for
// that: integer ids, Unix-millisecond times, 0/1 flags and JSON as text.
package sqlmeta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// Tables is meta.UI over one database.
type Tables struct {
	db *sql.DB
	// dollar rewrites ? placeholders as $1, $2… (PostgreSQL).
	dollar bool
}

// New returns the UI tables of db; dollar is true for PostgreSQL.
func New(db *sql.DB, dollar bool) *Tables { return &Tables{db: db, dollar: dollar} }

var _ meta.UI = (*Tables)(nil)

// q rewrites the placeholders of query for the database.
func (t *Tables) q(query string) string {
	if !t.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (t *Tables) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.db.ExecContext(ctx, t.q(query), args...)
}

func (t *Tables) row(ctx context.Context, query string, args ...any) *sql.Row {
	return t.db.QueryRowContext(ctx, t.q(query), args...)
}

// insert runs an INSERT … RETURNING id (both databases support it).
func (t *Tables) insert(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	err := t.row(ctx, query+" RETURNING id", args...).Scan(&id)
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

// unique reports a unique-constraint violation (SQLite's message or
// PostgreSQL's SQLSTATE 23505).
func unique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint") || strings.Contains(err.Error(), "23505"))
}

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
	if unique(err) {
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

// CreateInvite invites an email to a project, replacing a pending invite
// of the same email there.
func (t *Tables) CreateInvite(ctx context.Context, projectID int64, email, role string, invitedBy int64) (meta.Invite, error) {
	email = normEmail(email)
	if meta.RoleRank(role) == 0 {
		return meta.Invite{}, fmt.Errorf("cannot invite %q as %q: not admin, member or viewer", email, role)
	}
	in := meta.Invite{ProjectID: projectID, Email: email, Role: role, InvitedBy: invitedBy, CreatedAt: fromMS(ms(time.Now()))}
	id, err := t.insert(ctx, `INSERT INTO invites (project_id, email, role, invited_by, created_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (project_id, email) DO UPDATE SET role = excluded.role, invited_by = excluded.invited_by, created_ms = excluded.created_ms`,
		projectID, email, role, invitedBy, ms(in.CreatedAt))
	if err != nil {
		return meta.Invite{}, fmt.Errorf("cannot invite %q: %w", email, err)
	}
	in.ID = id
	return in, nil
}

// listInvites runs a query of inviteCols (and the project's name).
func (t *Tables) listInvites(ctx context.Context, query string, args ...any) ([]meta.Invite, error) {
	rows, err := t.db.QueryContext(ctx, t.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Invite{}
	for rows.Next() {
		var in meta.Invite
		var created int64
		if err := rows.Scan(&in.ID, &in.ProjectID, &in.ProjectName, &in.Email, &in.Role, &in.InvitedBy, &created); err != nil {
			return nil, err
		}
		in.CreatedAt = fromMS(created)
		out = append(out, in)
	}
	return out, rows.Err()
}

const inviteCols = `i.id, i.project_id, p.name, i.email, i.role, i.invited_by, i.created_ms`

// Invites lists a project's pending invites by email.
func (t *Tables) Invites(ctx context.Context, projectID int64) ([]meta.Invite, error) {
	return t.listInvites(ctx, `SELECT `+inviteCols+` FROM invites i JOIN projects p ON p.id = i.project_id
		WHERE i.project_id = ? ORDER BY i.email`, projectID)
}

// InvitesFor lists the pending invites addressed to an email, oldest first.
func (t *Tables) InvitesFor(ctx context.Context, email string) ([]meta.Invite, error) {
	return t.listInvites(ctx, `SELECT `+inviteCols+` FROM invites i JOIN projects p ON p.id = i.project_id
		WHERE i.email = ? ORDER BY i.id`, normEmail(email))
}

// DeleteInvite revokes a pending invite of the project.
func (t *Tables) DeleteInvite(ctx context.Context, projectID, id int64) error {
	return affected(t.exec(ctx, `DELETE FROM invites WHERE project_id = ? AND id = ?`, projectID, id))
}

// AcceptInvite turns an invite addressed to email into userID's
// membership, in one transaction so an invite is used at most once.
func (t *Tables) AcceptInvite(ctx context.Context, id int64, email string, userID int64) (meta.Invite, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Invite{}, err
	}
	defer tx.Rollback()
	var in meta.Invite
	var created int64
	// Deleting first claims the invite: a concurrent accept finds no row.
	err = tx.QueryRowContext(ctx, t.q(`DELETE FROM invites WHERE id = ? AND email = ? RETURNING id, project_id, email, role, invited_by, created_ms`),
		id, normEmail(email)).Scan(&in.ID, &in.ProjectID, &in.Email, &in.Role, &in.InvitedBy, &created)
	if err != nil {
		return meta.Invite{}, notFound(err)
	}
	in.CreatedAt = fromMS(created)
	if _, err := tx.ExecContext(ctx, t.q(`INSERT INTO memberships (project_id, user_id, role) VALUES (?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`), in.ProjectID, userID, in.Role); err != nil {
		return meta.Invite{}, fmt.Errorf("cannot accept invite %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return meta.Invite{}, fmt.Errorf("cannot accept invite %d: %w", id, err)
	}
	return in, nil
}

// DeclineInvite deletes an invite addressed to email.
func (t *Tables) DeclineInvite(ctx context.Context, id int64, email string) error {
	return affected(t.exec(ctx, `DELETE FROM invites WHERE id = ? AND email = ?`, id, normEmail(email)))
}

// CreateSession stores a session under the hash of its cookie.
func (t *Tables) CreateSession(ctx context.Context, tokenHash string, userID int64, csrf string, expires time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_ms) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, csrf, ms(expires))
	return err
}

// Session finds a live session.
func (t *Tables) Session(ctx context.Context, tokenHash string) (meta.Session, error) {
	var s meta.Session
	var exp int64
	err := t.row(ctx, `SELECT user_id, csrf_token, expires_ms FROM sessions WHERE token_hash = ? AND expires_ms > ?`,
		tokenHash, ms(time.Now())).Scan(&s.UserID, &s.CSRF, &exp)
	if err != nil {
		return meta.Session{}, notFound(err)
	}
	s.ExpiresAt = fromMS(exp)
	return s, nil
}

// DeleteSession logs a session out; expired sessions of anyone are swept
// at the same time.
func (t *Tables) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := t.exec(ctx, `DELETE FROM sessions WHERE token_hash = ? OR expires_ms <= ?`, tokenHash, ms(time.Now()))
	return err
}

// anyTime scans api_keys.created_at, which is RFC 3339 text on SQLite and
// TIMESTAMPTZ on PostgreSQL (migration 0001 predates this package).
type anyTime struct{ t time.Time }

func (a *anyTime) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		a.t = v.UTC()
	case string:
		a.t, _ = time.Parse(time.RFC3339Nano, v)
	case []byte:
		a.t, _ = time.Parse(time.RFC3339Nano, string(v))
	}
	return nil
}

// Keys lists a project's secret keys, oldest first.
func (t *Tables) Keys(ctx context.Context, projectID int64) ([]meta.Key, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT id, created_at FROM api_keys WHERE project_id = ? ORDER BY id`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Key{}
	for rows.Next() {
		var k meta.Key
		var at anyTime
		if err := rows.Scan(&k.ID, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = at.t
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteKey revokes a secret key.
func (t *Tables) DeleteKey(ctx context.Context, projectID, keyID int64) error {
	return affected(t.exec(ctx, `DELETE FROM api_keys WHERE project_id = ? AND id = ?`, projectID, keyID))
}

// CreateInsight saves a spec.
func (t *Tables) CreateInsight(ctx context.Context, projectID int64, name string, spec []byte) (meta.Insight, error) {
	now := fromMS(ms(time.Now()))
	id, err := t.insert(ctx, `INSERT INTO insights (project_id, name, spec, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)`,
		projectID, name, string(spec), ms(now), ms(now))
	if err != nil {
		return meta.Insight{}, fmt.Errorf("cannot create insight %q: %w", name, err)
	}
	return meta.Insight{ID: id, ProjectID: projectID, Name: name, Spec: spec, CreatedAt: now, UpdatedAt: now}, nil
}

const insightCols = `id, project_id, name, spec, created_ms, updated_ms`

func scanInsight(row interface{ Scan(...any) error }) (meta.Insight, error) {
	var in meta.Insight
	var spec string
	var created, updated int64
	if err := row.Scan(&in.ID, &in.ProjectID, &in.Name, &spec, &created, &updated); err != nil {
		return meta.Insight{}, notFound(err)
	}
	in.Spec, in.CreatedAt, in.UpdatedAt = json.RawMessage(spec), fromMS(created), fromMS(updated)
	return in, nil
}

// Insight returns one saved insight of the project.
func (t *Tables) Insight(ctx context.Context, projectID, id int64) (meta.Insight, error) {
	return scanInsight(t.row(ctx, `SELECT `+insightCols+` FROM insights WHERE project_id = ? AND id = ?`, projectID, id))
}

// Insights lists the project's saved insights, newest first.
func (t *Tables) Insights(ctx context.Context, projectID int64) ([]meta.Insight, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT `+insightCols+` FROM insights WHERE project_id = ? ORDER BY id DESC`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Insight{}
	for rows.Next() {
		in, err := scanInsight(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// UpdateInsight renames and replaces the spec of a saved insight.
func (t *Tables) UpdateInsight(ctx context.Context, projectID, id int64, name string, spec []byte) (meta.Insight, error) {
	if err := affected(t.exec(ctx, `UPDATE insights SET name = ?, spec = ?, updated_ms = ? WHERE project_id = ? AND id = ?`,
		name, string(spec), ms(time.Now()), projectID, id)); err != nil {
		return meta.Insight{}, err
	}
	return t.Insight(ctx, projectID, id)
}

// DeleteInsight deletes a saved insight and takes it off the project's
// dashboards in the same transaction: SQLite may give a later insight the
// same id, which must not appear on a dashboard (or its public share link)
// that showed the deleted one.
func (t *Tables) DeleteInsight(ctx context.Context, projectID, id int64) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := affected(tx.ExecContext(ctx, t.q(`DELETE FROM insights WHERE project_id = ? AND id = ?`), projectID, id)); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, t.q(`SELECT id, tiles FROM dashboards WHERE project_id = ?`), projectID)
	if err != nil {
		return err
	}
	changed := map[int64]string{}
	for rows.Next() {
		var did int64
		var raw string
		if err := rows.Scan(&did, &raw); err != nil {
			rows.Close()
			return err
		}
		var tiles []meta.Tile
		if err := json.Unmarshal([]byte(raw), &tiles); err != nil {
			rows.Close()
			return fmt.Errorf("cannot decode tiles of dashboard %d: %w", did, err)
		}
		kept := tiles[:0]
		for _, tile := range tiles {
			if tile.InsightID != id {
				kept = append(kept, tile)
			}
		}
		if len(kept) != len(tiles) {
			changed[did], _ = tilesJSON(kept)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for did, tiles := range changed {
		if _, err := tx.ExecContext(ctx, t.q(`UPDATE dashboards SET tiles = ?, updated_ms = ? WHERE project_id = ? AND id = ?`),
			tiles, ms(time.Now()), projectID, did); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// CreateDashboard saves a dashboard.
func (t *Tables) CreateDashboard(ctx context.Context, d meta.Dashboard) (meta.Dashboard, error) {
	tiles, err := tilesJSON(d.Tiles)
	if err != nil {
		return meta.Dashboard{}, err
	}
	now := ms(time.Now())
	id, err := t.insert(ctx, `INSERT INTO dashboards (project_id, name, date_range, refresh_seconds, tiles, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ProjectID, d.Name, d.Range, d.RefreshSeconds, tiles, now, now)
	if err != nil {
		return meta.Dashboard{}, fmt.Errorf("cannot create dashboard %q: %w", d.Name, err)
	}
	return t.Dashboard(ctx, d.ProjectID, id)
}

func tilesJSON(tiles []meta.Tile) (string, error) {
	if tiles == nil {
		tiles = []meta.Tile{}
	}
	b, err := json.Marshal(tiles)
	return string(b), err
}

const dashboardCols = `id, project_id, name, date_range, refresh_seconds, tiles, share_token, created_ms, updated_ms`

func scanDashboard(row interface{ Scan(...any) error }) (meta.Dashboard, error) {
	var d meta.Dashboard
	var tiles string
	var share sql.NullString
	var created, updated int64
	if err := row.Scan(&d.ID, &d.ProjectID, &d.Name, &d.Range, &d.RefreshSeconds, &tiles, &share, &created, &updated); err != nil {
		return meta.Dashboard{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(tiles), &d.Tiles); err != nil {
		return meta.Dashboard{}, fmt.Errorf("cannot decode tiles of dashboard %d: %w", d.ID, err)
	}
	d.ShareToken, d.CreatedAt, d.UpdatedAt = share.String, fromMS(created), fromMS(updated)
	return d, nil
}

// Dashboard returns one dashboard of the project.
func (t *Tables) Dashboard(ctx context.Context, projectID, id int64) (meta.Dashboard, error) {
	return scanDashboard(t.row(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE project_id = ? AND id = ?`, projectID, id))
}

// Dashboards lists the project's dashboards by name.
func (t *Tables) Dashboards(ctx context.Context, projectID int64) ([]meta.Dashboard, error) {
	rows, err := t.db.QueryContext(ctx, t.q(`SELECT `+dashboardCols+` FROM dashboards WHERE project_id = ? ORDER BY name, id`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Dashboard{}
	for rows.Next() {
		d, err := scanDashboard(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDashboard replaces a dashboard's name, range, refresh and tiles.
func (t *Tables) UpdateDashboard(ctx context.Context, d meta.Dashboard) (meta.Dashboard, error) {
	tiles, err := tilesJSON(d.Tiles)
	if err != nil {
		return meta.Dashboard{}, err
	}
	if err := affected(t.exec(ctx, `UPDATE dashboards SET name = ?, date_range = ?, refresh_seconds = ?, tiles = ?, updated_ms = ? WHERE project_id = ? AND id = ?`,
		d.Name, d.Range, d.RefreshSeconds, tiles, ms(time.Now()), d.ProjectID, d.ID)); err != nil {
		return meta.Dashboard{}, err
	}
	return t.Dashboard(ctx, d.ProjectID, d.ID)
}

// DeleteDashboard deletes a dashboard (its share link stops working with it).
func (t *Tables) DeleteDashboard(ctx context.Context, projectID, id int64) error {
	return affected(t.exec(ctx, `DELETE FROM dashboards WHERE project_id = ? AND id = ?`, projectID, id))
}

// SetShareToken sets or ("" ) revokes a dashboard's share token.
func (t *Tables) SetShareToken(ctx context.Context, projectID, id int64, token string) error {
	var v any
	if token != "" {
		v = token
	}
	return affected(t.exec(ctx, `UPDATE dashboards SET share_token = ? WHERE project_id = ? AND id = ?`, v, projectID, id))
}

// DashboardByShareToken finds the dashboard a share link points to.
func (t *Tables) DashboardByShareToken(ctx context.Context, token string) (meta.Dashboard, error) {
	if token == "" {
		return meta.Dashboard{}, meta.ErrNotFound
	}
	return scanDashboard(t.row(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE share_token = ?`, token))
}
