// Package clickhouse is the scale-out event store. It speaks the native
// protocol (clickhouse-go v2), so it works with the ClickHouse Debian ships
// (18.16) as well as current releases; its SQL sticks to what 18.16 knows
// (no JSONExtract, no DateTime64, no arrayFold).
//
// ClickHouse has no transactions, so Apply is made replay-safe instead of
// atomic: events whose uuid is already stored are skipped, identity rows are
// versioned (ReplacingMergeTree, read with argMax), and the checkpoint is
// written last. A loader that crashes mid-batch replays it without
// duplicates.
package clickhouse

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

//go:embed schema.sql
var schemaSQL string

var _ store.Store = (*Store)(nil)

// Store is store.Store on ClickHouse.
type Store struct {
	db      string
	cluster string        // "" for a single server
	shards  []driver.Conn // one per shard; shards[0] answers queries
	events  string        // the table queries read: events_local or the Distributed events
	version atomic.Uint64
	// clock is where queries read the time, once per run (nil: time.Now);
	// tests set it.
	clock insight.Clock
}

// Open connects to clickhouse://host:port[,host2:port2…]/db[?cluster=name].
// With a cluster, each host is one shard (as named in the servers'
// remote_servers), events is Distributed over them by person, and the
// identity tables are kept on every shard.
func Open(ctx context.Context, dsn string) (*Store, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "clickhouse" {
		return nil, fmt.Errorf("cannot parse ClickHouse address %q: want clickhouse://host:port/db", dsn)
	}
	s := &Store{db: strings.Trim(u.Path, "/"), cluster: u.Query().Get("cluster")}
	if s.db == "" {
		s.db = "journey"
	}
	if !validName(s.db) || s.cluster != "" && !validName(s.cluster) {
		return nil, fmt.Errorf("invalid ClickHouse database or cluster name in %q", dsn)
	}
	for _, host := range strings.Split(u.Host, ",") {
		conn, err := ch.Open(&ch.Options{Addr: []string{host}, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Minute,
			Auth: ch.Auth{Username: u.User.Username(), Password: password(u)}})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cannot connect to ClickHouse %q: %w", host, err)
		}
		s.shards = append(s.shards, conn)
	}
	if len(s.shards) > 1 && s.cluster == "" {
		s.Close()
		return nil, fmt.Errorf("invalid ClickHouse address %q: several hosts need ?cluster=<name>", dsn)
	}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.version.Store(uint64(time.Now().UnixNano()))
	return s, nil
}

func password(u *url.URL) string {
	p, _ := u.User.Password()
	return p
}

func validName(n string) bool {
	for _, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return n != ""
}

func (s *Store) init(ctx context.Context) error {
	for _, conn := range s.shards {
		if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+s.db); err != nil {
			return fmt.Errorf("cannot create database %q: %w", s.db, err)
		}
		for _, stmt := range strings.Split(stripComments(strings.ReplaceAll(schemaSQL, "{db}", s.db)), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("cannot create ClickHouse schema: %w", err)
			}
		}
		if s.cluster != "" {
			stmt := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %[1]s.events AS %[1]s.events_local ENGINE = Distributed(%[2]s, %[1]s, events_local, sipHash64(person_id))", s.db, s.cluster)
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("cannot create the Distributed events table: %w", err)
			}
		}
	}
	s.events = s.db + ".events_local"
	if s.cluster != "" {
		s.events = s.db + ".events"
	}
	return s.backfillUUIDs(ctx)
}

