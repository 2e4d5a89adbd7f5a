package sqlmeta

import (
	"context"
	"errors"
	"fmt"

	"github.com/journey-dev/journey/internal/meta"
)

// CreateCohort stores a cohort of the project.
func (t *Tables) CreateCohort(ctx context.Context, projectID int64, name string, definition []byte) (meta.Cohort, error) {
	c := meta.Cohort{ProjectID: projectID, Name: name, Definition: definition, CreatedAt: t.d.now()}
	id, err := t.insert(ctx, `INSERT INTO cohorts (project_id, name, definition, created_at) VALUES (?, ?, ?, ?)`,
		projectID, name, string(definition), t.d.timeArg(c.CreatedAt))
	if err != nil {
		return c, fmt.Errorf("cannot create cohort %q: %w", name, err)
	}
	c.ID = id
	return c, nil
}

const cohortCols = `id, project_id, name, definition, created_at`

func scanCohort(row interface{ Scan(...any) error }) (meta.Cohort, error) {
	var c meta.Cohort
	var def string
	var created atTime
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &def, &created); err != nil {
		return meta.Cohort{}, notFound(err)
	}
	c.Definition, c.CreatedAt = []byte(def), created.t
	return c, nil
}

// Cohort returns one of a project's cohorts.
func (t *Tables) Cohort(ctx context.Context, projectID, id int64) (meta.Cohort, error) {
	c, err := scanCohort(t.row(ctx, `SELECT `+cohortCols+` FROM cohorts WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return c, fmt.Errorf("cannot read cohort %d: %w", id, err)
	}
	return c, err
}

// Cohorts lists a project's cohorts in creation (id) order.
func (t *Tables) Cohorts(ctx context.Context, projectID int64) ([]meta.Cohort, error) {
	rows, err := t.query(ctx, `SELECT `+cohortCols+` FROM cohorts WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Cohort{}
	for rows.Next() {
		c, err := scanCohort(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list cohorts of project %d: %w", projectID, err)
	}
	return out, nil
}

// UpdateCohort replaces a cohort's name and definition.
func (t *Tables) UpdateCohort(ctx context.Context, projectID, id int64, name string, definition []byte) error {
	err := t.cohortChange(ctx, projectID, `UPDATE cohorts SET name = ?, definition = ? WHERE project_id = ? AND id = ?`, name, string(definition), projectID, id)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("cannot update cohort %d: %w", id, err)
	}
	return err
}

// cohortChange runs one statement changing a cohort of project projectID
// and bumps the project's flags revision with it: flags target cohorts,
// so flag caches must reload when one changes.
func (t *Tables) cohortChange(ctx context.Context, projectID int64, query string, args ...any) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := affected(tx.ExecContext(ctx, t.q(query), args...)); err != nil {
		return err
	}
	if err := t.bumpFlagsRevision(ctx, tx, projectID); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteCohort removes a cohort.
func (t *Tables) DeleteCohort(ctx context.Context, projectID, id int64) error {
	err := t.cohortChange(ctx, projectID, `DELETE FROM cohorts WHERE project_id = ? AND id = ?`, projectID, id)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("cannot delete cohort %d: %w", id, err)
	}
	return err
}
