package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/websdk"
)

// snippet is the posthog-js loader a project's Settings and empty states
// show (websdk.Snippet is its one source), pointed at the host the UI is
// reached at.
func snippet(r *http.Request, p meta.Project) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return websdk.Snippet(p.Token, scheme+"://"+r.Host)
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
	sdk, err := meta.LoadSDKSettings(r.Context(), s.Meta, p.ID)
	if err != nil {
		metaError(w, "sdk settings", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": p, "keys": keys, "stages": stages, "sdk": sdk,
		"snippet": snippet(r, p), "sdk_versions": websdk.TestedVersions()})
}

// registerSDKSettings mounts the browser SDK settings (meta.SettingSDK):
// the API's, by secret key, and the UI's, for project admins.
func (s *Server) registerSDKSettings(mux *routeMux, uiProject string) {
	mux.HandleFunc("GET /api/v1/settings/sdk", s.withProject(s.getSDK))
	mux.HandleFunc("PUT /api/v1/settings/sdk", s.withProject(s.putSDK))
	mux.HandleFunc("PUT "+uiProject+"/settings/sdk", s.withUIProject(meta.RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
		s.putSDK(w, r, p)
	}))
}

func (s *Server) getSDK(w http.ResponseWriter, r *http.Request, p meta.Project) {
	sdk, err := meta.LoadSDKSettings(r.Context(), s.Meta, p.ID)
	if err != nil {
		metaError(w, "sdk settings", err)
		return
	}
	writeJSON(w, http.StatusOK, sdk)
}

// putSDK replaces the settings: fields left out take their defaults, as
// they do when read back; unknown fields are refused, so a typo does not
// silently keep the default.
func (s *Server) putSDK(w http.ResponseWriter, r *http.Request, p meta.Project) {
	sdk := meta.DefaultSDKSettings()
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(&sdk); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode body as JSON: "+err.Error())
		return
	}
	if err := sdk.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	raw, _ := json.Marshal(sdk) // bools and a string: cannot fail
	if err := s.Meta.SetSetting(r.Context(), p.ID, meta.SettingSDK, raw); err != nil {
		metaError(w, "sdk settings", err)
		return
	}
	writeJSON(w, http.StatusOK, sdk)
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

// addMember adds someone to the project. A project admin invites an
// email: the answer is the same pending invite (201) whether or not an
// account has that email, and nobody becomes a member until the user with
// that email accepts (acceptInvite). Adding accounts directly would tell
// the admin which emails have accounts and let them pull any user into
// their project. A server admin, who sees every account anyway, still adds
// directly: an existing user (who keeps their password) or a new one.
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
	if caller.IsAdmin {
		s.addMemberDirectly(w, r, p, req.Email, req.Password, req.Role)
		return
	}
	// Refused before any lookup, so the answer cannot depend on the account.
	if req.Password != "" {
		writeError(w, http.StatusBadRequest, `invalid field "password": project admins invite by email; only a server admin creates accounts`)
		return
	}
	email := strings.TrimSpace(req.Email)
	if !validEmail(email) {
		writeError(w, http.StatusBadRequest, `invalid field "email": not an email address`)
		return
	}
	in, err := s.Meta.CreateInvite(r.Context(), p.ID, email, req.Role, caller.ID)
	if err != nil {
		metaError(w, "invite", err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

// addMemberDirectly is the server admin's way: an existing user gets the
// role at once (404 if there is none and no password to create one with).
func (s *Server) addMemberDirectly(w http.ResponseWriter, r *http.Request, p meta.Project, email, password, role string) {
	u, err := s.Meta.UserByEmail(r.Context(), email)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		var ok bool
		if u, ok = s.newUser(w, r, email, password, false); !ok {
			return
		}
	case err != nil:
		metaError(w, "user", err)
		return
	case password != "":
		writeError(w, http.StatusConflict, `invalid field "password": this user exists and keeps their own password; add them without one`)
		return
	}
	if err := s.Meta.SetMember(r.Context(), p.ID, u.ID, role); err != nil {
		metaError(w, "member", err)
		return
	}
	writeJSON(w, http.StatusCreated, meta.Member{UserID: u.ID, Email: u.Email, Role: role})
}

// validEmail is the check newUser makes too.
func validEmail(email string) bool {
	return strings.Contains(email, "@") && len(email) <= 254 && storable(email)
}

// projectInvites lists the project's pending invites (project admins).
func (s *Server) projectInvites(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	list, err := s.Meta.Invites(r.Context(), p.ID)
	if err != nil {
		metaError(w, "invites", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// myInvites lists the invites addressed to the logged-in user's email.
func (s *Server) myInvites(w http.ResponseWriter, r *http.Request, u *uiUser) {
	list, err := s.Meta.InvitesFor(r.Context(), u.Email)
	if err != nil {
		metaError(w, "invites", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// acceptInvite makes the user a member as invited. An invite addressed
// to another email answers 404, like one that does not exist.
func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request, u *uiUser) {
	id, ok := pathID(w, r, "invite")
	if !ok {
		return
	}
	in, err := s.Meta.AcceptInvite(r.Context(), id, u.Email, u.ID)
	if err != nil {
		metaError(w, "invite", err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// declineInvite deletes an invite addressed to the user.
func (s *Server) declineInvite(w http.ResponseWriter, r *http.Request, u *uiUser) {
	id, ok := pathID(w, r, "invite")
	if !ok {
		return
	}
	if err := s.Meta.DeclineInvite(r.Context(), id, u.Email); err != nil {
		metaError(w, "invite", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