func stripComments(stmt string) string {
	var b strings.Builder
	for _, line := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Close closes the connections.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.shards {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) q() driver.Conn { return s.shards[0] }

// nextVersion orders identity rows: later writes win in argMax.
func (s *Store) nextVersion() uint64 { return s.version.Add(1) }

// Apply stores a loader batch; see the package comment for replay safety.
func (s *Store) Apply(ctx context.Context, w *store.Write) error {
	rows, unrecorded, err := s.newEvents(ctx, w.Events)
	if err != nil {
		return err
	}
	if err := s.insertEvents(ctx, rows); err != nil {
		return err
	}
	if err := s.insertUUIDs(ctx, unrecorded); err != nil { // after the events: see dedup.go
		return err
	}
	v := s.nextVersion()
	for _, conn := range s.shards { // identity tables live on every shard
		if err := s.insertIdentity(ctx, conn, w, v); err != nil {
			return err
		}
	}
	for _, conn := range s.shards[:1] {
		bctx, sent := batchContext(ctx)
		defer sent()
		b, err := conn.PrepareBatch(bctx, "INSERT INTO "+s.db+".loader_checkpoint (id, position, version)")
		if err != nil {
			return fmt.Errorf("cannot store checkpoint: %w", err)
		}
		if err := b.Append(uint8(1), w.Checkpoint, v); err != nil {
			return err
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot store checkpoint: %w", err)
		}
	}
	return nil
}

// DedupMargin bounds the event-time window searched in events for an
// earlier copy of a uuid that event_uuids may lack (a crash between the two
// writes, dedup.go); event_uuids finds copies at any event time.
const DedupMargin = 7 * 24 * time.Hour

// newEvents drops events whose uuid the project already has, at any event
// time, or that repeat within the batch. unrecorded are the batch's
// events (once each) whose uuid event_uuids lacks: the new ones, and any
// that only the time-bounded check on events found (dedup.go).
func (s *Store) newEvents(ctx context.Context, rows []store.Row) (out, unrecorded []store.Row, err error) {
	if len(rows) == 0 {
		return nil, nil, nil
	}
	seen := map[string]bool{}
	lo, hi := rows[0].Timestamp, rows[0].Timestamp
	for _, r := range rows {
		if r.Timestamp.Before(lo) {
			lo = r.Timestamp
		}
		if r.Timestamp.After(hi) {
			hi = r.Timestamp
		}
	}
	recorded, err := s.storedUUIDs(ctx, rows)
	if err != nil {
		return nil, nil, err
	}
	stored := map[string]bool{}
	const chunk = 2000 // keeps the query under max_query_size
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		ids := make([]string, len(part))
		for i, r := range part {
			ids[i] = uuid.UUID(r.UUID).String()
		}
		res, err := s.q().Query(ctx, "SELECT project_id, toString(uuid) FROM "+s.events+" WHERE ts >= ? AND ts <= ? AND has(?, toString(uuid))",
			lo.Add(-DedupMargin).UTC(), hi.Add(DedupMargin).UTC(), ids)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot check for stored events: %w", err)
		}
		for res.Next() {
			var p uint64
			var id string
			if err := res.Scan(&p, &id); err != nil {
				res.Close()
				return nil, nil, err
			}
			stored[fmt.Sprint(p, id)] = true
		}
		res.Close()
	}
	for _, r := range rows {
		key := fmt.Sprint(r.ProjectID, uuid.UUID(r.UUID).String()) // same uuid in two projects: two events
		if seen[key] {
			continue
		}
		seen[key] = true
		if !recorded[key] {
			unrecorded = append(unrecorded, r)
		}
		if !recorded[key] && !stored[key] {
			out = append(out, r)
		}
	}
	return out, unrecorded, nil
}

func (s *Store) insertEvents(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	if s.cluster != "" {
		ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))
	}
	bctx, sent := batchContext(ctx)
	defer sent()
	b, err := s.q().PrepareBatch(bctx, "INSERT INTO "+s.events+" (project_id, uuid, event, distinct_id, person_id, ts, ts_us, properties, received_at)")
	if err != nil {
		return fmt.Errorf("cannot insert events: %w", err)
	}
	for _, r := range rows {
		props := hideNestedKeys(string(r.Properties)) // nested.go
		if props == "" {
			props = "{}"
		}
		if err := b.Append(uint64(r.ProjectID), uuid.UUID(r.UUID), r.Event, r.DistinctID, r.PersonID,
			r.Timestamp.UTC(), uint64(r.Timestamp.UnixMicro()), props, r.ReceivedAt.UTC()); err != nil {
			return fmt.Errorf("cannot insert events: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert events: %w", err)
	}
	return nil
}

