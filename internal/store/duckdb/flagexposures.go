package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// flag_exposures summarises the exposure events ($feature_flag_called)
// per project, flag, stored person (before merges) and variant
// ($feature_flag_response): the first and last exposure, and multi when
// the person has rows of other variants of the flag (so the common row,
// a person's only one, is read without a GROUP BY). An experiment reads it instead of parsing the JSON of
// every exposure event (experiment.go, experimentExposedSide); the events
// stay the truth, and the persons it cannot answer for (a range that
// cuts through their exposures) are read from them as before.
//
// It is kept in the transaction that writes the events (Apply), and
// recomputed from the events for the persons whose events a deletion
// touches (ErasePerson, DeleteEventsBefore). Merges change nothing in it:
// persons are resolved through person_overrides when it is read, as for
// events. A data directory from before the table is backfilled once, at
// open, in the transaction that creates it.
const flagExposuresTableSQL = `CREATE TABLE flag_exposures (
    project_id BIGINT    NOT NULL,
    flag_key   VARCHAR   NOT NULL,
    person_id  BIGINT    NOT NULL, -- as stored on the events, before merges
    first_ts   TIMESTAMP NOT NULL,
    last_ts    TIMESTAMP NOT NULL,
    variant    VARCHAR   NOT NULL,
    multi      BOOLEAN   NOT NULL, -- the person has rows of other variants
    PRIMARY KEY (project_id, flag_key, person_id, variant)
)`

// flagExposureRows aggregates the exposure events of table (alias x) that
// pass cond into flag_exposures rows. The flag and variant are read as
// experiments read them (experimentFlagType, one json_transform); events
// without either are no exposure to any variant and have no row.
func flagExposureRows(table, cond string) string {
	if cond != "" {
		cond = " AND " + cond
	}
	return `SELECT project_id, flag_key, person_id, min(ts), max(ts), variant, count(*) OVER (PARTITION BY project_id, flag_key, person_id) > 1
FROM (SELECT project_id, person_id, ts, ff['$feature_flag'] AS flag_key, ff['$feature_flag_response'] AS variant
    FROM (SELECT x.project_id, x.person_id, x.ts, json_transform(x.properties, ` + experimentFlagType + `) AS ff
        FROM ` + table + ` x WHERE x.event = '` + insight.ExposureEvent + `'` + cond + `))
WHERE flag_key IS NOT NULL AND variant IS NOT NULL
GROUP BY project_id, flag_key, person_id, variant`
}

// upsertFlagExposuresSQL adds a batch's staged events (all of them new:
// see Apply) to flag_exposures: the batch's rows, merged into the stored
// ones, then multi set on every row of a (flag, person) with more than
// one (the scan of the table's keys is joined to the batch's only).
var upsertFlagExposuresSQL = `CREATE OR REPLACE TEMP TABLE flag_exposures_batch AS ` + flagExposureRows("stage_events", "") + `;
INSERT INTO flag_exposures SELECT * FROM flag_exposures_batch
ON CONFLICT (project_id, flag_key, person_id, variant) DO UPDATE SET
    first_ts = least(first_ts, excluded.first_ts),
    last_ts = greatest(last_ts, excluded.last_ts),
    multi = multi OR excluded.multi;
UPDATE flag_exposures f SET multi = true FROM (
    SELECT x.project_id, x.flag_key, x.person_id FROM flag_exposures x
    WHERE EXISTS (SELECT 1 FROM flag_exposures_batch b WHERE b.project_id = x.project_id AND b.flag_key = x.flag_key AND b.person_id = x.person_id)
    GROUP BY ALL HAVING count(*) > 1) k
WHERE f.project_id = k.project_id AND f.flag_key = k.flag_key AND f.person_id = k.person_id AND NOT f.multi`

// flagExposuresRefreshSQL makes the write connection's table of the
// (project, stored person) pairs whose rows are recomputed.
const flagExposuresRefreshSQL = `CREATE OR REPLACE TEMP TABLE flag_exposures_refresh AS `

const inRefresh = `EXISTS (SELECT 1 FROM flag_exposures_refresh r WHERE r.project_id = x.project_id AND r.person_id = x.person_id)`

