package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// A person's deletion, export and data retention (store.Privacy). Lists of
// ids travel as one JSON parameter each, unnested in SQL (idsIn, didsIn),
// so a subject of any size is one statement with three parameters.

var _ store.Privacy = (*Store)(nil)

const (
	idsIn  = `(SELECT unnest(from_json(?::JSON, '["BIGINT"]')))`
	didsIn = `(SELECT unnest(from_json(?::JSON, '["VARCHAR"]')))`
)

// subjectArgs are a subject's two lists as the JSON parameters of idsIn
// and didsIn.
func subjectArgs(s *store.Subject) (ids, dids string) {
	a, _ := json.Marshal(s.PersonIDs())
	d := s.DistinctIDs
	if d == nil {
		d = []string{}
	}
	b, _ := json.Marshal(d)
	return string(a), string(b)
}

// ResolveSubject finds the person of personID (or of distinctID when
// personID is 0), its distinct ids and the persons merged into it.
func (s *Store) ResolveSubject(ctx context.Context, projectID, personID int64, distinctID string) (store.Subject, error) {
	sub := store.Subject{ProjectID: projectID, PersonID: personID, MergedIDs: []int64{}, DistinctIDs: []string{}}
	if personID == 0 {
		err := s.db.QueryRowContext(ctx, `SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND distinct_id = ?`, projectID, distinctID).Scan(&sub.PersonID)
		if errors.Is(err, sql.ErrNoRows) {
			return sub, store.ErrNotFound
		}
		if err != nil {
			return sub, fmt.Errorf("cannot read person of distinct id %q: %w", distinctID, err)
		}
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM persons WHERE project_id = ? AND id = ?)
		+ (SELECT count(*) FROM person_distinct_ids WHERE project_id = ? AND person_id = ?)`,
		projectID, sub.PersonID, projectID, sub.PersonID).Scan(&n); err != nil {
		return sub, fmt.Errorf("cannot read person %d: %w", sub.PersonID, err)
	}
	if n == 0 {
		return sub, store.ErrNotFound
	}
	if err := scanList(ctx, s.db, &sub.DistinctIDs, `SELECT distinct_id FROM person_distinct_ids WHERE project_id = ? AND person_id = ? ORDER BY distinct_id LIMIT ?`,
		projectID, sub.PersonID, store.MaxSubjectDistinctIDs+1); err != nil {
		return sub, fmt.Errorf("cannot read distinct ids of person %d: %w", sub.PersonID, err)
	}
	if err := scanList(ctx, s.db, &sub.MergedIDs, `SELECT old_person_id FROM person_overrides WHERE project_id = ? AND person_id = ? ORDER BY old_person_id LIMIT ?`,
		projectID, sub.PersonID, store.MaxSubjectMerged+1); err != nil {
		return sub, fmt.Errorf("cannot read persons merged into person %d: %w", sub.PersonID, err)
	}
	if len(sub.DistinctIDs) > store.MaxSubjectDistinctIDs || len(sub.MergedIDs) > store.MaxSubjectMerged {
		return sub, fmt.Errorf("cannot delete person %d: more than %d distinct ids or merged persons", sub.PersonID, store.MaxSubjectDistinctIDs)
	}
	return sub, nil
}

func scanList[T any](ctx context.Context, db *sql.DB, out *[]T, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return err
		}
		*out = append(*out, v)
	}
	return rows.Err()
}

// The subject's rows, table by table: what ErasePerson deletes and
// CountSubject counts (FROM table WHERE where, with args).
var subjectRows = []struct {
	table, where string
	args         func(project int64, ids, dids string) []any
}{
	{"events", `project_id = ? AND (person_id IN ` + idsIn + ` OR distinct_id IN ` + didsIn + `)`, byIDsAndDistinctIDs},
	{"person_distinct_ids", `project_id = ? AND (person_id IN ` + idsIn + ` OR distinct_id IN ` + didsIn + `)`, byIDsAndDistinctIDs},
	{"person_overrides", `project_id = ? AND (old_person_id IN ` + idsIn + ` OR person_id IN ` + idsIn + `)`,
		func(project int64, ids, _ string) []any { return []any{project, ids, ids} }},
	{"persons", `project_id = ? AND id IN ` + idsIn, func(project int64, ids, _ string) []any { return []any{project, ids} }},
}

func byIDsAndDistinctIDs(project int64, ids, dids string) []any { return []any{project, ids, dids} }

// subjectParams are the parameters of subjectRows[i].where.
func subjectParams(i int, s *store.Subject) []any {
	ids, dids := subjectArgs(s)
	return subjectRows[i].args(s.ProjectID, ids, dids)
}

// CountSubject counts the subject's rows.
func (s *Store) CountSubject(ctx context.Context, sub *store.Subject) (store.ErasedCounts, error) {
	var c store.ErasedCounts
	into := []*int64{&c.Events, &c.DistinctIDs, &c.Overrides, &c.Persons}
	for i, r := range subjectRows {
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+r.table+` WHERE `+r.where, subjectParams(i, sub)...).Scan(into[i]); err != nil {
			return c, fmt.Errorf("cannot count %s of person %d: %w", r.table, sub.PersonID, err)
		}
	}
	return c, nil
}

// ErasePerson deletes the subject in one transaction under the write lock
// (Apply's and Snapshot's), so a backup holds all of the person or none,
// and then has the journey index rebuilt without the person's events.
func (s *Store) ErasePerson(ctx context.Context, sub *store.Subject) error {
	s.mu.Lock()
	eventsGone, err := s.eraseLocked(ctx, sub)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// The index is shared by every project: it is reset and rebuilt only
	// when events really went (a repeated deletion of the same person, or
	// one without events, must not make every project's queries fall back
	// to the slower plans while it rebuilds).
	if eventsGone {
		s.rebuildAfterDelete(ctx)
	}
	return nil
}

// eraseLocked deletes the subject's rows and reports whether any of its
// events were among them.
func (s *Store) eraseLocked(ctx context.Context, sub *store.Subject) (eventsGone bool, err error) {
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return false, fmt.Errorf("cannot delete person %d: %w", sub.PersonID, err)
	}
	defer tx.Rollback()
	refresh, err := eraseFlagExposures(ctx, tx, sub)
	if err != nil {
		return false, err
	}
	for i, r := range subjectRows {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+r.table+` WHERE `+r.where, subjectParams(i, sub)...)
		if err != nil {
			return false, fmt.Errorf("cannot delete %s of person %d: %w", r.table, sub.PersonID, err)
		}
		if r.table == "events" {
			n, err := res.RowsAffected()
			eventsGone = err != nil || n > 0 // unknown: assume some went
		}
	}
	if eventsGone && s.jidx != nil && s.jidx.keepTail {
		// The tail keeps indexed rows (person, time, event) until a manifest
		// covers them: the person's go with the person's events. The whole
		// tail goes (a batch's events are one row), marked as a gap: the
		// index is rebuilt from the store right after, and an open after a
		// crash before that rebuilds too.
		if err := s.dropJourneyTail(ctx, tx); err != nil {
			return false, fmt.Errorf("cannot delete journey index tail of person %d: %w", sub.PersonID, err)
		}
	}
	if err := refresh(); err != nil {
		return false, err
	}
	ids, _ := subjectArgs(sub)
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO erased_persons SELECT ?, id FROM `+idsIn+` AS t(id) WHERE id > 0`, sub.ProjectID, ids); err != nil {
		return false, fmt.Errorf("cannot keep tombstone of person %d: %w", sub.PersonID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("cannot commit deletion of person %d: %w", sub.PersonID, err)
	}
	if eventsGone {
		s.resetJourneyIndex()
	}
	return eventsGone, nil
}

