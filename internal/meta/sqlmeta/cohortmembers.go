package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.CohortMemberStore = (*Tables)(nil)

const cohortRunCols = `project_id, campaign_id, generation, cursor_id, as_of_ms, done_ms, claimed_by, claimed_until_ms, updated_ms`

func scanCohortRun(row interface{ Scan(...any) error }) (meta.CohortRun, error) {
	var r meta.CohortRun
	var asOf, until, updated int64
	var done sql.NullInt64
	if err := row.Scan(&r.ProjectID, &r.CampaignID, &r.Generation, &r.Cursor, &asOf, &done, &r.ClaimedBy, &until, &updated); err != nil {
		return meta.CohortRun{}, notFound(err)
	}
	if asOf != 0 {
		r.AsOf = fromMS(asOf)
	}
	if done.Valid {
		r.DoneAt = fromMS(done.Int64)
	}
	if until != 0 {
		r.ClaimedUntil = fromMS(until)
	}
	r.UpdatedAt = fromMS(updated)
	return r, nil
}

// ClaimCohortRun creates the campaign's run when it has none (only for a
// campaign that is not deleted), then claims it in one conditional
// UPDATE: of replicas claiming at once, one changes the row and the
// others' conditions no longer hold.
func (t *Tables) ClaimCohortRun(ctx context.Context, projectID, campaignID int64, owner string, now time.Time, lease time.Duration) (meta.CohortRun, bool, error) {
	if err := checkOwner(owner); err != nil {
		return meta.CohortRun{}, false, err
	}
	if lease <= 0 {
		return meta.CohortRun{}, false, &meta.FieldError{Field: "lease", Msg: "a claim needs a positive lease", Err: meta.ErrInvalid}
	}
	if _, err := t.exec(ctx, `INSERT INTO campaign_cohort_runs (`+cohortRunCols+`)
		SELECT project_id, id, 0, 0, 0, NULL, '', 0, ? FROM campaigns WHERE project_id = ? AND id = ? AND deleted_ms IS NULL
		ON CONFLICT (campaign_id) DO NOTHING`, ms(now), projectID, campaignID); err != nil {
		return meta.CohortRun{}, false, fmt.Errorf("cannot create the cohort run of campaign %d: %w", campaignID, err)
	}
	r, err := scanCohortRun(t.row(ctx, `UPDATE campaign_cohort_runs SET claimed_by = ?, claimed_until_ms = ?
		WHERE project_id = ? AND campaign_id = ? AND (claimed_by = ? OR claimed_until_ms <= ?) RETURNING `+cohortRunCols,
		owner, ms(now.Add(lease)), projectID, campaignID, owner, ms(now)))
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return meta.CohortRun{}, false, fmt.Errorf("cannot claim the cohort run of campaign %d: %w", campaignID, err)
	}
	r, err = t.CohortRun(ctx, projectID, campaignID)
	return r, false, err
}

// SaveCohortRun stores a pass's progress while owner holds the claim.
func (t *Tables) SaveCohortRun(ctx context.Context, r meta.CohortRun, owner string, until time.Time) error {
	var done any
	if !r.DoneAt.IsZero() {
		done = ms(r.DoneAt)
	}
	var asOf int64
	if !r.AsOf.IsZero() {
		asOf = ms(r.AsOf)
	}
	res, err := t.exec(ctx, `UPDATE campaign_cohort_runs SET generation = ?, cursor_id = ?, as_of_ms = ?, done_ms = ?, claimed_until_ms = ?, updated_ms = ?
		WHERE project_id = ? AND campaign_id = ? AND claimed_by = ?`,
		r.Generation, r.Cursor, asOf, done, ms(until), ms(time.Now()), r.ProjectID, r.CampaignID, owner)
	if err = affected(res, err); !errors.Is(err, meta.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("cannot store the cohort run of campaign %d: %w", r.CampaignID, err)
		}
		return nil
	}
	if _, err := t.CohortRun(ctx, r.ProjectID, r.CampaignID); err != nil {
		return err
	}
	return meta.ErrNotClaimed
}

// CohortRun reads a campaign's run.
func (t *Tables) CohortRun(ctx context.Context, projectID, campaignID int64) (meta.CohortRun, error) {
	r, err := scanCohortRun(t.row(ctx, `SELECT `+cohortRunCols+` FROM campaign_cohort_runs WHERE project_id = ? AND campaign_id = ?`, projectID, campaignID))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return r, fmt.Errorf("cannot read the cohort run of campaign %d: %w", campaignID, err)
	}
	return r, err
}

