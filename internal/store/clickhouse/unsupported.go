package clickhouse

import (
	"context"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// The insights below run on the embedded store only so far; on ClickHouse
// they answer 400 saying so, rather than a wrong or partial result.

// Stickiness is not available on ClickHouse yet.
func (s *Store) Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error) {
	return nil, unsupported("kind", "stickiness")
}

// Lifecycle is not available on ClickHouse yet.
func (s *Store) Lifecycle(ctx context.Context, projectID int64, tz *time.Location, q *insight.Lifecycle) (*insight.LifecycleResult, error) {
	return nil, unsupported("kind", "lifecycle")
}

// BadDays is not available on ClickHouse yet.
func (s *Store) BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error) {
	return nil, unsupported("kind", "bad_days")
}

// Paths is not available on ClickHouse yet.
func (s *Store) Paths(ctx context.Context, projectID int64, tz *time.Location, q *insight.Paths) (*insight.PathsResult, error) {
	return nil, unsupported("kind", "paths")
}

// Journey is not available on ClickHouse yet.
func (s *Store) Journey(ctx context.Context, projectID int64, tz *time.Location, q *insight.Journey) (*insight.JourneyResult, error) {
	return nil, unsupported("kind", "journey")
}

// KPI is not available on ClickHouse yet.
func (s *Store) KPI(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI) (*insight.KPIResult, error) {
	return nil, unsupported("kind", "kpi")
}

// SQL is not available on ClickHouse yet: its parse tree check is DuckDB's.
func (s *Store) SQL(ctx context.Context, projectID int64, q *insight.SQL) (*insight.SQLResult, error) {
	return nil, unsupported("kind", "sql")
}
