package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// Dedup by uuid at any event time: a batch's uuids are looked up in
// event_uuids (schema.sql), keyed by (project, uuid), besides the events
// near the batch's time (newEvents). Apply writes the events first and
// their uuids after, so a crash between the two leaves uuids missing only
// for events whose replay comes with the same timestamps, which the
// time-bounded check on events finds; the replay then writes the uuids.

// storedUUIDs returns which of rows' (project, uuid) pairs event_uuids
// holds, keyed as newEvents keys them.
func (s *Store) storedUUIDs(ctx context.Context, rows []store.Row) (map[string]bool, error) {
	stored := map[string]bool{}
	const chunk = 2000 // keeps the query under max_query_size
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		projects := map[int64]bool{}
		ids := make([]string, len(part))
		for i, r := range part {
			projects[r.ProjectID] = true
			// A formatted UUID is hex and dashes only: safe as a literal.
			// A literal IN list lets the primary index pick the granules
			// (has() over a bound array would scan every one).
			ids[i] = "'" + uuid.UUID(r.UUID).String() + "'"
		}
		ps := make([]uint64, 0, len(projects))
		for p := range projects {
			ps = append(ps, uint64(p))
		}
		res, err := s.q().Query(ctx, "SELECT project_id, toString(uuid) FROM "+s.db+".event_uuids WHERE has(?, project_id) AND uuid IN ("+strings.Join(ids, ",")+")", ps)
		if err != nil {
			return nil, fmt.Errorf("cannot check for stored events: %w", err)
		}
		for res.Next() {
			var p uint64
			var id string
			if err := res.Scan(&p, &id); err != nil {
				res.Close()
				return nil, err
			}
			stored[fmt.Sprint(p, id)] = true
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("cannot check for stored events: %w", err)
		}
	}
	return stored, nil
}

// insertUUIDs records rows' uuids in event_uuids, after their events.
func (s *Store) insertUUIDs(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	bctx, sent := batchContext(ctx)
	defer sent()
	b, err := s.q().PrepareBatch(bctx, "INSERT INTO "+s.db+".event_uuids (project_id, uuid)")
	if err != nil {
		return fmt.Errorf("cannot record event uuids: %w", err)
	}
	for _, r := range rows {
		if err := b.Append(uint64(r.ProjectID), uuid.UUID(r.UUID)); err != nil {
			return fmt.Errorf("cannot record event uuids: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot record event uuids: %w", err)
	}
	return nil
}

// backfillUUIDs fills event_uuids from the stored events once, for a
// database written before it existed. Run at open: a crash before the
// marker is written runs it again, and the repeated rows are harmless
// (ReplacingMergeTree folds them, lookups only test membership); events
// stored meanwhile by a loader elsewhere have their uuids written by it.
func (s *Store) backfillUUIDs(ctx context.Context) error {
	var done uint64
	if err := s.q().QueryRow(ctx, "SELECT count() FROM "+s.db+".event_uuids_backfill").Scan(&done); err != nil {
		return fmt.Errorf("cannot read the event uuid backfill marker: %w", err)
	}
	if done > 0 {
		return nil
	}
	if err := s.q().Exec(ctx, "INSERT INTO "+s.db+".event_uuids (project_id, uuid) SELECT project_id, uuid FROM "+s.events); err != nil {
		return fmt.Errorf("cannot backfill event uuids: %w", err)
	}
	bctx, sent := batchContext(ctx)
	defer sent()
	b, err := s.q().PrepareBatch(bctx, "INSERT INTO "+s.db+".event_uuids_backfill (done)")
	if err == nil {
		if err = b.Append(uint8(1)); err == nil {
			err = b.Send()
		}
	}
	if err != nil {
		return fmt.Errorf("cannot mark the event uuid backfill done: %w", err)
	}
	return nil
}

// batchContext is the context a batch is sent under: it ends with ctx
// only until done is called. clickhouse-go's batch.Send watches its
// context in a goroutine that, when the context ends just as Send
// returns (a caller's deferred cancel), can still run after the
// connection went back to the pool and close it there; the next query on
// it fails with "use of closed network connection" (seen in CI right
// after Open, whose last step sends a batch). Call done once Send has
// returned.
func batchContext(ctx context.Context) (bctx context.Context, done func()) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	return bctx, func() { stop() }
}