func (s *Store) insertIdentity(ctx context.Context, conn driver.Conn, w *store.Write, v uint64) error {
	send := func(table, cols string, n int, row func(i int) []any) error {
		if n == 0 {
			return nil
		}
		bctx, sent := batchContext(ctx)
		defer sent()
		b, err := conn.PrepareBatch(bctx, "INSERT INTO "+s.db+"."+table+" ("+cols+")")
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", table, err)
		}
		for i := 0; i < n; i++ {
			if err := b.Append(row(i)...); err != nil {
				return fmt.Errorf("cannot write %s: %w", table, err)
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot write %s: %w", table, err)
		}
		return nil
	}
	// Persons before their distinct ids: ClickHouse has no transaction, and
	// a loader killed between the two inserts must not leave ids naming a
	// person without a row (the next loader takes the ids as known and never
	// writes the row; lookups then read the person as deleted and campaign
	// triggers for it were dropped). A person row without ids is invisible.
	if err := send("persons", "project_id, id, created_at, properties, is_deleted, version", len(w.Persons), func(i int) []any {
		p := w.Persons[i]
		return []any{uint64(p.ProjectID), p.ID, p.CreatedAt.UTC(), hideNestedKeys(store.PropertiesJSON(p.Properties)), uint8(0), v}
	}); err != nil {
		return err
	}
	if err := send("person_distinct_ids", "project_id, distinct_id, person_id, version", len(w.DistinctIDs), func(i int) []any {
		d := w.DistinctIDs[i]
		return []any{uint64(d.ProjectID), d.DistinctID, d.PersonID, v}
	}); err != nil {
		return err
	}
	// Merged-away persons are deleted (a newer row with is_deleted = 1).
	if err := send("persons", "project_id, id, created_at, properties, is_deleted, version", len(w.Overrides), func(i int) []any {
		o := w.Overrides[i]
		return []any{uint64(o.ProjectID), o.OldPersonID, time.Unix(0, 0).UTC(), "{}", uint8(1), v}
	}); err != nil {
		return err
	}
	if err := send("person_overrides", "project_id, old_person_id, person_id, version", len(w.Overrides), func(i int) []any {
		o := w.Overrides[i]
		return []any{uint64(o.ProjectID), o.OldPersonID, o.PersonID, v}
	}); err != nil {
		return err
	}
	if len(w.Groups) == 0 {
		return nil
	}
	merged, err := s.mergeGroups(ctx, conn, w.Groups)
	if err != nil {
		return err
	}
	return send("groups", "project_id, group_type, group_key, created_at, properties, version", len(merged), func(i int) []any {
		g := merged[i]
		return []any{uint64(g.ProjectID), g.Type, g.Key, g.CreatedAt.UTC(), hideNestedKeys(store.PropertiesJSON(g.Properties)), v}
	})
}

// mergeGroups merges group property updates into the stored properties
// (ClickHouse 18 has no JSON patch function).
func (s *Store) mergeGroups(ctx context.Context, conn driver.Conn, groups []store.Group) ([]store.Group, error) {
	out := make([]store.Group, len(groups))
	for i, g := range groups {
		var props string
		var created time.Time
		row := conn.QueryRow(ctx, "SELECT argMax(properties, version), min(created_at) FROM "+s.db+".groups WHERE project_id = ? AND group_type = ? AND group_key = ?",
			uint64(g.ProjectID), g.Type, g.Key)
		merged := map[string]any{}
		if err := row.Scan(&props, &created); err == nil && props != "" {
			json.Unmarshal([]byte(props), &merged)
			if !created.IsZero() && created.Unix() > 0 && created.Before(g.CreatedAt) {
				g.CreatedAt = created
			}
		}
		for k, v := range g.Properties {
			merged[k] = v
		}
		g.Properties = merged
		out[i] = g
	}
	return out, nil
}

