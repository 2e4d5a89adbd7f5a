// Package duckdb is the embedded event store.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/journeyidx"
	"github.com/journey-dev/journey/internal/store"
)

var (
	//go:embed schema.sql
	schemaSQL string
	//go:embed stage.sql
	stageSQL string
	//go:embed apply.sql
	applySQL string
	//go:embed insert_events.sql
	insertEventsSQL string
)

// Options tunes DuckDB.
type Options struct {
	// MemoryLimit is DuckDB's memory_limit in bytes; 0 =
	// DefaultMemoryLimit(), negative = DuckDB's own default.
	MemoryLimit int64
	Threads     int // 0 = DuckDB's default (all cores)
	// AllowExternalAccess keeps DuckDB's file access on (benchmarks export
	// data with COPY); the server turns it off.
	AllowExternalAccess bool
	// SQLMemoryBudget is how much the process' resident memory may grow
	// while sql-kind queries run before they are stopped (guard.go);
	// 0 = derived from memory_limit, -1 = no guard.
	SQLMemoryBudget int64
	// Plan switches the fast query plans (zero value: all on).
	Plan Plan
	// JourneyIndexDir holds the journey index (journeyidx.go); "" = the
	// database file's path + ".jidx", in memory for an in-memory store.
	JourneyIndexDir string
}

// Plan holds the switches of the store's fast query plans. Each one has a
// slower, plainer plan that gives the same answers: tests run both, and an
// operator can turn a fast path off after an engine upgrade (--query-plan).
// The zero value turns every fast path on.
type Plan struct {
	// MaskPeriods: a query over at most this many periods keeps each
	// actor's activity as a bitmask in one UBIGINT, built in a single GROUP
	// BY actor; over more it falls back to distinct (actor, period) pairs
	// and a join, which is slower. 0 = 64 (the most a UBIGINT holds),
	// negative = never.
	MaskPeriods int
	// NoDenseRetention turns off the person bitsets for retention without
	// breakdown (retentionDense) and for active users.
	NoDenseRetention bool
	// NoEventCodes makes funnels of plain event names use a CASE on the
	// event name instead of event codes (eventCodes).
	NoEventCodes bool
	// NoFeedInPlace makes the feeds read DuckDB's vectors through
	// duckdb-go's boxed values instead of in place (package vecfeed).
	NoFeedInPlace bool
	// NoFlagExposures makes experiments find exposures by parsing every
	// exposure event instead of reading flag_exposures (which is kept
	// either way: flagexposures.go).
	NoFlagExposures bool
	// NoExperimentIndex makes experiments count their metrics with SQL
	// instead of walking the journey index's events (experimentidx.go).
	NoExperimentIndex bool
	// NoJourneyIndex turns the journey index off: it is neither kept nor
	// read (journeyidx.go); a later open with it on rebuilds it.
	NoJourneyIndex bool
	// Now is the clock retention cuts its periods at; nil = time.Now.
	Now func() time.Time
}

// planSwitches are --query-plan's names of the fast paths it turns off.
var planSwitches = []struct {
	name string
	set  func(*Plan)
	off  func(Plan) bool
}{
	{"no-masks", func(p *Plan) { p.MaskPeriods = -1 }, func(p Plan) bool { return p.MaskPeriods < 0 }},
	{"no-dense", func(p *Plan) { p.NoDenseRetention = true }, func(p Plan) bool { return p.NoDenseRetention }},
	{"no-event-codes", func(p *Plan) { p.NoEventCodes = true }, func(p Plan) bool { return p.NoEventCodes }},
	{"no-feed-in-place", func(p *Plan) { p.NoFeedInPlace = true }, func(p Plan) bool { return p.NoFeedInPlace }},
	{"no-journey-index", func(p *Plan) { p.NoJourneyIndex = true }, func(p Plan) bool { return p.NoJourneyIndex }},
	{"no-flag-exposures", func(p *Plan) { p.NoFlagExposures = true }, func(p Plan) bool { return p.NoFlagExposures }},
	{"no-experiment-index", func(p *Plan) { p.NoExperimentIndex = true }, func(p Plan) bool { return p.NoExperimentIndex }},
}

// ParsePlan reads a comma-separated list of the fast paths to turn off
// (--query-plan): no-masks (MaskPeriods < 0), no-dense, no-event-codes,
// no-feed-in-place, no-journey-index, no-flag-exposures,
// no-experiment-index; "" turns none off.
func ParsePlan(list string) (Plan, error) {
	var p Plan
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		known := false
		var names []string
		for _, sw := range planSwitches {
			if sw.name == name {
				sw.set(&p)
				known = true
			}
			names = append(names, sw.name)
		}
		if !known {
			return Plan{}, fmt.Errorf("unknown query plan switch %q: want a comma-separated list of %s", name, strings.Join(names, ", "))
		}
	}
	return p, nil
}

