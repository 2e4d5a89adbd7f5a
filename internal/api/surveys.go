package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/voc"
	"github.com/journey-dev/journey/internal/websdk"
)

// Surveys (SPEC §7, package voc) over the secret-key API
// (/api/v1/surveys) and the UI (/ui/api/projects/{pid}/surveys: viewers
// read, members change), and the public list posthog-js asks for with the
// project token (GET /api/surveys/?token=…), in PostHog's shape. Answers
// to a survey are `survey sent` events; /results summarises them.
func (s *Server) registerSurveys(mux *routeMux) {
	viewer, member := meta.RoleViewer, meta.RoleMember
	routes := []projectRoute{
		{"GET", "/surveys", viewer, s.listSurveys},
		{"POST", "/surveys", member, s.createSurvey},
		{"GET", "/surveys/{id}", viewer, s.getSurvey},
		{"PATCH", "/surveys/{id}", member, s.patchSurvey},
		{"DELETE", "/surveys/{id}", member, s.deleteSurvey},
		{"GET", "/surveys/{id}/results", viewer, s.surveyResults},
	}
	s.handleProjectRoutes(mux, routes)
	for _, path := range []string{"/api/surveys", "/api/surveys/{$}"} {
		mux.HandleFunc(path, s.publicSurveys)
	}
}

