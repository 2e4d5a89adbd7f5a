package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
)

// Feature flags over the secret-key API (/api/v1/flags) and the UI
// (/ui/api/projects/{pid}/flags: viewers read, members change). Bodies
// are PostHog's flag JSON; answers are too, with id, version and who
// changed it when.
func (s *Server) registerFlags(mux *routeMux) {
	api := func(h flagHandler) http.HandlerFunc {
		return s.withProject(func(w http.ResponseWriter, r *http.Request, p meta.Project) { h(w, r, p, 0) })
	}
	mux.HandleFunc("GET /api/v1/flags", api(s.listFlags))
	mux.HandleFunc("POST /api/v1/flags", api(s.createFlag))
	mux.HandleFunc("GET /api/v1/flags/group_types", api(s.getGroupTypes))
	mux.HandleFunc("PUT /api/v1/flags/group_types", api(s.putGroupTypes))
	mux.HandleFunc("GET /api/v1/flags/{id}", api(s.getFlag))
	mux.HandleFunc("PATCH /api/v1/flags/{id}", api(s.patchFlag))
	mux.HandleFunc("DELETE /api/v1/flags/{id}", api(s.deleteFlag))
	mux.HandleFunc("GET /api/v1/flags/{id}/versions", api(s.flagVersions))

	const p = "/ui/api/projects/{pid}"
	ui := func(need string, h flagHandler) http.HandlerFunc {
		return s.withUIProject(need, func(w http.ResponseWriter, r *http.Request, u *uiUser, pr meta.Project) { h(w, r, pr, u.ID) })
	}
	viewer, member := meta.RoleViewer, meta.RoleMember
	mux.HandleFunc("GET "+p+"/flags", ui(viewer, s.listFlags))
	mux.HandleFunc("POST "+p+"/flags", ui(member, s.createFlag))
	mux.HandleFunc("GET "+p+"/flags/group_types", ui(viewer, s.getGroupTypes))
	mux.HandleFunc("PUT "+p+"/flags/group_types", ui(meta.RoleAdmin, s.putGroupTypes))
	mux.HandleFunc("GET "+p+"/flags/{id}", ui(viewer, s.getFlag))
	mux.HandleFunc("PATCH "+p+"/flags/{id}", ui(member, s.patchFlag))
	mux.HandleFunc("DELETE "+p+"/flags/{id}", ui(member, s.deleteFlag))
	mux.HandleFunc("GET "+p+"/flags/{id}/versions", ui(viewer, s.flagVersions))
}

// flagHandler serves one project's flags for a user (0: a secret key).
type flagHandler func(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64)

// maxFlagBody bounds a flag body (a flag is at most 1000 condition sets
// of 1000 properties in PostHog's limits, but real ones are a few KB).
const maxFlagBody = 1 << 20

// flagView is a flag as the API answers it: PostHog's flag JSON with its
// bookkeeping.
type flagView struct {
	ID                         int64         `json:"id"`
	Key                        string        `json:"key"`
	Name                       string        `json:"name"`
	Active                     bool          `json:"active"`
	Version                    int           `json:"version"`
	Filters                    flags.Filters `json:"filters"`
	EnsureExperienceContinuity bool          `json:"ensure_experience_continuity"`
	CreatedBy                  int64         `json:"created_by"`
	UpdatedBy                  int64         `json:"updated_by"`
	CreatedAt                  time.Time     `json:"created_at"`
	UpdatedAt                  time.Time     `json:"updated_at"`
}

func viewFlag(m meta.Flag) (flagView, error) {
	f, err := decodeStored(m)
	if err != nil {
		return flagView{}, err
	}
	return flagView{
		ID: m.ID, Key: m.Key, Name: m.Name, Active: m.Active, Version: m.Version,
		Filters: f.Filters, EnsureExperienceContinuity: f.EnsureExperienceContinuity,
		CreatedBy: m.CreatedBy, UpdatedBy: m.UpdatedBy, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}, nil
}

