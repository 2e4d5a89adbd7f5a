// Package api serves the management and query API under /api/v1 (SPEC §4)
// and the operational endpoints. Tenant checks live in one place: every
// project-scoped handler gets its project from the secret key via withProject.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/live"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Ready reports whether the server can take traffic (the loader is running
// and not far behind), with a reason when it cannot.
type Ready func() (bool, string)

// Server holds what the API handlers need.
type Server struct {
	ranks        rankings         // rankshare.go: feedback impact rankings in flight
	publicCounts surveyCountCache // surveycounts.go: the public survey list's response counts
	Meta         meta.Store
	Events       store.Store
	AdminKey     string
	Ready        Ready
	// LoaderLag, when set, is the loader's lag that /readyz shows.
	LoaderLag func() any
	// MetricsToken, when set, is the bearer token /metrics asks for
	// (metrics.go).
	MetricsToken string
	// QueryTimeout bounds one query; 0 = 60 s.
	QueryTimeout time.Duration
	// QueryMemory caps one query's memory (insight.WithMemoryCap), in
	// bytes; 0 = insight.DefaultMemoryCap.
	QueryMemory int64
	// Live feeds the UI's live event stream (nil: the stream stays empty).
	Live *live.Hub
	// LivePing is how often a live stream pings and re-checks access; 0 = 15 s.
	LivePing time.Duration
	// ShareRunsPerMinute bounds the queries of one share link; 0 = 120.
	ShareRunsPerMinute int
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client (for login throttling).
	TrustedProxies []netip.Prefix
	// Campaigns configure the campaigns API and its click redirect.
	Campaigns CampaignOptions

	routes  routeTable   // routes.go
	keyUses meta.KeyUses // personalkeys.go

	logins failures
	shares shareLimiter
	// bootstrapKey, when set, proves the first admin too: serve prints one
	// when it starts with no user and no --admin-key.
	bootstrapKey atomic.Pointer[string]
}

// SetBootstrapKey makes key valid for creating the first admin.
func (s *Server) SetBootstrapKey(key string) { s.bootstrapKey.Store(&key) }

// Register mounts the API routes on mux.
func (s *Server) Register(httpMux *http.ServeMux) {
	mux := &routeMux{mux: httpMux, s: s} // routes.go: records each route, audits admin actions
	mux.HandleFunc("POST /api/v1/projects", s.admin(s.createProject))
	mux.HandleFunc("GET /api/v1/projects", s.admin(s.listProjects))
	mux.HandleFunc("POST /api/v1/admin/backup", s.admin(s.backupData)) // backup.go: snapshot of the embedded stack
	mux.HandleFunc("GET /api/v1/persons/by-distinct-id/{id}", s.withProject(s.personByDistinctID))
	mux.HandleFunc("POST /api/v1/query", s.withProject(s.query))
	mux.HandleFunc("GET /api/v1/settings/journey", s.withProject(s.getJourney))
	mux.HandleFunc("PUT /api/v1/settings/journey", s.withProject(s.putJourney))
	s.registerCohorts(mux)
	s.registerActions(mux)
	s.registerFlags(mux)
	s.registerFlagUsage(mux)
	s.registerStats(mux)
	s.registerExperiments(mux) // experiments.go: experiments, layers, holdout, archive (API and UI)
	s.registerCampaigns(mux)   // campaigns.go: campaigns, their reports and the click redirect /c/{token}
	s.registerSurveys(mux)     // surveys.go: surveys, their results and the public list posthog-js reads
	s.registerLearn(mux)       // ui_learn.go: flag preview, UI cohorts
	s.registerFeedback(mux)    // feedback.go: the VoC inbox, themes and their impact ranking, the widget's /feedback/
	s.registerPrivacy(mux)     // privacy.go: person deletion jobs, exports, data retention
	s.registerFeedbackSLA(mux) // feedback_sla.go: SLA view and settings, VoC channels (replies, close the loop, alerts)
	s.registerHomeVoC(mux)     // home_voc.go: the top themes on the customer journey (UI home)
	// personalkeys.go: personal API keys, the audit log
	s.registerPersonalKeys(mux)
	// definitions.go: event and property definitions kept at ingest
	s.registerDefinitions(mux)
	s.registerGroups(mux)  // groups.go
	s.registerTwins(mux)   // twins.go: the /api/v1 twins of UI routes
	s.registerOpenAPI(mux) // openapi_route.go: GET /api/v1/openapi.json
	s.registerUI(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics) // metrics.go
}

