package duckdb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/journeyidx"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/duckdb/vecfeed"
	"github.com/journey-dev/journey/internal/store/funnelwalk"
)

// The journey index (package journeyidx) in front of the event store:
// Apply feeds it the events each batch really inserted, after the commit;
// funnels, retention and active users on plain event names read it (the
// index-backed plans below), everything else, and everything while it is
// being rebuilt, uses the SQL plans. Plan.NoJourneyIndex turns it off.
//
// Consistency: a query uses the index only when its snapshot holds as
// many of the project's events as the store (counted after the snapshot
// was taken: equal counts mean no batch committed in between, and events
// are only ever inserted). Anything else — a batch between its commit and
// its Add, events written behind the store's back (the bench's generator,
// a restore) — falls back, and a mismatch that persists with no Apply
// running (checked under the write lock) rebuilds the projects that differ
// (all of them when the checkpoints differ) from the event store.
//
// Crashes: a file store also keeps each batch's indexed events in
// journey_index_batches (journeyidx_tail.go: one row a batch), in the
// batch's own transaction, until a manifest of
// the index covers the batch (journey_index_state.pruned: the batches up
// to it were removed, every later one is there). A crash loses at most the
// index's tail and merges in progress (the manifest decides which files
// are live); the next open adds the batches past the manifest's
// checkpoint from that table instead of rebuilding from every event, and
// rebuilds only projects whose files were damaged.

// jindex is a store's journey index and its rebuild state.
type jindex struct {
	ix         *journeyidx.Index
	rebuilding atomic.Bool
	checking   atomic.Bool
	wg         sync.WaitGroup
	// ctx ends with the store (Close), stopping a rebuild.
	ctx    context.Context
	cancel context.CancelFunc
	// workers scan the index: Options.Threads, as DuckDB's, or all cores.
	workers int
	// keepTail: batches' events go to journey_index_tail too (an index on
	// disk); pruned is the position up to which the table was emptied
	// (under the write lock).
	keepTail bool
	pruned   uint64
}

var (
	journeyIndexQueries   = metrics.NewCounter(`journey_index_queries_total{plan="index"}`)
	journeyIndexFallbacks = metrics.NewCounter(`journey_index_queries_total{plan="fallback"}`)
	journeyIndexRebuilds  = metrics.NewCounter(`journey_index_rebuilds_total`)
	// Events a rebuild read from the events table, and events an open
	// added back from journey_index_tail after a crash.
	journeyIndexRebuiltEvents  = metrics.NewCounter(`journey_index_rebuilt_events_total`)
	journeyIndexReplayedEvents = metrics.NewCounter(`journey_index_replayed_events_total`)
)

// journeyTailSQL makes the tables of the index's durable tail.
const journeyTailSQL = `CREATE TABLE IF NOT EXISTS journey_index_tail (
	position UBIGINT NOT NULL, project_id BIGINT NOT NULL, person_id BIGINT NOT NULL, t BIGINT NOT NULL, event VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS journey_index_batches (position UBIGINT NOT NULL, events BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journey_index_state (id INTEGER PRIMARY KEY, pruned UBIGINT NOT NULL);`

// journeyIndexFlushEvents is the index's tail size (0: its default);
// tests make it small so that flushes and merges happen often.
var journeyIndexFlushEvents = 0

