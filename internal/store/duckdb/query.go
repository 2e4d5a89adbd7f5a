package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// propPath turns a property name into a JSON pointer. The name travels as a
// bound parameter, never as SQL text.
func propPath(name string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}

// where collects SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// filters adds event property filters on column col (a JSON column).
func (w *where) filters(col string, fs []insight.Filter) {
	for _, f := range fs {
		path := propPath(f.Property)
		val := "json_extract_string(" + col + ", ?)"
		switch f.Op {
		case "eq":
			w.add(val+" = ?", path, valueString(f.Value))
		case "neq":
			w.add("coalesce("+val+" <> ?, true)", path, valueString(f.Value))
		case "contains":
			w.add("contains(lower("+val+"), lower(?))", path, valueString(f.Value))
		case "gt":
			w.add("TRY_CAST("+val+" AS DOUBLE) > ?", path, valueFloat(f.Value))
		case "lt":
			w.add("TRY_CAST("+val+" AS DOUBLE) < ?", path, valueFloat(f.Value))
		case "is_set":
			w.add("json_extract("+col+", ?) IS NOT NULL", path)
		case "in":
			list, _ := f.Value.([]any)
			if len(list) == 0 {
				w.add("false")
				continue
			}
			args := []any{path}
			for _, v := range list {
				args = append(args, valueString(v))
			}
			w.add(val+" IN ("+placeholders(len(list))+")", args...)
		}
	}
}

// valueString renders a filter value the way json_extract_string renders
// the stored one, so 5, "5" and true compare as users expect.
func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func valueFloat(v any) float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case float64:
		return x
	case string:
		var f float64
		fmt.Sscan(x, &f)
		return f
	}
	return 0
}

// personExpr is the event's person after merges (SPEC §2: merges apply
// retroactively at query time).
const personFrom = `events e LEFT JOIN person_overrides o ON o.old_person_id = e.person_id`
const personExpr = `coalesce(o.person_id, e.person_id)`

func aggregate(s insight.Series) (string, []any) {
	num := "TRY_CAST(json_extract_string(e.properties, ?) AS DOUBLE)"
	switch s.Math {
	case "dau":
		return "count(DISTINCT " + personExpr + ")", nil
	case "sum", "avg", "min", "max":
		return s.Math + "(" + num + ")", []any{propPath(s.Property)}
	case "p50", "p90", "p99":
		q := map[string]string{"p50": "0.5", "p90": "0.9", "p99": "0.99"}[s.Math]
		return "quantile_cont(" + num + ", " + q + ")", []any{propPath(s.Property)}
	default:
		return "count(*)", nil
	}
}

// Trend runs a trend query.
func (s *Store) Trend(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend) (*insight.TrendResult, error) {
	res := &insight.TrendResult{Kind: "trend"}
	buckets := insight.Buckets(q.From, q.To, tz, q.Interval)
	for _, series := range q.Series {
		values, err := s.trendSeries(ctx, projectID, tz, q, series)
		if err != nil {
			return nil, err
		}
		sr := insight.SeriesResult{Label: series.Label, Points: make([]insight.Point, len(buckets))}
		for i, b := range buckets {
			label := insight.Label(b, q.Interval)
			sr.Points[i] = insight.Point{T: label, Value: values[label]}
		}
		res.Series = append(res.Series, sr)
	}
	return res, nil
}

func (s *Store) trendSeries(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend, series insight.Series) (map[string]float64, error) {
	agg, aggArgs := aggregate(series)
	var w where
	w.add("e.project_id = ?", projectID)
	w.add("e.event = ?", series.Event)
	w.add("e.ts >= ?", q.From.UTC())
	w.add("e.ts < ?", q.To.UTC())
	w.filters("e.properties", q.Filters)
	w.filters("e.properties", series.Filters)
	from := "events e"
	if strings.Contains(agg, personExpr) {
		from = personFrom
	}
	query := `SELECT date_trunc('` + bucketUnit(q.Interval) + `', timezone(?, e.ts::TIMESTAMPTZ)) AS bucket, ` + agg +
		` FROM ` + from + ` WHERE ` + w.sql() + ` GROUP BY 1`
	args := append([]any{tz.String()}, aggArgs...)
	args = append(args, w.args...)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run trend for event %q: %w", series.Event, err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var bucket time.Time
		var v *float64
		if err := rows.Scan(&bucket, &v); err != nil {
			return nil, err
		}
		if v != nil {
			// The bucket is a local wall-clock time returned as a naive timestamp.
			out[insight.Label(bucket, q.Interval)] = *v
		}
	}
	return out, rows.Err()
}

func bucketUnit(interval string) string {
	switch interval {
	case "hour", "week", "month":
		return interval
	default:
		return "day"
	}
}