// String lists the fast paths p turns off, as ParsePlan reads them.
func (p Plan) String() string {
	var off []string
	for _, sw := range planSwitches {
		if sw.off(p) {
			off = append(off, sw.name)
		}
	}
	return strings.Join(off, ",")
}

// maskPeriods is MaskPeriods resolved (see Plan).
func (p Plan) maskPeriods() int {
	switch {
	case p.MaskPeriods == 0:
		return 64
	case p.MaskPeriods < 0:
		return 0
	}
	return min(p.MaskPeriods, 64)
}

func (p Plan) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Store is store.Store on DuckDB.
type Store struct {
	db   *sql.DB
	plan Plan

	guard *guard // stops sql-kind queries past their memory budget

	mu    sync.Mutex // serialises Apply on the write connection
	write *sql.Conn
	seen  *seenFilter // stored (project, uuid) pairs; guarded by mu
	ws    writeState  // write's prepared statements (applystmts.go); guarded by mu

	jidx *jindex // the journey index; nil when off (journeyidx.go)
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the DuckDB file at path; "" is in memory.
func Open(path string, opts Options) (*Store, error) {
	connector, err := duckdb.NewConnector(path, func(execer driver.ExecerContext) error {
		// Stored timestamps are UTC; keep the session zone UTC so casts to
		// TIMESTAMPTZ do not shift them.
		_, err := execer.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open event store %q: %w", path, err)
	}
	db := sql.OpenDB(connector)
	s := &Store{db: db, plan: opts.Plan}
	if err := s.init(opts); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openJourneyIndex(path, opts); err != nil {
		s.Close()
		return nil, err
	}
	memoryStore.Store(s) // memory.go: journey_duckdb_memory_bytes
	return s, nil
}

func (s *Store) init(opts Options) error {
	ctx := context.Background()
	limit := opts.MemoryLimit
	if limit == 0 {
		limit = DefaultMemoryLimit()
	}
	if limit > 0 {
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("SET memory_limit = '%dB'", limit)); err != nil {
			return fmt.Errorf("cannot set memory_limit to %d bytes: %w", limit, err)
		}
	}
	if opts.Threads > 0 {
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", opts.Threads)); err != nil {
			return fmt.Errorf("cannot set threads: %w", err)
		}
	}
	if err := s.initGuard(ctx, opts.SQLMemoryBudget, limit); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("cannot create event store schema: %w", err)
	}
	if err := s.initFlagExposures(ctx); err != nil {
		return err
	}
	// Nothing in Journey reads files through SQL; turning it off closes
	// that door for the SQL insight too (defence in depth behind its checks).
	if !opts.AllowExternalAccess {
		if _, err := s.db.ExecContext(ctx, "SET enable_external_access = false"); err != nil {
			return fmt.Errorf("cannot disable external access: %w", err)
		}
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, stageSQL); err != nil {
		conn.Close()
		return fmt.Errorf("cannot create staging tables: %w", err)
	}
	if err := registerFeeds(conn); err != nil {
		conn.Close()
		return err
	}
	s.write = conn
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	memoryStore.CompareAndSwap(s, nil)
	ierr := s.closeJourneyIndex()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.write != nil {
		s.closeWriteStmts()
		s.write.Close()
	}
	return errors.Join(s.db.Close(), ierr)
}

// Apply stores one loader batch atomically with its checkpoint.
func (s *Store) Apply(ctx context.Context, w *store.Write) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.clearStage(ctx); err != nil {
		return err
	}
	s.markStaged(w)
	if err := s.stage(w); err != nil {
		return err
	}
	if err := s.ensureSeen(ctx, len(w.Events)); err != nil {
		return err
	}
	// Stored uuids leave the stage first, at any event time (dedup.go), so
	// the insert's own time-bounded check has nothing left to find: its
	// range is empty, which zone maps skip.
	dropped, err := s.dropStored(ctx, w.Events)
	if err != nil {
		return err
	}
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var inserted []journeyidx.Event // for the journey index
	if len(w.Events) > 0 {
		lo, hi := time.Time{}, time.Time{}.Add(time.Nanosecond)
		if inserted, err = s.insertEvents(ctx, tx, w.Events, dropped, lo, hi, w.Checkpoint); err != nil {
			return fmt.Errorf("cannot insert events: %w", err)
		}
		if err := s.addFlagExposures(ctx, tx, w.Events); err != nil {
			return fmt.Errorf("cannot record flag exposures: %w", err)
		}
	}
	if err := s.applyStaged(ctx); err != nil {
		return fmt.Errorf("cannot apply batch: %w", err)
	}
	if err := s.storeCheckpoint(ctx, w.Checkpoint); err != nil {
		return fmt.Errorf("cannot store checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit batch: %w", err)
	}
	s.markStored(w.Events)
	s.addToJourneyIndex(inserted, w.Checkpoint)
	return nil
}

