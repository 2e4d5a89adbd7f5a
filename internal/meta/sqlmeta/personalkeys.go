package sqlmeta

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/meta"
)

// Personal API keys and the audit log (migration 0015).

var _ interface {
	meta.PersonalKeyStore
	meta.AuditStore
} = (*Tables)(nil)

// keyPrefixLen is how much of a personal key lists show: the "jpk_" and
// 8 hex digits, 32 bits of the key's 192 (too few to guess the rest).
const keyPrefixLen = 12

// maxKeyName bounds a personal key's name.
const maxKeyName = 100

const personalKeyCols = `id, user_id, name, scopes, prefix, created_ms, rotated_ms, last_used_ms, revoked_ms, prev_until_ms`

func scanPersonalKey(row interface{ Scan(...any) error }) (meta.PersonalKey, error) {
	var k meta.PersonalKey
	var scopes string
	var created, rotated, used, revoked, prevUntil int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &scopes, &k.Prefix, &created, &rotated, &used, &revoked, &prevUntil); err != nil {
		return meta.PersonalKey{}, notFound(err)
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt = fromMS(created)
	for _, f := range []struct {
		v  int64
		at *time.Time
	}{{rotated, &k.RotatedAt}, {used, &k.LastUsedAt}, {revoked, &k.RevokedAt}, {prevUntil, &k.PreviousUntil}} {
		if f.v != 0 {
			*f.at = fromMS(f.v)
		}
	}
	return k, nil
}

func checkKeyName(name string) error {
	if strings.TrimSpace(name) == "" || !storable(name) || utf8.RuneCountInString(name) > maxKeyName {
		return &meta.FieldError{Field: "name", Msg: "a key needs a name of 1 to 100 characters", Err: meta.ErrInvalid}
	}
	return nil
}

// CreatePersonalKey stores a new key's hash and returns the key with its
// secret.
func (t *Tables) CreatePersonalKey(ctx context.Context, userID int64, name string, scopes []string) (meta.PersonalKey, string, error) {
	if err := checkKeyName(name); err != nil {
		return meta.PersonalKey{}, "", err
	}
	scopes, err := meta.ValidScopes(scopes)
	if err != nil {
		return meta.PersonalKey{}, "", err
	}
	secret, now := meta.NewPersonalKey(), ms(time.Now())
	id, err := t.insert(ctx, `INSERT INTO personal_keys (user_id, name, scopes, prefix, key_hash, prev_hash, prev_until_ms, created_ms, rotated_ms,
		last_used_ms, revoked_ms) VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, 0, 0)`,
		userID, name, strings.Join(scopes, " "), secret[:keyPrefixLen], meta.HashSecret(secret), now)
	if err != nil {
		return meta.PersonalKey{}, "", fmt.Errorf("cannot create personal key %q of user %d: %w", name, userID, err)
	}
	k, err := t.personalKey(ctx, userID, id)
	return k, secret, err
}

func (t *Tables) personalKey(ctx context.Context, userID, id int64) (meta.PersonalKey, error) {
	return scanPersonalKey(t.row(ctx, `SELECT `+personalKeyCols+` FROM personal_keys WHERE id = ? AND user_id = ?`, id, userID))
}

