package sqlmeta

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// Deletion jobs (migration 0014) and a person's metadata: what a deletion
// removes and an export lists.

var _ meta.DeletionStore = (*Tables)(nil)

const jobCols = `id, project_id, person_id, distinct_id, status, step, subject, counts, log_position, attempts, error, requested_by,
	created_ms, updated_ms, done_ms, claimed_by, claimed_until_ms`

func scanJob(row interface{ Scan(...any) error }) (meta.DeletionJob, error) {
	var j meta.DeletionJob
	var subject, counts string
	var pos, created, updated, until int64
	var done sql.NullInt64
	if err := row.Scan(&j.ID, &j.ProjectID, &j.PersonID, &j.DistinctID, &j.Status, &j.Step, &subject, &counts, &pos, &j.Attempts, &j.Error,
		&j.RequestedBy, &created, &updated, &done, &j.ClaimedBy, &until); err != nil {
		return meta.DeletionJob{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(subject), &j.Subject); err != nil {
		return meta.DeletionJob{}, fmt.Errorf("cannot decode subject of deletion %d: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &j.Counts); err != nil {
		return meta.DeletionJob{}, fmt.Errorf("cannot decode counts of deletion %d: %w", j.ID, err)
	}
	j.LogPosition, j.CreatedAt, j.UpdatedAt = uint64(pos), fromMS(created), fromMS(updated)
	if done.Valid {
		j.DoneAt = fromMS(done.Int64)
	}
	if until != 0 {
		j.ClaimedUntil = fromMS(until)
	}
	return j, nil
}

// jobJSON encodes a job's subject and counts as stored; a done job keeps
// no distinct id.
func jobJSON(j *meta.DeletionJob) (subject, counts string) {
	sub := j.Subject
	if j.Status == meta.DeletionDone || sub.DistinctIDs == nil {
		sub.DistinctIDs = []string{}
	}
	if sub.MergedIDs == nil {
		sub.MergedIDs = []int64{}
	}
	a, _ := json.Marshal(sub)
	b, _ := json.Marshal(j.Counts)
	return string(a), string(b)
}

// CreateDeletion queues a job.
func (t *Tables) CreateDeletion(ctx context.Context, j meta.DeletionJob) (meta.DeletionJob, error) {
	if j.PersonID <= 0 && j.DistinctID == "" {
		return meta.DeletionJob{}, &meta.FieldError{Field: "person", Msg: "a deletion needs a person id or a distinct id", Err: meta.ErrInvalid}
	}
	if !storable(j.DistinctID) || !storable(j.RequestedBy) {
		return meta.DeletionJob{}, &meta.FieldError{Field: "distinct_id", Msg: "not valid UTF-8 text", Err: meta.ErrInvalid}
	}
	// A job of the same subject still to do is the answer: repeating a
	// request queues no second job (each would hold the loader again).
	pending, err := scanJob(t.row(ctx, `SELECT `+jobCols+` FROM deletion_jobs WHERE project_id = ? AND person_id = ? AND distinct_id = ?
		AND status IN (?, ?) ORDER BY id LIMIT 1`, j.ProjectID, j.PersonID, j.DistinctID, meta.DeletionQueued, meta.DeletionRunning))
	switch {
	case err == nil:
		return pending, nil
	case !errors.Is(err, meta.ErrNotFound):
		return meta.DeletionJob{}, fmt.Errorf("cannot look up deletions of person %d in project %d: %w", j.PersonID, j.ProjectID, err)
	}
	now := time.Now()
	j.Status, j.Step, j.Attempts, j.Error, j.Counts = meta.DeletionQueued, meta.StepResolve, 0, "", meta.DeletionCounts{}
	j.Subject = meta.DeletionSubject{}
	subject, counts := jobJSON(&j)
	id, err := t.insert(ctx, `INSERT INTO deletion_jobs (project_id, person_id, distinct_id, status, step, subject, counts, log_position, attempts,
		error, requested_by, created_ms, updated_ms, done_ms, claimed_by, claimed_until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, '', ?, ?, ?, NULL, '', 0)`,
		j.ProjectID, j.PersonID, j.DistinctID, j.Status, j.Step, subject, counts, j.RequestedBy, ms(now), ms(now))
	if err != nil {
		return meta.DeletionJob{}, fmt.Errorf("cannot create deletion of person %d in project %d: %w", j.PersonID, j.ProjectID, err)
	}
	return t.Deletion(ctx, j.ProjectID, id)
}

// Deletion reads one job of the project.
func (t *Tables) Deletion(ctx context.Context, projectID, id int64) (meta.DeletionJob, error) {
	return scanJob(t.row(ctx, `SELECT `+jobCols+` FROM deletion_jobs WHERE project_id = ? AND id = ?`, projectID, id))
}

// ClaimDeletion claims the oldest job left to do in one conditional
// UPDATE: of replicas claiming at once, one changes the row and the
// others' conditions no longer hold (they find nothing this time).
func (t *Tables) ClaimDeletion(ctx context.Context, owner string, now time.Time, lease time.Duration) (meta.DeletionJob, bool, error) {
	if err := checkOwner(owner); err != nil {
		return meta.DeletionJob{}, false, err
	}
	if lease <= 0 {
		return meta.DeletionJob{}, false, &meta.FieldError{Field: "lease", Msg: "a claim needs a positive lease", Err: meta.ErrInvalid}
	}
	const claimable = `status IN ('queued', 'running') AND (claimed_by = ? OR claimed_until_ms <= ?)`
	j, err := scanJob(t.row(ctx, `UPDATE deletion_jobs SET claimed_by = ?, claimed_until_ms = ?, attempts = attempts + 1, status = 'running', updated_ms = ?
		WHERE id = (SELECT id FROM deletion_jobs WHERE `+claimable+` ORDER BY id LIMIT 1) AND `+claimable+` RETURNING `+jobCols,
		owner, ms(now.Add(lease)), ms(now), owner, ms(now), owner, ms(now)))
	if errors.Is(err, meta.ErrNotFound) {
		return meta.DeletionJob{}, false, nil
	}
	if err != nil {
		return meta.DeletionJob{}, false, fmt.Errorf("cannot claim a deletion: %w", err)
	}
	if j.Attempts > meta.MaxDeletionAttempts {
		j.Status = meta.DeletionFailed
		j.Error = fmt.Sprintf("gave up after %d attempts; last error: %s", meta.MaxDeletionAttempts, j.Error)
		if err := t.SaveDeletion(ctx, j, owner, now); err != nil {
			return meta.DeletionJob{}, false, err
		}
		return meta.DeletionJob{}, false, nil
	}
	return j, true, nil
}

// SaveDeletion stores a job's progress while owner holds the claim.
func (t *Tables) SaveDeletion(ctx context.Context, j meta.DeletionJob, owner string, until time.Time) error {
	return t.saveJob(ctx, t.db, j, owner, until)
}

func (t *Tables) saveJob(ctx context.Context, q queryer, j meta.DeletionJob, owner string, until time.Time) error {
	switch j.Status {
	case meta.DeletionQueued, meta.DeletionRunning, meta.DeletionDone, meta.DeletionFailed:
	default:
		return &meta.FieldError{Field: "status", Msg: fmt.Sprintf("unknown deletion status %q", j.Status), Err: meta.ErrInvalid}
	}
	now := time.Now()
	var done any
	if j.Status == meta.DeletionDone || j.Status == meta.DeletionFailed {
		done = ms(now)
	}
	if j.Status == meta.DeletionDone {
		j.DistinctID = ""
	}
	subject, counts := jobJSON(&j)
	res, err := q.ExecContext(ctx, t.q(`UPDATE deletion_jobs SET person_id = ?, distinct_id = ?, status = ?, step = ?, subject = ?, counts = ?,
		log_position = ?, error = ?, updated_ms = ?, done_ms = ?, claimed_until_ms = ? WHERE project_id = ? AND id = ? AND claimed_by = ?`),
		j.PersonID, j.DistinctID, j.Status, j.Step, subject, counts, int64(j.LogPosition), errorText(j.Error), ms(now), done, ms(until),
		j.ProjectID, j.ID, owner)
	if err = affected(res, err); errors.Is(err, meta.ErrNotFound) {
		return meta.ErrNotClaimed
	}
	if err != nil {
		return fmt.Errorf("cannot save deletion %d: %w", j.ID, err)
	}
	return nil
}

// chunk is how many ids one IN list of a deletion binds: far below the
// parameter limits of SQLite (32 766) and PostgreSQL (65 535).
const chunk = 500

// subjectLists are a subject's person ids (positive ones: personless ids
// have no metadata) and bindable distinct ids.
func (t *Tables) subjectLists(personIDs []int64, distinctIDs []string) ([]any, []any) {
	var ids, dids []any
	for _, id := range personIDs {
		if id > 0 {
			ids = append(ids, id)
		}
	}
	for _, d := range distinctIDs {
		if t.d.bindable(d) {
			dids = append(dids, d)
		}
	}
	return ids, dids
}

// eachChunk runs fn over the list chunk by chunk.
func eachChunk(list []any, fn func(part []any) error) error {
	for start := 0; start < len(list); start += chunk {
		if err := fn(list[start:min(start+chunk, len(list))]); err != nil {
			return err
		}
	}
	return nil
}

// ErasePersonMetadata deletes the subject's metadata and saves the job
// done, in one transaction.
func (t *Tables) ErasePersonMetadata(ctx context.Context, j meta.DeletionJob, owner string) (meta.DeletionJob, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return j, err
	}
	defer tx.Rollback()
	ids, dids := t.subjectLists(append([]int64{j.Subject.PersonID}, j.Subject.MergedIDs...), j.Subject.DistinctIDs)
	items, err := t.itemsOf(ctx, tx, j.ProjectID, ids, dids, 0)
	if err != nil {
		return j, err
	}
	var c meta.DeletionCounts
	exec := func(n *int64, query string, args ...any) error {
		res, err := tx.ExecContext(ctx, t.q(query), args...)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		if n != nil {
			*n += m
		}
		return err
	}
	steps := []struct {
		list  []any
		count *int64
		query string
	}{
		{items, nil, `DELETE FROM feedback_comments WHERE project_id = ? AND item_id IN (%s)`},
		{items, nil, `DELETE FROM feedback_tags WHERE project_id = ? AND item_id IN (%s)`},
		{items, nil, `DELETE FROM feedback_grams WHERE project_id = ? AND item_id IN (%s)`},
		{items, nil, `UPDATE feedback_items SET merged_into = 0 WHERE project_id = ? AND merged_into IN (%s)`},
		{items, &c.Feedback, `DELETE FROM feedback_items WHERE project_id = ? AND id IN (%s)`},
		{ids, &c.Sends, `DELETE FROM sends WHERE project_id = ? AND person_id IN (%s)`},
		{dids, &c.Sends, `DELETE FROM sends WHERE project_id = ? AND distinct_id IN (%s)`},
		{ids, &c.CohortMembers, `DELETE FROM campaign_cohort_members WHERE project_id = ? AND person_id IN (%s)`},
		{dids, &c.FlagHashKeys, `DELETE FROM flag_hash_keys WHERE project_id = ? AND distinct_id IN (%s)`},
		{dids, &c.FlagHashKeys, `DELETE FROM flag_hash_keys WHERE project_id = ? AND hash_key IN (%s)`},
	}
	for _, st := range steps {
		if err := eachChunk(st.list, func(part []any) error {
			return exec(st.count, fmt.Sprintf(st.query, marks(len(part))), append([]any{j.ProjectID}, part...)...)
		}); err != nil {
			return j, fmt.Errorf("cannot delete metadata of person %d: %w", j.Subject.PersonID, err)
		}
	}
	j.Counts.Feedback, j.Counts.Sends, j.Counts.CohortMembers, j.Counts.FlagHashKeys = c.Feedback, c.Sends, c.CohortMembers, c.FlagHashKeys
	j.Status, j.Step, j.Error = meta.DeletionDone, meta.StepDone, ""
	if err := t.saveJob(ctx, tx, j, owner, time.Now()); err != nil {
		return j, err
	}
	if err := tx.Commit(); err != nil {
		return j, fmt.Errorf("cannot commit deletion %d: %w", j.ID, err)
	}
	return t.Deletion(ctx, j.ProjectID, j.ID)
}

// itemsOf lists the ids of the feedback items of persons or distinct ids
// (at most limit when limit > 0).
func (t *Tables) itemsOf(ctx context.Context, q queryer, projectID int64, ids, dids []any, limit int) ([]any, error) {
	seen := map[int64]bool{}
	var out []any
	read := func(col string, list []any) error {
		return eachChunk(list, func(part []any) error {
			rows, err := q.QueryContext(ctx, t.q(`SELECT id FROM feedback_items WHERE project_id = ? AND `+col+` IN (`+marks(len(part))+`) ORDER BY id`),
				append([]any{projectID}, part...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				if !seen[id] && (limit <= 0 || len(out) < limit) {
					seen[id] = true
					out = append(out, id)
				}
			}
			return rows.Err()
		})
	}
	if err := read("person_id", ids); err != nil {
		return nil, fmt.Errorf("cannot find feedback of persons: %w", err)
	}
	if err := read("distinct_id", dids); err != nil {
		return nil, fmt.Errorf("cannot find feedback of distinct ids: %w", err)
	}
	return out, nil
}

// PersonMetadata reads a person's metadata for an export.
func (t *Tables) PersonMetadata(ctx context.Context, projectID int64, personIDs []int64, distinctIDs []string) (meta.PersonMetadata, error) {
	out := meta.PersonMetadata{Feedback: []meta.PersonFeedback{}, Sends: []meta.Send{}, CohortMembers: []meta.CohortMembership{}, FlagHashKeys: []meta.FlagHashKey{}}
	ids, dids := t.subjectLists(personIDs, distinctIDs)
	items, err := t.itemsOf(ctx, t.db, projectID, ids, dids, meta.MaxPersonMetadata)
	if err != nil {
		return out, err
	}
	slices.SortFunc(items, func(a, b any) int { return cmp.Compare(a.(int64), b.(int64)) })
	for _, id := range items {
		f, err := scanItem(t.row(ctx, `SELECT `+itemCols+` FROM feedback_items i WHERE i.project_id = ? AND i.id = ?`, projectID, id))
		if err != nil {
			return out, fmt.Errorf("cannot read feedback %d: %w", id, err)
		}
		comments, err := t.FeedbackComments(ctx, projectID, f.ID)
		if err != nil {
			return out, err
		}
		out.Feedback = append(out.Feedback, meta.PersonFeedback{FeedbackItem: f, Comments: comments})
	}
	seen := map[int64]bool{}
	addSends := func(col string, list []any) error {
		return eachChunk(list, func(part []any) error {
			sends, err := scanSends(t.query(ctx, `SELECT `+sendCols+` FROM sends WHERE project_id = ? AND `+col+` IN (`+marks(len(part))+`) ORDER BY id LIMIT ?`,
				append(append([]any{projectID}, part...), meta.MaxPersonMetadata)...))
			for _, s := range sends {
				if !seen[s.ID] && len(out.Sends) < meta.MaxPersonMetadata {
					seen[s.ID] = true
					out.Sends = append(out.Sends, s)
				}
			}
			return err
		})
	}
	if err := addSends("person_id", ids); err != nil {
		return out, fmt.Errorf("cannot read sends of persons: %w", err)
	}
	if err := addSends("distinct_id", dids); err != nil {
		return out, fmt.Errorf("cannot read sends of distinct ids: %w", err)
	}
	if err := t.personCohorts(ctx, projectID, ids, &out); err != nil {
		return out, err
	}
	return out, t.personHashKeys(ctx, projectID, dids, &out)
}

func (t *Tables) personCohorts(ctx context.Context, projectID int64, ids []any, out *meta.PersonMetadata) error {
	return eachChunk(ids, func(part []any) error {
		rows, err := t.query(ctx, `SELECT campaign_id, person_id, generation FROM campaign_cohort_members WHERE project_id = ? AND person_id IN (`+
			marks(len(part))+`) ORDER BY campaign_id, person_id LIMIT ?`, append(append([]any{projectID}, part...), meta.MaxPersonMetadata)...)
		if err != nil {
			return fmt.Errorf("cannot read cohort memberships: %w", err)
		}
		defer rows.Close()
		for rows.Next() && len(out.CohortMembers) < meta.MaxPersonMetadata {
			var m meta.CohortMembership
			if err := rows.Scan(&m.CampaignID, &m.PersonID, &m.Generation); err != nil {
				return fmt.Errorf("cannot read cohort memberships: %w", err)
			}
			out.CohortMembers = append(out.CohortMembers, m)
		}
		return rows.Err()
	})
}

func (t *Tables) personHashKeys(ctx context.Context, projectID int64, dids []any, out *meta.PersonMetadata) error {
	seen := map[string]bool{}
	for _, col := range []string{"distinct_id", "hash_key"} {
		if err := eachChunk(dids, func(part []any) error {
			rows, err := t.query(ctx, `SELECT distinct_id, flag_key, hash_key, created_ms FROM flag_hash_keys WHERE project_id = ? AND `+col+` IN (`+
				marks(len(part))+`) ORDER BY distinct_id, flag_key LIMIT ?`, append(append([]any{projectID}, part...), meta.MaxPersonMetadata)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k meta.FlagHashKey
				var created int64
				if err := rows.Scan(&k.DistinctID, &k.FlagKey, &k.HashKey, &created); err != nil {
					return err
				}
				key := k.DistinctID + "\x00" + k.FlagKey
				if !seen[key] && len(out.FlagHashKeys) < meta.MaxPersonMetadata {
					seen[key] = true
					k.CreatedAt = fromMS(created)
					out.FlagHashKeys = append(out.FlagHashKeys, k)
				}
			}
			return rows.Err()
		}); err != nil {
			return fmt.Errorf("cannot read flag hash keys: %w", err)
		}
	}
	return nil
}
