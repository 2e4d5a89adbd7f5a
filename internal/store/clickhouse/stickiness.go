package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Stickiness runs a stickiness query with the DuckDB store's semantics:
// per series, how many actors did the event on exactly k of the range's
// intervals (in tz).
func (s *Store) Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error) {
	return insight.RunStickiness(q, tz, s.now(), func(p insight.Periods) ([]insight.CountRow, error) {
		return s.stickinessCounts(ctx, projectID, q, p)
	})
}

// stickinessCounts is insight.StickinessCounts: rows (series, number of
// periods, actors).
func (s *Store) stickinessCounts(ctx context.Context, projectID int64, q *insight.Stickiness, p insight.Periods) ([]insight.CountRow, error) {
	parts := make([]frag, len(q.Series))
	for i, series := range q.Series {
		src := s.newMatchSource(projectID, &q.Range, series.Event, series.Action)
		src.filters = appendFilters(q.Filters, series.Filters)
		from, err := src.frag()
		if err != nil {
			return nil, err
		}
		parts[i] = sqlf(fmt.Sprintf("SELECT toUInt32(%d) AS series_index, actor, ", i))
		parts[i].AddFrag(periodIndex("ts", p))
		parts[i].Add(" AS period FROM (")
		parts[i].AddFrag(from)
		parts[i].Add(")")
	}
	query := sqlf("SELECT series_index, intervals, count() FROM (\n  SELECT series_index, actor, uniqExact(period) AS intervals FROM (")
	query.AddFrag(joinFrags(" UNION ALL ", parts))
	query.Add(")\n  GROUP BY series_index, actor)\nGROUP BY series_index, intervals")
	rows, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var series uint32
		var n, count uint64
		if err := rows.Scan(&series, &n, &count); err != nil {
			return nil, err
		}
		out = append(out, insight.CountRow{Series: int(series), Period: int(n), Value: float64(count)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run stickiness: %w", err)
	}
	return out, nil
}