// beginWrite begins a transaction on the write connection. Its statements
// take ctx (an ended one interrupts them and the caller rolls back), the
// transaction itself does not: database/sql rolls back a transaction
// whose context ends and then closes its connection (duckdb-go cannot
// reset a session), which would leave the store without its write
// connection, its staging tables and prepared statements for good.
func (s *Store) beginWrite(ctx context.Context) (*sql.Tx, error) {
	return s.write.BeginTx(context.WithoutCancel(ctx), nil)
}

func (s *Store) stage(w *store.Write) error {
	return s.write.Raw(func(c any) error {
		conn := c.(driver.Conn)
		if err := appendRows(conn, "stage_events", len(w.Events), func(i int) []driver.Value {
			e := &w.Events[i]
			return []driver.Value{e.ProjectID, duckdb.UUID(e.UUID), e.Event, e.DistinctID, e.PersonID, e.Timestamp.UTC(), jsonText(e.Properties), e.ReceivedAt.UTC()}
		}); err != nil {
			return err
		}
		if err := appendRows(conn, "stage_distinct_ids", len(w.DistinctIDs), func(i int) []driver.Value {
			d := &w.DistinctIDs[i]
			return []driver.Value{d.ProjectID, d.DistinctID, d.PersonID}
		}); err != nil {
			return err
		}
		if err := appendRows(conn, "stage_persons", len(w.Persons), func(i int) []driver.Value {
			p := &w.Persons[i]
			return []driver.Value{p.ID, p.ProjectID, p.CreatedAt.UTC(), store.PropertiesJSON(p.Properties)}
		}); err != nil {
			return err
		}
		if err := appendRows(conn, "stage_overrides", len(w.Overrides), func(i int) []driver.Value {
			o := &w.Overrides[i]
			return []driver.Value{o.OldPersonID, o.ProjectID, o.PersonID}
		}); err != nil {
			return err
		}
		return appendRows(conn, "stage_groups", len(w.Groups), func(i int) []driver.Value {
			g := &w.Groups[i]
			return []driver.Value{g.ProjectID, g.Type, g.Key, g.CreatedAt.UTC(), store.PropertiesJSON(g.Properties)}
		})
	})
}

func appendRows(conn driver.Conn, table string, n int, row func(i int) []driver.Value) error {
	if n == 0 {
		return nil
	}
	a, err := duckdb.NewAppenderFromConn(conn, "", table)
	if err != nil {
		return fmt.Errorf("cannot open appender for %q: %w", table, err)
	}
	for i := 0; i < n; i++ {
		if err := a.AppendRow(row(i)...); err != nil {
			a.Close()
			return fmt.Errorf("cannot append to %q: %w", table, err)
		}
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("cannot flush appender for %q: %w", table, err)
	}
	return nil
}

func jsonText(raw json.RawMessage) any {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// Checkpoint returns the log position up to which batches are stored.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var pos uint64
	err := s.db.QueryRowContext(ctx, `SELECT position FROM loader_checkpoint WHERE id = 1`).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// Identity loads the distinct-id map and overrides for the resolver.
func (s *Store) Identity(ctx context.Context) (store.Identity, error) {
	var id store.Identity
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, distinct_id, person_id FROM person_distinct_ids`)
	if err != nil {
		return id, fmt.Errorf("cannot read distinct ids: %w", err)
	}
	for rows.Next() {
		var d store.DistinctID
		if err := rows.Scan(&d.ProjectID, &d.DistinctID, &d.PersonID); err != nil {
			rows.Close()
			return id, err
		}
		id.DistinctIDs = append(id.DistinctIDs, d)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT project_id, old_person_id, person_id FROM person_overrides`)
	if err != nil {
		return id, fmt.Errorf("cannot read person overrides: %w", err)
	}
	for rows.Next() {
		var o store.Override
		if err := rows.Scan(&o.ProjectID, &o.OldPersonID, &o.PersonID); err != nil {
			rows.Close()
			return id, err
		}
		id.Overrides = append(id.Overrides, o)
	}
	rows.Close()
	err = s.db.QueryRowContext(ctx, `SELECT greatest(
		coalesce((SELECT max(id) FROM persons), 0),
		coalesce((SELECT max(person_id) FROM person_distinct_ids), 0),
		coalesce((SELECT max(old_person_id) FROM person_overrides), 0),
		coalesce((SELECT max(person_id) FROM erased_persons), 0))`).Scan(&id.MaxPersonID) // delete.go's tombstones
	if err != nil {
		return id, err
	}
	if id.Identified, err = s.identified(ctx); err != nil {
		return id, err
	}
	id.GroupLinks, err = s.groupLinks(ctx)
	return id, err
}