// resetJourneyIndex empties the journey index after rows were deleted
// (under the write lock, so no Apply adds to it meanwhile): it counts
// events that are gone, and queries must not read it until it is rebuilt.
func (s *Store) resetJourneyIndex() {
	if s.jidx == nil {
		return
	}
	if err := s.jidx.ix.Reset(); err != nil {
		// Not ready either way: queries fall back to the SQL plans.
		journeyIndexFallbacks.Inc()
	}
}

// rebuildAfterDelete rebuilds the journey index in the background once any
// rebuild that started before the deletion has ended (its snapshot may
// still hold the deleted events; a rebuild that slips in between is caught
// by the count check every indexed query makes).
func (s *Store) rebuildAfterDelete(ctx context.Context) {
	if s.jidx == nil {
		return
	}
	if err := s.WaitJourneyIndex(ctx); err != nil {
		return
	}
	s.startRebuild()
}

// SubjectEvents pages the subject's events by (timestamp, uuid text).
func (s *Store) SubjectEvents(ctx context.Context, sub *store.Subject, after store.EventCursor, limit int) ([]store.Row, error) {
	limit = min(max(limit, 1), store.MaxExportPage)
	ids, dids := subjectArgs(sub)
	var cur any
	if !after.T.IsZero() {
		cur = after.T.UTC()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT uuid::VARCHAR AS u, event, distinct_id, person_id, ts, properties, received_at FROM events
		WHERE project_id = ? AND (person_id IN `+idsIn+` OR distinct_id IN `+didsIn+`)
			AND (?::TIMESTAMP IS NULL OR ts > ?::TIMESTAMP OR ts = ?::TIMESTAMP AND uuid::VARCHAR > ?)
		ORDER BY ts, u LIMIT ?`, sub.ProjectID, ids, dids, cur, cur, cur, uuid.UUID(after.UUID).String(), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read events of person %d: %w", sub.PersonID, err)
	}
	defer rows.Close()
	out := []store.Row{}
	for rows.Next() {
		r := store.Row{ProjectID: sub.ProjectID}
		var id string
		var props sql.NullString
		if err := rows.Scan(&id, &r.Event, &r.DistinctID, &r.PersonID, &r.Timestamp, &props, &r.ReceivedAt); err != nil {
			return nil, err
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, err
		}
		r.UUID, r.Properties = u, json.RawMessage(props.String)
		r.Timestamp, r.ReceivedAt = r.Timestamp.UTC(), r.ReceivedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteEventsBefore drops the project's events older than cutoff under
// the write lock.
func (s *Store) DeleteEventsBefore(ctx context.Context, projectID int64, cutoff time.Time) (int64, error) {
	s.mu.Lock()
	res, err := s.deleteEventsBefore(ctx, projectID, cutoff) // and the flag exposures it changes
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err == nil && n > 0 {
		s.resetJourneyIndex()
	}
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("cannot delete events of project %d before %s: %w", projectID, cutoff.Format(time.RFC3339), err)
	}
	if n > 0 {
		s.rebuildAfterDelete(ctx)
	}
	return n, nil
}
