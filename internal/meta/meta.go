// Package meta is the metadata store: projects, their keys, and (later)
// users, dashboards, cohorts, flags. SQLite is the embedded implementation;
// PostgreSQL the scale-out one. Both run the same migrations.
package meta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Project is a tenant. Token is public (capture only); secret keys are kept
// only as hashes.
type Project struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Timezone  string    `json:"timezone"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
}

// Store is what the rest of Journey needs from the metadata store.
type Store interface {
	// CreateProject creates a project and its first secret key, returned
	// in clear text this once.
	CreateProject(ctx context.Context, name, timezone string) (Project, string, error)
	// CreateKey adds a secret key to a project and returns it in clear text.
	CreateKey(ctx context.Context, projectID int64) (string, error)
	ProjectByToken(ctx context.Context, token string) (Project, error)
	ProjectBySecret(ctx context.Context, secret string) (Project, error)
	Project(ctx context.Context, id int64) (Project, error)
	Projects(ctx context.Context) ([]Project, error)
	// Setting returns a project setting (JSON), ErrNotFound when unset.
	Setting(ctx context.Context, projectID int64, key string) ([]byte, error)
	SetSetting(ctx context.Context, projectID int64, key string, value []byte) error
	// Cohorts are stored as JSON definitions; every call is scoped to a project.
	CreateCohort(ctx context.Context, projectID int64, name string, definition []byte) (Cohort, error)
	Cohort(ctx context.Context, projectID, id int64) (Cohort, error)
	Cohorts(ctx context.Context, projectID int64) ([]Cohort, error)
	UpdateCohort(ctx context.Context, projectID, id int64, name string, definition []byte) error
	DeleteCohort(ctx context.Context, projectID, id int64) error
	Close() error
}

// Cohort is a saved set of persons: static (distinct ids) or behavioural.
type Cohort struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"-"`
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"created_at"`
}

// ErrNotFound is returned when a project, token or key does not exist.
var ErrNotFound = errors.New("not found")

// NewToken returns a random public project token.
func NewToken() string { return "jpt_" + randomHex(16) }

// NewSecret returns a random secret API key.
func NewSecret() string { return "jsk_" + randomHex(24) }

// HashSecret is how secret keys are stored. Keys are 192-bit random, so a
// plain SHA-256 is enough (no password stretching needed) and lets the key
// be found by its hash.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// ValidTimezone reports whether tz is a known IANA zone name.
func ValidTimezone(tz string) bool {
	if tz == "" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
