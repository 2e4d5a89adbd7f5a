package sqlmeta

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.ExperimentStore = (*Tables)(nil)

const experimentCols = `id, project_id, name, hypothesis, owner_id, flag_key, status, definition, stage, started_ms, stopped_ms,
	decision, shipped_variant, result, notes, version, created_ms, updated_ms`

func scanExperiment(row interface{ Scan(...any) error }) (meta.Experiment, error) {
	var e meta.Experiment
	var def string
	var result sql.NullString
	var started, stopped sql.NullInt64
	var created, updated int64
	if err := row.Scan(&e.ID, &e.ProjectID, &e.Name, &e.Hypothesis, &e.OwnerID, &e.FlagKey, &e.Status, &def, &e.Stage, &started, &stopped,
		&e.Decision, &e.ShippedVariant, &result, &e.Notes, &e.Version, &created, &updated); err != nil {
		return meta.Experiment{}, notFound(err)
	}
	e.Definition, e.CreatedAt, e.UpdatedAt = json.RawMessage(def), fromMS(created), fromMS(updated)
	if result.Valid {
		e.Result = json.RawMessage(result.String)
	}
	e.StartedAt, e.StoppedAt = msPtr(started), msPtr(stopped)
	return e, nil
}

func msPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// msArg is a nullable *_ms column's value.
func msArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

// resultArg is the result column's value: NULL until there is one.
func resultArg(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	return string(r)
}

// searchText is what Text matches besides the definition, and searchDef
// the definition, both lower-cased here rather than by the database:
// SQLite's lower() folds ASCII only, PostgreSQL's all of Unicode.
func searchText(e meta.Experiment) string {
	return strings.ToLower(e.Name + "\n" + e.Hypothesis + "\n" + e.Notes)
}

func searchDef(e meta.Experiment) string { return strings.ToLower(string(e.Definition)) }

// checkExperiment normalises e for storing, or names the field it refuses.
func checkExperiment(e *meta.Experiment) error {
	if e.Status == "" {
		e.Status = meta.ExperimentDraft
	}
	switch e.Status {
	case meta.ExperimentDraft, meta.ExperimentRunning, meta.ExperimentStopped:
	default:
		return &meta.FieldError{Field: "status", Msg: fmt.Sprintf("unknown status %q: want draft, running or stopped", e.Status), Err: meta.ErrInvalid}
	}
	switch e.Decision {
	case "", meta.DecisionWon, meta.DecisionLost, meta.DecisionInconclusive:
	default:
		return &meta.FieldError{Field: "decision", Msg: fmt.Sprintf("unknown decision %q: want won, lost, inconclusive or none", e.Decision), Err: meta.ErrInvalid}
	}
	e.Definition = json.RawMessage(jsonText(e.Definition))
	if len(e.Result) == 0 {
		e.Result = nil
	}
	if e.StartedAt != nil {
		t := fromMS(ms(*e.StartedAt))
		e.StartedAt = &t
	}
	if e.StoppedAt != nil {
		t := fromMS(ms(*e.StoppedAt))
		e.StoppedAt = &t
	}
	return nil
}

