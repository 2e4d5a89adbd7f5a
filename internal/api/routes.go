package api

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/journey-dev/journey/internal/meta"
)

// uiBase is the prefix of the UI's project routes; apiBase the public
// API's. A UI route uiBase+X has its /api/v1 twin apiBase+X.
const (
	uiBase  = "/ui/api/projects/{pid}"
	apiBase = "/api/v1"
)

// routeMux is the mux every API route is registered on (Register). It
// keeps the patterns, so that the OpenAPI test compares the document
// with what is really served; it keeps the role each UI project route
// needs, so that a personal key on the route's /api/v1 twin needs the
// same (personalkeys.go); and it wraps the routes of admin actions in the
// audit middleware (audit.go). Register functions take a *routeMux, so a
// route cannot be mounted past it.
type routeMux struct {
	mux *http.ServeMux
	s   *Server
}

// HandleFunc registers h for pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Handle registers h for pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.s.routes.add(pattern)
	m.mux.Handle(pattern, m.s.audited(pattern, h))
}

// routeTable is what routeMux learnt.
type routeTable struct {
	mu       sync.Mutex
	patterns []string
	// uiRole is the role each UI project route needs (withUIProject).
	uiRole map[string]string
	// pending is the role of the withUIProject handler built last: the
	// registration that follows it is the route it serves (Go evaluates a
	// HandleFunc's handler argument before the call).
	pending string
}

func (t *routeTable) add(pattern string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.patterns = append(t.patterns, pattern)
	if t.uiRole == nil {
		t.uiRole = map[string]string{}
	}
	if t.pending != "" && strings.Contains(pattern, uiBase) {
		t.uiRole[pattern] = t.pending
	}
	t.pending = ""
}

// nextRole notes the role the next registered UI route needs.
func (t *routeTable) nextRole(role string) {
	t.mu.Lock()
	t.pending = role
	t.mu.Unlock()
}

// list is every pattern registered, in registration order.
func (t *routeTable) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.patterns)
}

// apiRoles are the roles of /api/v1 routes without a UI twin whose need
// is not read from their method: computations sent by POST that change
// nothing, and reads of personal data that only admins make.
var apiRoles = map[string]string{
	"POST /api/v1/stats/compare":      meta.RoleViewer,
	"POST /api/v1/stats/srm":          meta.RoleViewer,
	"POST /api/v1/stats/adjust":       meta.RoleViewer,
	"POST /api/v1/stats/sample-size":  meta.RoleViewer,
	"GET /api/v1/persons/{id}/{part}": meta.RoleAdmin, // the export: the UI's is admin-only
}

// need is the role a personal key needs on an /api/v1 route: its UI
// twin's, else apiRoles', else viewer to read and member to change.
func (t *routeTable) need(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	if rest, ok := strings.CutPrefix(path, apiBase); ok {
		t.mu.Lock()
		role := t.uiRole[method+" "+uiBase+rest]
		t.mu.Unlock()
		if role != "" {
			return role
		}
	}
	if role := apiRoles[pattern]; role != "" {
		return role
	}
	if method == http.MethodGet || method == http.MethodHead {
		return meta.RoleViewer
	}
	return meta.RoleMember
}

// projectRoute is one route of a project's resources, served twice: under
// /api/v1 for secret keys (user 0) and under /ui/api/projects/{pid} for
// signed-in users of role at least role.
type projectRoute struct {
	method, path, role string
	h                  experimentHandler
}

// handleProjectRoutes mounts each route on both prefixes.
func (s *Server) handleProjectRoutes(mux *routeMux, routes []projectRoute) {
	for _, rt := range routes {
		h := rt.h
		mux.HandleFunc(rt.method+" "+apiBase+rt.path, s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) { h(w, r, p, 0) }))
		mux.HandleFunc(rt.method+" "+uiBase+rt.path, s.withUIProject(rt.role, func(w http.ResponseWriter, r *http.Request, u *uiUser, p meta.Project) { h(w, r, p, u.ID) }))
	}
}