// writeSurveyError answers a refused body (400 naming its field), a
// conflict (409), a missing survey (404) or a store error.
func writeSurveyError(w http.ResponseWriter, err error) {
	var bad *insight.Error
	var me *meta.FieldError
	switch {
	case errors.As(err, &bad):
		writeBad(w, err)
	case errors.As(err, &me) && errors.Is(err, meta.ErrConflict):
		conflict(w, me.Field, me.Error(), nil)
	case errors.As(err, &me) && errors.Is(err, meta.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": me.Error(), "field": me.Field})
	case errors.Is(err, meta.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such survey in this project")
	default:
		metaError(w, "survey", err)
	}
}

func readSurveyBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, voc.MaxSurveyBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", voc.MaxSurveyBody))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	return body, true
}

// checkSurvey refuses a cohort the project does not have.
func (s *Server) checkSurvey(ctx context.Context, p meta.Project, sv *voc.Survey) error {
	if sv.Conditions == nil || sv.Conditions.Cohort == 0 {
		return nil
	}
	if _, err := s.Meta.Cohort(ctx, p.ID, sv.Conditions.Cohort); errors.Is(err, meta.ErrNotFound) {
		return insight.Bad("conditions.cohort", "no cohort %d in this project", sv.Conditions.Cohort)
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Server) createSurvey(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	body, ok := readSurveyBody(w, r)
	if !ok {
		return
	}
	sv, err := voc.ParseSurvey(body)
	if err == nil {
		err = sv.ApplyStatus(nil, time.Now())
	}
	if err == nil {
		err = s.checkSurvey(r.Context(), p, sv)
	}
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	rec, err := sv.Record(p.ID, userID)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	created, err := s.Meta.CreateSurvey(r.Context(), rec)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	if err := s.syncTargetingFlag(r.Context(), p, created.ID, sv, userID); err != nil {
		slog.Error("cannot store a survey's targeting flag", "survey", created.ID, "err", err)
	}
	s.answerSurvey(w, http.StatusCreated, created)
}

func (s *Server) answerSurvey(w http.ResponseWriter, status int, rec meta.Survey) {
	v, err := voc.NewView(rec, time.Now())
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	if v.ResponsesLimit != nil {
		counts, err := s.surveyCounts(context.Background(), rec.ProjectID, []voc.View{v})
		if err != nil {
			slog.Warn("cannot count a survey's responses", "survey", rec.ID, "err", err)
		}
		v.ApplyCount(counts[rec.ID])
	}
	writeJSON(w, status, v)
}

// surveyCounts counts the responses of the surveys that have a
// responses_limit (by id; the others are absent).
func (s *Server) surveyCounts(ctx context.Context, projectID int64, views []voc.View) (map[int64]int64, error) {
	out := map[int64]int64{}
	var ids []string
	for _, v := range views {
		if v.ResponsesLimit != nil && len(ids) < store.MaxSurveyCount {
			ids = append(ids, strconv.FormatInt(v.ID, 10))
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	counts, err := s.Events.SurveyResponseCounts(ctx, projectID, ids)
	if err != nil {
		return out, err
	}
	for id, n := range counts {
		if i, err := strconv.ParseInt(id, 10, 64); err == nil {
			out[i] = n
		}
	}
	return out, nil
}

func (s *Server) listSurveys(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", meta.SurveyDraft, meta.SurveyRunning, meta.SurveyStopped, voc.SurveyCompleted:
	default:
		writeBad(w, insight.Bad("status", "unknown status %q (draft, running, stopped, completed)", status))
		return
	}
	list, err := s.Meta.Surveys(r.Context(), p.ID, "")
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	now := time.Now()
	views := make([]voc.View, 0, len(list))
	for _, rec := range list {
		v, err := voc.NewView(rec, now)
		if err != nil {
			slog.Warn("survey not listed", "survey", rec.ID, "err", err)
			continue
		}
		views = append(views, v)
	}
	counts, err := s.surveyCounts(r.Context(), p.ID, views)
	if err != nil {
		slog.Warn("cannot count survey responses", "project", p.ID, "err", err)
	}
	out := make([]voc.View, 0, len(views))
	for _, v := range views {
		v.ApplyCount(counts[v.ID])
		// By the status the dates (and the responses limit) give now: a
		// running survey whose end date has passed lists as stopped.
		if status == "" || v.Status == status {
			out = append(out, v)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"surveys": out})
}

func (s *Server) loadSurvey(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.Survey, bool) {
	id, ok := pathID(w, r, "survey")
	if !ok {
		return meta.Survey{}, false
	}
	rec, err := s.Meta.Survey(r.Context(), p.ID, id)
	if err != nil {
		writeSurveyError(w, err)
		return meta.Survey{}, false
	}
	return rec, true
}

func (s *Server) getSurvey(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	if rec, ok := s.loadSurvey(w, r, p); ok {
		s.answerSurvey(w, http.StatusOK, rec)
	}
}

// patchSurvey replaces the top-level fields the body names ({"end_date":
// "…"}, {"status": "stopped"}, {"questions": […]}), null removing one,
// validates the result whole and stores it with the version it read. The
// stored status is not re-applied: the dates say it, unless the body asks
// for one.
func (s *Server) patchSurvey(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	rec, ok := s.loadSurvey(w, r, p)
	if !ok {
		return
	}
	body, ok := readSurveyBody(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		writeBad(w, insight.Bad("body", "want a JSON object of the fields to change"))
		return
	}
	old, err := voc.FromRecord(rec)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	merged, err := mergeSurvey(old, patch)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	sv, err := voc.ParseSurvey(merged)
	if err == nil {
		err = sv.ApplyStatus(old.StartDate, time.Now())
	}
	if err == nil {
		err = s.checkSurvey(r.Context(), p, sv)
	}
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	next, err := sv.Record(p.ID, userID)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	next.ID, next.CreatedBy = rec.ID, rec.CreatedBy
	updated, err := s.Meta.UpdateSurvey(r.Context(), next, rec.Version)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	if err := s.syncTargetingFlag(r.Context(), p, rec.ID, sv, userID); err != nil {
		slog.Error("cannot store a survey's targeting flag", "survey", rec.ID, "err", err)
	}
	s.answerSurvey(w, http.StatusOK, updated)
}

// mergeSurvey is the stored survey with the patch's fields over it.
func mergeSurvey(old *voc.Survey, patch map[string]json.RawMessage) ([]byte, error) {
	base, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(base, &fields); err != nil {
		return nil, err
	}
	delete(fields, "status")
	for k, v := range patch {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	return json.Marshal(fields)
}

func (s *Server) deleteSurvey(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	id, ok := pathID(w, r, "survey")
	if !ok {
		return
	}
	if err := s.Meta.DeleteSurvey(r.Context(), p.ID, id, userID); err != nil {
		writeSurveyError(w, err)
		return
	}
	if err := s.syncTargetingFlag(r.Context(), p, id, nil, userID); err != nil {
		slog.Error("cannot delete a survey's targeting flag", "survey", id, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// syncTargetingFlag keeps the flag that carries a survey's cohort
// targeting (voc.TargetingFlagKey): posthog-js shows the survey only to
// visitors for whom /flags says it is on, which Journey's flag evaluation
// answers from the cohort. A survey without a cohort (or deleted, sv nil)
// has none.
func (s *Server) syncTargetingFlag(ctx context.Context, p meta.Project, surveyID int64, sv *voc.Survey, userID int64) error {
	key := voc.TargetingFlagKey(surveyID)
	existing, found, err := s.flagByKey(ctx, p.ID, key)
	if err != nil {
		return err
	}
	if sv == nil || sv.Conditions == nil || sv.Conditions.Cohort == 0 {
		if !found {
			return nil
		}
		return s.Meta.DeleteFlag(ctx, p.ID, existing.ID, userID)
	}
	body, _ := json.Marshal(map[string]any{"key": key, "name": fmt.Sprintf("Targeting of survey %d (%s)", surveyID, sv.Name), "active": true,
		"filters": map[string]any{"groups": []any{map[string]any{"rollout_percentage": 100,
			"properties": []any{map[string]any{"key": "id", "type": "cohort", "value": sv.Conditions.Cohort}}}}}})
	f, err := DecodeFlagBody(body)
	if err != nil {
		return err
	}
	m := meta.Flag{ProjectID: p.ID, Key: key, Name: f.Name, Active: true, Definition: flagserve.Definition(f), CreatedBy: userID, UpdatedBy: userID}
	if !found {
		_, err = s.Meta.CreateFlag(ctx, m)
		return err
	}
	m.ID = existing.ID
	_, err = s.Meta.UpdateFlag(ctx, m, 0)
	return err
}

// Results: the default range is the survey's start (its creation for a
// draft) to now; at most maxResultPeriods periods.
const maxResultPeriods = 400

// surveyResults summarises the survey's responses:
// ?date_from=&date_to= (RFC 3339 or YYYY-MM-DD in the project's time
// zone), ?interval=day|week|month, ?breakdown=<person property>.
func (s *Server) surveyResults(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	rec, ok := s.loadSurvey(w, r, p)
	if !ok {
		return
	}
	sv, err := voc.FromRecord(rec)
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	o, err := resultsOptions(r, rec, projectTZ(p))
	if err != nil {
		writeBad(w, err)
		return
	}
	timeout := s.queryTimeout()
	ctx, cancel := context.WithTimeout(insight.WithMemoryCap(r.Context(), s.QueryMemory), timeout)
	defer cancel()
	if o.Breakdown == voc.BreakdownCohort {
		if o.Cohorts, err = s.segmentCohorts(ctx, p, r.URL.Query().Get("cohort")); err != nil {
			if errors.Is(err, meta.ErrNotFound) {
				err = insight.Bad("cohort", "no such cohort in this project")
			}
			specError(w, store.AsMemoryError(ctx, err))
			return
		}
	}
	rows, err := s.Events.SurveyResponses(ctx, p.ID, sv.Query(rec.ID, o))
	if err != nil && ctx.Err() != nil {
		err = &timeoutError{timeout}
	}
	if err != nil {
		specError(w, store.AsMemoryError(ctx, err))
		return
	}
	res, err := sv.Summarise(rec.ID, rows, o)
	if err != nil {
		writeBad(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// segmentCohorts reads the cohorts of ?cohort=1,2 (at most
// voc.MaxCohortSegments) and their members now.
func (s *Server) segmentCohorts(ctx context.Context, p meta.Project, list string) ([]voc.CohortSegment, error) {
	var out []voc.CohortSegment
	for _, f := range strings.Split(list, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || id <= 0 {
			return nil, insight.Bad("cohort", "want cohort ids separated by commas")
		}
		if len(out) == voc.MaxCohortSegments {
			return nil, insight.Bad("cohort", "at most %d cohorts", voc.MaxCohortSegments)
		}
		c, err := s.Meta.Cohort(ctx, p.ID, id)
		if err != nil {
			return nil, err
		}
		def, err := campaign.CohortDef(ctx, s.Meta, p.ID, id)
		if err != nil {
			return nil, err
		}
		members, err := voc.CohortMembers(ctx, s.Events, p.ID, def, time.Now())
		if err != nil {
			return nil, err
		}
		name := c.Name
		for _, o := range out {
			if o.Name == name { // two cohorts of one name stay two segments
				name = fmt.Sprintf("%s (%d)", c.Name, id)
			}
		}
		out = append(out, voc.CohortSegment{ID: id, Name: name, Members: members})
	}
	return out, nil
}

func resultsOptions(r *http.Request, rec meta.Survey, tz *time.Location) (voc.ResultsOptions, error) {
	q := r.URL.Query()
	now := time.Now()
	o := voc.ResultsOptions{From: rec.CreatedAt, To: now.Add(time.Second), Interval: q.Get("interval"), Breakdown: q.Get("breakdown"), TZ: tz}
	// ?breakdown_type=channel|cohort (with ?cohort=) or person (the default,
	// with ?breakdown=<person property>).
	switch bt := q.Get("breakdown_type"); bt {
	case "", "person":
	case "channel":
		o.Breakdown = voc.BreakdownChannel
	case "cohort":
		o.Breakdown = voc.BreakdownCohort
	default:
		return o, insight.Bad("breakdown_type", "want person, channel or cohort")
	}
	if o.Breakdown == voc.BreakdownCohort && q.Get("cohort") == "" {
		return o, insight.Bad("cohort", "a cohort breakdown needs ?cohort=<ids>")
	}
	if !rec.StartDate.IsZero() && rec.StartDate.Before(o.From) {
		o.From = rec.StartDate
	}
	for _, d := range []struct {
		name string
		to   *time.Time
	}{{"date_from", &o.From}, {"date_to", &o.To}} {
		v := q.Get(d.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			if t, err = time.ParseInLocation(time.DateOnly, v, tz); err != nil {
				return o, insight.Bad(d.name, "want RFC 3339 or YYYY-MM-DD")
			}
		}
		*d.to = t
	}
	if !o.To.After(o.From) {
		return o, insight.Bad("date_to", "not after date_from")
	}
	switch o.Interval {
	case "", "day", "week", "month":
	default:
		return o, insight.Bad("interval", "want day, week or month")
	}
	if o.Interval != "" {
		o.From = insight.Truncate(o.From.In(tz), o.Interval)
		if n := len(insight.Buckets(o.From, o.To, tz, o.Interval)); n > maxResultPeriods {
			return o, insight.Bad("interval", "%d periods: at most %d (a longer interval or a shorter range)", n, maxResultPeriods)
		}
	}
	if len(o.Breakdown) > 200 || strings.ContainsRune(o.Breakdown, 0) {
		return o, insight.Bad("breakdown", "a person property name of at most 200 bytes")
	}
	return o, nil
}

// surveysCache: posthog-js keeps the list 5 minutes itself; browsers and
// proxies may keep it a minute, as the remote config.
const surveysCache = "public, max-age=60"

// publicSurveys is GET /api/surveys/?token=…: the project's active
// surveys as posthog-js reads them ({"surveys": […], "survey_config":
// null}), with CORS for any site, an ETag and a 304 on If-None-Match.
func (s *Server) publicSurveys(w http.ResponseWriter, r *http.Request) {
	websdk.SetCORS(w.Header(), r)
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 200 {
		writeError(w, http.StatusUnauthorized, "project token required (?token=)")
		return
	}
	p, err := s.Meta.ProjectByToken(r.Context(), token)
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unknown project token")
		return
	}
	if err != nil {
		metaError(w, "project", err)
		return
	}
	list, err := s.Meta.ActiveSurveys(r.Context(), p.ID, time.Now())
	if err != nil {
		metaError(w, "survey", err)
		return
	}
	views := make([]voc.View, 0, len(list))
	byID := map[int64]voc.View{}
	for _, rec := range list {
		if v, err := voc.NewView(rec, time.Now()); err == nil {
			views = append(views, v)
			byID[v.ID] = v
		}
	}
	// A survey that has reached its responses_limit is not served; when
	// the counts cannot be read, limited surveys are held back rather than
	// over-served.
	counts, countErr := s.publicSurveyCounts(r.Context(), p.ID, views)
	if countErr != nil {
		slog.Warn("cannot count survey responses", "project", p.ID, "err", countErr)
	}
	out := make([]voc.Public, 0, len(list))
	for _, rec := range list {
		if v, ok := byID[rec.ID]; ok && v.ResponsesLimit != nil && (countErr != nil || v.LimitReached(counts[rec.ID])) {
			continue
		}
		ps, err := voc.PublicSurvey(rec)
		if err != nil {
			slog.Warn("survey not served", "survey", rec.ID, "err", err)
			continue
		}
		out = append(out, ps)
	}
	body, err := json.Marshal(map[string]any{"surveys": out, "survey_config": nil})
	if err != nil {
		writeSurveyError(w, err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := w.Header()
	h.Set("Cache-Control", surveysCache)
	h.Set("ETag", etag)
	h.Set("Vary", "Origin")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
