package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Trend runs a trend query: package insight assembles the series,
// comparison and formula from the counts trendCounts hands back.
func (s *Store) Trend(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend) (*insight.TrendResult, error) {
	return insight.RunTrend(q, tz, s.now(), func(r insight.Range, series insight.Series, p insight.Periods) ([]insight.CountRow, error) {
		return s.trendCounts(ctx, projectID, r, series, p)
	})
}

// trendCounts is insight.TrendCounts: a series' value per breakdown value
// and period.
func (s *Store) trendCounts(ctx context.Context, projectID int64, r insight.Range, series insight.Series, p insight.Periods) ([]insight.CountRow, error) {
	src := s.newMatchSource(projectID, &r, series.Event, series.Action)
	src.filters = appendFilters(r.Filters, series.Filters)
	src.breakdown(r.Breakdown)
	if w, ok := p.Windows(series.Math); ok {
		return s.activeUsers(ctx, series, src, p, w)
	}
	from, err := src.frag()
	if err != nil {
		return nil, err
	}
	value, rank := trendAggregate(series)
	b := sqlf("bv")
	if r.Breakdown != nil {
		top, err := s.topValues(ctx, from, rank, r.Breakdown.Limit)
		if err != nil {
			return nil, err
		}
		if len(top) > 0 {
			b = sqlf("if(has(?, bv), bv, '$other')", top)
		}
	}
	q := sqlf("SELECT ")
	q.AddFrag(periodIndex("ts", p))
	q.Add(" AS period, ")
	q.AddFrag(b)
	q.Add(" AS b, ")
	q.AddFrag(value)
	q.Add(" AS value FROM (")
	q.AddFrag(from)
	q.Add(") GROUP BY period, b")
	rows, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var period int64
		var b string
		var v *float64
		if err := rows.Scan(&period, &b, &v); err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, insight.CountRow{Breakdown: b, Period: int(period), Value: *v})
		}
	}
	return out, rows.Err()
}

// topValues returns the breakdown values ranked highest by rank.
func (s *Store) topValues(ctx context.Context, from, rank frag, limit int) ([]string, error) {
	q := sqlf("SELECT bv FROM (SELECT bv, ")
	q.AddFrag(rank)
	q.Add(" AS value_for_rank FROM (")
	q.AddFrag(from)
	q.Add(") GROUP BY bv) ORDER BY value_for_rank DESC, bv LIMIT ?", limit)
	rows, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot rank breakdown values: %w", err)
	}
	defer rows.Close()
	top := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		top = append(top, v)
	}
	return top, rows.Err()
}

// activeUsers counts WAU/MAU: each actor-day counts toward the window
// ends it falls in (ClickHouse 18 has no inequality join, so the days are
// expanded with arrayJoin instead). With a breakdown an actor counts under
// each value it had in the window; insight keeps the values with the
// largest sums, as on DuckDB.
func (s *Store) activeUsers(ctx context.Context, series insight.Series, src source, p insight.Periods, w insight.Windows) ([]insight.CountRow, error) {
	src.from = w.From // so the first window is whole
	from, err := src.frag()
	if err != nil {
		return nil, err
	}
	q := sqlf(fmt.Sprintf(`SELECT toInt64(indexOf(?, window_end)) - 1 AS window_index, bv, toFloat64(uniqExact(actor)) FROM (
  SELECT actor, bv, toString(addDays(day, arrayJoin(range(%d)))) AS window_end FROM (
    SELECT DISTINCT actor, bv, toDate(ts, ?) AS day FROM (`, w.Days), w.Ends, p.Location().String())
	q.AddFrag(from)
	q.Add(")))\nWHERE has(?, window_end) GROUP BY window_index, bv", w.Ends)
	rows, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run %s trend for %q: %w", series.Math, series.Label, err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var i int64
		var row insight.CountRow
		if err := rows.Scan(&i, &row.Breakdown, &row.Value); err != nil {
			return nil, err
		}
		row.Period = int(i)
		out = append(out, row)
	}
	return out, rows.Err()
}
