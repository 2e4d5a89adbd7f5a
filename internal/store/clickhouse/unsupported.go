package clickhouse

import (
	"context"

	"github.com/journey-dev/journey/internal/insight"
)

// The insight below runs on the embedded store only so far; on ClickHouse
// it answers 400 saying so, rather than a wrong or partial result.

// SQL is not available on ClickHouse yet: its parse tree check is DuckDB's.
func (s *Store) SQL(ctx context.Context, projectID int64, q *insight.SQL) (*insight.SQLResult, error) {
	return nil, unsupported("kind", "sql")
}