// Checkpoint returns the last stored log position.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var pos uint64
	var n uint64
	err := s.q().QueryRow(ctx, "SELECT argMax(position, version), count() FROM "+s.db+".loader_checkpoint WHERE id = 1").Scan(&pos, &n)
	if n == 0 {
		return 0, err
	}
	return pos, err
}

// Identity loads the distinct-id map and overrides.
func (s *Store) Identity(ctx context.Context) (store.Identity, error) {
	var id store.Identity
	rows, err := s.q().Query(ctx, "SELECT project_id, distinct_id, argMax(person_id, version) FROM "+s.db+".person_distinct_ids GROUP BY project_id, distinct_id")
	if err != nil {
		return id, fmt.Errorf("cannot read distinct ids: %w", err)
	}
	for rows.Next() {
		var p uint64
		var d store.DistinctID
		if err := rows.Scan(&p, &d.DistinctID, &d.PersonID); err != nil {
			rows.Close()
			return id, err
		}
		d.ProjectID = int64(p)
		id.DistinctIDs = append(id.DistinctIDs, d)
		id.MaxPersonID = max(id.MaxPersonID, d.PersonID)
	}
	rows.Close()
	rows, err = s.q().Query(ctx, "SELECT argMax(project_id, version), old_person_id, argMax(person_id, version) FROM "+s.db+".person_overrides GROUP BY old_person_id")
	if err != nil {
		return id, fmt.Errorf("cannot read person overrides: %w", err)
	}
	for rows.Next() {
		var p uint64
		var o store.Override
		if err := rows.Scan(&p, &o.OldPersonID, &o.PersonID); err != nil {
			rows.Close()
			return id, err
		}
		o.ProjectID = int64(p)
		id.Overrides = append(id.Overrides, o)
		id.MaxPersonID = max(id.MaxPersonID, o.OldPersonID, o.PersonID)
	}
	rows.Close()
	var maxPerson int64
	if err := s.q().QueryRow(ctx, "SELECT max(id) FROM "+s.db+".persons").Scan(&maxPerson); err == nil {
		id.MaxPersonID = max(id.MaxPersonID, maxPerson)
	}
	if err := s.q().QueryRow(ctx, "SELECT max(person_id) FROM "+s.db+".erased_persons").Scan(&maxPerson); err == nil {
		id.MaxPersonID = max(id.MaxPersonID, maxPerson) // delete.go's tombstones
	}
	links, err := s.groupLinks(ctx)
	if err != nil {
		return id, err
	}
	id.GroupLinks = links
	if id.Identified, err = s.identified(ctx); err != nil {
		return id, err
	}
	return id, nil
}

// groupLinksSQL finds each person id's latest Segment group call, with the
// resolver's conditions (identity.validLink) and DuckDB's order: max of
// (microseconds, type, key). {events} is the (distributed) events table.
const groupLinksSQL = `
SELECT project_id, person_id, tupleElement(g, 1), tupleElement(g, 2), tupleElement(g, 3) FROM (
	SELECT project_id, person_id, max(tuple(ts_us, t, k)) AS g FROM (
		SELECT project_id, person_id, ts_us,
			visitParamExtractString(properties, '$group_type') AS t,
			visitParamExtractString(properties, '$group_key') AS k
		FROM {events}
		WHERE event = '$groupidentify' AND person_id > 0 AND visitParamExtractBool(properties, '$segment_group') = 1)
	WHERE length(t) BETWEEN 1 AND 200 AND length(k) BETWEEN 1 AND 200
	GROUP BY project_id, person_id)`

