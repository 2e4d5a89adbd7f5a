package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// deleter answers DELETE …/{id}: del removes thing id of the project.
func deleter(what string, del func(ctx context.Context, projectID, id int64) error) func(http.ResponseWriter, *http.Request, *uiUser, meta.Project) {
	return func(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
		id, ok := pathID(w, r, what)
		if !ok {
			return
		}
		if err := del(r.Context(), p.ID, id); err != nil {
			metaError(w, what, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) listInsights(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	list, err := s.Meta.Insights(r.Context(), p.ID)
	if err != nil {
		metaError(w, "insights", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// insightBody reads and validates {"name","spec"}: the spec must parse as
// a query, so a saved insight always runs.
func insightBody(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	var req struct {
		Name string          `json:"name"`
		Spec json.RawMessage `json:"spec"`
	}
	if !decodeJSON(w, r, &req) {
		return "", nil, false
	}
	if err := validName("name", req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", nil, false
	}
	if _, err := insight.Parse(req.Spec); err != nil {
		writeBadIn(w, "spec", err)
		return "", nil, false
	}
	return strings.TrimSpace(req.Name), req.Spec, true
}

func (s *Server) createInsight(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	name, spec, ok := insightBody(w, r)
	if !ok {
		return
	}
	in, err := s.Meta.CreateInsight(r.Context(), p.ID, name, spec)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (s *Server) getInsight(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "insight")
	if !ok {
		return
	}
	in, err := s.Meta.Insight(r.Context(), p.ID, id)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) updateInsight(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "insight")
	if !ok {
		return
	}
	name, spec, ok := insightBody(w, r)
	if !ok {
		return
	}
	in, err := s.Meta.UpdateInsight(r.Context(), p.ID, id, name, spec)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) listDashboards(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	list, err := s.Meta.Dashboards(r.Context(), p.ID)
	if err != nil {
		metaError(w, "dashboards", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// dashboardBody reads and validates a dashboard; every tile must show an
// insight of the same project.
func (s *Server) dashboardBody(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.Dashboard, bool) {
	var d meta.Dashboard
	if !decodeJSON(w, r, &d) {
		return d, false
	}
	d.ProjectID, d.Name = p.ID, strings.TrimSpace(d.Name)
	if err := validName("name", d.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return d, false
	}
	if _, ok := rangeDays[d.Range]; !ok && d.Range != "" {
		writeError(w, http.StatusBadRequest, `invalid field "range": want 7d, 30d, 90d, 180d or ""`)
		return d, false
	}
	if d.RefreshSeconds != 0 && (d.RefreshSeconds < 30 || d.RefreshSeconds > 86400) {
		writeError(w, http.StatusBadRequest, `invalid field "refresh_seconds": 0 (off) or 30..86400`)
		return d, false
	}
	if len(d.Tiles) > 50 {
		writeError(w, http.StatusBadRequest, `invalid field "tiles": at most 50`)
		return d, false
	}
	for i, t := range d.Tiles {
		if t.Width == 0 {
			d.Tiles[i].Width = 1
		} else if t.Width != 1 && t.Width != 2 {
			writeError(w, http.StatusBadRequest, `invalid field "tiles[`+strconv.Itoa(i)+`].width": 1 or 2`)
			return d, false
		}
		if _, err := s.Meta.Insight(r.Context(), p.ID, t.InsightID); err != nil {
			if errors.Is(err, meta.ErrNotFound) {
				writeError(w, http.StatusBadRequest, `invalid field "tiles[`+strconv.Itoa(i)+`].insight_id": no such insight in this project`)
			} else {
				metaError(w, "insight", err)
			}
			return d, false
		}
	}
	return d, true
}

func (s *Server) createDashboard(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	d, ok := s.dashboardBody(w, r, p)
	if !ok {
		return
	}
	d, err := s.Meta.CreateDashboard(r.Context(), d)
	if err != nil {
		metaError(w, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// dashboardView is a dashboard with its tiles' insights; tiles whose
// insight was deleted are dropped.
func (s *Server) dashboardView(r *http.Request, d meta.Dashboard) (map[string]any, error) {
	insights := []meta.Insight{}
	tiles := []meta.Tile{}
	for _, t := range d.Tiles {
		in, err := s.Meta.Insight(r.Context(), d.ProjectID, t.InsightID)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tiles = append(tiles, t)
		insights = append(insights, in)
	}
	return map[string]any{
		"id": d.ID, "name": d.Name, "range": d.Range, "refresh_seconds": d.RefreshSeconds, "tiles": tiles,
		"shared": d.Shared, "insights": insights, "created_at": d.CreatedAt, "updated_at": d.UpdatedAt,
	}, nil
}

func (s *Server) getDashboard(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "dashboard")
	if !ok {
		return
	}
	d, err := s.Meta.Dashboard(r.Context(), p.ID, id)
	if err != nil {
		metaError(w, "dashboard", err)
		return
	}
	view, err := s.dashboardView(r, d)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) updateDashboard(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "dashboard")
	if !ok {
		return
	}
	d, ok := s.dashboardBody(w, r, p)
	if !ok {
		return
	}
	d.ID = id
	d, err := s.Meta.UpdateDashboard(r.Context(), d)
	if err != nil {
		metaError(w, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) shareDashboard(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "dashboard")
	if !ok {
		return
	}
	token := meta.NewShareToken()
	if err := s.Meta.SetShareToken(r.Context(), p.ID, id, token); err != nil {
		metaError(w, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"share_token": token, "url": "/share/" + token})
}

// sharedDashboard answers a share link: the dashboard and its insights'
// specs, nothing else of the project.
func (s *Server) sharedDashboard(w http.ResponseWriter, r *http.Request) {
	d, err := s.Meta.DashboardByShareToken(r.Context(), r.PathValue("token"))
	if err != nil {
		metaError(w, "shared dashboard (the link may have been revoked)", err)
		return
	}
	view, err := s.dashboardView(r, d)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	delete(view, "id")
	delete(view, "shared")
	writeJSON(w, http.StatusOK, view)
}

// shareLimiter bounds the queries one share link can run: anyone holding
// the link may run its insights, without an account to throttle. Only
// links that exist are counted (sharedRun looks the token up first), so
// made-up tokens neither take room nor push real links out.
type shareLimiter struct{ l limiter }

// maxShareKeys bounds the shared dashboards counted at once.
const maxShareKeys = 10_000

// allow counts a run of the shared dashboard against perMinute, over a
// sliding minute.
func (l *shareLimiter) allow(dashboardID int64, perMinute int) bool {
	return l.l.reserve(strconv.FormatInt(dashboardID, 10), limitPolicy{limit: perMinute, window: time.Minute, maxKeys: maxShareKeys})
}

// sharedRun runs one insight of a shared dashboard; only insights on that
// dashboard can be run through its link.
func (s *Server) sharedRun(w http.ResponseWriter, r *http.Request) {
	limit := s.ShareRunsPerMinute
	if limit == 0 {
		limit = 120
	}
	// An unknown token answers the same 404 as before and is not counted:
	// counting it would let made-up tokens fill the limiter.
	d, err := s.Meta.DashboardByShareToken(r.Context(), r.PathValue("token"))
	if err != nil {
		metaError(w, "shared dashboard (the link may have been revoked)", err)
		return
	}
	if !s.shares.allow(d.ID, limit) {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "this share link ran too many queries; try again in a minute")
		return
	}
	id, ok := pathID(w, r, "insight")
	if !ok {
		return
	}
	on := false
	for _, t := range d.Tiles {
		on = on || t.InsightID == id
	}
	if !on {
		writeError(w, http.StatusNotFound, "no such insight on this dashboard")
		return
	}
	p, err := s.Meta.Project(r.Context(), d.ProjectID)
	if err != nil {
		metaError(w, "project", err)
		return
	}
	in, err := s.Meta.Insight(r.Context(), p.ID, id)
	if err != nil {
		metaError(w, "insight", err)
		return
	}
	rng := d.Range
	if v := r.URL.Query().Get("range"); v != "" {
		rng = v
	}
	spec, err := withRange(in.Spec, rng, projectTZ(p))
	if err != nil {
		specError(w, err)
		return
	}
	res, err := s.runSpec(r.Context(), p, spec)
	if err != nil {
		specError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