// decodeStored reads a stored flag without compiling it: the API
// validated it when it stored it, and listing or answering flags needs no
// compiled regular expressions (compiling every flag on each list took
// seconds with pathological patterns). Writes still validate the whole
// flag (DecodeFlagBody).
func decodeStored(m meta.Flag) (*flags.Flag, error) {
	var d struct {
		Filters                    flags.Filters `json:"filters"`
		EnsureExperienceContinuity bool          `json:"ensure_experience_continuity"`
	}
	if len(m.Definition) > 0 {
		if err := json.Unmarshal(m.Definition, &d); err != nil {
			return nil, fmt.Errorf("flag %d (%q): cannot decode its definition: %w", m.ID, m.Key, err)
		}
	}
	return &flags.Flag{
		ID: m.ID, Key: m.Key, Name: m.Name, Active: m.Active, Version: int64(m.Version),
		Filters: d.Filters, EnsureExperienceContinuity: d.EnsureExperienceContinuity,
	}, nil
}

// flagVersionView is one entry of a flag's history: who (user_id, 0 for
// a secret key), when, what (created, updated, deleted) and the flag as
// it was after it.
type flagVersionView struct {
	Version                    int           `json:"version"`
	Action                     string        `json:"action"`
	UserID                     int64         `json:"user_id"`
	At                         time.Time     `json:"at"`
	Key                        string        `json:"key"`
	Name                       string        `json:"name"`
	Active                     bool          `json:"active"`
	Filters                    flags.Filters `json:"filters"`
	EnsureExperienceContinuity bool          `json:"ensure_experience_continuity"`
}

// flagBody reads a bounded body; it answers 413/400 itself.
func flagBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFlagBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: a flag is at most %d bytes", maxFlagBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	return body, true
}

// DecodeFlagBody reads a flag body (POST, or a PATCH merged into the
// stored flag) as the store keeps it; the error is a flags.Errors naming
// each field. Text that PostgreSQL cannot store is refused here too.
func DecodeFlagBody(body []byte) (*flags.Flag, error) {
	f, err := flags.Decode(body)
	if err != nil {
		return nil, err
	}
	if !storable(f.Name) {
		return nil, flags.Errors{{Field: "name", Msg: "must be UTF-8 text without NUL bytes"}}
	}
	return f, nil
}

// checkCohorts refuses cohort filters naming no cohort of the project.
func (s *Server) checkCohorts(ctx context.Context, projectID int64, f *flags.Flag) error {
	var es flags.Errors
	for i, g := range f.Filters.Groups {
		for j, p := range g.Properties {
			if p.Type != flags.TypeCohort {
				continue
			}
			field := fmt.Sprintf("filters.groups[%d].properties[%d].value", i, j)
			id, err := strconv.ParseInt(fmt.Sprint(p.Value), 10, 64)
			if err != nil {
				es = append(es, &flags.FieldError{Field: field, Msg: "must be the id of one of the project's cohorts"})
				continue
			}
			if _, err := s.Meta.Cohort(ctx, projectID, id); errors.Is(err, meta.ErrNotFound) {
				es = append(es, &flags.FieldError{Field: field, Msg: fmt.Sprintf("no cohort %d in this project", id)})
			} else if err != nil {
				return err
			}
		}
	}
	if len(es) > 0 {
		return es
	}
	return nil
}

