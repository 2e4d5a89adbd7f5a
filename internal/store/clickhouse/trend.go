package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Trend runs a trend query; package insight assembles the series,
// comparison and formula from the values trendSeries computes.
func (s *Store) Trend(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend) (*insight.TrendResult, error) {
	return insight.RunTrend(q, tz, func(r insight.Range, series insight.Series) (map[string]map[string]float64, error) {
		return s.trendSeries(ctx, projectID, tz, q, r, series)
	})
}

// aggregate is the series' math over the source columns.
func aggregate(series insight.Series) (string, []any) {
	num := "toFloat64OrNull(" + propExpr("properties") + ")"
	args := propArgs(series.Property)
	switch series.Math {
	case "dau":
		return "toFloat64(uniqExact(actor))", nil
	case "sum", "avg", "min", "max":
		return "toFloat64(" + series.Math + "(" + num + "))", args
	case "p50", "p90", "p99":
		// Linear interpolation between closest ranks, as DuckDB's
		// quantile_cont (ClickHouse's quantileExact picks one element).
		level := map[string]string{"p50": "0.5", "p90": "0.9", "p99": "0.99"}[series.Math]
		return fmt.Sprintf(`arraySort(groupArray(%[1]s)) AS sorted_values,
			if(length(sorted_values) = 0, NULL,
			  sorted_values[toUInt64(floor(%[2]s * (length(sorted_values) - 1))) + 1] +
			  (%[2]s * (length(sorted_values) - 1) - floor(%[2]s * (length(sorted_values) - 1))) *
			  (sorted_values[least(toUInt64(floor(%[2]s * (length(sorted_values) - 1))) + 2, length(sorted_values))] -
			   sorted_values[toUInt64(floor(%[2]s * (length(sorted_values) - 1))) + 1]))`, num, level), args
	default:
		return "toFloat64(count())", nil
	}
}

// trendSeries returns breakdown value → bucket label → value.
func (s *Store) trendSeries(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend, r insight.Range, series insight.Series) (map[string]map[string]float64, error) {
	src := s.newMatchSource(projectID, &r, series.Event, series.Action)
	src.filters = append(append([]insight.Filter(nil), r.Filters...), series.Filters...)
	if b := r.Breakdown; b != nil {
		src.breakdown(b)
	} else {
		src.extra = []string{"'' AS bv"}
	}
	if series.Math == "wau" || series.Math == "mau" {
		return s.activeUsers(ctx, tz, q, r, series, src)
	}
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	agg, aggArgs := aggregate(series)
	label := bucketLabel("ts", q.Interval)
	var top []string
	if r.Breakdown != nil {
		if top, err = s.topValues(ctx, from, fromArgs, agg, aggArgs, r.Breakdown.Limit); err != nil {
			return nil, err
		}
	}
	bExpr, bArgs := "bv", []any(nil)
	if len(top) > 0 {
		bExpr, bArgs = "if(has(?, bv), bv, '$other')", []any{top}
	}
	query := "SELECT " + label + " AS bucket, " + bExpr + " AS b, " + agg + " FROM (" + from + ") GROUP BY bucket, b"
	args := append(append([]any{}, bucketArgs(q.Interval, tz)...), bArgs...)
	args = append(append(args, aggArgs...), fromArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	pct := series.Math == "p50" || series.Math == "p90" || series.Math == "p99"
	for rows.Next() {
		var bucket, b string
		var v *float64
		dest := []any{&bucket, &b}
		if pct {
			var sorted []float64
			dest = append(dest, &sorted)
		}
		dest = append(dest, &v)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		if out[b] == nil {
			out[b] = map[string]float64{}
		}
		out[b][bucket] = *v
	}
	return out, rows.Err()
}

// topValues returns the breakdown values with the largest aggregate.
func (s *Store) topValues(ctx context.Context, from string, fromArgs []any, agg string, aggArgs []any, limit int) ([]string, error) {
	query := "SELECT bv FROM (SELECT bv, " + agg + " AS value_for_rank FROM (" + from + ") GROUP BY bv) ORDER BY value_for_rank DESC, bv LIMIT ?"
	if len(aggArgs) > 0 || len(agg) > 200 {
		// percentiles define an alias first; rank by the row count instead
		query = "SELECT bv FROM (SELECT bv, count() AS value_for_rank FROM (" + from + ") GROUP BY bv) ORDER BY value_for_rank DESC, bv LIMIT ?"
		aggArgs = nil
	}
	args := append(append(append([]any{}, aggArgs...), fromArgs...), limit)
	rows, err := s.query(ctx, query, args...)
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

// activeUsers computes WAU/MAU: each actor-day counts toward the window
// ends it falls in (ClickHouse 18 has no inequality join, so the days are
// expanded with arrayJoin instead). With a breakdown an actor counts under
// each value it had in the window, and only the values with the largest
// sums are kept, as on DuckDB (distinct counts cannot be summed into
// "$other").
func (s *Store) activeUsers(ctx context.Context, tz *time.Location, q *insight.Trend, r insight.Range, series insight.Series, src source) (map[string]map[string]float64, error) {
	days := 7
	if series.Math == "mau" {
		days = 30
	}
	buckets := insight.Buckets(r.From, r.To, tz, q.Interval)
	ends := make([]string, len(buckets))
	labels := map[string]string{}
	for i, b := range buckets {
		end := insight.BucketEnd(b, q.Interval).AddDate(0, 0, -1)
		if !end.Before(r.To.In(tz)) {
			end = r.To.In(tz).Add(-time.Nanosecond)
		}
		ends[i] = end.Format("2006-01-02")
		labels[ends[i]] = insight.Label(b, q.Interval)
	}
	src.from = r.From.AddDate(0, 0, -days)
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	query := fmt.Sprintf(`SELECT window_end, bv, toFloat64(uniqExact(actor)) FROM (
  SELECT actor, bv, toString(addDays(day, arrayJoin(range(%d)))) AS window_end FROM (
    SELECT DISTINCT actor, bv, toDate(ts, ?) AS day FROM (%s)))
WHERE has(?, window_end) GROUP BY window_end, bv`, days, from)
	args := append(append([]any{tz.String()}, fromArgs...), ends)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run %s trend for %q: %w", series.Math, series.Label, err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	if r.Breakdown == nil {
		out[""] = map[string]float64{}
	}
	for rows.Next() {
		var end, b string
		var n float64
		if err := rows.Scan(&end, &b, &n); err != nil {
			return nil, err
		}
		if out[b] == nil {
			out[b] = map[string]float64{}
		}
		out[b][labels[end]] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.Breakdown != nil {
		return insight.TopBySum(out, r.Breakdown.Limit), nil
	}
	return out, nil
}
