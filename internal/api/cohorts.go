package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

func (s *Server) registerCohorts(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/cohorts", s.withProject(s.listCohorts))
	mux.HandleFunc("POST /api/v1/cohorts", s.withProject(s.createCohort))
	mux.HandleFunc("GET /api/v1/cohorts/{id}", s.withProject(s.getCohort))
	mux.HandleFunc("PUT /api/v1/cohorts/{id}", s.withProject(s.updateCohort))
	mux.HandleFunc("DELETE /api/v1/cohorts/{id}", s.withProject(s.deleteCohort))
}

type cohortBody struct {
	Name       string            `json:"name"`
	Definition insight.CohortDef `json:"definition"`
}

// decodeCohort reads and validates a cohort body; it answers the request
// itself when the body is bad.
func decodeCohort(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	var b cohortBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode body as JSON: "+err.Error())
		return "", nil, false
	}
	if strings.TrimSpace(b.Name) == "" {
		writeError(w, http.StatusBadRequest, `invalid field "name": missing`)
		return "", nil, false
	}
	if err := b.Definition.Validate("definition"); err != nil {
		writeBad(w, err)
		return "", nil, false
	}
	raw, _ := json.Marshal(b.Definition)
	return b.Name, raw, true
}

func cohortID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, `invalid cohort id "`+r.PathValue("id")+`"`)
		return 0, false
	}
	return id, true
}

func (s *Server) listCohorts(w http.ResponseWriter, r *http.Request, p meta.Project) {
	cs, err := s.Meta.Cohorts(r.Context(), p.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot list cohorts")
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *Server) createCohort(w http.ResponseWriter, r *http.Request, p meta.Project) {
	name, def, ok := decodeCohort(w, r)
	if !ok {
		return
	}
	c, err := s.Meta.CreateCohort(r.Context(), p.ID, name, def)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot create cohort")
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getCohort(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := cohortID(w, r)
	if !ok {
		return
	}
	c, err := s.Meta.Cohort(r.Context(), p.ID, id)
	if s.notFound(w, err, "cohort") {
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) updateCohort(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := cohortID(w, r)
	if !ok {
		return
	}
	name, def, ok := decodeCohort(w, r)
	if !ok {
		return
	}
	if s.notFound(w, s.Meta.UpdateCohort(r.Context(), p.ID, id, name, def), "cohort") {
		return
	}
	c, err := s.Meta.Cohort(r.Context(), p.ID, id)
	if s.notFound(w, err, "cohort") {
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteCohort(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := cohortID(w, r)
	if !ok {
		return
	}
	if s.notFound(w, s.Meta.DeleteCohort(r.Context(), p.ID, id), "cohort") {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// notFound answers 404 or 500 for err and reports whether it answered.
func (s *Server) notFound(w http.ResponseWriter, err error, what string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, meta.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such "+what+" in this project")
	default:
		writeError(w, http.StatusInternalServerError, "cannot access "+what)
	}
	return true
}
