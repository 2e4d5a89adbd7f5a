package websdk

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/journey-dev/journey/internal/meta"
)

// personalProject resolves a personal API key on the definitions routes
// (issue 17 item 2), as PostHog's server SDKs send one: the project is
// the ?token= one, which the key's user must see (else 404, so others'
// projects do not leak), and the key needs the flags:definitions or the
// read scope (403). It answers the failure itself.
func (h *Handler) personalProject(w http.ResponseWriter, r *http.Request, secret string) (meta.Project, bool) {
	fail := func(status int, code, detail string) (meta.Project, bool) {
		writeJSON(w, status, map[string]string{"type": "authentication_error", "code": code, "detail": detail, "error": detail})
		return meta.Project{}, false
	}
	if h.keys == nil || len(secret) > maxKeyLen {
		return fail(http.StatusUnauthorized, "authentication_failed", "unknown or revoked personal key")
	}
	ctx := r.Context()
	k, err := h.keys.PersonalKeyBySecret(ctx, secret)
	if errors.Is(err, meta.ErrNotFound) {
		return fail(http.StatusUnauthorized, "authentication_failed", "unknown or revoked personal key")
	}
	if err != nil {
		slog.Warn("cannot look up a personal key for flag definitions", "err", err)
		unavailable(w)
		return meta.Project{}, false
	}
	u, err := h.keys.User(ctx, k.UserID)
	if err != nil {
		return fail(http.StatusUnauthorized, "authentication_failed", "the key's user no longer exists")
	}
	h.keyUses.Touch(ctx, h.keys, k.ID)
	if !k.Has(meta.ScopeFlagDefinitions) && !k.Has(meta.ScopeRead) {
		return fail(http.StatusForbidden, "permission_denied", "this key has neither the flags:definitions nor the read scope")
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return fail(http.StatusBadRequest, "missing_token", "a personal key names its project by ?token=<project token>")
	}
	id, ok, err := h.projects.ProjectByToken(ctx, token)
	if err != nil {
		unavailable(w)
		return meta.Project{}, false
	}
	var p meta.Project
	if ok {
		p, err = h.keys.Project(ctx, id)
		if err == nil && !u.IsAdmin {
			_, err = h.keys.Role(ctx, id, u.ID)
		}
	}
	if !ok || errors.Is(err, meta.ErrNotFound) {
		return fail(http.StatusNotFound, "not_found", "no such project")
	}
	if err != nil {
		unavailable(w)
		return meta.Project{}, false
	}
	return p, true
}
