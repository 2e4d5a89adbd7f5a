package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/experiment"
	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
	"github.com/journey-dev/journey/internal/store"
)

// Experiments (SPEC §5, package experiment) over the secret-key API
// (/api/v1/experiments, /api/v1/layers, /api/v1/archive) and the UI
// (/ui/api/projects/{pid}/…: viewers read, members change, admins set the
// holdout). An experiment runs on a multivariate flag (an existing one,
// or one it creates from its variants, inactive until it starts); its
// results are computed from $feature_flag_called exposures while it
// runs and frozen when it stops.
func (s *Server) registerExperiments(mux *routeMux) {
	viewer, member, admin := meta.RoleViewer, meta.RoleMember, meta.RoleAdmin
	routes := []projectRoute{
		{"GET", "/experiments", viewer, s.listExperiments},
		{"POST", "/experiments", member, s.createExperiment},
		{"POST", "/experiments/estimate", viewer, s.estimateExperiment},
		{"GET", "/experiments/holdout", viewer, s.getHoldout},
		{"PUT", "/experiments/holdout", admin, s.putHoldout},
		{"GET", "/experiments/{id}", viewer, s.getExperiment},
		{"PATCH", "/experiments/{id}", member, s.patchExperiment},
		{"DELETE", "/experiments/{id}", member, s.deleteExperiment},
		{"POST", "/experiments/{id}/start", member, s.startExperiment},
		{"POST", "/experiments/{id}/stop", member, s.stopExperiment},
		{"POST", "/experiments/{id}/notes", member, s.addExperimentNote},
		{"GET", "/experiments/{id}/timeline", viewer, s.experimentTimeline},
		{"GET", "/experiments/{id}/results", viewer, s.experimentResults},
		{"GET", "/layers", viewer, s.listLayers},
		{"POST", "/layers", member, s.createLayer},
		{"GET", "/archive", viewer, s.archive},
		{"GET", "/archive/stages", viewer, s.archiveStages},
	}
	s.handleProjectRoutes(mux, routes)
}

// experimentHandler serves one project's experiments for a user (0: a
// secret key).
type experimentHandler func(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64)

// Limits of experiment bodies and texts.
const (
	maxExperimentBody = 1 << 20
	maxExperimentName = 400
	maxExperimentText = 20000
	// holdoutSetting is the project setting of the holdout, {"percent": 5}.
	holdoutSetting = "experiments.holdout"
)

// layerLock serialises the checks that shares of a layer do not overlap
// with the writes that take them, and an experiment's start with the
// deletes of experiments and flags that check it is not running (within
// this process).
var layerLock sync.Mutex

// experimentBody is what creating an experiment takes (and what PATCH
// merges into).
type experimentBody struct {
	Name       string                 `json:"name"`
	Hypothesis string                 `json:"hypothesis"`
	OwnerID    int64                  `json:"owner_id"`
	Stage      string                 `json:"stage"`
	FlagKey    string                 `json:"flag_key"`
	Variants   []experiment.Variant   `json:"variants"`
	Metrics    experiment.Metrics     `json:"metrics"`
	Method     stats.Method           `json:"method"`
	Alpha      float64                `json:"alpha"`
	Correction string                 `json:"correction"`
	Relative   bool                   `json:"relative"`
	CUPED      experiment.CUPED       `json:"cuped"`
	Layer      *experiment.LayerShare `json:"layer"`
	Notes      string                 `json:"notes"`
}

// experimentView is an experiment as the API answers it: its columns and
// its definition's fields side by side.
type experimentView struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Hypothesis string `json:"hypothesis"`
	OwnerID    int64  `json:"owner_id"`
	Stage      string `json:"stage"`
	FlagKey    string `json:"flag_key"`
	Status     string `json:"status"`
	experiment.Definition
	StartedAt      *time.Time `json:"started_at"`
	StoppedAt      *time.Time `json:"stopped_at"`
	Decision       string     `json:"decision"`
	ShippedVariant string     `json:"shipped_variant"`
	Notes          string     `json:"notes"`
	Version        int        `json:"version"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	// Link is the experiment's page in the web UI.
	Link string `json:"link"`
}

func experimentLink(id int64) string { return "/experiments/" + strconv.FormatInt(id, 10) }

// decodeDefinition reads a stored definition (numbers in filters as
// json.Number, as a request's).
func decodeDefinition(raw json.RawMessage) (*experiment.Definition, error) {
	var d experiment.Definition
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("cannot decode experiment definition: %w", err)
	}
	return &d, nil
}

func viewExperiment(e meta.Experiment) (experimentView, error) {
	d, err := decodeDefinition(e.Definition)
	if err != nil {
		return experimentView{}, fmt.Errorf("experiment %d: %w", e.ID, err)
	}
	return experimentView{
		ID: e.ID, Name: e.Name, Hypothesis: e.Hypothesis, OwnerID: e.OwnerID, Stage: e.Stage, FlagKey: e.FlagKey,
		Status: e.Status, Definition: *d, StartedAt: e.StartedAt, StoppedAt: e.StoppedAt, Decision: e.Decision,
		ShippedVariant: e.ShippedVariant, Notes: e.Notes, Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		Link: experimentLink(e.ID),
	}, nil
}

// bodyOf is the stored experiment as a body, for PATCH to merge into.
func bodyOf(e meta.Experiment, d *experiment.Definition) experimentBody {
	return experimentBody{
		Name: e.Name, Hypothesis: e.Hypothesis, OwnerID: e.OwnerID, Stage: e.Stage, FlagKey: e.FlagKey,
		Variants: d.Variants, Metrics: d.Metrics, Method: d.Method, Alpha: d.Alpha, Correction: d.Correction,
		Relative: d.Relative, CUPED: d.CUPED, Layer: d.Layer, Notes: e.Notes,
	}
}

// decodeExperimentBody reads a body strictly into v.
func decodeExperimentBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return insight.Bad(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if f = strings.Trim(f, `"`); f == "" {
				return insight.Bad("body", `unknown field ""`)
			}
			return insight.Bad(f, "unknown field")
		}
		return insight.Bad("body", "cannot decode body as JSON: %v", err)
	}
	if dec.More() {
		return insight.Bad("body", "one JSON object expected")
	}
	return nil
}

// readExperimentBody reads a bounded body; it answers 413/400 itself.
func readExperimentBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxExperimentBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", maxExperimentBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	return body, true
}

// conflict answers 409 naming the field (and other fields of extra).
func conflict(w http.ResponseWriter, field, msg string, extra map[string]any) {
	out := map[string]any{"error": msg, "field": field}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusConflict, out)
}

// conflictError is a 409 found while checking a body.
type conflictError struct {
	field, msg string
	extra      map[string]any
}

func (e *conflictError) Error() string { return e.msg }