// groupLinksSQL finds each person id's latest Segment group call; the
// conditions are the resolver's (identity.validLink), so that a restart
// rebuilds exactly the links it held.
const groupLinksSQL = `
SELECT project_id, person_id, g.ts, g.t, g.k FROM (
	SELECT project_id, person_id, max({'ts': ts, 't': json_extract_string(properties, '/$group_type'),
		'k': json_extract_string(properties, '/$group_key')}) AS g
	FROM events
	WHERE event = '$groupidentify' AND person_id > 0
		AND CAST(json_extract(properties, '/$segment_group') AS VARCHAR) = 'true'
		AND json_type(properties, '/$group_type') = 'VARCHAR' AND json_type(properties, '/$group_key') = 'VARCHAR'
		AND strlen(json_extract_string(properties, '/$group_type')) BETWEEN 1 AND 200
		AND strlen(json_extract_string(properties, '/$group_key')) BETWEEN 1 AND 200
	GROUP BY project_id, person_id)`

func (s *Store) groupLinks(ctx context.Context) ([]store.GroupLink, error) {
	rows, err := s.db.QueryContext(ctx, groupLinksSQL)
	if err != nil {
		return nil, fmt.Errorf("cannot read group links: %w", err)
	}
	defer rows.Close()
	var out []store.GroupLink
	for rows.Next() {
		var g store.GroupLink
		if err := rows.Scan(&g.ProjectID, &g.PersonID, &g.At, &g.Type, &g.Key); err != nil {
			return nil, fmt.Errorf("cannot read group links: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Persons returns the stored persons among ids.
func (s *Store) Persons(ctx context.Context, ids []int64) (map[int64]store.Person, error) {
	out := make(map[int64]store.Person, len(ids))
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id, project_id, created_at, properties FROM persons WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("cannot read persons: %w", err)
		}
		for rows.Next() {
			p, err := scanPerson(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[p.ID] = p
		}
		rows.Close()
	}
	return out, nil
}

func scanPerson(row interface{ Scan(...any) error }) (store.Person, error) {
	var p store.Person
	var props sql.NullString
	if err := row.Scan(&p.ID, &p.ProjectID, &p.CreatedAt, &props); err != nil {
		return p, err
	}
	p.Properties = map[string]any{}
	if props.Valid {
		if err := json.Unmarshal([]byte(props.String), &p.Properties); err != nil {
			return p, fmt.Errorf("cannot decode properties of person %d: %w", p.ID, err)
		}
	}
	return p, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// PersonByDistinctID returns the person behind a distinct id.
func (s *Store) PersonByDistinctID(ctx context.Context, projectID int64, distinctID string) (store.Person, []string, error) {
	var pid int64
	err := s.db.QueryRowContext(ctx, `SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND distinct_id = ?`, projectID, distinctID).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Person{}, nil, store.ErrNotFound
	}
	if err != nil {
		return store.Person{}, nil, fmt.Errorf("cannot read person of distinct id %q: %w", distinctID, err)
	}
	return s.PersonByID(ctx, projectID, pid)
}

// CountEvents counts stored events.
func (s *Store) CountEvents(ctx context.Context, projectID int64) (int64, error) {
	var n int64
	q, args := `SELECT count(*) FROM events`, []any{}
	if projectID != 0 {
		q, args = q+` WHERE project_id = ?`, append(args, projectID)
	}
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// DuckDB's out-of-memory errors (past --memory-limit) read as
// *insight.MemoryError.
func init() {
	store.RegisterOutOfMemory(func(_ context.Context, err error) *insight.MemoryError {
		var e *duckdb.Error
		if errors.As(err, &e) && e.Type == duckdb.ErrorTypeOutOfMemory {
			return &insight.MemoryError{Limit: "--memory-limit"}
		}
		return nil
	})
}

// initGuard starts the guard with budget (see Options.SQLMemoryBudget);
// memoryLimit is the memory_limit set, negative for DuckDB's own default.
func (s *Store) initGuard(ctx context.Context, budget, memoryLimit int64) error {
	if budget < 0 {
		return nil
	}
	if budget == 0 {
		if memoryLimit <= 0 { // DuckDB's default: ask it
			var text string
			if err := s.db.QueryRowContext(ctx, `SELECT current_setting('memory_limit')`).Scan(&text); err != nil {
				return fmt.Errorf("cannot read memory_limit: %w", err)
			}
			memoryLimit = parseSize(text)
		}
		budget = guardBudget(memoryLimit)
	}
	s.guard = &guard{budget: budget, read: residentBytes}
	return nil
}
