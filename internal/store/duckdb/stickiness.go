package duckdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Stickiness runs a stickiness query: per series, how many actors did the
// event on exactly k of the range's intervals (in tz), in one query.
func (s *Store) Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error) {
	bounds := insight.Buckets(q.From, q.To, tz, q.Interval)
	res := q.EmptyResult(len(bounds))
	if len(bounds) == 0 {
		return res, nil
	}
	period := periodIndexSQL(bounds, 0)
	var parts []string
	var args []any
	for i, series := range q.Series {
		src := newMatchSource(projectID, &q.Range, series.Event, series.Action)
		src.filters = appendFilters(q.Filters, series.Filters)
		from, fromArgs := src.sql()
		parts = append(parts, fmt.Sprintf("SELECT %d AS s, actor, %s AS p FROM (%s)", i, period, from))
		args = append(args, fromArgs...)
	}
	union := strings.Join(parts, " UNION ALL ")
	// Intervals per (series, actor): a bitmask's popcount, or distinct
	// periods when there are too many for a mask.
	intervals := "count(DISTINCT p)"
	if len(bounds) <= s.plan.maskPeriods() {
		intervals = "bit_count(bit_or(1::UBIGINT << p::UBIGINT))"
	}
	query := `SELECT s, n, count(*) FROM (SELECT s, actor, ` + intervals + ` AS n FROM (` + union + `) GROUP BY s, actor) GROUP BY s, n`
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var series, n int
		var count int64
		if err := rows.Scan(&series, &n, &count); err != nil {
			return nil, err
		}
		if series < 0 || series >= len(res.Series) || n < 1 || n > len(bounds) {
			return nil, fmt.Errorf("stickiness: series %d, %d intervals out of range", series, n)
		}
		res.Series[series].Points[n-1].Count = count
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	return res, nil
}