// openJourneyIndex opens (or creates) the store's journey index: dir, or
// beside the database file, or in memory for an in-memory store. One that
// does not cover the store's checkpoint and events is rebuilt in the
// background.
func (s *Store) openJourneyIndex(path string, opts Options) error {
	ctx := context.Background()
	if opts.Plan.NoJourneyIndex {
		if path == "" {
			return nil
		}
		// The batches applied now are not kept for an index: one opened
		// later must not add from the tail table, which has a gap.
		if _, err := s.db.ExecContext(ctx, journeyTailSQL+`DELETE FROM journey_index_state; DELETE FROM journey_index_tail; DELETE FROM journey_index_batches;`); err != nil {
			return fmt.Errorf("cannot clear the journey index tail: %w", err)
		}
		return nil
	}
	dir := opts.JourneyIndexDir
	if dir == "" && path != "" {
		dir = path + ".jidx"
	}
	storeID, err := s.storeID()
	if err != nil {
		return err
	}
	ix, err := journeyidx.Open(journeyidx.Options{Dir: dir, FlushEvents: journeyIndexFlushEvents, StoreID: storeID})
	if ix == nil {
		return err
	}
	if err != nil {
		slog.Warn("journey index damaged; rebuilding what it lost from the event store", "err", err)
	}
	s.jidx = &jindex{ix: ix, workers: opts.Threads, keepTail: dir != ""}
	if s.jidx.workers <= 0 {
		s.jidx.workers = runtime.GOMAXPROCS(0)
	}
	s.jidx.ctx, s.jidx.cancel = context.WithCancel(context.Background())
	err = s.replayJourneyTail(ctx)
	var ok bool
	var bad []int64
	if err == nil {
		ok, bad, err = s.journeyIndexCheck(ctx, nil)
	}
	if err != nil {
		ix.Close()
		s.jidx = nil
		return err
	}
	if !ok {
		s.startRebuildProjects(bad)
	}
	return nil
}

