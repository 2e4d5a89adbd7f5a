package api

import (
	"context"
	"net/http"

	"github.com/journey-dev/journey/internal/meta"
)

// uiHandler is the shape of a UI project route's handler.
type uiHandler func(http.ResponseWriter, *http.Request, *uiUser, meta.Project)

// registerTwins mounts the /api/v1 twins of the UI project routes that
// had none (issue 17 item 2: everything the UI can do is in /api/v1 with
// secret keys): the same handlers behind withProject, the one tenant check
// of the public API, so that a twin answers exactly as its UI route does.
// A personal key on a twin needs the UI route's role (routes.go). The
// twin test (twins_test.go) fails for a UI route added without one.
func (s *Server) registerTwins(mux *routeMux) {
	dashboardShare := func(ctx context.Context, projectID, id int64) error {
		return s.Meta.SetShareToken(ctx, projectID, id, "") // revoke, as the UI's
	}
	for _, t := range []struct {
		method, path string
		h            uiHandler
	}{
		{"GET", "/home", s.home},
		{"GET", "/home/voc", s.homeVoC},
		// Event and property definitions, persons list and search.
		{"GET", "/events", s.eventNames},
		{"GET", "/properties", s.propertyKeys},
		{"GET", "/property-values", s.propertyValues},
		{"GET", "/persons", s.searchPersons},
		{"GET", "/persons/{id}", s.person},
		{"GET", "/recent-clicks", s.recentClicks},
		// Settings: keys, members, invites.
		{"GET", "/settings", s.settings},
		{"POST", "/keys", s.createKey},
		{"DELETE", "/keys/{id}", deleter("key", s.Meta.DeleteKey)},
		{"GET", "/members", s.members},
		{"POST", "/members", s.addMember},
		{"DELETE", "/members/{id}", s.removeMember},
		{"GET", "/invites", s.projectInvites},
		{"DELETE", "/invites/{id}", deleter("invite", s.Meta.DeleteInvite)},
		// Saved insights and dashboards.
		{"GET", "/insights", s.listInsights},
		{"POST", "/insights", s.createInsight},
		{"GET", "/insights/{id}", s.getInsight},
		{"PUT", "/insights/{id}", s.updateInsight},
		{"DELETE", "/insights/{id}", deleter("insight", s.Meta.DeleteInsight)},
		{"GET", "/dashboards", s.listDashboards},
		{"POST", "/dashboards", s.createDashboard},
		{"GET", "/dashboards/{id}", s.getDashboard},
		{"PUT", "/dashboards/{id}", s.updateDashboard},
		{"DELETE", "/dashboards/{id}", deleter("dashboard", s.Meta.DeleteDashboard)},
		{"POST", "/dashboards/{id}/share", s.shareDashboard},
		{"DELETE", "/dashboards/{id}/share", deleter("dashboard", dashboardShare)},
	} {
		h := t.h
		mux.HandleFunc(t.method+" "+apiBase+t.path, s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) {
			h(w, r, keyUser(r), p)
		}))
	}
}

type keyUserCtx struct{}

// keyUser is the user an /api/v1 request acts as: a personal key's user,
// or nobody (id 0, no server admin) for a project's secret key.
func keyUser(r *http.Request) *uiUser {
	if u, ok := r.Context().Value(keyUserCtx{}).(*uiUser); ok {
		return u
	}
	return &uiUser{}
}
