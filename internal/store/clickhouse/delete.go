package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// A person's deletion, export and data retention (store.Privacy) on
// ClickHouse: ALTER TABLE … DELETE mutations, run on every shard (events
// are spread over them by person, the identity tables are copied to each)
// and waited for. ClickHouse 18.16 has neither lightweight deletes nor
// mutations_sync, so the wait polls system.mutations. A table of a shard
// with no matching row gets no mutation: a mutation rewrites every part it
// touches, so an idempotent retry costs only the counts.

var _ store.Privacy = (*Store)(nil)

// mutationWait bounds the wait for one table's mutations on one shard.
const mutationWait = 10 * time.Minute

// ResolveSubject finds the person of personID (or of distinctID when
// personID is 0), its current distinct ids and the persons merged into it.
func (s *Store) ResolveSubject(ctx context.Context, projectID, personID int64, distinctID string) (store.Subject, error) {
	sub := store.Subject{ProjectID: projectID, PersonID: personID, MergedIDs: []int64{}, DistinctIDs: []string{}}
	if personID == 0 {
		var err error
		if sub.PersonID, err = s.currentPerson(ctx, projectID, distinctID); err != nil {
			return sub, err
		}
	}
	dids := "SELECT distinct_id FROM (SELECT distinct_id, argMax(person_id, version) AS pid FROM " + s.db +
		".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id) WHERE pid = ? ORDER BY distinct_id LIMIT ?"
	if err := scanAll(ctx, s.q(), &sub.DistinctIDs, dids, uint64(projectID), sub.PersonID, uint64(store.MaxSubjectDistinctIDs+1)); err != nil {
		return sub, fmt.Errorf("cannot read distinct ids of person %d: %w", sub.PersonID, err)
	}
	merged := "SELECT opid FROM (SELECT old_person_id AS opid, argMax(person_id, version) AS npid FROM " + s.db +
		".person_overrides WHERE project_id = ? GROUP BY old_person_id) WHERE npid = ? ORDER BY opid LIMIT ?"
	if err := scanAll(ctx, s.q(), &sub.MergedIDs, merged, uint64(projectID), sub.PersonID, uint64(store.MaxSubjectMerged+1)); err != nil {
		return sub, fmt.Errorf("cannot read persons merged into person %d: %w", sub.PersonID, err)
	}
	if len(sub.DistinctIDs) > store.MaxSubjectDistinctIDs || len(sub.MergedIDs) > store.MaxSubjectMerged {
		return sub, fmt.Errorf("cannot delete person %d: more than %d distinct ids or merged persons", sub.PersonID, store.MaxSubjectDistinctIDs)
	}
	if len(sub.DistinctIDs) == 0 {
		if persons, err := s.Persons(ctx, []int64{sub.PersonID}); err != nil {
			return sub, err
		} else if p, ok := persons[sub.PersonID]; !ok || p.ProjectID != projectID {
			return sub, store.ErrNotFound
		}
	}
	return sub, nil
}

// currentPerson is the person a distinct id maps to whether or not its
// person row is stored; ErrNotFound when the id is unknown.
func (s *Store) currentPerson(ctx context.Context, projectID int64, distinctID string) (int64, error) {
	var pid int64
	var n uint64
	if err := s.q().QueryRow(ctx, "SELECT argMax(person_id, version), count() FROM "+s.db+".person_distinct_ids WHERE project_id = ? AND distinct_id = ?",
		uint64(projectID), distinctID).Scan(&pid, &n); err != nil {
		return 0, fmt.Errorf("cannot read person of distinct id %q: %w", distinctID, err)
	}
	if n == 0 {
		return 0, store.ErrNotFound
	}
	return pid, nil
}

