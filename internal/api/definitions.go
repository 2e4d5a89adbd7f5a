package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// registerDefinitions mounts the event and property definitions the
// loader keeps at ingest (issue 17 item 6), PostHog's shapes: /api/v1 and
// its UI twin, viewers and any key alike.
func (s *Server) registerDefinitions(mux *routeMux) {
	s.handleReadRoutes(mux, map[string]uiHandler{
		"/event_definitions":    s.eventDefinitions,
		"/property_definitions": s.propertyDefinitions,
	})
}

// handleReadRoutes mounts read-only project routes under the UI prefix
// (viewers) and /api/v1 (any key that reads).
func (s *Server) handleReadRoutes(mux *routeMux, routes map[string]uiHandler) {
	for path, h := range routes {
		mux.HandleFunc("GET "+uiBase+path, s.withUIProject(meta.RoleViewer, h))
		mux.HandleFunc("GET "+apiBase+path, s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) {
			h(w, r, keyUser(r), p)
		}))
	}
}

// definitionOut is one result: property_type only for properties.
type definitionOut struct {
	Name         string    `json:"name"`
	Volume       int64     `json:"volume"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	PropertyType string    `json:"property_type,omitempty"`
}

// definitionsPage is the answer: a page of results, how many match in
// all, and how many names the project's cap dropped for this kind.
type definitionsPage struct {
	Results []definitionOut `json:"results"`
	Count   int             `json:"count"`
	Dropped int64           `json:"dropped"`
}

// definitionQuery reads ?search=&limit=&offset=, answering 400 (with the
// field) for a bad one.
func definitionQuery(w http.ResponseWriter, r *http.Request) (meta.DefinitionQuery, bool) {
	q := r.URL.Query()
	var out meta.DefinitionQuery
	out.Search = q.Get("search")
	if !storable(out.Search) || len(out.Search) > meta.MaxDefinitionNameBytes {
		fieldError(w, "search", fmt.Sprintf("UTF-8 text of at most %d bytes", meta.MaxDefinitionNameBytes))
		return out, false
	}
	var err error
	if out.Limit, err = queryInt(q.Get("limit"), 100, 1, meta.MaxDefinitionsListLength); err != nil {
		fieldError(w, "limit", err.Error())
		return out, false
	}
	if out.Offset, err = queryInt(q.Get("offset"), 0, 0, 1<<30); err != nil {
		fieldError(w, "offset", err.Error())
		return out, false
	}
	return out, true
}

func fieldError(w http.ResponseWriter, field, want string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("invalid field %q: %s", field, want), "field": field})
}

func (s *Server) eventDefinitions(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	q, ok := definitionQuery(w, r)
	if !ok {
		return
	}
	defs, n, err := s.Meta.EventDefinitions(r.Context(), p.ID, q)
	if err != nil {
		metaError(w, "definitions", err)
		return
	}
	dropped, err := s.Meta.DefinitionsDropped(r.Context(), p.ID)
	if err != nil {
		metaError(w, "definitions", err)
		return
	}
	out := definitionsPage{Results: make([]definitionOut, len(defs)), Count: n, Dropped: dropped[meta.DefinitionEvent]}
	for i, d := range defs {
		out.Results[i] = definitionOut{Name: d.Name, Volume: d.Volume, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen}
	}
	writeJSON(w, http.StatusOK, out)
}

// propertyKind reads ?type=event|person (event when absent).
func propertyKind(w http.ResponseWriter, r *http.Request) (kind, droppedKind string, ok bool) {
	switch r.URL.Query().Get("type") {
	case "", "event":
		return meta.PropertiesOfEvents, meta.DroppedEventProperties, true
	case "person":
		return meta.PropertiesOfPersons, meta.DroppedPersonProperties, true
	}
	fieldError(w, "type", "event or person")
	return "", "", false
}

func (s *Server) propertyDefinitions(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	kind, droppedKind, ok := propertyKind(w, r)
	if !ok {
		return
	}
	q, ok := definitionQuery(w, r)
	if !ok {
		return
	}
	defs, n, err := s.Meta.PropertyDefinitions(r.Context(), p.ID, kind, q)
	if err != nil {
		metaError(w, "definitions", err)
		return
	}
	dropped, err := s.Meta.DefinitionsDropped(r.Context(), p.ID)
	if err != nil {
		metaError(w, "definitions", err)
		return
	}
	out := definitionsPage{Results: make([]definitionOut, len(defs)), Count: n, Dropped: dropped[droppedKind]}
	for i, d := range defs {
		out.Results[i] = definitionOut{Name: d.Name, Volume: d.Volume, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, PropertyType: d.Type}
	}
	writeJSON(w, http.StatusOK, out)
}

// definedPropertyKeys answers the picker's property keys from the
// definitions, [{property, count, property_type}] most used first, when
// the project has any of the kind; ok is false to fall back to sampling.
// Definitions are per project, not per event, so a picker scoped to one
// event (?event=) still samples.
func (s *Server) definedPropertyKeys(r *http.Request, p meta.Project, limit int) ([]map[string]any, bool) {
	if r.URL.Query().Get("event") != "" {
		return nil, false
	}
	kind := meta.PropertiesOfEvents
	if r.URL.Query().Get("type") == "person" {
		kind = meta.PropertiesOfPersons
	}
	defs, _, err := s.Meta.PropertyDefinitions(r.Context(), p.ID, kind, meta.DefinitionQuery{Limit: limit})
	if err != nil {
		slog.Warn("cannot read property definitions; sampling", "err", err)
		return nil, false
	}
	if len(defs) == 0 {
		return nil, false
	}
	out := make([]map[string]any, len(defs))
	for i, d := range defs {
		out[i] = map[string]any{"property": d.Name, "count": d.Volume, "property_type": d.Type}
	}
	return out, true
}

// withDefinedEvents completes the picker's event names (counted over the
// asked range by the store) with the names the definitions know but the
// range did not have, at count 0, up to limit names in all.
func (s *Server) withDefinedEvents(r *http.Request, p meta.Project, out []map[string]any, limit int) []map[string]any {
	if len(out) >= limit {
		return out
	}
	defs, _, err := s.Meta.EventDefinitions(r.Context(), p.ID, meta.DefinitionQuery{Limit: meta.MaxDefinitionsListLength})
	if err != nil {
		slog.Warn("cannot read event definitions", "err", err)
		return out
	}
	seen := make(map[string]bool, len(out))
	for _, e := range out {
		seen[e["event"].(string)] = true
	}
	for _, d := range defs {
		if len(out) >= limit {
			break
		}
		if !seen[d.Name] {
			out = append(out, map[string]any{"event": d.Name, "count": 0})
		}
	}
	return out
}