// ResetCohortRun deletes the run (while owner holds it) and the members,
// in one transaction.
func (t *Tables) ResetCohortRun(ctx context.Context, projectID, campaignID int64, owner string) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot reset the cohort run of campaign %d: %w", campaignID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, t.q(`DELETE FROM campaign_cohort_runs WHERE project_id = ? AND campaign_id = ? AND claimed_by = ?`), projectID, campaignID, owner)
	if err = affected(res, err); errors.Is(err, meta.ErrNotFound) {
		var n int
		if err := tx.QueryRowContext(ctx, t.q(`SELECT count(*) FROM campaign_cohort_runs WHERE project_id = ? AND campaign_id = ?`),
			projectID, campaignID).Scan(&n); err != nil {
			return fmt.Errorf("cannot reset the cohort run of campaign %d: %w", campaignID, err)
		}
		if n == 0 {
			return nil
		}
		return meta.ErrNotClaimed
	}
	if err != nil {
		return fmt.Errorf("cannot reset the cohort run of campaign %d: %w", campaignID, err)
	}
	if _, err := tx.ExecContext(ctx, t.q(`DELETE FROM campaign_cohort_members WHERE project_id = ? AND campaign_id = ?`), projectID, campaignID); err != nil {
		return fmt.Errorf("cannot reset the cohort members of campaign %d: %w", campaignID, err)
	}
	return tx.Commit()
}

// checkMembers bounds a call's persons.
func checkMembers(personIDs []int64) error {
	if len(personIDs) > meta.MaxSendBatch {
		return fmt.Errorf("cannot record %d cohort members: at most %d at once: %w", len(personIDs), meta.MaxSendBatch, meta.ErrInvalid)
	}
	return nil
}

// inInts is "?, ?, …" for ids and their arguments.
func inInts(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), args
}

// CohortEntered reads which of the persons the campaign saw at the pass
// before (or at this one) and answers the others.
func (t *Tables) CohortEntered(ctx context.Context, projectID, campaignID, generation int64, personIDs []int64) ([]int64, error) {
	if err := checkMembers(personIDs); err != nil {
		return nil, err
	}
	if generation <= 1 || len(personIDs) == 0 {
		return []int64{}, nil
	}
	marks, args := inInts(personIDs)
	rows, err := t.query(ctx, `SELECT person_id FROM campaign_cohort_members WHERE project_id = ? AND campaign_id = ? AND generation IN (?, ?)
		AND person_id IN (`+marks+`)`, append([]any{projectID, campaignID, generation - 1, generation}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the cohort members of campaign %d: %w", campaignID, err)
	}
	defer rows.Close()
	seen := make(map[int64]bool, len(personIDs))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot read the cohort members of campaign %d: %w", campaignID, err)
		}
		seen[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the cohort members of campaign %d: %w", campaignID, err)
	}
	out := []int64{}
	for _, id := range personIDs {
		if !seen[id] {
			out = append(out, id)
			seen[id] = true // once, however often given
		}
	}
	return out, nil
}

// MarkCohortMembers upserts the persons' generation in one statement.
func (t *Tables) MarkCohortMembers(ctx context.Context, projectID, campaignID, generation int64, personIDs []int64) error {
	if err := checkMembers(personIDs); err != nil {
		return err
	}
	if len(personIDs) == 0 {
		return nil
	}
	seen := make(map[int64]bool, len(personIDs))
	values := make([]string, 0, len(personIDs))
	args := make([]any, 0, 4*len(personIDs))
	for _, id := range personIDs {
		if seen[id] { // one row may not be upserted twice in a statement
			continue
		}
		seen[id] = true
		values = append(values, "(?, ?, ?, ?)")
		args = append(args, projectID, campaignID, id, generation)
	}
	_, err := t.exec(ctx, `INSERT INTO campaign_cohort_members (project_id, campaign_id, person_id, generation) VALUES `+strings.Join(values, ", ")+`
		ON CONFLICT (campaign_id, person_id) DO UPDATE SET generation = excluded.generation`, args...)
	if err != nil {
		return fmt.Errorf("cannot record the cohort members of campaign %d: %w", campaignID, err)
	}
	return nil
}

// DropCohortMembers deletes the members the pass did not see.
func (t *Tables) DropCohortMembers(ctx context.Context, projectID, campaignID, generation int64) (int, error) {
	res, err := t.exec(ctx, `DELETE FROM campaign_cohort_members WHERE project_id = ? AND campaign_id = ? AND generation <> ?`, projectID, campaignID, generation)
	if err != nil {
		return 0, fmt.Errorf("cannot drop the cohort members of campaign %d: %w", campaignID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot drop the cohort members of campaign %d: %w", campaignID, err)
	}
	return int(n), nil
}
