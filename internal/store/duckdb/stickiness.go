package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Stickiness runs a stickiness query: per series, how many actors did the
// event on exactly k of the range's intervals (in tz), in one query.
func (s *Store) Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error) {
	return insight.RunStickiness(q, tz, s.plan.now(), func(p insight.Periods) ([]insight.CountRow, error) {
		return s.stickinessCounts(ctx, projectID, q, p)
	})
}

// stickinessCounts is insight.StickinessCounts: rows (series, number of
// periods, actors).
func (s *Store) stickinessCounts(ctx context.Context, projectID int64, q *insight.Stickiness, p insight.Periods) ([]insight.CountRow, error) {
	if rows, ok, err := s.indexStickinessCounts(ctx, projectID, q, p); ok { // journeyidx_counts.go
		return rows, err
	}
	period := periodIndexSQL(p.Starts, 0)
	parts := make([]frag, len(q.Series))
	for i, series := range q.Series {
		src := newMatchSource(projectID, &q.Range, series.Event, series.Action)
		src.filters = appendFilters(q.Filters, series.Filters)
		parts[i] = sqlf(fmt.Sprintf("SELECT %d AS s, actor, %s AS p FROM (", i, period))
		parts[i].AddFrag(src.frag())
		parts[i].Add(")")
	}
	// Intervals per (series, actor): a bitmask's popcount, or distinct
	// periods when there are too many for a mask.
	intervals := "count(DISTINCT p)"
	if p.Len() <= s.plan.maskPeriods() {
		intervals = "bit_count(bit_or(1::UBIGINT << p::UBIGINT))"
	}
	query := sqlf("SELECT s, n, count(*) FROM (SELECT s, actor, " + intervals + " AS n FROM (")
	query.AddFrag(joinFrags(" UNION ALL ", parts))
	query.Add(") GROUP BY s, actor) GROUP BY s, n")
	rows, err := s.db.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var row insight.CountRow
		if err := rows.Scan(&row.Series, &row.Period, &row.Value); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	return out, nil
}
