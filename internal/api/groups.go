package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// maxGroupSearchBytes bounds ?search= (a substring of group keys).
const maxGroupSearchBytes = 1000

// registerGroups mounts the groups (issue 17 item 2), PostHog's shapes:
// /api/v1 and its UI twin, viewers and any key that reads, as persons.
// Group types are the project's mapping of indexes to names that flags
// use (PUT /api/v1/flags/group_types); groups themselves are what
// $groupidentify calls stored.
func (s *Server) registerGroups(mux *routeMux) {
	s.handleReadRoutes(mux, map[string]uiHandler{
		"/groups":                    s.listGroups,
		"/groups/types":              s.groupTypes,
		"/groups/{type_index}/{key}": s.group,
	})
}

type groupOut struct {
	GroupTypeIndex  int            `json:"group_type_index"`
	GroupKey        string         `json:"group_key"`
	GroupProperties map[string]any `json:"group_properties"`
	CreatedAt       time.Time      `json:"created_at"`
}

type groupTypeOut struct {
	GroupTypeIndex int    `json:"group_type_index"`
	GroupType      string `json:"group_type"`
}

// projectGroupTypes reads the project's mapping (none set: empty). A
// mapping that no longer parses answers 500: PUT validates it.
func (s *Server) projectGroupTypes(w http.ResponseWriter, r *http.Request, p meta.Project) (map[int]string, bool) {
	raw, err := s.Meta.Setting(r.Context(), p.ID, flagserve.SettingGroupTypes)
	if errors.Is(err, meta.ErrNotFound) {
		return map[int]string{}, true
	}
	if err != nil {
		metaError(w, "group types", err)
		return nil, false
	}
	m, err := flagserve.ParseGroupTypes(raw)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot read group types: %v", err))
		return nil, false
	}
	return m, true
}

func (s *Server) groupTypes(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	m, ok := s.projectGroupTypes(w, r, p)
	if !ok {
		return
	}
	out := make([]groupTypeOut, 0, len(m))
	for i, name := range m {
		out = append(out, groupTypeOut{i, name})
	}
	slices.SortFunc(out, func(a, b groupTypeOut) int { return a.GroupTypeIndex - b.GroupTypeIndex })
	writeJSON(w, http.StatusOK, out)
}

// groupType resolves a type index (of the query or the path) to its name,
// answering 400 with the field for one that is bad or not mapped.
func (s *Server) groupType(w http.ResponseWriter, r *http.Request, p meta.Project, field, v string) (int, string, bool) {
	if v == "" {
		fieldError(w, field, "required: a group type index (GET /api/v1/groups/types)")
		return 0, "", false
	}
	i, err := queryInt(v, 0, 0, flags.MaxGroupTypeIndex)
	if err != nil {
		fieldError(w, field, err.Error())
		return 0, "", false
	}
	m, ok := s.projectGroupTypes(w, r, p)
	if !ok {
		return 0, "", false
	}
	name, ok := m[i]
	if !ok {
		fieldError(w, field, fmt.Sprintf("no group type %d in this project (GET /api/v1/groups/types)", i))
		return 0, "", false
	}
	return i, name, true
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	q := r.URL.Query()
	search := q.Get("search")
	if !storable(search) || len(search) > maxGroupSearchBytes {
		fieldError(w, "search", fmt.Sprintf("UTF-8 text of at most %d bytes", maxGroupSearchBytes))
		return
	}
	limit, err := queryInt(q.Get("limit"), 100, 1, store.MaxGroupsPage)
	if err != nil {
		fieldError(w, "limit", err.Error())
		return
	}
	offset, err := queryInt(q.Get("offset"), 0, 0, 1<<30)
	if err != nil {
		fieldError(w, "offset", err.Error())
		return
	}
	index, typ, ok := s.groupType(w, r, p, "group_type_index", q.Get("group_type_index"))
	if !ok {
		return
	}
	// One more than the page says whether there is a next one.
	found, err := s.Events.ListGroups(r.Context(), p.ID, store.GroupQuery{Type: typ, Search: search, Limit: limit + 1, Offset: offset})
	if err != nil {
		storeError(w, err)
		return
	}
	out := map[string]any{}
	if len(found) > limit {
		found = found[:limit]
		nq := r.URL.Query()
		nq.Set("offset", strconv.Itoa(offset+limit))
		nq.Set("limit", strconv.Itoa(limit))
		out["next"] = r.URL.Path + "?" + nq.Encode()
	}
	results := make([]groupOut, len(found))
	for i, g := range found {
		results[i] = groupOut{index, g.Key, g.Properties, g.CreatedAt}
	}
	out["results"] = results
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) group(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	index, typ, ok := s.groupType(w, r, p, "type_index", r.PathValue("type_index"))
	if !ok {
		return
	}
	key := r.PathValue("key")
	if !storable(key) {
		fieldError(w, "key", "UTF-8 text")
		return
	}
	found, err := s.Events.ListGroups(r.Context(), p.ID, store.GroupQuery{Type: typ, Key: key, Limit: 1})
	if err != nil {
		storeError(w, err)
		return
	}
	if len(found) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no group %q of type %q in this project", key, typ))
		return
	}
	g := found[0]
	writeJSON(w, http.StatusOK, groupOut{index, g.Key, g.Properties, g.CreatedAt})
}
