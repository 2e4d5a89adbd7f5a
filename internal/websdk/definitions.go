package websdk

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// Secrets resolves a secret API key to its project.
type Secrets interface {
	ProjectBySecret(ctx context.Context, secret string) (meta.Project, error)
}

// secretCache keeps secret-key lookups of the SDK routes (server SDKs poll
// definitions every 30 s; OFREP may be called per evaluation) off the
// metadata store. Keys are kept by their hash only. Known keys expire
// after secretTTL, so a revoked key stops working within it; misses after
// missTTL. Both tables are bounded; when one is full of live entries a new
// one is not cached.
type secretCache struct {
	src Secrets
	now func() time.Time

	mu     sync.Mutex
	known  map[string]secretEntry
	misses map[string]time.Time
}

type secretEntry struct {
	p       meta.Project
	expires time.Time
}

const (
	secretTTL     = 30 * time.Second
	secretMissTTL = 2 * time.Second
	maxSecrets    = 10_000
	// maxKeyLen bounds the keys worth a lookup (real ones are 52 bytes).
	maxKeyLen = 200
	// secretKeyPrefix starts every secret key (meta.NewSecret) and no
	// project token (meta.NewToken: "jpt_").
	secretKeyPrefix = "jsk_"
)

// isSecretKey: key is a secret key's shape, not a project token's.
func isSecretKey(key string) bool { return strings.HasPrefix(key, secretKeyPrefix) }

func newSecretCache(src Secrets) *secretCache {
	return &secretCache{src: src, now: time.Now, known: map[string]secretEntry{}, misses: map[string]time.Time{}}
}

// project resolves a secret key; ok is false for an unknown one.
func (c *secretCache) project(ctx context.Context, secret string) (meta.Project, bool, error) {
	if secret == "" || len(secret) > maxKeyLen || c.src == nil {
		return meta.Project{}, false, nil
	}
	h := meta.HashSecret(secret)
	now := c.now()
	c.mu.Lock()
	e, hit := c.known[h]
	missUntil, missed := c.misses[h]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.p, true, nil
	}
	if missed && now.Before(missUntil) {
		return meta.Project{}, false, nil
	}
	p, err := c.src.ProjectBySecret(ctx, secret)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return meta.Project{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.known, h)
		putBounded(c.misses, h, now.Add(secretMissTTL), now, func(t time.Time) time.Time { return t })
		return meta.Project{}, false, nil
	}
	delete(c.misses, h)
	putBounded(c.known, h, secretEntry{p: p, expires: now.Add(secretTTL)}, now, func(e secretEntry) time.Time { return e.expires })
	return p, true, nil
}

// putBounded stores m[k] = v unless m holds maxSecrets live entries
// (expired ones are swept when it is full).
func putBounded[V any](m map[string]V, k string, v V, now time.Time, expires func(V) time.Time) {
	if _, ok := m[k]; !ok && len(m) >= maxSecrets {
		for key, old := range m {
			if !now.Before(expires(old)) {
				delete(m, key)
			}
		}
		if len(m) >= maxSecrets {
			return
		}
	}
	m[k] = v
}

func bearerToken(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// definitions answers the local-evaluation definitions server SDKs poll:
// GET /flags/definitions?token=<project token>&send_cohorts (posthog-node)
// and /api/feature_flag/local_evaluation[/]?token=…&send_cohorts=true
// (posthog-go, posthog-python), with the project's secret key as
// "Authorization: Bearer". A token that is not the key's project's is 403.
// The answer carries a weak ETag; If-None-Match with it is 304. These
// routes answer no CORS (ServeHTTP) and no preflight: only servers call
// them.
func (h *Handler) definitions(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "the local-evaluation definitions take a secret key: call them from a server, not a browser"})
		return
	}
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	secret := bearerToken(r)
	if meta.IsPersonalKey(secret) { // personalkeys.go: a user's key with the flags:definitions (or read) scope
		if p, ok := h.personalProject(w, r, secret); ok {
			h.serveDefinitions(w, r, p)
		}
		return
	}
	if secret != "" && !isSecretKey(secret) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"type": "authentication_error", "code": "authentication_failed",
			"detail": "not a secret key: Authorization: Bearer <secret key> (the project token goes in ?token=)", "error": "not a secret key"})
		return
	}
	if secret == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"type": "authentication_error", "code": "not_authenticated",
			"detail": "a secret key is required: Authorization: Bearer <secret key>", "error": "secret key required"})
		return
	}
	p, ok, err := h.secrets.project(r.Context(), secret)
	if err != nil {
		slog.Warn("cannot look up a secret key for flag definitions", "err", err)
		unavailable(w)
		return
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"type": "authentication_error", "code": "authentication_failed",
			"detail": "unknown secret key", "error": "unknown secret key"})
		return
	}
	if token := r.URL.Query().Get("token"); token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(p.Token)) != 1 {
		writeJSON(w, http.StatusForbidden, map[string]string{"type": "authentication_error", "code": "permission_denied",
			"detail": "the secret key is not one of this project token's project", "error": "token and secret key of different projects"})
		return
	}
	h.serveDefinitions(w, r, p)
}

// serveDefinitions answers project p's definitions.
func (h *Handler) serveDefinitions(w http.ResponseWriter, r *http.Request, p meta.Project) {
	body, etag, err := h.svc.Definitions(r.Context(), p.ID)
	if err != nil {
		slog.Warn("cannot build flag definitions", "project", p.ID, "err", err)
		unavailable(w)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), strings.TrimPrefix(etag, "W/")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, r, http.StatusOK, body)
}

// writeBody writes an encoded JSON answer (none for HEAD).
func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