func scanAll[T any](ctx context.Context, conn driver.Conn, out *[]T, query string, args ...any) error {
	rows, err := conn.Query(ctx, query, args...)
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

// subjectTable is one table's share of a subject: WHERE where with args.
type subjectTable struct {
	table, where string
	args         []any
	into         *int64 // the count it adds to
}

// subjectTables lists the subject's rows, events first: a deletion cut
// short leaves the identity rows, so the person stays whole enough for the
// loader until the deletion resumes.
func (s *Store) subjectTables(sub *store.Subject, c *store.ErasedCounts) []subjectTable {
	ids, dids := sub.PersonIDs(), sub.DistinctIDs
	if dids == nil {
		dids = []string{}
	}
	p := uint64(sub.ProjectID)
	return []subjectTable{
		{"events_local", "project_id = ? AND (has(?, person_id) OR has(?, distinct_id))", []any{p, ids, dids}, &c.Events},
		{"person_overrides", "project_id = ? AND (has(?, old_person_id) OR has(?, person_id))", []any{p, ids, ids}, &c.Overrides},
		{"persons", "project_id = ? AND has(?, id)", []any{p, ids}, &c.Persons},
		{"person_distinct_ids", "project_id = ? AND (has(?, person_id) OR has(?, distinct_id))", []any{p, ids, dids}, &c.DistinctIDs},
	}
}

// CountSubject counts the subject's rows as the DuckDB store does: events
// over every shard, identity rows on the first, one per distinct id,
// merged-away person or live person whatever its versions.
func (s *Store) CountSubject(ctx context.Context, sub *store.Subject) (store.ErasedCounts, error) {
	var c store.ErasedCounts
	for i, t := range s.subjectTables(sub, &c) {
		var n uint64
		var err error
		switch {
		case i == 0:
			err = s.q().QueryRow(ctx, "SELECT count() FROM "+s.events+" WHERE "+t.where, t.args...).Scan(&n)
		case t.table == "persons": // live ones: merged-away persons are rows with is_deleted = 1
			err = s.q().QueryRow(ctx, "SELECT count() FROM (SELECT id, argMax(is_deleted, version) AS d FROM "+s.db+".persons WHERE "+t.where+
				" GROUP BY id) WHERE d = 0", t.args...).Scan(&n)
		case t.table == "person_distinct_ids":
			err = s.q().QueryRow(ctx, "SELECT uniqExact(distinct_id) FROM "+s.db+".person_distinct_ids WHERE "+t.where, t.args...).Scan(&n)
		default:
			err = s.q().QueryRow(ctx, "SELECT uniqExact(old_person_id) FROM "+s.db+"."+t.table+" WHERE "+t.where, t.args...).Scan(&n)
		}
		if err != nil {
			return c, fmt.Errorf("cannot count %s of person %d: %w", t.table, sub.PersonID, err)
		}
		*t.into = int64(n)
	}
	return c, nil
}

// ErasePerson deletes the subject's rows table by table on every shard,
// then keeps the tombstone of its person ids.
func (s *Store) ErasePerson(ctx context.Context, sub *store.Subject) error {
	var c store.ErasedCounts
	for _, t := range s.subjectTables(sub, &c) {
		for _, conn := range s.shards {
			if err := s.mutate(ctx, conn, t.table, t.where, t.args...); err != nil {
				return fmt.Errorf("cannot delete %s of person %d: %w", t.table, sub.PersonID, err)
			}
		}
	}
	v := s.nextVersion()
	for _, conn := range s.shards {
		bctx, sent := batchContext(ctx)
		defer sent()
		b, err := conn.PrepareBatch(bctx, "INSERT INTO "+s.db+".erased_persons (project_id, person_id, version)")
		if err != nil {
			return fmt.Errorf("cannot keep tombstone of person %d: %w", sub.PersonID, err)
		}
		for _, id := range sub.PersonIDs() {
			if id > 0 {
				if err := b.Append(uint64(sub.ProjectID), id, v); err != nil {
					return fmt.Errorf("cannot keep tombstone of person %d: %w", sub.PersonID, err)
				}
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot keep tombstone of person %d: %w", sub.PersonID, err)
		}
	}
	return nil
}

// mutate deletes the rows of one shard's table that match where, if it
// has any, and waits until the mutation is done.
func (s *Store) mutate(ctx context.Context, conn driver.Conn, table, where string, args ...any) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+s.db+"."+table+" WHERE "+where, args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := conn.Exec(ctx, "ALTER TABLE "+s.db+"."+table+" DELETE WHERE "+where, args...); err != nil {
		return err
	}
	return s.waitMutations(ctx, conn, table)
}

// waitMutations waits until the table of one shard has no mutation left
// to do.
func (s *Store) waitMutations(ctx context.Context, conn driver.Conn, table string) error {
	ctx, cancel := context.WithTimeout(ctx, mutationWait)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		var left uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0", s.db, table).Scan(&left); err != nil {
			return fmt.Errorf("cannot read mutations of %s: %w", table, err)
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot wait for the mutations of %s: %w", table, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// SubjectEvents pages the subject's events by (microseconds, uuid text),
// the DuckDB store's order.
func (s *Store) SubjectEvents(ctx context.Context, sub *store.Subject, after store.EventCursor, limit int) ([]store.Row, error) {
	limit = min(max(limit, 1), store.MaxExportPage)
	dids := sub.DistinctIDs
	if dids == nil {
		dids = []string{}
	}
	var us int64 = -1
	if !after.T.IsZero() {
		us = after.T.UnixMicro()
	}
	rows, err := s.q().Query(ctx, "SELECT toString(uuid) AS u, event, distinct_id, person_id, ts_us, properties, received_at FROM "+s.events+
		" WHERE project_id = ? AND (has(?, person_id) OR has(?, distinct_id)) AND (toInt64(ts_us) > ? OR toInt64(ts_us) = ? AND toString(uuid) > ?)"+
		" ORDER BY ts_us, u LIMIT ?",
		uint64(sub.ProjectID), sub.PersonIDs(), dids, us, us, uuid.UUID(after.UUID).String(), uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot read events of person %d: %w", sub.PersonID, err)
	}
	defer rows.Close()
	out := []store.Row{}
	for rows.Next() {
		r := store.Row{ProjectID: sub.ProjectID}
		var id, props string
		var ts uint64
		if err := rows.Scan(&id, &r.Event, &r.DistinctID, &r.PersonID, &ts, &props, &r.ReceivedAt); err != nil {
			return nil, err
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, err
		}
		r.UUID, r.Timestamp, r.Properties, r.ReceivedAt = u, time.UnixMicro(int64(ts)).UTC(), json.RawMessage(props), r.ReceivedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteEventsBefore drops the project's events older than cutoff, by
// mutation on every shard. Partitions are months of every project, so a
// partition can be dropped only when no project keeps its events; the
// mutation rewrites just the parts that hold old events of this project.
func (s *Store) DeleteEventsBefore(ctx context.Context, projectID int64, cutoff time.Time) (int64, error) {
	where := "project_id = ? AND ts_us < ?"
	args := []any{uint64(projectID), uint64(max(cutoff.UnixMicro(), 0))}
	var n uint64
	if err := s.q().QueryRow(ctx, "SELECT count() FROM "+s.events+" WHERE "+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot count events of project %d before %s: %w", projectID, cutoff.Format(time.RFC3339), err)
	}
	if n == 0 {
		return 0, nil
	}
	for _, conn := range s.shards {
		if err := s.mutate(ctx, conn, "events_local", where, args...); err != nil {
			return 0, fmt.Errorf("cannot delete events of project %d before %s: %w", projectID, cutoff.Format(time.RFC3339), err)
		}
	}
	return int64(n), nil
}
