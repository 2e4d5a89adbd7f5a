package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/privacy"
	"github.com/journey-dev/journey/internal/store"
)

// Privacy (issue 17 item 1): a person's deletion as a job with a status
// endpoint, the export of everything stored about a person, and the
// project's data retention. By secret key under /api/v1, and for project
// admins under /ui/api/projects/{pid}. The job itself runs in the process
// that loads events (internal/privacy).

// maxDistinctIDParam bounds ?distinct_id= (capture stores at most 200
// bytes of one; the margin keeps odd clients' ids findable).
const maxDistinctIDParam = 1000

func (s *Server) registerPrivacy(mux *routeMux) {
	key := func(h func(http.ResponseWriter, *http.Request, meta.Project, string)) http.HandlerFunc {
		return s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) { h(w, r, p, "key") })
	}
	admin := func(h func(http.ResponseWriter, *http.Request, meta.Project, string)) http.HandlerFunc {
		return s.withUIProject(meta.RoleAdmin, func(w http.ResponseWriter, r *http.Request, u *uiUser, p meta.Project) {
			h(w, r, p, fmt.Sprintf("user:%d", u.ID))
		})
	}
	for prefix, wrap := range map[string]func(func(http.ResponseWriter, *http.Request, meta.Project, string)) http.HandlerFunc{
		"/api/v1": key, "/ui/api/projects/{pid}": admin,
	} {
		mux.HandleFunc("DELETE "+prefix+"/persons/{id}", wrap(s.deletePerson))
		mux.HandleFunc("DELETE "+prefix+"/persons", wrap(s.deletePerson))
		mux.HandleFunc("GET "+prefix+"/deletions/{job}", wrap(s.deletionStatus))
		mux.HandleFunc("GET "+prefix+"/settings/retention", wrap(s.getRetention))
		mux.HandleFunc("PUT "+prefix+"/settings/retention", wrap(s.putRetention))
	}
	// {part}, not export: /api/v1/persons/by-distinct-id/{id} would
	// conflict with /api/v1/persons/{id}/export (neither is more specific).
	mux.HandleFunc("GET /api/v1/persons/{id}/{part}", key(s.personPart))
	mux.HandleFunc("GET /ui/api/projects/{pid}/persons/{id}/export", admin(s.exportPerson))
}

func writeField(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "field": field})
}

// privacyStore is the event store's store.Privacy (both stores have one).
func (s *Server) privacyStore(w http.ResponseWriter) (store.Privacy, bool) {
	ps, ok := s.Events.(store.Privacy)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this event store cannot delete or export persons")
	}
	return ps, ok
}

// subject resolves the person of the path's {id}, or of ?distinct_id=
// when the path has none; it answers 400 or 404 itself.
func (s *Server) subject(w http.ResponseWriter, r *http.Request, p meta.Project) (store.Subject, string, bool) {
	ps, ok := s.privacyStore(w)
	if !ok {
		return store.Subject{}, "", false
	}
	var id int64
	did := ""
	if raw := r.PathValue("id"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no person %q in this project", raw))
			return store.Subject{}, "", false
		}
		id = n
	} else {
		did = r.URL.Query().Get("distinct_id")
		switch {
		case did == "":
			writeField(w, http.StatusBadRequest, "distinct_id", `invalid parameter "distinct_id": name the person by /persons/{id} or ?distinct_id=`)
			return store.Subject{}, "", false
		case len(did) > maxDistinctIDParam || !storable(did):
			writeField(w, http.StatusBadRequest, "distinct_id", fmt.Sprintf(`invalid parameter "distinct_id": at most %d bytes of UTF-8 text`, maxDistinctIDParam))
			return store.Subject{}, "", false
		}
	}
	sub, err := ps.ResolveSubject(r.Context(), p.ID, id, did)
	if errors.Is(err, store.ErrNotFound) {
		if did != "" {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no person with distinct id %q in this project", did))
		} else {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no person %d in this project", id))
		}
		return store.Subject{}, "", false
	}
	if err != nil {
		storeError(w, err)
		return store.Subject{}, "", false
	}
	return sub, did, true
}

// deletionView is a job as the API shows it, with where to poll.
type deletionView struct {
	meta.DeletionJob
	URL string `json:"url"`
}

