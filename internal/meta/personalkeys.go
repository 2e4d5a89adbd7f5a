package meta

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Personal API key scopes (issue 17 item 2). A key's role in a project is
// the user's role there capped by its scopes: read caps it at viewer,
// write leaves it as it is (and reads too); flags:definitions alone opens
// only the local-evaluation definitions server SDKs poll.
const (
	ScopeRead            = "read"
	ScopeWrite           = "write"
	ScopeFlagDefinitions = "flags:definitions"
)

// Scopes is the allow-list of personal key scopes, in the order they are
// stored.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeFlagDefinitions}

// PersonalKeyPrefix starts every personal key, so that a request's key is
// told from a project's secret key (jsk_) without a lookup.
const PersonalKeyPrefix = "jpk_"

// NewPersonalKey returns a random personal API key (192 bits).
func NewPersonalKey() string { return PersonalKeyPrefix + randomHex(24) }

// IsPersonalKey reports whether key has a personal key's shape.
func IsPersonalKey(key string) bool { return strings.HasPrefix(key, PersonalKeyPrefix) }

// MaxKeyOverlap bounds how long a rotated key's old secret may keep
// working.
const MaxKeyOverlap = 24 * time.Hour

// PersonalKey is a user's API key. Its secret is returned once, by the
// call that creates or rotates it; only its hash is stored. Prefix is the
// secret's first characters, shown in lists.
type PersonalKey struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	Name       string    `json:"name"`
	Scopes     []string  `json:"scopes"`
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	RotatedAt  time.Time `json:"rotated_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// PreviousUntil is when the secret replaced by the last rotation
	// stops working (zero: it stopped at once).
	PreviousUntil time.Time `json:"previous_valid_until,omitzero"`
}

// Has reports whether the key has scope; write implies read.
func (k PersonalKey) Has(scope string) bool {
	if slices.Contains(k.Scopes, scope) {
		return true
	}
	return scope == ScopeRead && slices.Contains(k.Scopes, ScopeWrite)
}

// RoleCap is the highest role the key's scopes allow on the management
// API: "" when it has neither read nor write.
func (k PersonalKey) RoleCap() string {
	switch {
	case k.Has(ScopeWrite):
		return RoleAdmin
	case k.Has(ScopeRead):
		return RoleViewer
	}
	return ""
}

// CapRole is the lower of role and the cap ("" when either is "").
func CapRole(role, cap string) string {
	if RoleRank(role) == 0 || RoleRank(cap) == 0 {
		return ""
	}
	if RoleRank(cap) < RoleRank(role) {
		return cap
	}
	return role
}

// ValidScopes checks a key's scopes against the allow-list and returns
// them deduplicated, in the allow-list's order.
func ValidScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, &FieldError{Field: "scopes", Msg: "at least one scope is needed (read, write, flags:definitions)", Err: ErrInvalid}
	}
	for i, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return nil, &FieldError{Field: "scopes[" + strconv.Itoa(i) + "]", Msg: "unknown scope " + strconv.Quote(s) + " (read, write, flags:definitions)", Err: ErrInvalid}
		}
	}
	out := []string{}
	for _, s := range Scopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// PersonalKeyStore keeps users' personal API keys. Every call but the
// lookup by secret is scoped to the key's user, so one user never
// rotates or revokes another's key.
type PersonalKeyStore interface {
	// CreatePersonalKey stores a new key and returns it with its secret,
	// in clear text this once.
	CreatePersonalKey(ctx context.Context, userID int64, name string, scopes []string) (PersonalKey, string, error)
	// PersonalKeys lists a user's keys, revoked ones included, oldest
	// first.
	PersonalKeys(ctx context.Context, userID int64) ([]PersonalKey, error)
	// PersonalKeyBySecret finds the live key of a secret (by its hash):
	// ErrNotFound for an unknown or revoked key, or the old secret of a
	// rotated key after its overlap.
	PersonalKeyBySecret(ctx context.Context, secret string) (PersonalKey, error)
	// RotatePersonalKey gives the key a new secret; the old one keeps
	// working for overlap (0: it stops at once; at most MaxKeyOverlap).
	RotatePersonalKey(ctx context.Context, userID, id int64, overlap time.Duration) (PersonalKey, string, error)
	// RevokePersonalKey stops the key (both secrets) for good.
	RevokePersonalKey(ctx context.Context, userID, id int64) error
	// TouchPersonalKey records a use at at, unless one within the minute
	// before is recorded already (so a busy key costs one write a minute
	// across replicas).
	TouchPersonalKey(ctx context.Context, id int64, at time.Time) error
}

// AuditEntry is one admin action. ProjectID is 0 for server-level ones.
// Actor is "user:<id>", "personal_key:<id>", "secret_key" or "admin_key";
// ActorName the user's email or the key's prefix; Action the route
// ("DELETE /api/v1/flags/{id}"); Target the id acted on ("" when none);
// Status the HTTP status answered.
type AuditEntry struct {
	ID        int64     `json:"id"`
	ProjectID int64     `json:"project_id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorName string    `json:"actor_name"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Status    int       `json:"status"`
}

// MaxAuditPage bounds one page of the audit log.
const MaxAuditPage = 200

// AuditStore keeps the audit log.
type AuditStore interface {
	AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit lists a project's entries newest first: those with an id below
	// before (0: from the newest), at most limit (1..MaxAuditPage).
	Audit(ctx context.Context, projectID, before int64, limit int) ([]AuditEntry, error)
}

// KeyUses throttles the recording of keys' last use to once a minute per
// key in this process (TouchPersonalKey's own condition does across
// replicas), so a busy key costs no write per request. The table is
// bounded: when full it starts again, which costs at most one more write
// per key. The zero value is ready.
type KeyUses struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

const maxKeyUses = 10_000

// Touch records a use of key id now, unless this process did within the
// minute. A failure is logged: a request is not refused for it.
func (k *KeyUses) Touch(ctx context.Context, m PersonalKeyStore, id int64) {
	now := time.Now()
	k.mu.Lock()
	if k.last == nil || len(k.last) >= maxKeyUses {
		k.last = map[int64]time.Time{}
	}
	due := now.Sub(k.last[id]) >= time.Minute
	if due {
		k.last[id] = now
	}
	k.mu.Unlock()
	if !due {
		return
	}
	if err := m.TouchPersonalKey(ctx, id, now); err != nil {
		slog.Warn("cannot record a personal key's use", "key", id, "err", err)
	}
}
