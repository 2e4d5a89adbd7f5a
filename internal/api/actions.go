package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Actions (PostHog's named event matchers) over the secret-key API:
// /api/v1/actions, in the style of the cohorts'.
func (s *Server) registerActions(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/actions", s.withProject(s.listActions))
	mux.HandleFunc("POST /api/v1/actions", s.withProject(s.createAction))
	mux.HandleFunc("GET /api/v1/actions/{id}", s.withProject(s.getAction))
	mux.HandleFunc("PUT /api/v1/actions/{id}", s.withProject(s.updateAction))
	mux.HandleFunc("DELETE /api/v1/actions/{id}", s.withProject(s.deleteAction))
}

// actionBody is what creating or updating an action takes.
type actionBody struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Steps       []insight.ActionStep `json:"steps"`
}

// maxActionName bounds names and descriptions.
const maxActionName = 400

// decodeAction reads and validates an action body into a for project p;
// it returns the *insight.Error or decoding error that makes it a 400.
func decodeAction(r *http.Request, p meta.Project) (meta.Action, error) {
	var b actionBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return meta.Action{}, insight.Bad("body", "cannot decode body as JSON: %v", err)
	}
	b.Name = strings.TrimSpace(b.Name)
	switch {
	case b.Name == "":
		return meta.Action{}, insight.Bad("name", "missing")
	case len(b.Name) > maxActionName || !storable(b.Name):
		return meta.Action{}, insight.Bad("name", "at most %d bytes of text", maxActionName)
	case len(b.Description) > 10*maxActionName || !storable(b.Description):
		return meta.Action{}, insight.Bad("description", "at most %d bytes of text", 10*maxActionName)
	}
	if err := insight.ValidateSteps("steps", b.Steps); err != nil {
		return meta.Action{}, err
	}
	for _, st := range b.Steps {
		if !storable(st.Event) || !storable(st.Text) || !storable(st.Href) || !storable(st.URL) || !storable(st.Selector) {
			return meta.Action{}, insight.Bad("steps", "text must be UTF-8 without NUL bytes")
		}
	}
	steps, err := json.Marshal(b.Steps) // with the defaults validation filled in
	if err != nil {
		return meta.Action{}, insight.Bad("steps", "cannot encode: %v", err)
	}
	return meta.Action{ProjectID: p.ID, Name: b.Name, Description: b.Description, Steps: steps}, nil
}

// writeActionError answers a bad body (400) or a store error.
func writeActionError(w http.ResponseWriter, err error) {
	var e *insight.Error
	if errors.As(err, &e) {
		writeBad(w, err)
		return
	}
	writeError(w, http.StatusInternalServerError, "cannot store action")
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request, p meta.Project) {
	list, err := s.Meta.Actions(r.Context(), p.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot list actions")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) createAction(w http.ResponseWriter, r *http.Request, p meta.Project) {
	a, err := decodeAction(r, p)
	if err != nil {
		writeActionError(w, err)
		return
	}
	a, err = s.Meta.CreateAction(r.Context(), a)
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := pathID(w, r, "action")
	if !ok {
		return
	}
	a, err := s.Meta.Action(r.Context(), p.ID, id)
	if s.notFound(w, err, "action") {
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) updateAction(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := pathID(w, r, "action")
	if !ok {
		return
	}
	a, err := decodeAction(r, p)
	if err != nil {
		writeActionError(w, err)
		return
	}
	a.ID = id
	a, err = s.Meta.UpdateAction(r.Context(), a)
	if s.notFound(w, err, "action") {
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) deleteAction(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, ok := pathID(w, r, "action")
	if !ok {
		return
	}
	if s.notFound(w, s.Meta.DeleteAction(r.Context(), p.ID, id), "action") {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// resolveActions fills in the stored definition of every action the spec
// names by id (as prepare does cohorts), then validates the spec again so
// resolved steps are checked and labels default to the actions' names.
func (s *Server) resolveActions(ctx context.Context, projectID int64, spec insight.Spec) error {
	refs := insight.Actions(spec)
	if len(refs) == 0 {
		return nil
	}
	defs := map[int64]insight.ActionDef{}
	for _, ref := range refs {
		a := ref.Action
		if a.Resolved() {
			continue
		}
		def, ok := defs[a.ID]
		if !ok {
			var err error
			if def, err = s.actionDef(ctx, projectID, a.ID, ref.Field); err != nil {
				return err
			}
			defs[a.ID] = def
		}
		*a = def
	}
	return spec.Validate()
}

// actionDef reads a stored action as a query's definition.
func (s *Server) actionDef(ctx context.Context, projectID, id int64, field string) (insight.ActionDef, error) {
	stored, err := s.Meta.Action(ctx, projectID, id)
	if errors.Is(err, meta.ErrNotFound) {
		return insight.ActionDef{}, insight.Bad(field, "no action %d in this project", id)
	}
	if err != nil {
		return insight.ActionDef{}, fmt.Errorf("cannot read action %d: %w", id, err)
	}
	def := insight.ActionDef{ID: id, Name: stored.Name}
	if err := json.Unmarshal(stored.Steps, &def.Steps); err != nil {
		return insight.ActionDef{}, fmt.Errorf("cannot decode action %d: %w", id, err)
	}
	if len(def.Steps) == 0 {
		return insight.ActionDef{}, insight.Bad(field, "action %d has no steps", id)
	}
	return def, nil
}

// registerUIActions mounts the web UI's action routes (web/API.md):
// viewers list them and recent clicks, members change them.
func (s *Server) registerUIActions(mux *routeMux) {
	const p = "/ui/api/projects/{pid}"
	viewer, member := meta.RoleViewer, meta.RoleMember
	mux.HandleFunc("GET "+p+"/actions", s.withUIProject(viewer, func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.listActions(w, r, pr) }))
	mux.HandleFunc("POST "+p+"/actions", s.withUIProject(member, func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.createAction(w, r, pr) }))
	mux.HandleFunc("GET "+p+"/actions/{id}", s.withUIProject(viewer, func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.getAction(w, r, pr) }))
	mux.HandleFunc("PUT "+p+"/actions/{id}", s.withUIProject(member, func(w http.ResponseWriter, r *http.Request, _ *uiUser, pr meta.Project) { s.updateAction(w, r, pr) }))
	mux.HandleFunc("DELETE "+p+"/actions/{id}", s.withUIProject(member, deleter("action", s.Meta.DeleteAction)))
	mux.HandleFunc("GET "+p+"/recent-clicks", s.withUIProject(viewer, s.recentClicks))
}

// recentClickSample is how many recent $autocapture events the UI's
// "define from a click" list reads (distinct ones are kept).
const recentClickSample = 200

// clickProps are the properties a recent click carries to the UI.
var clickProps = []string{"$elements_chain", "$elements", "$current_url", "$event_type", "$pathname"}

// recentClicks lists the project's latest distinct autocaptured clicks
// (element chain and page), newest first, read through the Explorer.
func (s *Server) recentClicks(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	raw, err := s.Events.SampleProperties(r.Context(), p.ID, "$autocapture", false, recentClickSample)
	if err != nil {
		storeError(w, err)
		return
	}
	out := []map[string]any{}
	seen := map[string]bool{}
	for _, js := range raw {
		var m map[string]any
		if json.Unmarshal([]byte(js), &m) != nil {
			continue
		}
		click := map[string]any{}
		for _, k := range clickProps {
			if v, ok := m[k]; ok {
				click[k] = v
			}
		}
		key, _ := json.Marshal(click)
		if len(click) == 0 || seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		out = append(out, click)
		if len(out) == 50 {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}
