package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/journey-dev/journey/internal/meta"
)

// snippet is the posthog-js set-up a project's empty states show (the
// bundle comes from npm; only api_host points at Journey).
func snippet(r *http.Request, p meta.Project) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	host := scheme + "://" + r.Host
	return fmt.Sprintf(`// npm install posthog-js
import posthog from 'posthog-js'

posthog.init(%q, { api_host: %q })
posthog.capture('hello_journey')`, p.Token, host)
}

func (s *Server) settings(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	keys, err := s.Meta.Keys(r.Context(), p.ID)
	if err != nil {
		metaError(w, "keys", err)
		return
	}
	stages, err := s.journeyStages(r.Context(), p.ID)
	if err != nil {
		metaError(w, "journey stages", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": p, "keys": keys, "stages": stages, "snippet": snippet(r, p)})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	secret, err := s.Meta.CreateKey(r.Context(), p.ID)
	if err != nil {
		metaError(w, "key", err)
		return
	}
	keys, err := s.Meta.Keys(r.Context(), p.ID)
	if err != nil || len(keys) == 0 {
		metaError(w, "key", err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": keys[len(keys)-1].ID, "secret_key": secret})
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	ms, err := s.Meta.Members(r.Context(), p.ID)
	if err != nil {
		metaError(w, "members", err)
		return
	}
	writeJSON(w, http.StatusOK, ms)
}

// addMember gives a user a role. Only server admins create users: a
// project admin who could create accounts could create one for someone
// else's email, with a password of their choosing, before its owner is
// added to another project. An existing user keeps their password.
func (s *Server) addMember(w http.ResponseWriter, r *http.Request, caller *uiUser, p meta.Project) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if meta.RoleRank(req.Role) == 0 {
		writeError(w, http.StatusBadRequest, `invalid field "role": want admin, member or viewer`)
		return
	}
	if !storable(req.Email) {
		writeError(w, http.StatusBadRequest, `invalid field "email": not valid UTF-8 text`)
		return
	}
	u, err := s.Meta.UserByEmail(r.Context(), req.Email)
	switch {
	case errors.Is(err, meta.ErrNotFound) && !caller.IsAdmin:
		writeError(w, http.StatusNotFound, `invalid field "email": no user with this email; a server admin creates new users`)
		return
	case errors.Is(err, meta.ErrNotFound):
		var ok bool
		if u, ok = s.newUser(w, r, req.Email, req.Password, false); !ok {
			return
		}
	case err != nil:
		metaError(w, "user", err)
		return
	case req.Password != "":
		writeError(w, http.StatusConflict, `invalid field "password": this user exists and keeps their own password; add them without one`)
		return
	}
	if err := s.Meta.SetMember(r.Context(), p.ID, u.ID, req.Role); err != nil {
		metaError(w, "member", err)
		return
	}
	writeJSON(w, http.StatusCreated, meta.Member{UserID: u.ID, Email: u.Email, Role: req.Role})
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, u *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "member")
	if !ok {
		return
	}
	if id == u.ID && !u.IsAdmin {
		writeError(w, http.StatusBadRequest, "you cannot remove yourself; ask another admin")
		return
	}
	if err := s.Meta.RemoveMember(r.Context(), p.ID, id); err != nil {
		metaError(w, "member", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validName checks a user-given name field.
func validName(field, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return fmt.Errorf("invalid field %q: missing", field)
	}
	if len(v) > 200 || !storable(v) {
		return fmt.Errorf("invalid field %q: at most 200 characters of valid UTF-8", field)
	}
	return nil
}