// CreateExperiment saves a new experiment at version 1.
func (t *Tables) CreateExperiment(ctx context.Context, e meta.Experiment) (meta.Experiment, error) {
	if err := checkExperiment(&e); err != nil {
		return meta.Experiment{}, err
	}
	now := fromMS(ms(time.Now()))
	e.Version, e.CreatedAt, e.UpdatedAt = 1, now, now
	id, err := t.insert(ctx, `INSERT INTO experiments (project_id, name, hypothesis, owner_id, flag_key, status, definition, stage, started_ms, stopped_ms,
		decision, shipped_variant, result, notes, version, search_text, search_def, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ProjectID, e.Name, e.Hypothesis, e.OwnerID, e.FlagKey, e.Status, string(e.Definition), e.Stage, msArg(e.StartedAt), msArg(e.StoppedAt),
		e.Decision, e.ShippedVariant, resultArg(e.Result), e.Notes, e.Version, searchText(e), searchDef(e), ms(now), ms(now))
	if err != nil {
		return meta.Experiment{}, fmt.Errorf("cannot create experiment %q: %w", e.Name, err)
	}
	e.ID = id
	return e, nil
}

// sameJSON reports whether two documents are the same but for
// insignificant white space.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// UpdateExperiment replaces a stored experiment's fields. It reads the
// stored one to check the frozen result, then writes only if the version
// is still the one it read, so a concurrent stop cannot slip between the
// check and the write; when that version moved on (and the caller expects
// none), it checks again.
func (t *Tables) UpdateExperiment(ctx context.Context, e meta.Experiment, expectedVersion int) (meta.Experiment, error) {
	if err := checkExperiment(&e); err != nil {
		return meta.Experiment{}, err
	}
	for range 5 {
		stored, err := t.Experiment(ctx, e.ProjectID, e.ID)
		if err != nil {
			return meta.Experiment{}, err
		}
		if expectedVersion != 0 && stored.Version != expectedVersion {
			return meta.Experiment{}, &meta.FieldError{Field: "version",
				Msg: fmt.Sprintf("experiment %d is at version %d, not %d", e.ID, stored.Version, expectedVersion), Err: meta.ErrConflict}
		}
		if stored.Status == meta.ExperimentStopped && stored.Result != nil {
			if !sameJSON(e.Result, stored.Result) {
				return meta.Experiment{}, &meta.FieldError{Field: "result",
					Msg: fmt.Sprintf("experiment %d is stopped: its result is frozen as it was when decided", e.ID), Err: meta.ErrConflict}
			}
			if e.Status != meta.ExperimentStopped {
				return meta.Experiment{}, &meta.FieldError{Field: "status",
					Msg: fmt.Sprintf("experiment %d is stopped with a frozen result: it cannot be %s again", e.ID, e.Status), Err: meta.ErrConflict}
			}
			e.Result = stored.Result // byte for byte as frozen
		}
		now := fromMS(ms(time.Now()))
		up, err := scanExperiment(t.row(ctx, `UPDATE experiments SET name = ?, hypothesis = ?, owner_id = ?, flag_key = ?, status = ?, definition = ?, stage = ?,
			started_ms = ?, stopped_ms = ?, decision = ?, shipped_variant = ?, result = ?, notes = ?, version = version + 1,
			search_text = ?, search_def = ?, updated_ms = ?
			WHERE project_id = ? AND id = ? AND version = ?
			RETURNING `+experimentCols,
			e.Name, e.Hypothesis, e.OwnerID, e.FlagKey, e.Status, string(e.Definition), e.Stage,
			msArg(e.StartedAt), msArg(e.StoppedAt), e.Decision, e.ShippedVariant, resultArg(e.Result), e.Notes,
			searchText(e), searchDef(e), ms(now), e.ProjectID, e.ID, stored.Version))
		if errors.Is(err, meta.ErrNotFound) {
			continue // changed or deleted since read: check again
		}
		if err != nil {
			return meta.Experiment{}, fmt.Errorf("cannot update experiment %d: %w", e.ID, err)
		}
		return up, nil
	}
	return meta.Experiment{}, fmt.Errorf("cannot update experiment %d: it keeps changing: %w", e.ID, meta.ErrConflict)
}

// Experiment returns one experiment of the project.
func (t *Tables) Experiment(ctx context.Context, projectID, id int64) (meta.Experiment, error) {
	e, err := scanExperiment(t.row(ctx, `SELECT `+experimentCols+` FROM experiments WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return e, fmt.Errorf("cannot read experiment %d: %w", id, err)
	}
	return e, err
}

// likeEscaper escapes LIKE's wildcards (and the escape character) so that
// a pattern matches them literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// contains is a LIKE pattern matching s, lower-cased, as a substring.
func contains(s string) string { return "%" + likeEscaper.Replace(strings.ToLower(s)) + "%" }

// Experiments lists the project's experiments matching f, newest first.
func (t *Tables) Experiments(ctx context.Context, projectID int64, f meta.ExperimentFilter) ([]meta.Experiment, error) {
	out := []meta.Experiment{}
	where, args := []string{"project_id = ?"}, []any{projectID}
	for _, s := range []string{f.Status, f.Outcome, f.Text, f.Metric, f.Event} {
		if !storable(s) {
			return out, nil // matches nothing stored, on either database
		}
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Outcome != "" {
		where, args = append(where, "decision = ?"), append(args, f.Outcome)
	}
	if f.Text != "" {
		where, args = append(where, `(search_text LIKE ? ESCAPE '\' OR search_def LIKE ? ESCAPE '\')`), append(args, contains(f.Text), contains(f.Text))
	}
	for _, s := range []string{f.Metric, f.Event} {
		if s != "" {
			where, args = append(where, `search_def LIKE ? ESCAPE '\'`), append(args, contains(s))
		}
	}
	query := `SELECT ` + experimentCols + ` FROM experiments WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id DESC`
	if f.Limit > 0 {
		query, args = query+` LIMIT ?`, append(args, f.Limit)
	}
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list experiments of project %d: %w", projectID, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list experiments of project %d: %w", projectID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list experiments of project %d: %w", projectID, err)
	}
	return out, nil
}

