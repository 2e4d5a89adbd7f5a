package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/journey-dev/journey/internal/intake"
	"github.com/journey-dev/journey/internal/meta"
)

// The UI authenticates with a session cookie; the cookie holds a random
// token and the metadata store keeps only its SHA-256. Requests that change
// something carry the session's CSRF token in a header, which a cross-site
// form cannot set.
const (
	sessionCookie = "journey_session"
	sessionTTL    = 14 * 24 * time.Hour
	csrfHeader    = "X-CSRF-Token"
	// bcrypt ignores bytes past 72; longer passwords are refused rather
	// than silently truncated.
	maxPassword = 72
	minPassword = 8
)

// uiUser is the logged-in user of a UI request.
type uiUser struct {
	meta.User
	CSRF string
}

// HashPassword hashes a UI password with bcrypt.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

func checkPassword(password string) error {
	if len(password) < minPassword {
		return errors.New(`invalid field "password": at least 8 characters`)
	}
	if len(password) > maxPassword {
		return errors.New(`invalid field "password": at most 72 bytes`)
	}
	return nil
}

// failures counts failed logins per client IP so password guessing is
// slow. Its table is bounded, and a spray from many addresses can neither
// exhaust memory nor free a throttled address (see limiter).
type failures struct{ l limiter }

const (
	maxFailures   = 10
	failureWindow = 15 * time.Minute
	// maxFailureKeys bounds the addresses remembered (a few hundred bytes each
	// when at the limit).
	maxFailureKeys = 100_000
)

var loginPolicy = limitPolicy{limit: maxFailures, window: failureWindow, maxKeys: maxFailureKeys}

// reserve counts an attempt before the password is checked, so parallel
// guesses cannot all pass the limit before any failure is counted; it
// reports false when the address is over the limit. A successful attempt
// gives its slot back with release.
func (f *failures) reserve(ip string) bool { return f.l.reserve(ip, loginPolicy) }

func (f *failures) release(ip string) { f.l.release(ip) }

// clientIP is the address login attempts are counted against: the
// client as capture counts it (intake.ClientKey: X-Forwarded-For only from
// a trusted proxy, IPv6 per /64).
func (s *Server) clientIP(r *http.Request) string { return intake.ClientKey(r, s.TrustedProxies) }

// decodeJSON reads a JSON body. It insists on Content-Type
// application/json: a cross-site HTML form cannot send that, so a login
// or any other call cannot be forged from another site's form.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode body as JSON: "+err.Error())
		return false
	}
	return true
}

// startSession creates a session for u, sets the cookie and answers like
// /ui/api/me.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u meta.User) {
	token, csrf := meta.NewSessionToken(), meta.NewCSRFToken()
	expires := time.Now().Add(sessionTTL)
	if err := s.Meta.CreateSession(r.Context(), meta.HashSecret(token), u.ID, csrf, expires); err != nil {
		slog.Error("cannot create session", "err", err)
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires, HttpOnly: true,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", SameSite: http.SameSiteLaxMode,
	})
	s.writeMe(w, r, &uiUser{User: u, CSRF: csrf})
}

func (s *Server) uiStatus(w http.ResponseWriter, r *http.Request) {
	n, err := s.Meta.CountUsers(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"bootstrapped": n > 0})
}

// bootstrap creates the first server admin, proven by the server's admin key.
func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AdminKey string `json:"admin_key"`
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	ip, ok := s.credentials(w, r, &req)
	if !ok {
		return
	}
	if !s.bootstrapAllowed(req.AdminKey) {
		writeError(w, http.StatusUnauthorized, `invalid field "admin_key": not the server's admin key (or the bootstrap key it printed)`)
		return
	}
	s.logins.release(ip)
	if n, err := s.Meta.CountUsers(r.Context()); err != nil || n > 0 {
		writeError(w, http.StatusConflict, "the first admin already exists; log in instead")
		return
	}
	u, ok := s.newUser(w, r, req.Email, req.Password, true)
	if !ok {
		return
	}
	s.startSession(w, r, u)
}

// bootstrapAllowed checks the key proving the first admin: the server's
// admin key, or the bootstrap key serve printed.
func (s *Server) bootstrapAllowed(key string) bool {
	ok := s.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.AdminKey)) == 1
	if b := s.bootstrapKey.Load(); b != nil {
		ok = ok || subtle.ConstantTimeCompare([]byte(key), []byte(*b)) == 1
	}
	return ok
}

// credentials decodes a login-like body and reserves an attempt for the
// client's address (refused when it failed too often); the caller
// releases the attempt when it succeeds.
func (s *Server) credentials(w http.ResponseWriter, r *http.Request, req any) (string, bool) {
	if !decodeJSON(w, r, req) {
		return "", false
	}
	ip := s.clientIP(r)
	if !s.logins.reserve(ip) {
		writeError(w, http.StatusTooManyRequests, "too many failed attempts; wait 15 minutes")
		return "", false
	}
	return ip, true
}