// writeExperimentError answers a body that is refused (400 naming its
// field), a conflict (409), a missing experiment (404) or a store error.
func writeExperimentError(w http.ResponseWriter, err error) {
	var bad *insight.Error
	var c *conflictError
	var me *meta.FieldError
	switch {
	case errors.As(err, &bad):
		writeBad(w, err)
	case errors.As(err, &c):
		conflict(w, c.field, c.msg, c.extra)
	case errors.As(err, &me) && errors.Is(err, meta.ErrConflict):
		conflict(w, me.Field, me.Error(), nil)
	case errors.As(err, &me) && errors.Is(err, meta.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": me.Error(), "field": me.Field})
	case errors.Is(err, meta.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, meta.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such experiment in this project")
	default:
		metaError(w, "experiment", err)
	}
}

// checkTexts checks the body's free texts.
func (b *experimentBody) checkTexts() error {
	b.Name, b.Stage = strings.TrimSpace(b.Name), strings.TrimSpace(b.Stage)
	switch {
	case b.Name == "":
		return insight.Bad("name", "missing")
	case len(b.Name) > maxExperimentName || !storable(b.Name):
		return insight.Bad("name", "at most %d bytes of UTF-8 text", maxExperimentName)
	case len(b.Hypothesis) > maxExperimentText || !storable(b.Hypothesis):
		return insight.Bad("hypothesis", "at most %d bytes of UTF-8 text", maxExperimentText)
	case len(b.Stage) > maxExperimentName || !storable(b.Stage):
		return insight.Bad("stage", "at most %d bytes of UTF-8 text", maxExperimentName)
	case len(b.Notes) > maxExperimentText || !storable(b.Notes):
		return insight.Bad("notes", "at most %d bytes of UTF-8 text", maxExperimentText)
	case b.FlagKey == "":
		return insight.Bad("flag_key", "missing: the key of a multivariate flag, or of the flag to create from variants")
	case !flags.ValidKey(b.FlagKey):
		return insight.Bad("flag_key", "must be 1 to %d letters, digits, '-' or '_'", flags.MaxKeyLen)
	}
	return nil
}

// definition is the body's definition, validated.
func (b *experimentBody) definition() (*experiment.Definition, error) {
	d := &experiment.Definition{Variants: b.Variants, Metrics: b.Metrics, Method: b.Method, Alpha: b.Alpha,
		Correction: b.Correction, Relative: b.Relative, CUPED: b.CUPED, Layer: b.Layer}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// resolveMetrics fills in the actions q's metrics name by id and
// validates q again; errors name the experiment's fields.
func (s *Server) resolveMetrics(ctx context.Context, projectID int64, d *experiment.Definition, q *insight.Experiment) error {
	for _, ref := range q.Actions() {
		if ref.Action.Resolved() {
			continue
		}
		def, err := s.actionDef(ctx, projectID, ref.Action.ID, ref.Field)
		if err != nil {
			return d.MetricError(err)
		}
		*ref.Action = def
	}
	if err := q.Validate(); err != nil {
		return d.MetricError(err)
	}
	return nil
}

// checkOwner refuses an owner who is not a member of the project, with
// one answer whether the user exists or not (no enumeration of accounts).
// Server admins are no exception: they own experiments of projects they
// are members of. The requester may always name themself (a server admin
// reaches every project): that tells them nothing.
func (s *Server) checkOwner(ctx context.Context, projectID, requester, owner int64) error {
	if owner == 0 || owner == requester {
		return nil
	}
	notMember := insight.Bad("owner_id", "not a member of this project")
	if _, err := s.Meta.Role(ctx, projectID, owner); errors.Is(err, meta.ErrNotFound) {
		return notMember
	} else if err != nil {
		return err
	}
	if _, err := s.Meta.User(ctx, owner); errors.Is(err, meta.ErrNotFound) {
		return notMember
	} else if err != nil {
		return err
	}
	return nil
}

// checkLayer refuses a share of a layer the project does not have, or
// one that overlaps the share of another experiment of the layer that
// has not stopped (409 naming it). Hold layerLock.
func (s *Server) checkLayer(ctx context.Context, projectID, self int64, l *experiment.LayerShare) error {
	if l == nil {
		return nil
	}
	layers, err := s.Meta.Layers(ctx, projectID)
	if err != nil {
		return err
	}
	found := false
	for _, x := range layers {
		found = found || x.ID == l.ID
	}
	if !found {
		return insight.Bad("layer.id", "no layer %d in this project", l.ID)
	}
	list, err := s.Meta.Experiments(ctx, projectID, meta.ExperimentFilter{})
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.ID == self || e.Status == meta.ExperimentStopped {
			continue
		}
		d, err := decodeDefinition(e.Definition)
		if err != nil {
			return err
		}
		if d.Layer != nil && d.Layer.Overlaps(*l) {
			return &conflictError{field: "layer",
				msg: fmt.Sprintf("[%v, %v) of layer %d overlaps experiment %d %q, which takes [%v, %v)",
					l.From, l.To, l.ID, e.ID, e.Name, d.Layer.From, d.Layer.To),
				extra: map[string]any{"experiment_id": e.ID, "experiment": e.Name}}
		}
	}
	return nil
}

// flagByKey finds a flag of the project by key.
func (s *Server) flagByKey(ctx context.Context, projectID int64, key string) (meta.Flag, bool, error) {
	list, err := s.Meta.Flags(ctx, projectID)
	if err != nil {
		return meta.Flag{}, false, err
	}
	for _, f := range list {
		if f.Key == key {
			return f, true, nil
		}
	}
	return meta.Flag{}, false, nil
}

func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b experimentBody
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	ctx := r.Context()
	e, err := s.newExperiment(ctx, p, userID, &b)
	if err != nil {
		writeExperimentError(w, err)
		return
	}
	s.timeline(ctx, e, userID, "created", fmt.Sprintf("on flag %s", e.FlagKey))
	s.answerExperiment(w, http.StatusCreated, e)
}

// newExperiment checks b, creates the flag when b gives variants, and
// stores the experiment as a draft.
func (s *Server) newExperiment(ctx context.Context, p meta.Project, userID int64, b *experimentBody) (meta.Experiment, error) {
	if err := b.checkTexts(); err != nil {
		return meta.Experiment{}, err
	}
	stored, exists, err := s.flagByKey(ctx, p.ID, b.FlagKey)
	if err != nil {
		return meta.Experiment{}, err
	}
	created := len(b.Variants) > 0
	switch {
	case created && exists:
		return meta.Experiment{}, &conflictError{field: "flag_key",
			msg: fmt.Sprintf("flag %q exists: give no variants to run the experiment on it, or another key", b.FlagKey)}
	case !created && !exists:
		return meta.Experiment{}, insight.Bad("flag_key", "no flag %q in this project (give variants to create it)", b.FlagKey)
	case !created:
		f, err := flagserve.FromMeta(stored)
		if err != nil {
			return meta.Experiment{}, err
		}
		if b.Variants, err = experiment.Arms(f); err != nil {
			return meta.Experiment{}, insight.Bad("flag_key", "%v", err)
		}
	}
	if exists {
		// One experiment at a time on a flag: they would share exposures.
		others, err := s.Meta.Experiments(ctx, p.ID, meta.ExperimentFilter{})
		if err != nil {
			return meta.Experiment{}, err
		}
		for _, o := range others {
			if o.FlagKey == b.FlagKey && o.Status != meta.ExperimentStopped {
				return meta.Experiment{}, &conflictError{field: "flag_key",
					msg:   fmt.Sprintf("experiment %d %q is on flag %q and not stopped", o.ID, o.Name, b.FlagKey),
					extra: map[string]any{"experiment_id": o.ID, "experiment": o.Name}}
			}
		}
	}
	d, err := b.definition()
	if err != nil {
		return meta.Experiment{}, err
	}
	d.FlagCreated = created
	now := time.Now()
	if err := s.resolveMetrics(ctx, p.ID, d, d.Query(b.FlagKey, now.Add(-time.Hour), now)); err != nil {
		return meta.Experiment{}, err
	}
	if b.OwnerID == 0 {
		b.OwnerID = userID
	}
	if err := s.checkOwner(ctx, p.ID, userID, b.OwnerID); err != nil {
		return meta.Experiment{}, err
	}
	def, err := json.Marshal(d)
	if err != nil {
		return meta.Experiment{}, err
	}
	layerLock.Lock()
	defer layerLock.Unlock()
	if err := s.checkLayer(ctx, p.ID, 0, d.Layer); err != nil {
		return meta.Experiment{}, err
	}
	var flag meta.Flag
	if created {
		f := experiment.NewFlag(b.FlagKey, "Experiment: "+b.Name, d.Variants)
		flag, err = s.Meta.CreateFlag(ctx, meta.Flag{ProjectID: p.ID, Key: f.Key, Name: f.Name, Active: false,
			Definition: flagserve.Definition(f), CreatedBy: userID})
		if errors.Is(err, meta.ErrConflict) {
			return meta.Experiment{}, &conflictError{field: "flag_key", msg: fmt.Sprintf("flag %q exists", b.FlagKey)}
		}
		if err != nil {
			return meta.Experiment{}, err
		}
	}
	e, err := s.Meta.CreateExperiment(ctx, meta.Experiment{ProjectID: p.ID, Name: b.Name, Hypothesis: b.Hypothesis,
		OwnerID: b.OwnerID, FlagKey: b.FlagKey, Status: meta.ExperimentDraft, Definition: def, Stage: b.Stage, Notes: b.Notes})
	if err != nil && created {
		if derr := s.Meta.DeleteFlag(ctx, p.ID, flag.ID, userID); derr != nil {
			slog.Error("cannot delete the flag of an experiment not created", "flag", flag.Key, "err", derr)
		}
	}
	return e, err
}

// timeline appends to an experiment's timeline; a failure is logged, not
// answered (the change it records is made).
func (s *Server) timeline(ctx context.Context, e meta.Experiment, userID int64, kind, detail string) {
	if err := s.Meta.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: e.ProjectID,
		UserID: userID, Kind: kind, Detail: detail}); err != nil {
		slog.Error("cannot add to an experiment's timeline", "experiment", e.ID, "kind", kind, "err", err)
	}
}

