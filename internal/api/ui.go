package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// registerUI mounts the web UI's API (web/API.md): session-authenticated,
// project in the path, role-checked by withUIProject.
func (s *Server) registerUI(mux *routeMux) {
	const p = "/ui/api/projects/{pid}"
	viewer, member, admin := meta.RoleViewer, meta.RoleMember, meta.RoleAdmin
	mux.HandleFunc("GET /ui/api/status", s.uiStatus)
	mux.HandleFunc("POST /ui/api/bootstrap", s.bootstrap)
	mux.HandleFunc("POST /ui/api/login", s.login)
	mux.HandleFunc("POST /ui/api/logout", s.withUser(s.logout))
	mux.HandleFunc("GET /ui/api/me", s.withUser(s.me))
	mux.HandleFunc("POST /ui/api/projects", s.withUser(s.uiCreateProject))
	mux.HandleFunc("GET /ui/api/invites", s.withUser(s.myInvites))
	mux.HandleFunc("POST /ui/api/invites/{id}/accept", s.withUser(s.acceptInvite))
	mux.HandleFunc("POST /ui/api/invites/{id}/decline", s.withUser(s.declineInvite))

	mux.HandleFunc("POST "+p+"/query", s.withUIProject(viewer, s.uiQuery))
	mux.HandleFunc("GET "+p+"/home", s.withUIProject(viewer, s.home))
	mux.HandleFunc("GET "+p+"/events", s.withUIProject(viewer, s.eventNames))
	mux.HandleFunc("GET "+p+"/properties", s.withUIProject(viewer, s.propertyKeys))
	mux.HandleFunc("GET "+p+"/property-values", s.withUIProject(viewer, s.propertyValues))
	mux.HandleFunc("GET "+p+"/persons", s.withUIProject(viewer, s.searchPersons))
	mux.HandleFunc("GET "+p+"/persons/{id}", s.withUIProject(viewer, s.person))
	mux.HandleFunc("GET "+p+"/live", s.withUIProject(viewer, s.liveEvents))

	mux.HandleFunc("GET "+p+"/settings", s.withUIProject(viewer, s.settings))
	mux.HandleFunc("PUT "+p+"/settings/journey", s.withUIProject(admin, func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.putJourney(w, r, pr) }))
	s.registerSDKSettings(mux, p) // with the API's /api/v1/settings/sdk
	mux.HandleFunc("POST "+p+"/keys", s.withUIProject(admin, s.createKey))
	mux.HandleFunc("DELETE "+p+"/keys/{id}", s.withUIProject(admin, deleter("key", s.Meta.DeleteKey)))
	mux.HandleFunc("GET "+p+"/members", s.withUIProject(admin, s.members))
	mux.HandleFunc("POST "+p+"/members", s.withUIProject(admin, s.addMember))
	mux.HandleFunc("DELETE "+p+"/members/{id}", s.withUIProject(admin, s.removeMember))
	mux.HandleFunc("GET "+p+"/invites", s.withUIProject(admin, s.projectInvites))
	mux.HandleFunc("DELETE "+p+"/invites/{id}", s.withUIProject(admin, deleter("invite", s.Meta.DeleteInvite)))

	mux.HandleFunc("GET "+p+"/insights", s.withUIProject(viewer, s.listInsights))
	mux.HandleFunc("POST "+p+"/insights", s.withUIProject(member, s.createInsight))
	mux.HandleFunc("GET "+p+"/insights/{id}", s.withUIProject(viewer, s.getInsight))
	mux.HandleFunc("PUT "+p+"/insights/{id}", s.withUIProject(member, s.updateInsight))
	mux.HandleFunc("DELETE "+p+"/insights/{id}", s.withUIProject(member, deleter("insight", s.Meta.DeleteInsight)))

	mux.HandleFunc("GET "+p+"/dashboards", s.withUIProject(viewer, s.listDashboards))
	mux.HandleFunc("POST "+p+"/dashboards", s.withUIProject(member, s.createDashboard))
	mux.HandleFunc("GET "+p+"/dashboards/{id}", s.withUIProject(viewer, s.getDashboard))
	mux.HandleFunc("PUT "+p+"/dashboards/{id}", s.withUIProject(member, s.updateDashboard))
	mux.HandleFunc("DELETE "+p+"/dashboards/{id}", s.withUIProject(member, deleter("dashboard", s.Meta.DeleteDashboard)))
	mux.HandleFunc("POST "+p+"/dashboards/{id}/share", s.withUIProject(member, s.shareDashboard))
	mux.HandleFunc("DELETE "+p+"/dashboards/{id}/share", s.withUIProject(member, deleter("dashboard", func(ctx context.Context, projectID, id int64) error {
		return s.Meta.SetShareToken(ctx, projectID, id, "") // revoke
	})))

	s.registerUIActions(mux)

	mux.HandleFunc("GET /ui/api/shared/{token}", s.sharedDashboard)
	mux.HandleFunc("POST /ui/api/shared/{token}/insights/{id}/run", s.sharedRun)
}

