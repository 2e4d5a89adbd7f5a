package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// Personal API keys (issue 17 item 2): a user's keys, managed from a UI
// session (a key cannot mint keys), used as "Authorization: Bearer
// jpk_…" on /api/v1 for the projects the user can see, with the user's
// role there capped by the key's scopes. The project is named by
// ?project_id= or the X-Journey-Project header (optional when the user
// sees one project only). Also the audit log's read routes.

const projectHeader = "X-Journey-Project"

// registerPersonalKeys mounts the key management and audit routes.
func (s *Server) registerPersonalKeys(mux *routeMux) {
	mux.HandleFunc("GET /ui/api/personal-keys", s.withUser(s.listPersonalKeys))
	mux.HandleFunc("POST /ui/api/personal-keys", s.withUser(s.createPersonalKey))
	mux.HandleFunc("POST /ui/api/personal-keys/{id}/rotate", s.withUser(s.rotatePersonalKey))
	mux.HandleFunc("DELETE /ui/api/personal-keys/{id}", s.withUser(s.revokePersonalKey))

	mux.HandleFunc("GET "+apiBase+"/audit", s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) { s.auditPage(w, r, p.ID) }))
	mux.HandleFunc("GET "+uiBase+"/audit", s.withUIProject(meta.RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
		s.auditPage(w, r, p.ID)
	}))
	// Server-level actions (projects created, personal keys) are in
	// project 0's log, for server admins.
	mux.HandleFunc("GET /ui/api/audit", s.withUser(func(w http.ResponseWriter, r *http.Request, u *uiUser) {
		if !u.IsAdmin {
			writeError(w, http.StatusForbidden, "only server admins read the server's audit log")
			return
		}
		s.auditPage(w, r, 0)
	}))
	mux.HandleFunc("GET "+apiBase+"/admin/audit", s.admin(func(w http.ResponseWriter, r *http.Request) {
		pid := int64(0)
		if v := r.URL.Query().Get("project_id"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": `invalid field "project_id": a project id`, "field": "project_id"})
				return
			}
			pid = n
		}
		s.auditPage(w, r, pid)
	}))
}

func (s *Server) listPersonalKeys(w http.ResponseWriter, r *http.Request, u *uiUser) {
	keys, err := s.Meta.PersonalKeys(r.Context(), u.ID)
	if err != nil {
		metaError(w, "personal keys", err)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

// keyError answers a store error about a key: its field for bad input.
func keyError(w http.ResponseWriter, err error) {
	var fe *meta.FieldError
	if errors.As(err, &fe) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("invalid field %q: %s", fe.Field, fe.Msg), "field": fe.Field})
		return
	}
	metaError(w, "personal key", err)
}

func (s *Server) createPersonalKey(w http.ResponseWriter, r *http.Request, u *uiUser) {
	setActor(r, 0, fmt.Sprintf("user:%d", u.ID), u.Email)
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	k, secret, err := s.Meta.CreatePersonalKey(r.Context(), u.ID, req.Name, req.Scopes)
	if err != nil {
		keyError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": k, "secret": secret})
}

func (s *Server) rotatePersonalKey(w http.ResponseWriter, r *http.Request, u *uiUser) {
	setActor(r, 0, fmt.Sprintf("user:%d", u.ID), u.Email)
	id, ok := pathID(w, r, "personal key")
	if !ok {
		return
	}
	var req struct {
		Overlap int64 `json:"overlap_seconds"`
	}
	if r.ContentLength != 0 && !decodeJSON(w, r, &req) {
		return
	}
	if req.Overlap < 0 || req.Overlap > int64(meta.MaxKeyOverlap/time.Second) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `invalid field "overlap_seconds": between 0 and 86400`, "field": "overlap_seconds"})
		return
	}
	k, secret, err := s.Meta.RotatePersonalKey(r.Context(), u.ID, id, time.Duration(req.Overlap)*time.Second)
	if err != nil {
		keyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": k, "secret": secret})
}

