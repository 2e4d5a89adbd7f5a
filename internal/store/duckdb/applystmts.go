package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// Apply runs the same few statements on every loader write, and DuckDB's
// parse, bind and plan of one cost about as much CPU as running it on a
// write of 2 500 events (issue 17: preparation was 8.6 % of the server's
// CPU at 10 000 events/s). So they are prepared once on the write
// connection — DuckDB's prepared statements belong to a connection — and
// reused; DuckDB rebinds one itself when the catalog changed since.

// writeState is the write connection's prepared statements by query text
// and the staging tables that may hold rows; guarded by Store.mu.
type writeState struct {
	stmts  map[string]driver.Stmt
	staged map[string]bool // stage_* tables appended to since cleared
}

// stageTables are the staging tables, in stage.sql's order.
var stageTables = []string{"stage_events", "stage_distinct_ids", "stage_persons", "stage_overrides", "stage_groups"}

// applyStatements are apply.sql's statements; each reads one staging
// table, and one whose table the write left empty changes nothing.
var applyStatements = sqlStatements(applySQL)

// clearStage empties the staging tables that may hold rows (an earlier
// write's, or a failed one's), one DELETE each.
func (s *Store) clearStage(ctx context.Context) error {
	for _, t := range stageTables {
		if !s.ws.staged[t] {
			continue
		}
		if _, err := s.execWrite(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("cannot clear staging table %q: %w", t, err)
		}
		delete(s.ws.staged, t)
	}
	return nil
}

// markStaged notes the staging tables w fills, before they are filled (a
// write that fails halfway leaves them for the next clearStage).
func (s *Store) markStaged(w *store.Write) {
	if s.ws.staged == nil {
		s.ws.staged = map[string]bool{}
	}
	for i, n := range []int{len(w.Events), len(w.DistinctIDs), len(w.Persons), len(w.Overrides), len(w.Groups)} {
		if n > 0 {
			s.ws.staged[stageTables[i]] = true
		}
	}
}

// applyStaged moves the staged identity rows into their tables (apply.sql),
// skipping the statements whose staging table is empty.
func (s *Store) applyStaged(ctx context.Context) error {
	for _, q := range applyStatements {
		if t := stageTableOf(stripComments(q)); t != "" && !s.ws.staged[t] {
			continue
		}
		if isUpsert(q) {
			if _, err := s.write.ExecContext(ctx, q); err != nil {
				return err
			}
			continue
		}
		if _, err := s.execWrite(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// insertStagedSQL inserts every staged event: what insert_events.sql
// does when no uuid repeats in the batch (its window keeps every row) and
// stored ones left the stage (its NOT EXISTS has an empty range), without
// the window's sort and the anti-join.
const insertStagedSQL = `INSERT INTO events SELECT * FROM stage_events`

// insertStaged inserts the staged events (lo, hi: insert_events.sql's
// dedup bounds), with insertStagedSQL when no uuid repeats in events.
func (s *Store) insertStaged(ctx context.Context, events []store.Row, lo, hi time.Time) error {
	var err error
	if repeatsUUID(events) {
		_, err = s.execWrite(ctx, insertEventsSQL, lo, hi)
	} else {
		_, err = s.execWrite(ctx, insertStagedSQL)
	}
	return err
}

// isUpsert says whether q is an INSERT OR REPLACE or ON CONFLICT: one
// prepared once and run again crashed DuckDB (1.5.x, a segmentation fault
// when a conflicting row was replaced), so those are prepared afresh
// each time, as before.
func isUpsert(q string) bool {
	return strings.Contains(q, "INSERT OR REPLACE") || strings.Contains(q, "ON CONFLICT")
}

// storeCheckpoint stores the write's checkpoint: an UPDATE of its row
// (prepared, not an upsert: see isUpsert), inserted the first time.
func (s *Store) storeCheckpoint(ctx context.Context, position uint64) error {
	n, err := s.execWrite(ctx, `UPDATE loader_checkpoint SET position = ? WHERE id = 1`, position)
	if err != nil || n > 0 {
		return err
	}
	_, err = s.execWrite(ctx, `INSERT INTO loader_checkpoint VALUES (1, ?)`, position)
	return err
}

// stageTableOf is the staging table a statement reads, "" if none or
// several (such a statement always runs).
func stageTableOf(q string) string {
	found := ""
	for _, t := range stageTables {
		if strings.Contains(q, t) {
			if found != "" {
				return ""
			}
			found = t
		}
	}
	return found
}

// execWrite runs one statement (no ';'-separated list: the driver would run
// all but the last at preparation) with args on the write connection, from
// its prepared statement, and returns the rows it changed. Inside Apply's
// transaction it is part of it: a DuckDB transaction is its connection's.
// The caller holds s.mu.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (int64, error) {
	var changed int64
	err := s.write.Raw(func(c any) error {
		conn := c.(driver.Conn)
		st, err := s.writeStmt(ctx, conn, query)
		if err != nil {
			return err
		}
		named, err := namedValues(conn, args)
		if err != nil {
			return err
		}
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, named)
		if err != nil {
			return err
		}
		changed, err = res.RowsAffected()
		return err
	})
	return changed, err
}

// writeStmt returns query's prepared statement, preparing it on first use.
func (s *Store) writeStmt(ctx context.Context, conn driver.Conn, query string) (driver.Stmt, error) {
	if st, ok := s.ws.stmts[query]; ok {
		return st, nil
	}
	st, err := conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare %q: %w", query, err)
	}
	if s.ws.stmts == nil {
		s.ws.stmts = map[string]driver.Stmt{}
	}
	s.ws.stmts[query] = st
	return st, nil
}

// namedValues converts args as database/sql does: the driver's own check
// first, the default conversion for the values it leaves to it.
func namedValues(conn driver.Conn, args []any) ([]driver.NamedValue, error) {
	named := make([]driver.NamedValue, len(args))
	checker, _ := conn.(driver.NamedValueChecker)
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		if checker != nil {
			err := checker.CheckNamedValue(&named[i])
			if err == nil {
				continue
			}
			if !errors.Is(err, driver.ErrSkip) {
				return nil, fmt.Errorf("cannot convert argument %d: %w", i+1, err)
			}
		}
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("cannot convert argument %d: %w", i+1, err)
		}
		named[i].Value = v
	}
	return named, nil
}

// closeWriteStmts closes the prepared statements (before their connection).
func (s *Store) closeWriteStmts() error {
	var errs []error
	for q, st := range s.ws.stmts {
		errs = append(errs, st.Close())
		delete(s.ws.stmts, q)
	}
	return errors.Join(errs...)
}

// sqlStatements splits a script of ';'-terminated statements (no ';' in
// its strings or comments) into its statements, for execWrite.
func sqlStatements(script string) []string {
	var out []string
	for _, st := range strings.Split(script, ";") {
		if code := strings.TrimSpace(stripComments(st)); code != "" {
			out = append(out, strings.TrimSpace(st))
		}
	}
	return out
}

// stripComments drops the "--" line comments of a statement.
func stripComments(st string) string {
	lines := strings.Split(st, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "--"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}