// newUser validates and creates a user, answering the error itself.
func (s *Server) newUser(w http.ResponseWriter, r *http.Request, email, password string, admin bool) (meta.User, bool) {
	email = strings.TrimSpace(email)
	if !validEmail(email) {
		writeError(w, http.StatusBadRequest, `invalid field "email": not an email address`)
		return meta.User{}, false
	}
	hash, err := HashPassword(password)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return meta.User{}, false
	}
	u, err := s.Meta.CreateUser(r.Context(), email, hash, admin)
	if errors.Is(err, meta.ErrExists) {
		writeError(w, http.StatusConflict, `invalid field "email": a user with this email exists`)
		return meta.User{}, false
	}
	if err != nil {
		slog.Error("cannot create user", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot create user")
		return meta.User{}, false
	}
	return u, true
}

// dummyHash makes a login for an unknown email cost as much as a wrong
// password, so response times do not reveal which emails exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("journey-timing-equaliser"), bcrypt.DefaultCost)

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	ip, ok := s.credentials(w, r, &req)
	if !ok {
		return
	}
	u, err := meta.User{}, meta.ErrNotFound
	if storable(req.Email) { // PostgreSQL refuses to even compare NUL bytes or invalid UTF-8
		u, err = s.Meta.UserByEmail(r.Context(), req.Email)
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return
	}
	hash := []byte(u.PasswordHash)
	if err != nil {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || err != nil {
		writeError(w, http.StatusUnauthorized, "wrong email or password")
		return
	}
	s.logins.release(ip)
	s.startSession(w, r, u)
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u *uiUser) {
	if err := s.Meta.DeleteSession(r.Context(), meta.HashSecret(sessionToken(r))); err != nil {
		slog.Error("cannot delete session", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

// withUser authenticates the session and, for requests that change
// something, the CSRF token.
func (s *Server) withUser(h func(http.ResponseWriter, *http.Request, *uiUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := sessionToken(r)
		if token == "" {
			writeError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		sess, err := s.Meta.Session(r.Context(), meta.HashSecret(token))
		if errors.Is(err, meta.ErrNotFound) {
			writeError(w, http.StatusUnauthorized, "session expired; log in again")
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead &&
			subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(sess.CSRF)) != 1 {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		u, err := s.Meta.User(r.Context(), sess.UserID)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "user no longer exists")
			return
		}
		setActor(r, 0, "user:"+strconv.FormatInt(u.ID, 10), u.Email) // audit.go
		h(w, r, &uiUser{User: u, CSRF: sess.CSRF})
	}
}

// withUIProject is the UI's tenant check: the project in the path must be
// one the user belongs to (404 otherwise, so other projects' existence does
// not leak) with at least role need (403 otherwise).
func (s *Server) withUIProject(need string, h func(http.ResponseWriter, *http.Request, *uiUser, meta.Project)) http.HandlerFunc {
	s.routes.nextRole(need) // routes.go: the route registered next needs it
	return s.withUser(func(w http.ResponseWriter, r *http.Request, u *uiUser) {
		pid, err := strconv.ParseInt(r.PathValue("pid"), 10, 64)
		if err != nil {
			writeError(w, http.StatusNotFound, "no such project")
			return
		}
		p, err := s.Meta.Project(r.Context(), pid)
		role := ""
		if err == nil {
			role, err = s.role(r.Context(), u, p.ID)
		}
		if errors.Is(err, meta.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no such project")
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
			return
		}
		setActor(r, p.ID, "user:"+strconv.FormatInt(u.ID, 10), u.Email) // audit.go
		if meta.RoleRank(role) < meta.RoleRank(need) {
			writeError(w, http.StatusForbidden, "your role ("+role+") cannot do this; it needs "+need)
			return
		}
		h(w, r, u, p)
	})
}

// role is the user's role in an existing project; server admins are
// admins everywhere.
func (s *Server) role(ctx context.Context, u *uiUser, projectID int64) (string, error) {
	if u.IsAdmin {
		return meta.RoleAdmin, nil
	}
	return s.Meta.Role(ctx, projectID, u.ID)
}

type projectView struct {
	meta.Project
	Role string `json:"role"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, u *uiUser) { s.writeMe(w, r, u) }

func (s *Server) writeMe(w http.ResponseWriter, r *http.Request, u *uiUser) {
	all, err := s.Meta.Projects(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
		return
	}
	projects := []projectView{}
	for _, p := range all {
		role, err := s.role(r.Context(), u, p.ID)
		if err == nil {
			projects = append(projects, projectView{p, role})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.User, "csrf_token": u.CSRF, "projects": projects})
}
