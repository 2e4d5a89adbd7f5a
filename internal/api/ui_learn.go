package api

import (
	"net/http"

	"github.com/journey-dev/journey/internal/meta"
)

// registerLearn mounts what the UI's flag, experiment and archive pages
// need beyond the flag and experiment APIs themselves: the rollout
// preview (flagpreview.go, with its secret-key twin) and the project's
// cohorts for the flag editor's cohort picker (the cohorts API has no UI
// route of its own).
func (s *Server) registerLearn(mux *routeMux) {
	s.registerFlagPreview(mux)
	const p = "/ui/api/projects/{pid}"
	mux.HandleFunc("GET "+p+"/cohorts", s.withUIProject(meta.RoleViewer,
		func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.listCohorts(w, r, pr) }))
}