// writeJSON encodes the whole answer before writing the status, so an
// answer that cannot be encoded is a 500 with a message, never a 200 with
// an empty body; NaN and ±Inf read as null (finiteJSON).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	var unsupported *json.UnsupportedValueError
	if errors.As(err, &unsupported) {
		b, err = finiteJSON(v)
	}
	if err != nil {
		slog.Error("cannot encode answer", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeBad answers 400 for a bad request body. An *insight.Error also
// names its field in the data, {"error": "invalid field \"steps[1].event\":
// …", "field": "steps[1].event"}, so a client marks the control without
// reading the message.
func writeBad(w http.ResponseWriter, err error) { writeBadIn(w, "", err) }

// writeBadIn is writeBad for an error about the part of the body at field
// in ("spec": an insight's spec): the message and the field path are
// prefixed with it.
func writeBadIn(w http.ResponseWriter, in string, err error) {
	msg := err.Error()
	if in != "" {
		msg = fmt.Sprintf("invalid field %q: %s", in, msg)
	}
	var bad *insight.Error
	if !errors.As(err, &bad) {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	field := bad.Field
	switch {
	case in == "":
	case field == "" || field == "body": // the part as a whole
		field = in
	default:
		field = in + "." + field
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg, "field": field})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// admin guards endpoints that take the server's admin key.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Guesses count against the same per-address budget as logins:
		// the admin key is chosen by the operator and may be weak.
		ip := s.clientIP(r)
		if !s.logins.reserve(ip) {
			w.Header().Set("Retry-After", "900")
			writeError(w, http.StatusTooManyRequests, "too many failed attempts from this address; try again later")
			return
		}
		key := bearer(r)
		if s.AdminKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.AdminKey)) != 1 {
			writeError(w, http.StatusUnauthorized, "admin key required (Authorization: Bearer <admin key>)")
			return
		}
		s.logins.release(ip)
		setActor(r, 0, "admin_key", "") // audit.go
		h(w, r)
	}
}

type projectKey struct{}

