package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// periodExpr is the start (a Date, in tz bound as ?) of the day, week
// (from Monday) or month holding the DateTime expression col: the same
// periods insight.Truncate gives, so toString of it is insight.Label's.
func periodExpr(col, interval string) string {
	switch interval {
	case "week":
		return "toMonday(" + col + ", ?)"
	case "month":
		return "toStartOfMonth(" + col + ", ?)"
	default:
		return "toDate(" + col + ", ?)"
	}
}

// Stickiness runs a stickiness query with the DuckDB store's semantics:
// per series, how many actors did the event on exactly k of the range's
// intervals (in tz).
func (s *Store) Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error) {
	bounds := insight.Buckets(q.From, q.To, tz, q.Interval)
	res := q.EmptyResult(len(bounds))
	if len(bounds) == 0 {
		return res, nil
	}
	var parts []string
	var args []any
	for i, series := range q.Series {
		src := s.newMatchSource(projectID, &q.Range, series.Event, series.Action)
		src.filters = append(append([]insight.Filter(nil), q.Filters...), series.Filters...)
		from, fromArgs, err := src.sql()
		if err != nil {
			return nil, err
		}
		parts = append(parts, fmt.Sprintf("SELECT toUInt32(%d) AS series_index, actor, %s AS period FROM (%s)", i, periodExpr("ts", q.Interval), from))
		args = append(append(args, tz.String()), fromArgs...)
	}
	query := `SELECT series_index, intervals, count() FROM (
  SELECT series_index, actor, uniqExact(period) AS intervals FROM (` + strings.Join(parts, " UNION ALL ") + `)
  GROUP BY series_index, actor)
GROUP BY series_index, intervals`
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var series uint32
		var n, count uint64
		if err := rows.Scan(&series, &n, &count); err != nil {
			return nil, err
		}
		if int(series) >= len(res.Series) || n < 1 || int(n) > len(bounds) {
			return nil, fmt.Errorf("stickiness: series %d, %d intervals out of range", series, n)
		}
		res.Series[series].Points[n-1].Count = int64(count)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	return res, nil
}