// initFlagExposures creates flag_exposures when the database has none,
// filled from the events already stored (none in a new database).
func (s *Store) initFlagExposures(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables()
		WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'flag_exposures'`).Scan(&n); err != nil {
		return fmt.Errorf("cannot look for table %q: %w", "flag_exposures", err)
	}
	if n > 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, flagExposuresTableSQL); err != nil {
		return fmt.Errorf("cannot create table %q: %w", "flag_exposures", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO flag_exposures `+flagExposureRows("events", "")); err != nil {
		return fmt.Errorf("cannot backfill table %q: %w", "flag_exposures", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot backfill table %q: %w", "flag_exposures", err)
	}
	return nil
}

// RebuildFlagExposures recomputes flag_exposures from the stored events,
// for events written around Apply (the benchmarks' generators insert
// with SQL).
func (s *Store) RebuildFlagExposures(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM flag_exposures; INSERT INTO flag_exposures `+flagExposureRows("events", "")); err != nil {
		return fmt.Errorf("cannot rebuild table %q: %w", "flag_exposures", err)
	}
	return tx.Commit()
}

// addFlagExposures records a batch's exposures, in the transaction that
// inserted its events. The stage holds only events not stored before
// (dropStored) and the insert keeps one of each uuid: without repeated
// uuids every staged event was inserted; with them the insert's choice
// is not known here, so the batch's persons are recomputed from the
// events.
func (s *Store) addFlagExposures(ctx context.Context, tx *sql.Tx, events []store.Row) error {
	has := false
	for i := range events {
		if events[i].Event == insight.ExposureEvent {
			has = true
			break
		}
	}
	if !has {
		return nil
	}
	if !repeatsUUID(events) {
		_, err := tx.ExecContext(ctx, upsertFlagExposuresSQL)
		return err
	}
	if _, err := tx.ExecContext(ctx, flagExposuresRefreshSQL+`SELECT DISTINCT project_id, person_id FROM stage_events WHERE event = ?`, insight.ExposureEvent); err != nil {
		return err
	}
	return refreshFlagExposures(ctx, tx)
}

// refreshFlagExposures recomputes the rows of the pairs in
// flag_exposures_refresh from the events.
func refreshFlagExposures(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM flag_exposures x WHERE `+inRefresh); err != nil {
		return fmt.Errorf("cannot recompute flag exposures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO flag_exposures `+flagExposureRows("events", inRefresh)); err != nil {
		return fmt.Errorf("cannot recompute flag exposures: %w", err)
	}
	return nil
}

// eraseFlagExposures, called in ErasePerson's transaction before the
// subject's events go, notes the stored persons of the exposure events
// that go (the subject's, and others' sent under the subject's distinct
// ids), and recomputes their rows once the events are gone (the returned
// function).
func eraseFlagExposures(ctx context.Context, tx *sql.Tx, sub *store.Subject) (after func() error, err error) {
	ev := subjectRows[0]
	if ev.table != "events" {
		return nil, fmt.Errorf("cannot note flag exposures of person %d: subjectRows[0] is %q", sub.PersonID, ev.table)
	}
	if _, err := tx.ExecContext(ctx, flagExposuresRefreshSQL+`SELECT DISTINCT project_id, person_id FROM events WHERE event = ? AND `+ev.where,
		append([]any{insight.ExposureEvent}, subjectParams(0, sub)...)...); err != nil {
		return nil, fmt.Errorf("cannot note flag exposures of person %d: %w", sub.PersonID, err)
	}
	return func() error { return refreshFlagExposures(ctx, tx) }, nil
}

// deleteEventsBefore deletes the project's events before cutoff and
// recomputes the flag exposures that began before it, in one transaction.
func (s *Store) deleteEventsBefore(ctx context.Context, projectID int64, cutoff time.Time) (sql.Result, error) {
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, flagExposuresRefreshSQL+`SELECT DISTINCT project_id, person_id FROM flag_exposures WHERE project_id = ? AND first_ts < ?`, projectID, cutoff.UTC()); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE project_id = ? AND ts < ?`, projectID, cutoff.UTC())
	if err != nil {
		return nil, err
	}
	if err := refreshFlagExposures(ctx, tx); err != nil {
		return nil, err
	}
	return res, tx.Commit()
}