// storable reports whether a user-given name can be stored by every
// metadata store (PostgreSQL refuses NUL bytes and invalid UTF-8).
func storable(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

func pathID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such "+what)
		return 0, false
	}
	return id, true
}

// metaError answers a metadata error: 404 for ErrNotFound, 503 otherwise.
func metaError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such "+what)
		return
	}
	slog.Error("metadata store", "what", what, "err", err)
	writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
}

func (s *Server) uiCreateProject(w http.ResponseWriter, r *http.Request, u *uiUser) {
	if !u.IsAdmin {
		writeError(w, http.StatusForbidden, "only server admins can create projects")
		return
	}
	s.createProject(w, r)
}

func (s *Server) uiQuery(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	s.query(w, r, p)
}

// runSpec parses, prepares and runs one stored or built spec; errors are
// *insight.Error for bad specs.
func (s *Server) runSpec(ctx context.Context, p meta.Project, spec []byte) (any, error) {
	q, err := insight.Parse(spec)
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx, p, q); err != nil {
		return nil, err
	}
	tz := projectTZ(p)
	timeout := s.queryTimeout()
	ctx, cancel := context.WithTimeout(insight.WithMemoryCap(ctx, s.QueryMemory), timeout)
	defer cancel()
	start := time.Now()
	res, err := s.run(ctx, p.ID, tz, q.Spec)
	if err != nil && ctx.Err() != nil {
		res, err = nil, &timeoutError{timeout}
	} else {
		err = store.AsMemoryError(ctx, err)
	}
	observeQuery(q.Kind, s.Events, time.Since(start), err) // metrics.go
	return res, err
}

type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return "query timed out after " + e.after.String() }

func (s *Server) queryTimeout() time.Duration {
	if s.QueryTimeout == 0 {
		return 60 * time.Second
	}
	return s.QueryTimeout
}

// specError answers a failed runSpec.
func specError(w http.ResponseWriter, err error) {
	var bad *insight.Error
	if errors.As(err, &bad) {
		writeBad(w, err)
		return
	}
	var timeout *timeoutError
	if errors.As(err, &timeout) {
		writeError(w, http.StatusGatewayTimeout, timeout.Error())
		return
	}
	var mem *insight.MemoryError
	if errors.As(err, &mem) {
		writeError(w, http.StatusUnprocessableEntity, mem.Error())
		return
	}
	slog.Error("query failed", "err", err)
	writeError(w, http.StatusInternalServerError, "query failed")
}

// timeRange reads from/to query parameters (RFC 3339), default the last
// days days up to now.
func timeRange(r *http.Request, days int) (time.Time, time.Time, error) {
	to, from := time.Now().UTC(), time.Time{}
	if v := r.URL.Query().Get("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return from, to, fmt.Errorf(`invalid parameter "to": %v`, err)
		}
		to = t
	}
	from = to.AddDate(0, 0, -days)
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return from, to, fmt.Errorf(`invalid parameter "from": %v`, err)
		}
		from = t
	}
	if !from.Before(to) {
		return from, to, errors.New(`invalid parameter "from": must be before "to"`)
	}
	return from, to, nil
}