// withProject authenticates a secret key and fixes the project for the
// request. Capture tokens are public and are refused here.
func (s *Server) withProject(h func(http.ResponseWriter, *http.Request, meta.Project)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := bearer(r)
		if key == "" {
			writeError(w, http.StatusUnauthorized, "secret key required (Authorization: Bearer <secret key>)")
			return
		}
		if meta.IsPersonalKey(key) { // personalkeys.go: a user's key, role capped by its scopes
			if p, r, ok := s.personalProject(w, r, key); ok {
				h(w, r, p)
			}
			return
		}
		p, err := s.Meta.ProjectBySecret(r.Context(), key)
		if errors.Is(err, meta.ErrNotFound) {
			writeError(w, http.StatusUnauthorized, "unknown secret key")
			return
		}
		if err != nil {
			slog.Error("cannot look up secret key", "err", err)
			writeError(w, http.StatusServiceUnavailable, "metadata store unavailable")
			return
		}
		setActor(r, p.ID, "secret_key", "") // audit.go
		h(w, r, p)
	}
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name     string `json:"name"`
		Timezone string `json:"timezone"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode body as JSON: "+err.Error())
		return
	}
	if err := validName("name", req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Timezone == "" {
		req.Timezone = "UTC"
	}
	if !meta.ValidTimezone(req.Timezone) {
		writeError(w, http.StatusBadRequest, `invalid field "timezone": unknown IANA time zone `+req.Timezone)
		return
	}
	p, secret, err := s.Meta.CreateProject(r.Context(), req.Name, req.Timezone)
	if err != nil {
		slog.Error("cannot create project", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot create project")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": p.ID, "name": p.Name, "timezone": p.Timezone, "token": p.Token, "secret_key": secret})
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	ps, err := s.Meta.Projects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot list projects")
		return
	}
	if ps == nil {
		ps = []meta.Project{}
	}
	writeJSON(w, http.StatusOK, ps)
}

func (s *Server) personByDistinctID(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id := r.PathValue("id")
	person, ids, err := s.Events.PersonByDistinctID(r.Context(), p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no person with distinct id "+id)
		return
	}
	if err != nil {
		slog.Error("cannot read person", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read person")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": person.ID, "distinct_ids": ids, "properties": person.Properties, "created_at": person.CreatedAt,
	})
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, p meta.Project) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	res, err := s.runSpec(r.Context(), p, body)
	if err != nil {
		specError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// prepare fills in what a query takes from the metadata store: cohort
// definitions for cohort ids, the project's journey stages, and action
// definitions for action ids (cohorts and stages may name actions too).
func (s *Server) prepare(ctx context.Context, p meta.Project, q *insight.Query) error {
	filters := insight.Filters(q.Spec)
	for i := range filters {
		id, ok := filters[i].CohortID()
		if !ok {
			continue
		}
		c, err := s.Meta.Cohort(ctx, p.ID, id)
		if errors.Is(err, meta.ErrNotFound) {
			return insight.Bad(fmt.Sprintf("filters[%d].value", i), "no cohort %d in this project", id)
		}
		if err != nil {
			return err
		}
		var def insight.CohortDef
		if err := json.Unmarshal(c.Definition, &def); err != nil {
			return fmt.Errorf("cannot decode cohort %d: %w", id, err)
		}
		filters[i].Cohort = &def
	}
	if j, ok := q.Spec.(*insight.Journey); ok && len(j.Stages) == 0 {
		stages, err := s.journeyStages(ctx, p.ID)
		if err != nil {
			return err
		}
		j.Stages = stages
	}
	return s.resolveActions(ctx, p.ID, q.Spec)
}

// run sends a spec to the event store method of its kind.
func (s *Server) run(ctx context.Context, projectID int64, tz *time.Location, spec insight.Spec) (any, error) {
	switch q := spec.(type) {
	case *insight.Trend:
		return s.Events.Trend(ctx, projectID, tz, q)
	case *insight.SQL:
		return s.Events.SQL(ctx, projectID, q)
	case *insight.Funnel:
		return s.Events.Funnel(ctx, projectID, tz, q)
	case *insight.Retention:
		return s.Events.Retention(ctx, projectID, tz, q)
	case *insight.Stickiness:
		return s.Events.Stickiness(ctx, projectID, tz, q)
	case *insight.Lifecycle:
		return s.Events.Lifecycle(ctx, projectID, tz, q)
	case *insight.BadDays:
		return s.Events.BadDays(ctx, projectID, tz, q)
	case *insight.Paths:
		return s.Events.Paths(ctx, projectID, tz, q)
	case *insight.Journey:
		return s.Events.Journey(ctx, projectID, tz, q)
	case *insight.KPI:
		return s.Events.KPI(ctx, projectID, tz, q)
	}
	return nil, fmt.Errorf("no store method for %T", spec)
}

func (s *Server) journeyStages(ctx context.Context, projectID int64) ([]insight.Stage, error) {
	raw, err := s.Meta.Setting(ctx, projectID, "journey")
	if errors.Is(err, meta.ErrNotFound) {
		return insight.DefaultStages(), nil
	}
	if err != nil {
		return nil, err
	}
	var stages []insight.Stage
	if err := json.Unmarshal(raw, &stages); err != nil {
		return nil, fmt.Errorf("cannot decode journey stages: %w", err)
	}
	return stages, nil
}

func (s *Server) getJourney(w http.ResponseWriter, r *http.Request, p meta.Project) {
	stages, err := s.journeyStages(r.Context(), p.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot read journey stages")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stages": stages})
}

func (s *Server) putJourney(w http.ResponseWriter, r *http.Request, p meta.Project) {
	var req struct {
		Stages []insight.Stage `json:"stages"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode body as JSON: "+err.Error())
		return
	}
	if len(req.Stages) == 0 {
		writeError(w, http.StatusBadRequest, `invalid field "stages": at least one stage is needed`)
		return
	}
	if err := insight.ValidateStages("stages", req.Stages); err != nil {
		writeBad(w, err)
		return
	}
	raw, _ := json.Marshal(req.Stages)
	if err := s.Meta.SetSetting(r.Context(), p.ID, "journey", raw); err != nil {
		writeError(w, http.StatusInternalServerError, "cannot store journey stages")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stages": req.Stages})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"status": "ready"}
	if s.LoaderLag != nil {
		body["loader_lag"] = s.LoaderLag()
	}
	if s.Ready != nil {
		if ok, why := s.Ready(); !ok {
			body["status"], body["reason"] = "not ready", why
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
	}
	writeJSON(w, http.StatusOK, body)
}