// replayJourneyTail adds to the index, at open, the batches the store
// applied past the manifest's checkpoint (a crash lost the index's tail),
// from journey_index_tail; when the table does not reach back that far
// it adds nothing, and the check that follows rebuilds.
func (s *Store) replayJourneyTail(ctx context.Context) error {
	j := s.jidx
	if !j.keepTail {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, journeyTailSQL); err != nil {
		return fmt.Errorf("cannot create the journey index tail: %w", err)
	}
	var ckpt uint64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM loader_checkpoint WHERE id = 1`).Scan(&ckpt); err != nil {
		return fmt.Errorf("cannot read checkpoint: %w", err)
	}
	err := s.db.QueryRowContext(ctx, `SELECT pruned FROM journey_index_state WHERE id = 1`).Scan(&j.pruned)
	if errors.Is(err, sql.ErrNoRows) {
		// Batches were applied without keeping them (the index off, an
		// older Journey): the table is complete from now on.
		j.pruned = ckpt
		if _, err := s.db.ExecContext(ctx, `DELETE FROM journey_index_tail; DELETE FROM journey_index_batches; INSERT OR REPLACE INTO journey_index_state VALUES (1, `+strconv.FormatUint(ckpt, 10)+`)`); err != nil {
			return fmt.Errorf("cannot start the journey index tail: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the journey index tail: %w", err)
	}
	have := j.ix.Checkpoint()
	if !j.ix.Ready() || have >= ckpt || have < j.pruned {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, person_id, t, event FROM journey_index_tail WHERE position > ? AND position <= ?`, have, ckpt)
	if err != nil {
		return fmt.Errorf("cannot read the journey index tail: %w", err)
	}
	defer rows.Close()
	var evs []journeyidx.Event
	for rows.Next() {
		var e journeyidx.Event
		if err := rows.Scan(&e.Project, &e.Person, &e.T, &e.Name); err != nil {
			return fmt.Errorf("cannot read the journey index tail: %w", err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read the journey index tail: %w", err)
	}
	if evs, err = readTailBatches(ctx, s.db, have, ckpt, evs); err != nil {
		return err
	}
	j.ix.Add(evs, ckpt)
	journeyIndexReplayedEvents.Add(len(evs))
	slog.Info("journey index: added the batches past its manifest from the store", "from", have, "to", ckpt, "events", len(evs))
	return nil
}

// keepJourneyTail keeps the batch's indexed events in
// journey_index_batches, in the batch's transaction, and removes the
// batches a manifest now covers.
func (s *Store) keepJourneyTail(ctx context.Context, tx *sql.Tx, position uint64, events []journeyidx.Event) error {
	j := s.jidx
	if d := j.ix.Durable(); d > j.pruned {
		for _, table := range []string{"journey_index_batches", "journey_index_tail"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE position <= ?`, d); err != nil {
				return fmt.Errorf("cannot prune the journey index tail: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO journey_index_state VALUES (1, ?)`, d); err != nil {
			return fmt.Errorf("cannot prune the journey index tail: %w", err)
		}
		// Were the batch rolled back, the table keeps more than pruned
		// says: harmless.
		j.pruned = d
	}
	if len(events) == 0 {
		return nil
	}
	if _, err := s.execWrite(ctx, `INSERT INTO journey_index_batches VALUES (?, ?)`, position, encodeTailBatch(events)); err != nil {
		return fmt.Errorf("cannot keep the journey index tail: %w", err)
	}
	return nil
}

// storeID is the database's own random id (made once), which the index's
// manifest records: an index beside a new or replaced database file is
// not that database's.
func (s *Store) storeID() (string, error) {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS journey_store_id (id INTEGER PRIMARY KEY, store_id VARCHAR NOT NULL);
		INSERT INTO journey_store_id SELECT 1, uuid()::VARCHAR WHERE NOT EXISTS (SELECT 1 FROM journey_store_id)`); err != nil {
		return "", fmt.Errorf("cannot make the store id: %w", err)
	}
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT store_id FROM journey_store_id WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("cannot read the store id: %w", err)
	}
	return id, nil
}

// journeyIndexCheck says whether the index covers exactly the store's
// checkpoint and events; when only some projects' events differ, bad
// names them (a rebuild of theirs is enough); conn, when set, reads
// through it (a caller holding the write lock).
func (s *Store) journeyIndexCheck(ctx context.Context, conn *sql.Conn) (ok bool, bad []int64, _ error) {
	q := func(query string, args ...any) *sql.Row {
		if conn != nil {
			return conn.QueryRowContext(ctx, query, args...)
		}
		return s.db.QueryRowContext(ctx, query, args...)
	}
	var ckpt uint64
	if err := q(`SELECT coalesce(max(position), 0) FROM loader_checkpoint WHERE id = 1`).Scan(&ckpt); err != nil {
		return false, nil, fmt.Errorf("cannot read checkpoint: %w", err)
	}
	var counts string
	if err := q(`SELECT coalesce(string_agg(project_id || ':' || n, ',' ORDER BY project_id), '') FROM (SELECT project_id, count(*) AS n FROM events GROUP BY project_id)`).Scan(&counts); err != nil {
		return false, nil, fmt.Errorf("cannot count events: %w", err)
	}
	if s.jidx.ix.Checkpoint() != ckpt || !s.jidx.ix.Ready() {
		return false, nil, nil
	}
	have := s.jidx.ix.Projects() // projects being rebuilt are left out: they differ
	want := map[int64]int64{}
	for _, part := range strings.Split(counts, ",") {
		if part == "" {
			continue
		}
		var id, n int64
		fmt.Sscanf(part, "%d:%d", &id, &n)
		want[id] = n
	}
	for id, n := range want {
		if have[id] != n {
			bad = append(bad, id)
		}
	}
	for id, n := range have {
		if _, ok := want[id]; !ok && n > 0 {
			bad = append(bad, id)
		}
	}
	slices.Sort(bad)
	return len(bad) == 0, bad, nil
}

// startRebuild rebuilds the index from the event store in the background.
func (s *Store) startRebuild() { s.startRebuildProjects(nil) }

// startRebuildProjects rebuilds some projects of the index (nil: all of
// it) from the event store in the background.
func (s *Store) startRebuildProjects(projects []int64) {
	j := s.jidx
	if !j.rebuilding.CompareAndSwap(false, true) {
		return
	}
	journeyIndexRebuilds.Inc()
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer j.rebuilding.Store(false)
		start := time.Now()
		if err := s.rebuildJourneyIndex(j.ctx, projects); err != nil {
			if j.ctx.Err() != nil {
				return // closing
			}
			slog.Error("cannot rebuild the journey index; queries use the event store's plans", "err", err)
			return
		}
		slog.Info("journey index rebuilt", "projects", projects, "took", time.Since(start).Round(time.Millisecond))
	}()
}

// UseJourneyIndex turns reading the index on or off (the bench measures
// both plans on one store; the index is kept either way).
func (s *Store) UseJourneyIndex(on bool) { s.plan.NoJourneyIndex = !on }

// JourneyIndexDir is where the index keeps its files ("" in memory or off).
func (s *Store) JourneyIndexDir() string {
	if s.jidx == nil {
		return ""
	}
	return s.jidx.ix.Dir()
}

// RebuildJourneyIndex rebuilds the index now and waits (the bench, after
// writing events behind the store's back); without an index it does
// nothing.
func (s *Store) RebuildJourneyIndex(ctx context.Context) error {
	if s.jidx == nil {
		return nil
	}
	if err := s.WaitJourneyIndex(ctx); err != nil {
		return err
	}
	return s.rebuildJourneyIndex(ctx, nil)
}

// WaitJourneyIndex waits for a rebuild in progress to end.
func (s *Store) WaitJourneyIndex(ctx context.Context) error {
	if s.jidx == nil {
		return nil
	}
	for s.jidx.rebuilding.Load() || s.jidx.checking.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// rebuildBatch is how many events a rebuild hands the index at a time
// (each becomes a sorted segment; merges follow).
const rebuildBatch = 1 << 20

// rebuildFeedName is the scalar function a rebuild's scan calls on each
// event, journey_index_feed(project, person, t, event): it runs on
// DuckDB's threads and reads their vectors in place (package vecfeed), a
// few times faster than fetching 20 M rows through database/sql.
const rebuildFeedName = "journey_index_feed"

type rebuildFeedKey struct{}

// rebuildFeed gathers a rebuild's events and loads them in batches.
type rebuildFeed struct {
	ix  *journeyidx.Index
	mu  sync.Mutex
	buf []journeyidx.Event
	n   int64
	err error
}

func (f *rebuildFeed) error() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// add keeps one chunk's events, loading a full batch.
func (f *rebuildFeed) add(evs []journeyidx.Event) error {
	f.mu.Lock()
	f.buf = append(f.buf, evs...)
	f.n += int64(len(evs))
	var full []journeyidx.Event
	if len(f.buf) >= rebuildBatch {
		full, f.buf = f.buf, make([]journeyidx.Event, 0, rebuildBatch)
	}
	f.mu.Unlock()
	if full == nil {
		return nil
	}
	if err := f.ix.Load(full); err != nil {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		return err
	}
	return nil
}

func (f *rebuildFeed) flush() error {
	f.mu.Lock()
	rest := f.buf
	f.buf = nil
	f.mu.Unlock()
	return f.ix.Load(rest)
}

type rebuildFeedFunc struct{}

func (rebuildFeedFunc) Config() duckdb.ScalarFuncConfig { return rebuildFeedConfig() }

var rebuildFeedConfig = sync.OnceValue(func() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{
		InputTypeInfos: []duckdb.TypeInfo{typeInfo(duckdb.TYPE_BIGINT), typeInfo(duckdb.TYPE_BIGINT), typeInfo(duckdb.TYPE_BIGINT), typeInfo(duckdb.TYPE_VARCHAR)},
		ResultTypeInfo: typeInfo(duckdb.TYPE_BOOLEAN),
		Volatile:       true, // never folded or cached: it must see every row
	}
})

func (rebuildFeedFunc) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{ChunkContextExecutor: feedRebuildChunk}
}

// registerJourneyIndexFeed registers journey_index_feed (feeds.go).
func registerJourneyIndexFeed(conn *sql.Conn) error {
	if err := duckdb.RegisterScalarUDF(conn, rebuildFeedName, rebuildFeedFunc{}); err != nil {
		return fmt.Errorf("cannot register %s: %w", rebuildFeedName, err)
	}
	return nil
}

// feedRebuildChunk takes one chunk of events on a DuckDB thread.
func feedRebuildChunk(ctx context.Context, st *duckdb.ChunkIteratorState) error {
	f, _ := ctx.Value(rebuildFeedKey{}).(*rebuildFeed)
	if f == nil { // called outside a rebuild
		return answerTrue(st)
	}
	chunk := st.GetInputChunk()
	n := chunk.GetSize()
	out, okOut := vecfeed.Of(st.GetResultVector())
	projects, ok1 := vecfeed.Int64s(chunk, 0)
	persons, ok2 := vecfeed.Int64s(chunk, 1)
	ts, ok3 := vecfeed.Int64s(chunk, 2)
	view, err := vecfeed.StringView(chunk, 3)
	if !okOut || !ok1 || !ok2 || !ok3 || err != nil {
		return f.addBoxed(st)
	}
	evs := make([]journeyidx.Event, n)
	names := map[string]string{} // one copy of each name a chunk holds
	for i := range evs {
		v, ok, err := view.GetValueBorrowed(i)
		if err != nil || !ok {
			return fmt.Errorf("%s: event %d has no name", rebuildFeedName, i)
		}
		name, seen := names[v]
		if !seen {
			name = strings.Clone(v)
			names[name] = name
		}
		evs[i] = journeyidx.Event{Project: projects[i], Person: persons[i], T: ts[i], Name: name}
	}
	res := out.Bools(n)
	for i := range res {
		res[i] = true
	}
	return f.add(evs)
}

// addBoxed reads a chunk through duckdb-go's boxed values (vecfeed's
// fallback).
func (f *rebuildFeed) addBoxed(st *duckdb.ChunkIteratorState) error {
	var evs []journeyidx.Event
	for row, err := range st.Rows() {
		if err != nil {
			return err
		}
		var e journeyidx.Event
		e.Project, _ = (*row.GetValuePtr(0)).(int64)
		e.Person, _ = (*row.GetValuePtr(1)).(int64)
		e.T, _ = (*row.GetValuePtr(2)).(int64)
		e.Name, _ = (*row.GetValuePtr(3)).(string)
		evs = append(evs, e)
		if err := row.SetResult(true); err != nil {
			return err
		}
	}
	return f.add(evs)
}

// rebuildJourneyIndex empties the index, or some of its projects, and
// loads their stored events. Under the write lock it resets them and
// starts a read transaction (its snapshot: the store as of its
// checkpoint); batches applied after that are Added as usual while the
// rows of the snapshot are loaded.
func (s *Store) rebuildJourneyIndex(ctx context.Context, projects []int64) error {
	ix := s.jidx.ix
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.mu.Lock()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	defer tx.Rollback()
	var ckpt uint64
	// Reading inside the transaction fixes its snapshot before any other
	// batch commits.
	err = tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM loader_checkpoint WHERE id = 1`).Scan(&ckpt)
	where := ""
	if err == nil && projects == nil {
		err = ix.Reset()
	} else if err == nil {
		err = ix.ResetProjects(projects)
		ids := make([]string, len(projects))
		for i, id := range projects {
			ids[i] = strconv.FormatInt(id, 10)
		}
		where = " WHERE project_id IN (" + strings.Join(ids, ",") + ")"
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot start journey index rebuild: %w", err)
	}
	feed := &rebuildFeed{ix: ix}
	var fed int64
	err = tx.QueryRowContext(context.WithValue(ctx, rebuildFeedKey{}, feed),
		"SELECT count(*) FILTER (WHERE "+rebuildFeedName+"(project_id, person_id, epoch_us(ts), event)) FROM events"+where).Scan(&fed)
	if ferr := feed.error(); ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("cannot read events for the journey index: %w", err)
	}
	if err := feed.flush(); err != nil {
		return err
	}
	if feed.n != fed {
		return fmt.Errorf("cannot rebuild the journey index: the query counted %d events, the index received %d", fed, feed.n)
	}
	journeyIndexRebuiltEvents.Add(int(feed.n))
	if err := ix.Compact(); err != nil {
		return err
	}
	return ix.SetReady(ckpt)
}

