package sqlmeta

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

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