func (s *Server) answerExperiment(w http.ResponseWriter, status int, e meta.Experiment) {
	v, err := viewExperiment(e)
	if err != nil {
		metaError(w, "experiment", err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	if !paramsOK(w, r, "status", "q") {
		return
	}
	q := r.URL.Query()
	f := meta.ExperimentFilter{Status: q.Get("status"), Text: q.Get("q")}
	switch f.Status {
	case "", meta.ExperimentDraft, meta.ExperimentRunning, meta.ExperimentStopped:
	default:
		writeBad(w, insight.Bad("status", "must be draft, running or stopped, not %q", f.Status))
		return
	}
	list, err := s.Meta.Experiments(r.Context(), p.ID, f)
	if err != nil {
		metaError(w, "experiments", err)
		return
	}
	out := make([]experimentView, 0, len(list))
	for _, e := range list {
		v, err := viewExperiment(e)
		if err != nil {
			metaError(w, "experiments", err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// loadExperiment reads the experiment of the path; it answers 404 itself.
func (s *Server) loadExperiment(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.Experiment, *experiment.Definition, bool) {
	id, ok := pathID(w, r, "experiment")
	if !ok {
		return meta.Experiment{}, nil, false
	}
	e, d, err := s.readExperiment(r.Context(), p.ID, id)
	if err != nil {
		writeExperimentError(w, err)
		return meta.Experiment{}, nil, false
	}
	return e, d, true
}

// readExperiment reads an experiment and its definition.
func (s *Server) readExperiment(ctx context.Context, projectID, id int64) (meta.Experiment, *experiment.Definition, error) {
	e, err := s.Meta.Experiment(ctx, projectID, id)
	if err != nil {
		return meta.Experiment{}, nil, err
	}
	d, err := decodeDefinition(e.Definition)
	if err != nil {
		return meta.Experiment{}, nil, err
	}
	return e, d, nil
}

// isVersionConflict reports whether err is UpdateExperiment's (or
// UpdateFlag's) answer to a write with a version no longer stored.
func isVersionConflict(err error) bool {
	var me *meta.FieldError
	return errors.As(err, &me) && me.Field == "version" && errors.Is(err, meta.ErrConflict)
}

// versionRetries bounds the read-merge-write retries of a write that lost
// a race with another.
const versionRetries = 5

// updateAsRead writes change applied to e with the version e was read at,
// so a concurrent write is never undone. When one landed since (a rename,
// a note), and it left the status and definition change depends on as
// they were, change is applied again over the experiment read anew;
// otherwise the conflict is the answer.
func (s *Server) updateAsRead(ctx context.Context, e meta.Experiment, change func(meta.Experiment) meta.Experiment) (meta.Experiment, error) {
	cur := e
	for attempt := 0; ; attempt++ {
		up, err := s.Meta.UpdateExperiment(ctx, change(cur), cur.Version)
		if err == nil || !isVersionConflict(err) || attempt >= versionRetries {
			return up, err
		}
		fresh, rerr := s.Meta.Experiment(ctx, e.ProjectID, e.ID)
		if rerr != nil {
			return meta.Experiment{}, rerr
		}
		if fresh.Status != e.Status || !bytes.Equal(fresh.Definition, e.Definition) {
			return meta.Experiment{}, &conflictError{field: "version",
				msg: fmt.Sprintf("experiment %d changed meanwhile (now %s, version %d): read it again", e.ID, fresh.Status, fresh.Version)}
		}
		cur = fresh
	}
}

func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	e, _, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	s.answerExperiment(w, http.StatusOK, e)
}

// patchable says which fields of an experiment can change in each
// status: a running experiment keeps its flag, arms and layer; a stopped
// one keeps its analysis too (its result is frozen).
var patchable = map[string]map[string]bool{
	meta.ExperimentDraft: {"name": true, "hypothesis": true, "owner_id": true, "stage": true, "notes": true,
		"metrics": true, "method": true, "alpha": true, "correction": true, "relative": true, "cuped": true, "layer": true},
	meta.ExperimentRunning: {"name": true, "hypothesis": true, "owner_id": true, "stage": true, "notes": true,
		"metrics": true, "method": true, "alpha": true, "correction": true, "relative": true, "cuped": true},
	meta.ExperimentStopped: {"name": true, "hypothesis": true, "owner_id": true, "stage": true, "notes": true},
}

// patchExperiment merges the body's top-level fields into the stored
// experiment and validates the whole. A field that cannot change in the
// experiment's status is a 409 naming it (unless sent unchanged).
// "version", when given, must be the stored version. The write is always
// made with the version read (never over a start or stop that landed
// since); without "version" a lost race is merged again into the newer
// experiment, a few times, then is a 409.
func (s *Server) patchExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil || patch == nil {
		writeBad(w, insight.Bad("body", "must be a JSON object of the fields to change"))
		return
	}
	expected := 0
	if v, ok := patch["version"]; ok {
		delete(patch, "version")
		n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil || n < 1 {
			writeBad(w, insight.Bad("version", "must be the experiment's current version, a whole number from 1"))
			return
		}
		expected = n
	}
	id, ok := pathID(w, r, "experiment")
	if !ok {
		return
	}
	ctx := r.Context()
	var up meta.Experiment
	var changed map[string]bool
	for attempt := 0; ; attempt++ {
		// Read, merge, and write with the version read: a start, stop
		// or edit landing in between makes the write fail, and the patch
		// is merged again into what it wrote (or 409 with "version").
		e, d, err := s.readExperiment(ctx, p.ID, id)
		if err != nil {
			writeExperimentError(w, err)
			return
		}
		if expected != 0 && e.Version != expected {
			conflict(w, "version", fmt.Sprintf("experiment %d is at version %d, not %d", e.ID, e.Version, expected), nil)
			return
		}
		up, changed, err = s.mergeExperiment(ctx, p, userID, e, d, patch)
		if err != nil {
			writeExperimentError(w, err)
			return
		}
		if len(changed) == 0 {
			s.answerExperiment(w, http.StatusOK, e)
			return
		}
		layerLock.Lock()
		if changed["layer"] {
			var nd *experiment.Definition
			if nd, err = decodeDefinition(up.Definition); err == nil {
				err = s.checkLayer(ctx, p.ID, e.ID, nd.Layer)
			}
		}
		if err == nil {
			up, err = s.Meta.UpdateExperiment(ctx, up, e.Version)
		}
		layerLock.Unlock()
		if err != nil && expected == 0 && attempt < versionRetries && isVersionConflict(err) {
			continue
		}
		if err != nil {
			writeExperimentError(w, err)
			return
		}
		break
	}
	names := make([]string, 0, len(changed))
	for k := range changed {
		names = append(names, k)
	}
	sort.Strings(names)
	s.timeline(ctx, up, userID, "edited", strings.Join(names, ", "))
	s.answerExperiment(w, http.StatusOK, up)
}

// mergeExperiment is e with patch over it, checked, and the fields that
// changed.
func (s *Server) mergeExperiment(ctx context.Context, p meta.Project, userID int64, e meta.Experiment, d *experiment.Definition, patch map[string]json.RawMessage) (meta.Experiment, map[string]bool, error) {
	cur := bodyOf(e, d)
	before, err := fieldsOf(cur)
	if err != nil {
		return e, nil, err
	}
	doc := map[string]json.RawMessage{}
	for k, v := range before {
		doc[k] = v
	}
	keys := make([]string, 0, len(patch))
	for k, v := range patch {
		if _, known := before[k]; !known {
			return e, nil, insight.Bad(k, "unknown field")
		}
		doc[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	merged, _ := json.Marshal(doc)
	var b experimentBody
	if err := decodeExperimentBody(merged, &b); err != nil {
		return e, nil, err
	}
	if err := b.checkTexts(); err != nil {
		return e, nil, err
	}
	if _, ok := patch["variants"]; !ok || len(b.Variants) == 0 {
		b.Variants = d.Variants
	}
	nd, err := b.definition()
	if err != nil {
		return e, nil, err
	}
	nd.FlagCreated, nd.HoldoutPercent = d.FlagCreated, d.HoldoutPercent
	after, err := fieldsOf(bodyOf(meta.Experiment{Name: b.Name, Hypothesis: b.Hypothesis, OwnerID: b.OwnerID,
		Stage: b.Stage, FlagKey: b.FlagKey, Notes: b.Notes}, nd))
	if err != nil {
		return e, nil, err
	}
	changed := map[string]bool{}
	for _, k := range keys {
		if bytes.Equal(before[k], after[k]) {
			continue
		}
		if !patchable[e.Status][k] {
			why := "cannot change once the experiment is created"
			switch {
			case k == "flag_key" || k == "variants":
			case e.Status == meta.ExperimentStopped:
				why = "cannot change: the experiment is stopped and its result frozen"
			default:
				why = "cannot change while the experiment runs"
			}
			return e, nil, &conflictError{field: k, msg: fmt.Sprintf("%s %s", k, why)}
		}
		changed[k] = true
	}
	if len(changed) == 0 {
		return e, changed, nil
	}
	if changed["metrics"] {
		now := time.Now()
		if err := s.resolveMetrics(ctx, p.ID, nd, nd.Query(e.FlagKey, now.Add(-time.Hour), now)); err != nil {
			return e, nil, err
		}
	}
	if changed["owner_id"] {
		if err := s.checkOwner(ctx, p.ID, userID, b.OwnerID); err != nil {
			return e, nil, err
		}
	}
	def, err := json.Marshal(nd)
	if err != nil {
		return e, nil, err
	}
	up := e
	up.Name, up.Hypothesis, up.OwnerID, up.Stage, up.Notes, up.Definition = b.Name, b.Hypothesis, b.OwnerID, b.Stage, b.Notes, def
	return up, changed, nil
}

// fieldsOf is a body's fields as JSON.
func fieldsOf(b experimentBody) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(raw, &m)
}

// deleteExperiment deletes a draft or stopped experiment and its
// timeline; a draft's flag goes too when the experiment created it (a
// stopped one's may be shipped and stays). A running experiment is a 409:
// stop it first.
func (s *Server) deleteExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	// Starts hold layerLock: none lands between the check and the delete
	// (which would leave the flag serving an experiment that is gone).
	layerLock.Lock()
	defer layerLock.Unlock()
	e, d, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	if e.Status == meta.ExperimentRunning {
		conflict(w, "status", fmt.Sprintf("experiment %d is running: stop it first", e.ID), nil)
		return
	}
	ctx := r.Context()
	if err := s.Meta.DeleteExperiment(ctx, p.ID, e.ID); err != nil {
		writeExperimentError(w, err)
		return
	}
	if e.Status == meta.ExperimentDraft && d.FlagCreated {
		if f, ok, err := s.flagByKey(ctx, p.ID, e.FlagKey); err == nil && ok && !f.Active {
			if err := s.Meta.DeleteFlag(ctx, p.ID, f.ID, userID); err != nil {
				slog.Error("cannot delete a deleted experiment's flag", "flag", f.Key, "err", err)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// holdout is the project holdout setting (admins set it).
var holdout = percentSetting{key: holdoutSetting, what: "holdout", max: experiment.MaxHoldoutPercent}

// holdoutPercent is the project's holdout (0 when unset).
func (s *Server) holdoutPercent(ctx context.Context, projectID int64) (float64, error) {
	return holdout.read(ctx, s.Meta, projectID)
}

func (s *Server) getHoldout(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	holdout.get(w, r, s.Meta, p)
}

// putHoldout sets the project holdout: the percent of persons (by
// Hash("holdout:<project id>", distinct id)) that experiments started
// from now on leave out. Running experiments keep the holdout they
// started with.
func (s *Server) putHoldout(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	holdout.put(w, r, s.Meta, p, nil)
}

// startExperiment starts a draft: its flag gets the layer's share and the
// project holdout in every condition and is activated, the experiment is
// running from now.
func (s *Server) startExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	e, d, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	if e.Status != meta.ExperimentDraft {
		conflict(w, "status", fmt.Sprintf("experiment %d is %s: only a draft starts", e.ID, e.Status), nil)
		return
	}
	ctx := r.Context()
	pct, err := s.holdoutPercent(ctx, p.ID)
	if err != nil {
		metaError(w, "holdout", err)
		return
	}
	layerLock.Lock()
	defer layerLock.Unlock()
	if err := s.checkLayer(ctx, p.ID, e.ID, d.Layer); err != nil {
		writeExperimentError(w, err)
		return
	}
	stored, found, err := s.flagByKey(ctx, p.ID, e.FlagKey)
	if err != nil {
		metaError(w, "flag", err)
		return
	}
	if !found {
		conflict(w, "flag_key", fmt.Sprintf("flag %q is gone: the experiment cannot start", e.FlagKey), nil)
		return
	}
	f, err := flagserve.FromMeta(stored)
	if err != nil {
		metaError(w, "flag", err)
		return
	}
	if err := experiment.SameArms(f, d.Variants); err != nil {
		conflict(w, "flag_key", err.Error()+": the experiment cannot start", nil)
		return
	}
	if arms, err := experiment.Arms(f); err == nil {
		d.Variants = arms // the weights the flag serves now, for the SRM check
	}
	run := experiment.Assign(f, p.ID, d.Layer, pct)
	run.Active = true
	started, err := s.Meta.UpdateFlag(ctx, meta.Flag{ID: stored.ID, ProjectID: p.ID, Key: run.Key, Name: run.Name,
		Active: true, Definition: flagserve.Definition(run), UpdatedBy: userID}, stored.Version)
	if err != nil {
		writeFlagError(w, err)
		return
	}
	undo := func() {
		// The experiment did not start: the flag goes back as it was.
		back := stored
		back.UpdatedBy = userID
		if _, err := s.Meta.UpdateFlag(ctx, back, started.Version); err != nil {
			slog.Error("cannot restore the flag of an experiment that did not start", "flag", stored.Key, "err", err)
		}
	}
	d.HoldoutPercent = pct
	def, err := json.Marshal(d)
	if err != nil {
		undo()
		metaError(w, "experiment", err)
		return
	}
	now := time.Now().UTC()
	up, err := s.updateAsRead(ctx, e, func(up meta.Experiment) meta.Experiment {
		up.Status, up.StartedAt, up.Definition = meta.ExperimentRunning, &now, def
		return up
	})
	if err != nil {
		undo()
		writeExperimentError(w, err)
		return
	}
	detail := fmt.Sprintf("flag %s activated", e.FlagKey)
	if d.Layer != nil {
		detail += fmt.Sprintf("; layer %d [%v, %v)", d.Layer.ID, d.Layer.From, d.Layer.To)
	}
	if pct > 0 {
		detail += fmt.Sprintf("; holdout %v%%", pct)
	}
	s.timeline(ctx, up, userID, "started", detail)
	s.answerExperiment(w, http.StatusOK, up)
}

// computeResults runs the experiment's query over [started, to) and
// analyses the counts.
func (s *Server) computeResults(ctx context.Context, p meta.Project, e meta.Experiment, d *experiment.Definition, to time.Time) (*experiment.Result, error) {
	from := *e.StartedAt
	if !to.After(from) {
		to = from.Add(time.Millisecond)
	}
	q := d.Query(e.FlagKey, from, to)
	if err := s.resolveMetrics(ctx, p.ID, d, q); err != nil {
		return nil, err
	}
	timeout := s.queryTimeout()
	qctx, cancel := context.WithTimeout(insight.WithMemoryCap(ctx, s.QueryMemory), timeout)
	defer cancel()
	counts, err := s.Events.Experiment(qctx, p.ID, projectTZ(p), q)
	if err != nil && qctx.Err() != nil {
		return nil, &timeoutError{timeout}
	}
	if err := store.AsMemoryError(qctx, err); err != nil {
		return nil, err
	}
	return experiment.Analyze(d, counts, from, to, time.Now())
}

// experimentResults answers a running experiment's results computed now,
// a stopped one's as frozen when it stopped (never recomputed).
func (s *Server) experimentResults(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	e, d, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	switch {
	case e.Status == meta.ExperimentStopped && len(e.Result) > 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(append([]byte(nil), e.Result...), '\n'))
		return
	case e.StartedAt == nil:
		conflict(w, "status", fmt.Sprintf("experiment %d has not started: it has no results yet", e.ID), nil)
		return
	}
	to := time.Now()
	if e.StoppedAt != nil {
		to = *e.StoppedAt
	}
	res, err := s.computeResults(r.Context(), p, e, d, to)
	if err != nil {
		specError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// stopExperiment computes a running experiment's results one last time,
// freezes them with the decision, and stops it.
func (s *Server) stopExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b struct {
		Decision       string `json:"decision"`
		ShippedVariant string `json:"shipped_variant"`
		Notes          string `json:"notes"`
	}
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	e, d, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	switch b.Decision {
	case meta.DecisionWon, meta.DecisionLost, meta.DecisionInconclusive:
	case "":
		writeBad(w, insight.Bad("decision", "missing: won, lost or inconclusive"))
		return
	default:
		writeBad(w, insight.Bad("decision", "must be won, lost or inconclusive, not %q", b.Decision))
		return
	}
	switch {
	case b.ShippedVariant != "" && !d.Variant(b.ShippedVariant):
		writeBad(w, insight.Bad("shipped_variant", "%q is not one of the variants (%s)", b.ShippedVariant, strings.Join(d.Keys(), ", ")))
		return
	case len(b.Notes) > maxExperimentText || !storable(b.Notes):
		writeBad(w, insight.Bad("notes", "at most %d bytes of UTF-8 text", maxExperimentText))
		return
	}
	if e.Status != meta.ExperimentRunning {
		conflict(w, "status", fmt.Sprintf("experiment %d is %s: only a running experiment stops", e.ID, e.Status), nil)
		return
	}
	ctx := r.Context()
	now := time.Now().UTC()
	res, err := s.computeResults(ctx, p, e, d, now)
	if err != nil {
		specError(w, err)
		return
	}
	res.Frozen = true
	frozen, err := json.Marshal(res)
	var unsupported *json.UnsupportedValueError
	if errors.As(err, &unsupported) {
		frozen, err = finiteJSON(res)
	}
	if err != nil {
		metaError(w, "experiment result", err)
		return
	}
	up, err := s.updateAsRead(ctx, e, func(up meta.Experiment) meta.Experiment {
		up.Status, up.StoppedAt, up.Result = meta.ExperimentStopped, &now, frozen
		up.Decision, up.ShippedVariant = b.Decision, b.ShippedVariant
		if b.Notes != "" {
			up.Notes = b.Notes
		}
		return up
	})
	if err != nil {
		writeExperimentError(w, err)
		return
	}
	s.timeline(ctx, up, userID, "stopped", fmt.Sprintf("results frozen: %d persons exposed", res.Exposed))
	detail := b.Decision
	if b.ShippedVariant != "" {
		detail += "; shipped " + b.ShippedVariant
	}
	if b.Notes != "" {
		detail += "; " + b.Notes
	}
	s.timeline(ctx, up, userID, "decided", detail)
	if b.ShippedVariant != "" {
		s.shipVariant(ctx, p, up, userID, b.ShippedVariant)
	}
	s.answerExperiment(w, http.StatusOK, up)
}

// shipVariant makes the experiment's flag serve the shipped variant to
// everyone it targets (its layer and holdout filters go), as GrowthBook's
// and PostHog's "ship" do. The decision stands if this fails: the
// timeline says so and the flag can be edited by hand.
func (s *Server) shipVariant(ctx context.Context, p meta.Project, e meta.Experiment, userID int64, variant string) {
	fail := func(err error) {
		slog.Error("cannot ship an experiment's variant", "experiment", e.ID, "flag", e.FlagKey, "err", err)
		s.timeline(ctx, e, userID, "note", fmt.Sprintf("the flag %q could not be switched to %s: %v", e.FlagKey, variant, err))
	}
	stored, found, err := s.flagByKey(ctx, p.ID, e.FlagKey)
	if err != nil || !found {
		fail(fmt.Errorf("flag not found (%v)", err))
		return
	}
	f, err := flagserve.FromMeta(stored)
	if err != nil {
		fail(err)
		return
	}
	shipped := experiment.Ship(f, variant)
	if _, err := s.Meta.UpdateFlag(ctx, meta.Flag{ID: stored.ID, ProjectID: p.ID, Key: shipped.Key, Name: shipped.Name,
		Active: stored.Active, Definition: flagserve.Definition(shipped), UpdatedBy: userID}, stored.Version); err != nil {
		fail(err)
		return
	}
	s.timeline(ctx, e, userID, "note", fmt.Sprintf("flag %q now serves %s to everyone it targets", e.FlagKey, variant))
}

func (s *Server) addExperimentNote(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b struct {
		Text string `json:"text"`
	}
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	b.Text = strings.TrimSpace(b.Text)
	switch {
	case b.Text == "":
		writeBad(w, insight.Bad("text", "missing"))
		return
	case len(b.Text) > maxExperimentText || !storable(b.Text):
		writeBad(w, insight.Bad("text", "at most %d bytes of UTF-8 text", maxExperimentText))
		return
	}
	e, _, ok := s.loadExperiment(w, r, p)
	if !ok {
		return
	}
	ev := meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: p.ID, UserID: userID, At: time.Now().UTC(), Kind: "note", Detail: b.Text}
	if err := s.Meta.AddExperimentEvent(r.Context(), ev); err != nil {
		writeExperimentError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ev)
}

func (s *Server) experimentTimeline(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "experiment")
	if !ok {
		return
	}
	list, err := s.Meta.ExperimentEvents(r.Context(), p.ID, id)
	if err != nil {
		writeExperimentError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// layerView is a layer with the shares its experiments take.
type layerView struct {
	meta.Layer
	Experiments []layerMember `json:"experiments"`
}

type layerMember struct {
	ID     int64   `json:"id"`
	Name   string  `json:"name"`
	Status string  `json:"status"`
	From   float64 `json:"from"`
	To     float64 `json:"to"`
}

func (s *Server) listLayers(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	ctx := r.Context()
	layers, err := s.Meta.Layers(ctx, p.ID)
	if err != nil {
		metaError(w, "layers", err)
		return
	}
	list, err := s.Meta.Experiments(ctx, p.ID, meta.ExperimentFilter{})
	if err != nil {
		metaError(w, "experiments", err)
		return
	}
	members := map[int64][]layerMember{}
	for _, e := range list {
		d, err := decodeDefinition(e.Definition)
		if err != nil {
			metaError(w, "experiments", err)
			return
		}
		if d.Layer != nil {
			members[d.Layer.ID] = append(members[d.Layer.ID], layerMember{e.ID, e.Name, e.Status, d.Layer.From, d.Layer.To})
		}
	}
	out := make([]layerView, 0, len(layers))
	for _, l := range layers {
		m := members[l.ID]
		if m == nil {
			m = []layerMember{}
		}
		sort.Slice(m, func(i, j int) bool { return m[i].From < m[j].From || m[i].From == m[j].From && m[i].ID < m[j].ID })
		out = append(out, layerView{Layer: l, Experiments: m})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createLayer(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b struct {
		Name string `json:"name"`
	}
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	b.Name = strings.TrimSpace(b.Name)
	switch {
	case b.Name == "":
		writeBad(w, insight.Bad("name", "missing"))
		return
	case len(b.Name) > maxExperimentName || !storable(b.Name):
		writeBad(w, insight.Bad("name", "at most %d bytes of UTF-8 text", maxExperimentName))
		return
	}
	l, err := s.Meta.CreateLayer(r.Context(), meta.Layer{ProjectID: p.ID, Name: b.Name})
	if err != nil {
		writeExperimentError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, layerView{Layer: l, Experiments: []layerMember{}})
}

// archiveEntry is a concluded experiment in the learning archive.
type archiveEntry struct {
	ID             int64                `json:"id"`
	Name           string               `json:"name"`
	Hypothesis     string               `json:"hypothesis"`
	Stage          string               `json:"stage"`
	OwnerID        int64                `json:"owner_id"`
	FlagKey        string               `json:"flag_key"`
	Variants       []experiment.Variant `json:"variants"`
	Metrics        experiment.Metrics   `json:"metrics"`
	Decision       string               `json:"decision"`
	ShippedVariant string               `json:"shipped_variant"`
	Notes          string               `json:"notes"`
	StartedAt      *time.Time           `json:"started_at"`
	StoppedAt      *time.Time           `json:"stopped_at"`
	Result         json.RawMessage      `json:"result"`
	Link           string               `json:"link"`
	// Kind is "experiment", or "campaign" for a campaign's decision
	// (campaigns_report.go), whose campaign CampaignID is and Link
	// points at.
	Kind       string `json:"kind"`
	CampaignID int64  `json:"campaign_id,omitempty"`
}

// archived lists the stopped experiments matching the request's q (text
// of name, hypothesis, notes and definition), metric (a metric's name),
// event (an event a metric counts) and outcome (the decision), all
// case-insensitive, newest stop first; stage keeps those of a journey
// stage (case-insensitive). It answers 400 itself.
func (s *Server) archived(w http.ResponseWriter, r *http.Request, p meta.Project) ([]meta.Experiment, []*experiment.Definition, bool) {
	if !paramsOK(w, r, "q", "metric", "event", "outcome", "stage") {
		return nil, nil, false
	}
	q := r.URL.Query()
	f := meta.ExperimentFilter{Status: meta.ExperimentStopped, Text: q.Get("q"), Outcome: q.Get("outcome"),
		Metric: q.Get("metric"), Event: q.Get("event")}
	switch f.Outcome {
	case "", meta.DecisionWon, meta.DecisionLost, meta.DecisionInconclusive:
	default:
		writeBad(w, insight.Bad("outcome", "must be won, lost or inconclusive, not %q", f.Outcome))
		return nil, nil, false
	}
	list, err := s.Meta.Experiments(r.Context(), p.ID, f)
	if err != nil {
		metaError(w, "experiments", err)
		return nil, nil, false
	}
	stage := strings.TrimSpace(q.Get("stage"))
	var es []meta.Experiment
	var ds []*experiment.Definition
	for _, e := range list {
		d, err := decodeDefinition(e.Definition)
		if err != nil {
			metaError(w, "experiments", err)
			return nil, nil, false
		}
		switch {
		case f.Metric != "" && !d.Metrics.HasMetric(f.Metric):
		case f.Event != "" && !d.Metrics.HasEvent(f.Event):
		case stage != "" && !strings.EqualFold(strings.TrimSpace(e.Stage), stage):
		default:
			es, ds = append(es, e), append(ds, d)
		}
	}
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	stopped := func(e meta.Experiment) time.Time {
		if e.StoppedAt == nil {
			return time.Time{}
		}
		return *e.StoppedAt
	}
	sort.SliceStable(order, func(i, j int) bool { return stopped(es[order[i]]).After(stopped(es[order[j]])) })
	outE, outD := make([]meta.Experiment, len(es)), make([]*experiment.Definition, len(es))
	for i, k := range order {
		outE[i], outD[i] = es[k], ds[k]
	}
	return outE, outD, true
}

func (s *Server) archive(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	es, ds, ok := s.archived(w, r, p)
	if !ok {
		return
	}
	out := make([]archiveEntry, 0, len(es))
	for i, e := range es {
		out = append(out, archiveEntry{ID: e.ID, Name: e.Name, Hypothesis: e.Hypothesis, Stage: e.Stage, OwnerID: e.OwnerID,
			FlagKey: e.FlagKey, Variants: ds[i].Variants, Metrics: ds[i].Metrics, Decision: e.Decision,
			ShippedVariant: e.ShippedVariant, Notes: e.Notes, StartedAt: e.StartedAt, StoppedAt: e.StoppedAt,
			Result: e.Result, Link: experimentLink(e.ID)})
		campaignArchiveKind(&out[len(out)-1], e.Definition)
	}
	writeJSON(w, http.StatusOK, out)
}

// stageCount counts the archived experiments of one journey stage.
type stageCount struct {
	Stage        string `json:"stage"`
	Experiments  int    `json:"experiments"`
	Won          int    `json:"won"`
	Lost         int    `json:"lost"`
	Inconclusive int    `json:"inconclusive"`
}

// archiveStages counts the archived experiments per journey stage: the
// project's journey stages first, in order (zeros included), then other
// stages experiments name, then "" for those that name none. Stages
// compare case-insensitively.
func (s *Server) archiveStages(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	ctx := r.Context()
	list, err := s.Meta.Experiments(ctx, p.ID, meta.ExperimentFilter{Status: meta.ExperimentStopped})
	if err != nil {
		metaError(w, "experiments", err)
		return
	}
	stages, err := s.journeyStages(ctx, p.ID)
	if err != nil {
		metaError(w, "journey stages", err)
		return
	}
	var out []*stageCount
	byKey := map[string]*stageCount{}
	add := func(name string) *stageCount {
		key := strings.ToLower(strings.TrimSpace(name))
		if c, ok := byKey[key]; ok {
			return c
		}
		c := &stageCount{Stage: strings.TrimSpace(name)}
		byKey[key] = c
		out = append(out, c)
		return c
	}
	for _, st := range stages {
		add(st.Name)
	}
	var others []meta.Experiment
	for _, e := range list {
		if strings.TrimSpace(e.Stage) == "" {
			others = append(others, e)
			continue
		}
		count(add(e.Stage), e)
	}
	if len(others) > 0 {
		c := &stageCount{}
		for _, e := range others {
			count(c, e)
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stages": out})
}

func count(c *stageCount, e meta.Experiment) {
	c.Experiments++
	switch e.Decision {
	case meta.DecisionWon:
		c.Won++
	case meta.DecisionLost:
		c.Lost++
	case meta.DecisionInconclusive:
		c.Inconclusive++
	}
}

// anyEventSteps bounds the event names an "any event" action matches: an
// action has at most insight.MaxActionSteps steps, so the rarest names of
// a project with more are left out.
const anyEventSteps = insight.MaxActionSteps

// anyEvent is an action matching the project's events of [from, to): one
// step per event name, the most frequent first; nil when there are none.
func (s *Server) anyEvent(ctx context.Context, projectID int64, from, to time.Time) (*insight.ActionDef, error) {
	names, err := s.Events.EventNames(ctx, projectID, from, to, anyEventSteps)
	if err != nil {
		return nil, err
	}
	a := &insight.ActionDef{Name: "any event"}
	for _, n := range names {
		if n.Name != "" {
			a.Steps = append(a.Steps, insight.ActionStep{Event: n.Name})
		}
	}
	if len(a.Steps) == 0 {
		return nil, nil
	}
	return a, nil
}

// estimateExperiment plans an experiment on a conversion metric: the
// baseline is the share of the persons active in the last 30 whole days
// (in the project timezone) who converted (unless the body gives one),
// daily_users the mean daily persons of the last 14 whole days who did
// any event (or, with flag_key, the exposure event of that flag); per_arm
// is stats.SampleSize and days stats.RuntimeDays at traffic (the share of
// those persons who enter, default 1; null without traffic).
// Without a baseline given and no conversions (or none but conversions,
// or no events) to compute one from, the answer is a 400 naming metric
// that asks for baseline: the client did not send one to be wrong.
func (s *Server) estimateExperiment(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b struct {
		Metric   *insight.ExperimentMetric `json:"metric"`
		MDE      float64                   `json:"mde"`
		Relative bool                      `json:"relative"`
		Arms     int                       `json:"arms"`
		Alpha    float64                   `json:"alpha"`
		Power    float64                   `json:"power"`
		FlagKey  string                    `json:"flag_key"`
		Traffic  float64                   `json:"traffic"`
		Baseline *float64                  `json:"baseline"`
	}
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	if b.Arms == 0 {
		b.Arms = 2
	}
	if b.Traffic == 0 {
		b.Traffic = 1
	}
	if b.Alpha == 0 {
		b.Alpha = stats.DefaultAlpha
	}
	if b.Power == 0 {
		b.Power = stats.DefaultPower
	}
	switch {
	case b.Metric == nil:
		writeBad(w, insight.Bad("metric", "missing: a conversion metric"))
		return
	case b.Arms < 2 || b.Arms > insight.MaxExperimentVariants:
		writeBad(w, insight.Bad("arms", "must be 2..%d", insight.MaxExperimentVariants))
		return
	case math.IsNaN(b.Traffic) || b.Traffic <= 0 || b.Traffic > 1:
		writeBad(w, insight.Bad("traffic", "must be in (0, 1]"))
		return
	case b.FlagKey != "" && !flags.ValidKey(b.FlagKey):
		writeBad(w, insight.Bad("flag_key", "must be 1 to %d letters, digits, '-' or '_'", flags.MaxKeyLen))
		return
	}
	ctx := r.Context()
	tz := projectTZ(p)
	now := time.Now().In(tz)
	end := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tz)
	// The metric, checked as an experiment's.
	d := &experiment.Definition{Variants: []experiment.Variant{{Key: "a", Weight: 1}, {Key: "b", Weight: 1}},
		Metrics: experiment.Metrics{Primary: []experiment.Metric{{ExperimentMetric: *b.Metric}}}}
	off := false
	d.CUPED.Enabled = &off
	q := d.Query("estimate", end.AddDate(0, 0, -30), end)
	field := func(err error) error {
		if e, ok := d.MetricError(err).(*insight.Error); ok {
			return insight.Bad(strings.Replace(e.Field, "metrics.primary[0]", "metric", 1), "%s", e.Msg)
		}
		return err
	}
	if err := s.resolveMetrics(ctx, p.ID, d, q); err != nil {
		writeBad(w, field(err))
		return
	}
	m := q.Metrics[0]
	switch {
	case m.Kind != insight.MetricConversion:
		writeBad(w, insight.Bad("metric.kind", "the estimate plans conversion metrics (got %s)", m.Kind))
		return
	case len(m.Steps) > 0:
		writeBad(w, insight.Bad("metric.steps", "give the conversion as one event or action"))
		return
	}
	timeout := s.queryTimeout()
	qctx, cancel := context.WithTimeout(insight.WithMemoryCap(ctx, s.QueryMemory), timeout)
	defer cancel()
	fail := func(err error) {
		if qctx.Err() != nil {
			err = &timeoutError{timeout}
		}
		specError(w, store.AsMemoryError(qctx, err))
	}
	out := map[string]any{"arms": b.Arms, "traffic": b.Traffic, "mde": b.MDE, "relative": b.Relative, "alpha": b.Alpha, "power": b.Power}
	baseline := 0.0
	if b.Baseline != nil {
		baseline = *b.Baseline
	} else {
		from := end.AddDate(0, 0, -30)
		active, err := s.anyEvent(qctx, p.ID, from, end)
		if err != nil {
			fail(err)
			return
		}
		if active != nil {
			kpi := &insight.KPI{Interval: "month", Range: insight.Range{From: from, To: end},
				Denominator: insight.ActorSet{Conditions: []insight.Condition{{Action: active}}},
				Numerator:   insight.ActorSet{Conditions: []insight.Condition{{Event: m.Event, Action: m.Action, Filters: m.Filters}}}}
			if err := kpi.Validate(); err != nil {
				writeBad(w, field(err))
				return
			}
			res, err := s.Events.KPI(qctx, p.ID, tz, kpi)
			if err != nil {
				fail(err)
				return
			}
			baseline = res.Value
			out["baseline_persons"], out["baseline_conversions"] = res.Denominator, res.Numerator
			switch {
			case res.Numerator == 0 || baseline <= 0:
				writeBad(w, insight.Bad("metric", "no conversions in the last 30 days (%d persons active): "+
					"no baseline to plan from, give baseline (the conversion rate you expect, in (0, 1))", res.Denominator))
				return
			case baseline >= 1:
				writeBad(w, insight.Bad("metric", "all %d persons active in the last 30 days converted: "+
					"no baseline to plan from, give baseline (the conversion rate you expect, in (0, 1))", res.Denominator))
				return
			}
		} else {
			writeBad(w, insight.Bad("metric", "no events in the last 30 days: "+
				"no baseline to plan from, give baseline (the conversion rate you expect, in (0, 1))"))
			return
		}
		out["baseline_from"], out["baseline_to"] = from, end
	}
	out["baseline"] = baseline
	// Daily users.
	from := end.AddDate(0, 0, -14)
	var series insight.Series
	if b.FlagKey != "" {
		series = insight.Series{Event: insight.ExposureEvent, Math: "dau",
			Filters: []insight.Filter{{Property: "$feature_flag", Op: "eq", Value: b.FlagKey}}}
	} else {
		active, err := s.anyEvent(qctx, p.ID, from, end)
		if err != nil {
			fail(err)
			return
		}
		series = insight.Series{Action: active, Math: "dau"}
	}
	daily := 0.0
	if series.Event != "" || series.Action != nil {
		tr := &insight.Trend{Series: []insight.Series{series}, Interval: "day", Range: insight.Range{From: from, To: end}}
		if err := tr.Validate(); err != nil {
			writeBad(w, err)
			return
		}
		res, err := s.Events.Trend(qctx, p.ID, tz, tr)
		if err != nil {
			fail(err)
			return
		}
		var sum float64
		n := 0
		for _, sr := range res.Series {
			for _, pt := range sr.Points {
				sum += pt.Value
				n++
			}
		}
		if n > 0 {
			daily = sum / float64(n)
		}
	}
	out["daily_users"], out["daily_from"], out["daily_to"] = daily, from, end
	perArm, err := stats.SampleSize(stats.SampleSizeInput{Baseline: baseline, Proportion: true, MDE: b.MDE,
		Relative: b.Relative, Alpha: b.Alpha, Power: b.Power})
	if err != nil {
		statsError(w, err)
		return
	}
	out["per_arm"], out["total"] = perArm, perArm*b.Arms
	out["days"] = nil
	if daily*b.Traffic > 0 {
		days, err := stats.RuntimeDays(float64(perArm), b.Arms, daily*b.Traffic)
		if err != nil {
			statsError(w, err)
			return
		}
		out["days"] = days
	}
	writeJSON(w, http.StatusOK, out)
}