// writeFlagError answers a flag that cannot be decoded, stored or found.
func writeFlagError(w http.ResponseWriter, err error) {
	var fe *flags.FieldError
	var me *meta.FieldError
	var c *conflictError
	switch {
	case errors.As(err, &c):
		conflict(w, c.field, c.msg, c.extra)
	case errors.As(err, &fe):
		field := fe.Field
		if field == "" {
			field = "body"
		}
		list := []map[string]string{}
		var es flags.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				list = append(list, map[string]string{"field": e.Field, "error": e.Msg})
			}
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "field": field, "errors": list})
	case errors.As(err, &me) && errors.Is(err, meta.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": me.Error(), "field": me.Field})
	case errors.As(err, &me) && errors.Is(err, meta.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": me.Error(), "field": me.Field})
	case errors.Is(err, meta.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		metaError(w, "flag", err)
	}
}

func (s *Server) listFlags(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	list, err := s.Meta.Flags(r.Context(), p.ID)
	if err != nil {
		metaError(w, "flags", err)
		return
	}
	out := make([]flagView, 0, len(list))
	for _, m := range list {
		v, err := viewFlag(m)
		if err != nil {
			metaError(w, "flags", err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createFlag(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	body, ok := flagBody(w, r)
	if !ok {
		return
	}
	f, err := DecodeFlagBody(body)
	if err == nil {
		err = checkJourneySalts(nil, f, false)
	}
	if err == nil {
		err = s.checkCohorts(r.Context(), p.ID, f)
	}
	if err != nil {
		writeFlagError(w, err)
		return
	}
	m, err := s.Meta.CreateFlag(r.Context(), meta.Flag{
		ProjectID: p.ID, Key: f.Key, Name: f.Name, Active: f.Active,
		Definition: flagserve.Definition(f), CreatedBy: userID,
	})
	if err != nil {
		writeFlagError(w, err)
		return
	}
	s.answerFlag(w, http.StatusCreated, m)
}

func (s *Server) answerFlag(w http.ResponseWriter, status int, m meta.Flag) {
	v, err := viewFlag(m)
	if err != nil {
		metaError(w, "flag", err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) getFlag(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "flag")
	if !ok {
		return
	}
	m, err := s.Meta.Flag(r.Context(), p.ID, id)
	if err != nil {
		writeFlagError(w, err)
		return
	}
	s.answerFlag(w, http.StatusOK, m)
}

// patchFlag merges the body's top-level fields into the stored flag
// (filters, when given, replace the stored ones whole). "version", when
// given, must be the stored version (409 otherwise); without it the merge
// is still atomic: it is retried on a concurrent change.
//
// While an experiment runs on the flag, its assignment is the
// experiment's: key, filters (variants, layer and holdout included) and
// experience continuity cannot change (409 naming the field and the
// experiment: stop it first); name and active can, active off being the
// kill switch, recorded in the experiment's timeline. Bucket filters on
// Journey's salts are the experiments' at any time (checkJourneySalts).
func (s *Server) patchFlag(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	id, ok := pathID(w, r, "flag")
	if !ok {
		return
	}
	body, ok := flagBody(w, r)
	if !ok {
		return
	}
	patch, expected, err := DecodeFlagPatch(body)
	if err != nil {
		writeFlagError(w, err)
		return
	}
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		cur, err := s.Meta.Flag(ctx, p.ID, id)
		if err != nil {
			writeFlagError(w, err)
			return
		}
		stored, err := decodeStored(cur)
		if err != nil {
			metaError(w, "flag", err)
			return
		}
		f, err := mergeFlag(stored, patch)
		// Read after the flag: an experiment starting since changed the
		// flag's version, so the write below fails and is retried.
		var running meta.Experiment
		var isRunning bool
		if err == nil {
			running, isRunning, err = s.runningOn(ctx, p.ID, cur.Key)
		}
		if err == nil && isRunning {
			err = guardRunning(stored, f, running)
		}
		if err == nil {
			// Once no experiment runs on the flag, its layer and
			// holdout filters may go (never be added or changed).
			err = checkJourneySalts(stored, f, !isRunning)
		}
		if err == nil {
			err = s.checkCohorts(ctx, p.ID, f)
		}
		if err != nil {
			writeFlagError(w, err)
			return
		}
		want := expected
		if want == 0 {
			want = cur.Version
		}
		m, err := s.Meta.UpdateFlag(ctx, meta.Flag{
			ID: id, ProjectID: p.ID, Key: f.Key, Name: f.Name, Active: f.Active,
			Definition: flagserve.Definition(f), UpdatedBy: userID,
		}, want)
		var me *meta.FieldError
		if expected == 0 && attempt < 5 && errors.As(err, &me) && me.Field == "version" {
			continue // changed since it was read: merge into the new one
		}
		if err != nil {
			writeFlagError(w, err)
			return
		}
		if isRunning && cur.Active != m.Active {
			state := "switched on again: the experiment's variants are served"
			if !m.Active {
				state = "switched off (kill switch): nobody gets a variant, and nobody new is exposed, until it is switched on again"
			}
			s.timeline(ctx, running, userID, "note", fmt.Sprintf("flag %s %s", m.Key, state))
		}
		s.answerFlag(w, http.StatusOK, m)
		return
	}
}

// runningOn finds the running experiment on the project's flag key.
func (s *Server) runningOn(ctx context.Context, projectID int64, key string) (meta.Experiment, bool, error) {
	list, err := s.Meta.Experiments(ctx, projectID, meta.ExperimentFilter{Status: meta.ExperimentRunning})
	if err != nil {
		return meta.Experiment{}, false, err
	}
	for _, e := range list {
		if e.FlagKey == key && e.Status == meta.ExperimentRunning {
			return e, true, nil
		}
	}
	return meta.Experiment{}, false, nil
}

// runningConflict is the 409 of a change the running experiment e
// forbids on its flag.
func runningConflict(field string, e meta.Experiment, what string) error {
	return &conflictError{field: field,
		msg: fmt.Sprintf("%s while experiment %d %q runs on this flag: stop experiment %d first (active can be switched off as a kill switch)",
			what, e.ID, e.Name, e.ID),
		extra: map[string]any{"experiment_id": e.ID, "experiment": e.Name}}
}

// guardRunning refuses changes to the assignment of the flag of running
// experiment e: its key, variants, filters and experience continuity.
func guardRunning(stored, next *flags.Flag, e meta.Experiment) error {
	if next.Key != stored.Key {
		return runningConflict("key", e, "key cannot change")
	}
	if next.EnsureExperienceContinuity != stored.EnsureExperienceContinuity {
		return runningConflict("ensure_experience_continuity", e, "ensure_experience_continuity cannot change")
	}
	mvA, errA := json.Marshal(stored.Filters.Multivariate)
	mvB, errB := json.Marshal(next.Filters.Multivariate)
	if errA != nil || errB != nil || !bytes.Equal(mvA, mvB) {
		return runningConflict("filters.multivariate", e, "variants cannot change")
	}
	fA, errA := json.Marshal(stored.Filters)
	fB, errB := json.Marshal(next.Filters)
	if errA != nil || errB != nil || !bytes.Equal(fA, fB) {
		return runningConflict("filters", e, "filters cannot change")
	}
	return nil
}

// journeySalt reports whether p is a bucket filter on one of Journey's
// salts (experiment.LayerSalt, experiment.HoldoutSalt): experiments add
// them when they start and remove them when they ship, the flags API
// never.
func journeySalt(p flags.Property) bool {
	return p.Type == flags.TypeBucket && (strings.HasPrefix(p.Key, "layer:") || strings.HasPrefix(p.Key, "holdout:"))
}

// saltID identifies a Journey bucket filter by what it does, numbers
// compared as numbers.
func saltID(p flags.Property) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q %t", p.Key, p.Operator, p.Negation)
	list, ok := p.Value.([]any)
	if !ok {
		fmt.Fprintf(&b, " %T %v", p.Value, p.Value)
		return b.String()
	}
	for _, v := range list {
		switch x := v.(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil {
				v = f
			}
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		}
		if f, ok := v.(float64); ok {
			b.WriteString(" " + strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			fmt.Fprintf(&b, " %T %v", v, v)
		}
	}
	return b.String()
}

// checkJourneySalts refuses a flag (next, replacing stored; stored nil on
// create) that adds or removes bucket filters on Journey's salts
// (layer:…, holdout:…): the experiment layers and the admin's holdout are
// managed by experiments only.
func checkJourneySalts(stored, next *flags.Flag, mayRemove bool) error {
	have := map[string]int{}
	var where []string
	var ids []string
	if stored != nil {
		for i, g := range stored.Filters.Groups {
			for j, p := range g.Properties {
				if journeySalt(p) {
					id := saltID(p)
					if have[id] == 0 {
						ids = append(ids, id)
						where = append(where, fmt.Sprintf("filters.groups[%d].properties[%d]", i, j))
					}
					have[id]++
				}
			}
		}
	}
	var es flags.Errors
	for i, g := range next.Filters.Groups {
		for j, p := range g.Properties {
			if !journeySalt(p) {
				continue
			}
			if id := saltID(p); have[id] > 0 {
				have[id]--
				continue
			}
			es = append(es, &flags.FieldError{Field: fmt.Sprintf("filters.groups[%d].properties[%d]", i, j),
				Msg: fmt.Sprintf("bucket filters on Journey's salts (layer:…, holdout:…) are managed by experiments: %q cannot be added or changed through the flags API", p.Key)})
		}
	}
	for k, id := range ids {
		if have[id] > 0 && !mayRemove {
			es = append(es, &flags.FieldError{Field: where[k],
				Msg: "bucket filters on Journey's salts (layer:…, holdout:…) are managed by experiments: this one cannot be removed or changed through the flags API while an experiment runs on the flag"})
		}
	}
	if len(es) > 0 {
		return es
	}
	return nil
}

// DecodeFlagPatch reads a PATCH body: a JSON object of top-level flag
// fields, and the optional expected "version" (0 when absent).
func DecodeFlagPatch(body []byte) (map[string]json.RawMessage, int, error) {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		return nil, 0, flags.Errors{{Field: "", Msg: "must be a JSON object of the flag fields to change"}}
	}
	expected := 0
	if raw, ok := patch["version"]; ok {
		delete(patch, "version")
		if string(bytes.TrimSpace(raw)) != "null" {
			n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
			if err != nil || n < 1 {
				return nil, 0, flags.Errors{{Field: "version", Msg: "must be the flag's current version, a whole number from 1"}}
			}
			expected = n
		}
	}
	if _, ok := patch["id"]; ok {
		return nil, 0, flags.Errors{{Field: "id", Msg: "cannot be changed"}}
	}
	return patch, expected, nil
}

// mergeFlag is the stored flag with patch's fields over it, decoded and
// validated as a whole.
func mergeFlag(stored *flags.Flag, patch map[string]json.RawMessage) (*flags.Flag, error) {
	b, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	for k, v := range patch {
		doc[k] = v
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return DecodeFlagBody(merged)
}

// deleteFlag deletes a flag no running experiment is on (409 naming the
// experiment otherwise: stop it first).
func (s *Server) deleteFlag(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	id, ok := pathID(w, r, "flag")
	if !ok {
		return
	}
	ctx := r.Context()
	// Experiments start holding layerLock: none starts on this flag
	// between the check and the delete.
	layerLock.Lock()
	defer layerLock.Unlock()
	cur, err := s.Meta.Flag(ctx, p.ID, id)
	if err != nil {
		writeFlagError(w, err)
		return
	}
	if e, running, err := s.runningOn(ctx, p.ID, cur.Key); err != nil {
		metaError(w, "experiments", err)
		return
	} else if running {
		writeFlagError(w, runningConflict("id", e, "the flag cannot be deleted"))
		return
	}
	if err := s.Meta.DeleteFlag(ctx, p.ID, id, userID); err != nil {
		writeFlagError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) flagVersions(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "flag")
	if !ok {
		return
	}
	list, err := s.Meta.FlagVersions(r.Context(), p.ID, id)
	if err != nil {
		writeFlagError(w, err)
		return
	}
	out := make([]flagVersionView, 0, len(list))
	for _, v := range list {
		f, err := decodeStored(meta.Flag{ID: v.FlagID, Key: v.Key, Name: v.Name, Active: v.Active, Definition: v.Definition, Version: v.Version})
		if err != nil {
			metaError(w, "flag history", err)
			return
		}
		out = append(out, flagVersionView{
			Version: v.Version, Action: v.Action, UserID: v.UserID, At: v.At,
			Key: v.Key, Name: v.Name, Active: v.Active,
			Filters: f.Filters, EnsureExperienceContinuity: f.EnsureExperienceContinuity,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// getGroupTypes answers the project's group type mapping,
// {"0":"company"}: which group type aggregation_group_type_index names.
func (s *Server) getGroupTypes(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	raw, err := s.Meta.Setting(r.Context(), p.ID, flagserve.SettingGroupTypes)
	if errors.Is(err, meta.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]string{})
		return
	}
	if err != nil {
		metaError(w, "group types", err)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(raw))
}

func (s *Server) putGroupTypes(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	m, err := flagserve.ParseGroupTypes(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": "body"})
		return
	}
	out := make(map[string]string, len(m))
	for i, name := range m {
		if !storable(name) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "group type names must be UTF-8 text without NUL bytes", "field": strconv.Itoa(i)})
			return
		}
		out[strconv.Itoa(i)] = name
	}
	b, _ := json.Marshal(out)
	if err := s.Meta.SetSetting(r.Context(), p.ID, flagserve.SettingGroupTypes, b); err != nil {
		metaError(w, "group types", err)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(b))
}