// rangeDays are the dashboard range overrides.
var rangeDays = map[string]int{"7d": 7, "30d": 30, "90d": 90, "180d": 180}

// withRange replaces a spec's from/to with the last N days (whole days in
// tz, today included) for a dashboard range override; "" keeps the spec's.
func withRange(spec []byte, rng string, tz *time.Location) ([]byte, error) {
	days, ok := rangeDays[rng]
	if rng == "" {
		return spec, nil
	}
	if !ok {
		return nil, insight.Bad("range", "want 7d, 30d, 90d, 180d or empty, got %q", rng)
	}
	now := time.Now().In(tz)
	end := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tz).AddDate(0, 0, 1)
	out, err := withFromTo(spec, end.AddDate(0, 0, -days), end)
	if err != nil {
		return nil, insight.Bad("spec", "not a JSON object")
	}
	return out, nil
}

func projectTZ(p meta.Project) *time.Location {
	tz, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return time.UTC
	}
	return tz
}

// defaultKPIs are the home page's KPI tiles unless the project's "kpis"
// setting says otherwise; they suit the demo shop, like DefaultStages.
const defaultKPIs = `[
 {"name":"Sign-ups who ordered","spec":{"kind":"kpi","interval":"week",
   "denominator":{"conditions":[{"event":"signed_up","first_time":true}]},
   "numerator":{"conditions":[{"event":"order_completed"}]}}},
 {"name":"Buyers with no support ticket","spec":{"kind":"kpi","interval":"week",
   "denominator":{"conditions":[{"event":"order_completed"}]},
   "numerator":{"conditions":[{"event":"support_ticket_created","did":false}]}}}
]`

type namedSpec struct {
	Name string          `json:"name"`
	Spec json.RawMessage `json:"spec"`
}

// home runs the journey, bad days and KPI tiles in parallel.
func (s *Server) home(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	from, to, err := timeRange(r, 30)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	raw, err := s.Meta.Setting(r.Context(), p.ID, "kpis")
	if errors.Is(err, meta.ErrNotFound) {
		raw, err = []byte(defaultKPIs), nil
	}
	if err != nil {
		metaError(w, "kpis setting", err)
		return
	}
	var kpis []namedSpec
	if err := json.Unmarshal(raw, &kpis); err != nil {
		writeError(w, http.StatusInternalServerError, "cannot decode the project's kpis setting")
		return
	}
	rng := fmt.Sprintf(`"from":%q,"to":%q`, from.Format(time.RFC3339), to.Format(time.RFC3339))
	specs := []string{`{"kind":"journey",` + rng + `}`, `{"kind":"bad_days",` + rng + `}`}
	for i := range kpis {
		spec, _ := withFromTo(kpis[i].Spec, from, to)
		kpis[i].Spec = spec
		specs = append(specs, string(spec))
	}
	results := make([]any, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.runSpec(r.Context(), p, []byte(spec))
		}()
	}
	var events int64
	wg.Add(1)
	go func() { defer wg.Done(); events, _ = s.Events.CountEvents(r.Context(), p.ID) }()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			specError(w, err)
			return
		}
	}
	tiles := make([]map[string]any, len(kpis))
	for i, k := range kpis {
		tiles[i] = map[string]any{"name": k.Name, "spec": k.Spec, "result": results[2+i]}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"from": from, "to": to, "journey": results[0], "bad_days": results[1], "kpis": tiles, "events": events,
	})
}

func withFromTo(spec []byte, from, to time.Time) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(spec, &m); err != nil {
		return nil, err
	}
	m["from"], m["to"] = from.Format(time.RFC3339), to.Format(time.RFC3339)
	return json.Marshal(m)
}