// insertEventsReturning inserts the staged events and returns the ones
// inserted, for the index; only used when some may be stored already.
var insertEventsReturning = strings.TrimRight(strings.TrimSpace(insertEventsSQL), ";") +
	"\nRETURNING project_id, person_id, epoch_us(ts), event"

// insertEvents inserts the batch's events in tx (lo, hi: the dedup
// scan's bounds; position: the batch's checkpoint) and returns what the
// index must add: the rows really inserted. When no uuid of the batch can
// be stored (stored false) and no uuid repeats within it, that is every
// event; otherwise the insert says which (RETURNING), as the dedup
// decided. A file store's index keeps them in journey_index_batches too.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []store.Row, stored bool, lo, hi time.Time, position uint64) ([]journeyidx.Event, error) {
	if s.jidx == nil {
		return nil, s.insertStaged(ctx, events, lo, hi)
	}
	var out []journeyidx.Event
	if !stored && !repeatsUUID(events) {
		if err := s.insertStaged(ctx, events, lo, hi); err != nil {
			return nil, err
		}
		out = make([]journeyidx.Event, len(events))
		for i, e := range events {
			out[i] = journeyidx.Event{Project: e.ProjectID, Person: e.PersonID, T: e.Timestamp.UnixMicro(), Name: e.Event}
		}
	} else {
		var err error
		if out, err = s.insertReturning(ctx, tx, lo, hi); err != nil {
			return nil, err
		}
	}
	if s.jidx.keepTail {
		if err := s.keepJourneyTail(ctx, tx, position, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertReturning inserts the staged events (insert_events.sql's dedup)
// and returns the rows it inserted.
func (s *Store) insertReturning(ctx context.Context, tx *sql.Tx, lo, hi time.Time) ([]journeyidx.Event, error) {
	rows, err := tx.QueryContext(ctx, insertEventsReturning, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []journeyidx.Event
	for rows.Next() {
		var e journeyidx.Event
		if err := rows.Scan(&e.Project, &e.Person, &e.T, &e.Name); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// repeatsUUID says whether a uuid occurs twice in the batch.
func repeatsUUID(events []store.Row) bool {
	seen := make(map[[16]byte]struct{}, len(events))
	for i := range events {
		if _, ok := seen[events[i].UUID]; ok {
			return true
		}
		seen[events[i].UUID] = struct{}{}
	}
	return false
}

// addToJourneyIndex adds a committed batch's inserted events.
func (s *Store) addToJourneyIndex(events []journeyidx.Event, checkpoint uint64) {
	if s.jidx != nil {
		s.jidx.ix.Add(events, checkpoint)
	}
}

// closeJourneyIndex waits for a rebuild and closes the index.
func (s *Store) closeJourneyIndex() error {
	if s.jidx == nil {
		return nil
	}
	s.jidx.cancel()
	s.jidx.wg.Wait()
	return s.jidx.ix.Close()
}

// journeySnapshot returns the project's index snapshot when the plan may
// use it and it holds exactly the store's events of the project; else
// nil, and when the counts differ it has the index checked.
func (s *Store) journeySnapshot(ctx context.Context, projectID int64) *journeyidx.Snapshot {
	if s.jidx == nil || s.plan.NoJourneyIndex {
		return nil
	}
	snap, ok := s.jidx.ix.Snapshot(projectID)
	if !ok {
		journeyIndexFallbacks.Inc()
		return nil
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE project_id = ?`, projectID).Scan(&n); err != nil || n != snap.Events() {
		snap.Close()
		journeyIndexFallbacks.Inc()
		if err == nil {
			s.checkJourneyIndex()
		}
		return nil
	}
	journeyIndexQueries.Inc()
	return snap
}

// checkJourneyIndex checks, under the write lock (no batch between its
// commit and its Add), whether the index still matches the store, and
// rebuilds it if not.
func (s *Store) checkJourneyIndex() {
	j := s.jidx
	if j.rebuilding.Load() || !j.checking.CompareAndSwap(false, true) {
		return
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer j.checking.Store(false)
		s.mu.Lock()
		ok, bad, err := s.journeyIndexCheck(context.Background(), s.write)
		s.mu.Unlock()
		if err == nil && !ok {
			s.startRebuildProjects(bad)
		}
	}()
}

// journeyActors maps a snapshot's dense persons to actors: the person
// after merges, as the SQL plans' coalesce(o.person_id, e.person_id).
// Persons an override touches (merged away, or merged into) are marked
// special: their events come from several dense ids and are combined
// before they are walked.
type journeyActors struct {
	special  []uint64 // bitset by dense id
	override map[int64]int64
}

// journeyRead is what an indexed plan reads: the project's snapshot (the
// caller closes it) and its actors; ok is false when the index cannot
// answer (not ready or not consistent), and the SQL plans do.
func (s *Store) journeyRead(ctx context.Context, projectID int64) (*journeyidx.Snapshot, *journeyActors, bool, error) {
	snap := s.journeySnapshot(ctx, projectID)
	if snap == nil {
		return nil, nil, false, nil
	}
	actors, err := s.journeyActors(ctx, projectID, snap)
	if err != nil {
		snap.Close()
		return nil, nil, true, err
	}
	return snap, actors, true, nil
}

func (s *Store) journeyActors(ctx context.Context, projectID int64, snap *journeyidx.Snapshot) (*journeyActors, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT old_person_id, person_id FROM person_overrides WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot read person overrides: %w", err)
	}
	defer rows.Close()
	a := &journeyActors{override: map[int64]int64{}}
	var ids []int64
	for rows.Next() {
		var old, to int64
		if err := rows.Scan(&old, &to); err != nil {
			return nil, fmt.Errorf("cannot read person overrides: %w", err)
		}
		a.override[old] = to
		ids = append(ids, old, to)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read person overrides: %w", err)
	}
	if len(ids) == 0 {
		return a, nil
	}
	a.special = make([]uint64, (len(snap.Persons)+63)/64)
	for _, d := range snap.Dense(ids) {
		if d >= 0 {
			a.special[d/64] |= 1 << (d % 64)
		}
	}
	return a, nil
}

func (a *journeyActors) isSpecial(d uint32) bool {
	return a.special != nil && a.special[d/64]&(1<<(d%64)) != 0
}

func (a *journeyActors) actor(person int64) int64 {
	if to, ok := a.override[person]; ok {
		return to
	}
	return person
}

// indexableFunnel: a funnel the index answers — persons as the unit,
// plain event names, no property or cohort filters, no breakdown.
func indexableFunnel(q *insight.Funnel) bool {
	if q.Breakdown != nil || q.GroupType() != "" || len(q.Filters) > 0 {
		return false
	}
	for _, st := range q.Steps {
		if st.Action != nil || st.ActionID != 0 || len(st.Filters) > 0 {
			return false
		}
	}
	for _, x := range q.Exclusions {
		if x.Action != nil || x.ActionID != 0 || len(x.Filters) > 0 {
			return false
		}
	}
	return true
}

// indexFunnel answers a funnel from the journey index; ok is false when
// it cannot (then the SQL plan runs).
//
// How: every person's events of the funnel's names within its range come
// in (time, code) order, their masks from the codes (one table lookup),
// and are walked at once (funnelwalk.ActorWalk), on all cores; persons an
// override touches are gathered and walked after the scan, as their
// actor's.
func (s *Store) indexFunnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (_ *insight.FunnelResult, ok bool, _ error) {
	if !indexableFunnel(q) {
		return nil, false, nil
	}
	snap, actors, ok, err := s.journeyRead(ctx, projectID)
	if !ok || err != nil {
		return nil, ok, err
	}
	defer snap.Close()
	p := funnelwalk.NewPlan(q)
	masks := make([]uint32, len(snap.Names))
	keep := make([]bool, len(snap.Names))
	set := func(name string, bit uint64) {
		if c, ok := snap.Code(name); ok {
			masks[c] |= uint32(bit)
			keep[c] = true
		}
	}
	for i, st := range q.Steps {
		set(st.Event, 1<<i)
		if p.Strict {
			set(st.Event, p.StrictBit)
		}
	}
	for i, x := range q.Exclusions {
		set(x.Event, 1<<(p.ExclShift+i))
	}
	workers := s.jidx.workers
	walks := make([]*funnelwalk.ActorWalk, workers)
	for i := range walks {
		walks[i] = funnelwalk.NewActorWalk(p, tz)
	}
	from := p.FromUs
	// Each worker's runs, a cache line apart: the slice is written for
	// every person (two workers' on one line: false sharing).
	type workerRuns struct {
		runs []funnelwalk.MaskRun
		_    [64]byte
	}
	runs := make([]workerRuns, workers)
	err = scanActorRuns(ctx, snap, actors, workers, from, q.To.UnixMicro(), keep, func(w int, actor int64, rs []journeyidx.Run) {
		mr := runs[w].runs[:0]
		for _, r := range rs {
			mr = append(mr, funnelwalk.MaskRun{Times: r.Times, M: masks[r.Code]})
		}
		runs[w].runs = mr
		walks[w].ActorRuns(actor, mr)
	}, func(w int, actor int64, ts []int64, codes []uint32) {
		aw := walks[w]
		for i, t := range ts {
			aw.Event(t-from, masks[codes[i]])
		}
		aw.Actor(actor)
	})
	if err != nil {
		return nil, true, fmt.Errorf("cannot run funnel: %w", err)
	}
	// The SQL plan keeps 16 bytes a row against the query's memory cap;
	// the index walks in place, but the answer must not depend on the plan.
	var rows int64
	for _, aw := range walks {
		rows += aw.Rows()
	}
	if memCap := insight.MemoryCap(ctx); rows*16 > memCap {
		return nil, true, &insight.MemoryError{Cap: memCap, Limit: "--query-memory"}
	}
	return funnelwalk.ActorResult(p, walks), true, nil
}

// scanActors calls fn for every actor with events in [from, to) of the
// codes keep marks, with all its events in (time, code) order, from
// workers goroutines (w numbers them). Persons an override touches are
// gathered during the scan and handed over afterwards, combined by actor,
// on worker 0.
func scanActors(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, workers int, from, to int64, keep []bool, fn func(w int, actor int64, ts []int64, codes []uint32)) error {
	merged := make([][]mergedRow, workers)
	err := snap.Scan(ctx, workers, from, to, keep, func(w int, d uint32, ts []int64, codes []uint32) {
		if actors.isSpecial(d) {
			a := actors.actor(snap.Persons[d])
			for i, t := range ts {
				merged[w] = append(merged[w], mergedRow{actor: a, t: t, code: codes[i]})
			}
			return
		}
		fn(w, snap.Persons[d], ts, codes)
	})
	if err != nil {
		return err
	}
	walkMerged(merged, fn)
	return nil
}

// scanActorRuns is scanActors for callers that take a person's runs
// (journeyidx.ScanRuns): fn gets every actor no override touches, as its
// runs; the persons an override touches are gathered and handed over
// afterwards, combined by actor, as events to merged on worker 0.
func scanActorRuns(ctx context.Context, snap *journeyidx.Snapshot, actors *journeyActors, workers int, from, to int64, keep []bool, fn func(w int, actor int64, runs []journeyidx.Run), merged func(w int, actor int64, ts []int64, codes []uint32)) error {
	special := make([][]mergedRow, workers)
	err := snap.ScanRuns(ctx, workers, from, to, keep, func(w int, d uint32, runs []journeyidx.Run) {
		if actors.isSpecial(d) {
			a := actors.actor(snap.Persons[d])
			for _, r := range runs {
				for _, t := range r.Times {
					special[w] = append(special[w], mergedRow{actor: a, t: t, code: r.Code})
				}
			}
			return
		}
		fn(w, snap.Persons[d], runs)
	})
	if err != nil {
		return err
	}
	walkMerged(special, merged)
	return nil
}

// walkMerged hands the gathered rows of persons an override touches to
// fn on worker 0, by actor, each actor's in (time, code) order.
func walkMerged(merged [][]mergedRow, fn func(w int, actor int64, ts []int64, codes []uint32)) {
	var rows []mergedRow
	for _, m := range merged {
		rows = append(rows, m...)
	}
	slices.SortFunc(rows, func(a, b mergedRow) int {
		if c := cmp.Compare(a.actor, b.actor); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.code, b.code)
	})
	var ts []int64
	var codes []uint32
	for i := 0; i < len(rows); {
		ts, codes = ts[:0], codes[:0]
		j := i
		for ; j < len(rows) && rows[j].actor == rows[i].actor; j++ {
			ts, codes = append(ts, rows[j].t), append(codes, rows[j].code)
		}
		fn(0, rows[i].actor, ts, codes)
		i = j
	}
}

// mergedRow is an event of a person an override touches.
type mergedRow struct {
	actor int64
	t     int64
	code  uint32
}