func viewDeletion(r *http.Request, j meta.DeletionJob) deletionView {
	base := "/api/v1"
	if pid := r.PathValue("pid"); pid != "" {
		base = "/ui/api/projects/" + pid
	}
	return deletionView{j, fmt.Sprintf("%s/deletions/%d", base, j.ID)}
}

// deletePerson queues a deletion job: 202 with the job, whose status
// endpoint says when it is done.
func (s *Server) deletePerson(w http.ResponseWriter, r *http.Request, p meta.Project, by string) {
	sub, did, ok := s.subject(w, r, p)
	if !ok {
		return
	}
	j, err := s.Meta.CreateDeletion(r.Context(), meta.DeletionJob{ProjectID: p.ID, PersonID: sub.PersonID, DistinctID: did, RequestedBy: by})
	if err != nil {
		metaError(w, "deletion", err)
		return
	}
	slog.Info("person deletion queued", "project", p.ID, "job", j.ID, "person", sub.PersonID, "by", by)
	v := viewDeletion(r, j)
	w.Header().Set("Location", v.URL)
	writeJSON(w, http.StatusAccepted, v)
}

func (s *Server) deletionStatus(w http.ResponseWriter, r *http.Request, p meta.Project, _ string) {
	id, err := strconv.ParseInt(r.PathValue("job"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such deletion")
		return
	}
	j, err := s.Meta.Deletion(r.Context(), p.ID, id)
	if err != nil {
		metaError(w, "deletion", err)
		return
	}
	writeJSON(w, http.StatusOK, viewDeletion(r, j))
}

func (s *Server) personPart(w http.ResponseWriter, r *http.Request, p meta.Project, by string) {
	if r.PathValue("part") != "export" {
		writeError(w, http.StatusNotFound, "no such route")
		return
	}
	s.exportPerson(w, r, p, by)
}

// exportPerson streams everything stored about the person (privacy.Export).
func (s *Server) exportPerson(w http.ResponseWriter, r *http.Request, p meta.Project, _ string) {
	sub, _, ok := s.subject(w, r, p)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="person-%d.json"`, sub.PersonID))
	w.Header().Set("Cache-Control", "no-store")
	if err := privacy.Export(r.Context(), w, s.Events, s.Meta, &sub); err != nil {
		// The status is sent; a cut-short body is not valid JSON.
		slog.Error("cannot export person", "project", p.ID, "person", sub.PersonID, "err", err)
	}
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request, p meta.Project, _ string) {
	ret, err := meta.LoadRetention(r.Context(), s.Meta, p.ID)
	if err != nil {
		metaError(w, "retention", err)
		return
	}
	writeJSON(w, http.StatusOK, ret)
}

// putRetention sets retention_days (0 keeps events forever).
func (s *Server) putRetention(w http.ResponseWriter, r *http.Request, p meta.Project, by string) {
	ret, field, err := decodeRetention(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeField(w, http.StatusBadRequest, field, err.Error())
		return
	}
	raw, _ := json.Marshal(ret)
	if err := s.Meta.SetSetting(r.Context(), p.ID, meta.SettingRetention, raw); err != nil {
		metaError(w, "retention", err)
		return
	}
	slog.Info("retention set", "project", p.ID, "days", ret.Days, "by", by)
	writeJSON(w, http.StatusOK, ret)
}

// decodeRetention reads a retention body: one JSON object whose only
// field is retention_days, in range (unknown fields are refused, so a
// typo does not silently keep everything); on error it names the field.
func decodeRetention(body io.Reader) (meta.Retention, string, error) {
	var ret meta.Retention
	d := json.NewDecoder(body)
	d.DisallowUnknownFields()
	if err := d.Decode(&ret); err != nil {
		return ret, "body", fmt.Errorf("cannot decode body as JSON: %w", err)
	}
	if d.More() {
		return ret, "body", errors.New("cannot decode body as JSON: more than one value")
	}
	if err := ret.Validate(); err != nil {
		var fe *meta.FieldError
		errors.As(err, &fe)
		return ret, fe.Field, fmt.Errorf("invalid field %q: %s", fe.Field, fe.Msg)
	}
	return ret, "", nil
}
