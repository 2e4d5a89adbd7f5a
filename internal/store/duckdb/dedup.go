package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/store"
)

// Dedup by uuid at any event time. The Bloom filter (seen.go) says which
// events of a batch may be stored already (a retry, a replayed log entry,
// or one of its false positives, ~1e-5); only those suspects are checked
// against every stored event, whatever its time: they are appended to a
// small staging table, joined to events (the suspects are the hash join's
// build side, so memory is the suspects', not the table's) and the stored
// ones are deleted from stage_events before the insert. The cost of a
// check is a scan of events' project and uuid columns, paid only by
// batches that have suspects.

// stageSuspectsSQL makes the per-connection table of the suspects.
const stageSuspectsSQL = `CREATE TEMP TABLE IF NOT EXISTS stage_suspects (project_id BIGINT NOT NULL, uuid UUID NOT NULL)`

// dropStoredSQL deletes the staged events whose uuid the project stores.
const dropStoredSQL = `DELETE FROM stage_events st USING (
	SELECT DISTINCT e.project_id, e.uuid FROM events e JOIN stage_suspects s ON e.uuid = s.uuid AND e.project_id = s.project_id
) d WHERE st.project_id = d.project_id AND st.uuid = d.uuid`

// dropStored removes from stage_events the staged events of rows that are
// already stored, and reports whether it removed any.
func (s *Store) dropStored(ctx context.Context, rows []store.Row) (bool, error) {
	var suspects []int
	for i := range rows {
		if s.seen.f.Test(seenKey(rows[i].ProjectID, rows[i].UUID)) {
			suspects = append(suspects, i)
		}
	}
	if len(suspects) == 0 {
		return false, nil
	}
	if _, err := s.write.ExecContext(ctx, stageSuspectsSQL+`; DELETE FROM stage_suspects;`); err != nil {
		return false, fmt.Errorf("cannot clear the suspected duplicates: %w", err)
	}
	err := s.write.Raw(func(c any) error {
		return appendRows(c.(driver.Conn), "stage_suspects", len(suspects), func(i int) []driver.Value {
			r := &rows[suspects[i]]
			return []driver.Value{r.ProjectID, duckdb.UUID(r.UUID)}
		})
	})
	if err != nil {
		return false, err
	}
	res, err := s.write.ExecContext(ctx, dropStoredSQL)
	if err != nil {
		return false, fmt.Errorf("cannot check for stored events: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