func (s *Store) groupLinks(ctx context.Context) ([]store.GroupLink, error) {
	rows, err := s.q().Query(ctx, strings.ReplaceAll(groupLinksSQL, "{events}", s.events))
	if err != nil {
		return nil, fmt.Errorf("cannot read group links: %w", err)
	}
	defer rows.Close()
	var out []store.GroupLink
	for rows.Next() {
		var project, us uint64
		var g store.GroupLink
		if err := rows.Scan(&project, &g.PersonID, &us, &g.Type, &g.Key); err != nil {
			return nil, fmt.Errorf("cannot read group links: %w", err)
		}
		g.ProjectID, g.At = int64(project), time.UnixMicro(int64(us)).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

const personCols = "id, argMax(project_id, version), argMax(created_at, version), argMax(properties, version), argMax(is_deleted, version) AS deleted"

// Persons returns the stored, live persons among ids.
func (s *Store) Persons(ctx context.Context, ids []int64) (map[int64]store.Person, error) {
	out := make(map[int64]store.Person, len(ids))
	for start := 0; start < len(ids); start += 2000 {
		part := ids[start:min(start+2000, len(ids))]
		rows, err := s.q().Query(ctx, "SELECT "+personCols+" FROM "+s.db+".persons WHERE has(?, id) GROUP BY id HAVING deleted = 0", part)
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

func scanPerson(rows driver.Rows) (store.Person, error) {
	var p store.Person
	var project uint64
	var props string
	var deleted uint8
	if err := rows.Scan(&p.ID, &project, &p.CreatedAt, &props, &deleted); err != nil {
		return p, err
	}
	p.ProjectID = int64(project)
	p.Properties = map[string]any{}
	if err := json.Unmarshal([]byte(props), &p.Properties); err != nil {
		return p, fmt.Errorf("cannot decode properties of person %d: %w", p.ID, err)
	}
	return p, nil
}

// PersonByDistinctID returns the person behind a distinct id and all its ids.
func (s *Store) PersonByDistinctID(ctx context.Context, projectID int64, distinctID string) (store.Person, []string, error) {
	var pid int64
	var n uint64
	err := s.q().QueryRow(ctx, "SELECT argMax(person_id, version), count() FROM "+s.db+".person_distinct_ids WHERE project_id = ? AND distinct_id = ?",
		uint64(projectID), distinctID).Scan(&pid, &n)
	if err != nil {
		return store.Person{}, nil, fmt.Errorf("cannot read person of distinct id %q: %w", distinctID, err)
	}
	if n == 0 {
		return store.Person{}, nil, store.ErrNotFound
	}
	return s.PersonByID(ctx, projectID, pid)
}

// CountEvents counts stored events (after dedup).
func (s *Store) CountEvents(ctx context.Context, projectID int64) (int64, error) {
	q, args := "SELECT count() FROM "+s.events, []any{}
	if projectID != 0 {
		q, args = q+" WHERE project_id = ?", append(args, uint64(projectID))
	}
	var n uint64
	err := s.q().QueryRow(ctx, q, args...).Scan(&n)
	return int64(n), err
}

// EventsTable is the table queries read (for tests and tools).
func (s *Store) EventsTable() string { return s.events }

// memoryLimitExceeded is ClickHouse's MEMORY_LIMIT_EXCEEDED.
const memoryLimitExceeded = 241

// ClickHouse's out-of-memory errors (past the query's max_memory_usage,
// or the server's own limits) read as *insight.MemoryError.
func init() {
	store.RegisterOutOfMemory(func(ctx context.Context, err error) *insight.MemoryError {
		var e *ch.Exception
		if !errors.As(err, &e) || e.Code != memoryLimitExceeded {
			return nil
		}
		if n, ok := insight.SetMemoryCap(ctx); ok && strings.Contains(e.Message, "(for query)") {
			return &insight.MemoryError{Cap: n, Limit: "--query-memory"}
		}
		return &insight.MemoryError{Limit: "ClickHouse's max_memory_usage"}
	})
}