func (s *Server) revokePersonalKey(w http.ResponseWriter, r *http.Request, u *uiUser) {
	setActor(r, 0, fmt.Sprintf("user:%d", u.ID), u.Email)
	id, ok := pathID(w, r, "personal key")
	if !ok {
		return
	}
	if err := s.Meta.RevokePersonalKey(r.Context(), u.ID, id); err != nil {
		keyError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// personalProject is withProject for a personal key: the key must be
// live and its user still there (401), the project one the user can see
// (404, so that others' projects do not leak), and the user's role there
// capped by the key's scopes must reach what the route needs (403). The
// request it returns carries the key's user (keyUser).
func (s *Server) personalProject(w http.ResponseWriter, r *http.Request, secret string) (meta.Project, *http.Request, bool) {
	ctx := r.Context()
	k, u, ok := s.personalKeyUser(w, r, secret)
	if !ok {
		return meta.Project{}, r, false
	}
	pid, ok := s.keyProjectID(w, r, u)
	if !ok {
		return meta.Project{}, r, false
	}
	p, err := s.Meta.Project(ctx, pid)
	role := ""
	if err == nil {
		role, err = s.role(ctx, u, p.ID)
	}
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such project")
		return meta.Project{}, r, false
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return meta.Project{}, r, false
	}
	setActor(r, p.ID, fmt.Sprintf("personal_key:%d", k.ID), k.Prefix+" ("+u.Email+")")
	need := s.routes.need(r.Pattern)
	switch got := meta.CapRole(role, k.RoleCap()); {
	case k.RoleCap() == "":
		writeError(w, http.StatusForbidden, "this key's scopes ("+scopeList(k)+") open only the flag definitions server SDKs poll (/flags/definitions)")
	case meta.RoleRank(got) < meta.RoleRank(need) && meta.RoleRank(role) >= meta.RoleRank(need):
		writeError(w, http.StatusForbidden, "a read key cannot do this (it needs "+need+"): use a key with the write scope")
	case meta.RoleRank(got) < meta.RoleRank(need):
		writeError(w, http.StatusForbidden, "your role ("+role+") cannot do this; it needs "+need)
	default:
		return p, r.WithContext(context.WithValue(ctx, keyUserCtx{}, u)), true // twins.go: the handler acts as the key's user
	}
	return meta.Project{}, r, false
}

// personalKeyUser resolves a live personal key and its user, recording
// the use (at most once a minute per key).
func (s *Server) personalKeyUser(w http.ResponseWriter, r *http.Request, secret string) (meta.PersonalKey, *uiUser, bool) {
	ctx := r.Context()
	k, err := s.Meta.PersonalKeyBySecret(ctx, secret)
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unknown or revoked personal key")
		return k, nil, false
	}
	if err != nil {
		slog.Error("cannot look up personal key", "err", err)
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return k, nil, false
	}
	u, err := s.Meta.User(ctx, k.UserID)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "the key's user no longer exists")
		return k, nil, false
	}
	s.keyUses.Touch(ctx, s.Meta, k.ID)
	return k, &uiUser{User: u}, true
}

func scopeList(k meta.PersonalKey) string {
	out := ""
	for i, sc := range k.Scopes {
		if i > 0 {
			out += ", "
		}
		out += sc
	}
	return out
}

// keyProjectID is the project a personal key's request names, or the
// user's only project.
func (s *Server) keyProjectID(w http.ResponseWriter, r *http.Request, u *uiUser) (int64, bool) {
	v := r.URL.Query().Get("project_id")
	if v == "" {
		v = r.Header.Get(projectHeader)
	}
	if v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `invalid field "project_id": a project id`, "field": "project_id"})
			return 0, false
		}
		return id, true
	}
	all, err := s.Meta.Projects(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return 0, false
	}
	var only []int64
	for _, p := range all {
		if _, err := s.role(r.Context(), u, p.ID); err == nil {
			only = append(only, p.ID)
		}
		if len(only) > 1 {
			break
		}
	}
	if len(only) == 1 {
		return only[0], true
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{
		"error": `invalid field "project_id": a personal key names its project (?project_id= or the ` + projectHeader + ` header)`, "field": "project_id"})
	return 0, false
}