// PersonalKeys lists a user's keys, oldest first.
func (t *Tables) PersonalKeys(ctx context.Context, userID int64) ([]meta.PersonalKey, error) {
	rows, err := t.query(ctx, `SELECT `+personalKeyCols+` FROM personal_keys WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("cannot list personal keys of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []meta.PersonalKey{}
	for rows.Next() {
		k, err := scanPersonalKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// PersonalKeyBySecret finds a live key by the hash of its secret (the
// current one, or the previous one within its overlap): an index lookup,
// so no secret is ever compared byte by byte.
func (t *Tables) PersonalKeyBySecret(ctx context.Context, secret string) (meta.PersonalKey, error) {
	if !meta.IsPersonalKey(secret) || !t.d.bindable(secret) {
		return meta.PersonalKey{}, meta.ErrNotFound
	}
	h := meta.HashSecret(secret)
	return scanPersonalKey(t.row(ctx, `SELECT `+personalKeyCols+` FROM personal_keys
		WHERE revoked_ms = 0 AND (key_hash = ? OR (prev_hash = ? AND prev_until_ms > ?))`, h, h, ms(time.Now())))
}

// RotatePersonalKey replaces the key's secret. The old hash is kept as
// prev_hash only for an overlap; the SET clauses read the row as it was,
// so prev_hash takes the old key_hash on both databases.
func (t *Tables) RotatePersonalKey(ctx context.Context, userID, id int64, overlap time.Duration) (meta.PersonalKey, string, error) {
	if overlap < 0 || overlap > meta.MaxKeyOverlap {
		return meta.PersonalKey{}, "", &meta.FieldError{Field: "overlap_seconds", Msg: "between 0 and 86400", Err: meta.ErrInvalid}
	}
	secret, now := meta.NewPersonalKey(), time.Now()
	until, keepOld := int64(0), 0
	if overlap > 0 {
		until, keepOld = ms(now.Add(overlap)), 1
	}
	err := affected(t.exec(ctx, `UPDATE personal_keys SET prev_hash = CASE WHEN ? = 1 THEN key_hash ELSE NULL END, prev_until_ms = ?,
		key_hash = ?, prefix = ?, rotated_ms = ? WHERE id = ? AND user_id = ? AND revoked_ms = 0`,
		keepOld, until, meta.HashSecret(secret), secret[:keyPrefixLen], ms(now), id, userID))
	if err != nil {
		return meta.PersonalKey{}, "", err
	}
	k, err := t.personalKey(ctx, userID, id)
	return k, secret, err
}

// RevokePersonalKey stops a key; a key already revoked is ErrNotFound.
func (t *Tables) RevokePersonalKey(ctx context.Context, userID, id int64) error {
	return affected(t.exec(ctx, `UPDATE personal_keys SET revoked_ms = ?, prev_hash = NULL, prev_until_ms = 0
		WHERE id = ? AND user_id = ? AND revoked_ms = 0`, ms(time.Now()), id, userID))
}

// TouchPersonalKey records a use, at most once a minute per key: the
// condition makes a second touch within the minute change nothing, on
// whichever replica it runs.
func (t *Tables) TouchPersonalKey(ctx context.Context, id int64, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE personal_keys SET last_used_ms = ? WHERE id = ? AND last_used_ms <= ?`,
		ms(at), id, ms(at.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("cannot record the use of personal key %d: %w", id, err)
	}
	return nil
}

// maxAuditField bounds the text fields of an entry (actor names are
// emails, targets ids; a route is short).
const maxAuditField = 300

func auditText(s string) string {
	if !storable(s) {
		s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
	}
	if len(s) > maxAuditField {
		s = strings.ToValidUTF8(s[:maxAuditField], "")
	}
	return s
}

// AddAudit appends an entry; its text is made storable and bounded rather
// than refused, so that an action is never left unrecorded for its text.
func (t *Tables) AddAudit(ctx context.Context, e meta.AuditEntry) (meta.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = fromMS(ms(e.At))
	e.Actor, e.ActorName, e.Action, e.Target = auditText(e.Actor), auditText(e.ActorName), auditText(e.Action), auditText(e.Target)
	id, err := t.insert(ctx, `INSERT INTO audit_log (project_id, at_ms, actor, actor_name, action, target, status) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ProjectID, ms(e.At), e.Actor, e.ActorName, e.Action, e.Target, e.Status)
	if err != nil {
		return meta.AuditEntry{}, fmt.Errorf("cannot record audit entry %q in project %d: %w", e.Action, e.ProjectID, err)
	}
	e.ID = id
	return e, nil
}

// Audit lists a project's entries newest first, below the id before.
func (t *Tables) Audit(ctx context.Context, projectID, before int64, limit int) ([]meta.AuditEntry, error) {
	if limit < 1 || limit > meta.MaxAuditPage {
		return nil, &meta.FieldError{Field: "limit", Msg: "between 1 and " + strconv.Itoa(meta.MaxAuditPage), Err: meta.ErrInvalid}
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := t.query(ctx, `SELECT id, project_id, at_ms, actor, actor_name, action, target, status FROM audit_log
		WHERE project_id = ? AND id < ? ORDER BY id DESC LIMIT `+strconv.Itoa(limit), projectID, before)
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit log of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.AuditEntry{}
	for rows.Next() {
		var e meta.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &at, &e.Actor, &e.ActorName, &e.Action, &e.Target, &e.Status); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
