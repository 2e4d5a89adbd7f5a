package sqlmeta

import (
	"context"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

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