// DeleteExperiment deletes an experiment and its timeline at once.
func (t *Tables) DeleteExperiment(ctx context.Context, projectID, id int64) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, t.q(`DELETE FROM experiment_events WHERE project_id = ? AND experiment_id = ?`), projectID, id); err != nil {
		return fmt.Errorf("cannot delete experiment %d: %w", id, err)
	}
	if err := affected(tx.ExecContext(ctx, t.q(`DELETE FROM experiments WHERE project_id = ? AND id = ?`), projectID, id)); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return fmt.Errorf("cannot delete experiment %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot delete experiment %d: %w", id, err)
	}
	return nil
}

// experimentEventKinds are the timeline's kinds of entry.
var experimentEventKinds = map[string]bool{"created": true, "started": true, "stopped": true, "decided": true, "note": true, "edited": true}

// AddExperimentEvent appends to an experiment's timeline; the experiment
// must be the project's.
func (t *Tables) AddExperimentEvent(ctx context.Context, ev meta.ExperimentEvent) error {
	if !experimentEventKinds[ev.Kind] {
		return &meta.FieldError{Field: "kind", Msg: fmt.Sprintf("unknown timeline entry %q: want created, started, stopped, decided, note or edited", ev.Kind), Err: meta.ErrInvalid}
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	// The SELECT inserts nothing unless the experiment is the project's.
	res, err := t.exec(ctx, `INSERT INTO experiment_events (project_id, experiment_id, user_id, at_ms, kind, detail)
		SELECT project_id, id, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT) FROM experiments WHERE project_id = ? AND id = ?`,
		ev.UserID, ms(ev.At), ev.Kind, ev.Detail, ev.ProjectID, ev.ExperimentID)
	if err := affected(res, err); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return fmt.Errorf("cannot add to the timeline of experiment %d: %w", ev.ExperimentID, err)
	}
	return nil
}

// ExperimentEvents is an experiment's timeline by time (then by when it
// was added); ErrNotFound when the project has no such experiment.
func (t *Tables) ExperimentEvents(ctx context.Context, projectID, id int64) ([]meta.ExperimentEvent, error) {
	if _, err := t.Experiment(ctx, projectID, id); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT experiment_id, project_id, user_id, at_ms, kind, detail FROM experiment_events
		WHERE project_id = ? AND experiment_id = ? ORDER BY at_ms, id`, projectID, id)
	if err != nil {
		return nil, fmt.Errorf("cannot read the timeline of experiment %d: %w", id, err)
	}
	defer rows.Close()
	out := []meta.ExperimentEvent{}
	for rows.Next() {
		var ev meta.ExperimentEvent
		var at int64
		if err := rows.Scan(&ev.ExperimentID, &ev.ProjectID, &ev.UserID, &at, &ev.Kind, &ev.Detail); err != nil {
			return nil, fmt.Errorf("cannot read the timeline of experiment %d: %w", id, err)
		}
		ev.At = fromMS(at)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the timeline of experiment %d: %w", id, err)
	}
	return out, nil
}

// CreateLayer adds a layer of mutually exclusive experiments.
func (t *Tables) CreateLayer(ctx context.Context, l meta.Layer) (meta.Layer, error) {
	if strings.TrimSpace(l.Name) == "" {
		return meta.Layer{}, &meta.FieldError{Field: "name", Msg: "a layer needs a name", Err: meta.ErrInvalid}
	}
	l.CreatedAt = fromMS(ms(time.Now()))
	id, err := t.insert(ctx, `INSERT INTO layers (project_id, name, created_ms) VALUES (?, ?, ?)`, l.ProjectID, l.Name, ms(l.CreatedAt))
	if t.d.unique(err) {
		return meta.Layer{}, &meta.FieldError{Field: "name", Msg: fmt.Sprintf("layer %q exists", l.Name), Err: meta.ErrConflict}
	}
	if err != nil {
		return meta.Layer{}, fmt.Errorf("cannot create layer %q: %w", l.Name, err)
	}
	l.ID = id
	return l, nil
}

// Layers lists the project's layers by name (byte order, on both
// databases: PostgreSQL's collation may order text otherwise).
func (t *Tables) Layers(ctx context.Context, projectID int64) ([]meta.Layer, error) {
	rows, err := t.query(ctx, `SELECT id, project_id, name, created_ms FROM layers WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list layers of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Layer{}
	for rows.Next() {
		var l meta.Layer
		var created int64
		if err := rows.Scan(&l.ID, &l.ProjectID, &l.Name, &created); err != nil {
			return nil, fmt.Errorf("cannot list layers of project %d: %w", projectID, err)
		}
		l.CreatedAt = fromMS(created)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list layers of project %d: %w", projectID, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
