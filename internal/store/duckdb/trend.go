package duckdb

import (
	"context"
	"fmt"
	"strings"
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

// trendSeries returns breakdown value → bucket label → value ("" when
// there is no breakdown).
func (s *Store) trendSeries(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend, r insight.Range, series insight.Series) (map[string]map[string]float64, error) {
	src := newMatchSource(projectID, &r, series.Event, series.Action)
	src.filters = append(append([]insight.Filter(nil), r.Filters...), series.Filters...)
	bd := "''"
	if b := r.Breakdown; b != nil {
		col := "e.properties"
		if b.Type == "person" {
			col = "p.properties"
		}
		src.extra = []string{"coalesce(json_extract_string(" + col + ", ?), '$none') AS bv"}
		src.extraArgs = []any{propPath(b.Property)}
		bd = "bv"
	} else {
		src.extra = []string{"'' AS bv"}
	}
	if series.Math == "wau" || series.Math == "mau" {
		return s.activeUsers(ctx, tz, q, r, series, src)
	}
	buckets := insight.Buckets(r.From, r.To, tz, q.Interval)
	if len(buckets) == 0 {
		return nil, nil
	}
	if series.Math == "dau" && len(buckets) <= 64 {
		if r.Breakdown == nil && src.groupType == "" && !s.plan.NoDenseRetention {
			counts, ok, err := s.activePerPeriod(ctx, src, buckets)
			if err != nil || ok {
				return bucketValues(q, buckets, map[string][]int64{"": counts}), err
			}
		}
		return s.uniqueActors(ctx, q, r, buckets, src)
	}
	agg, aggArgs := aggregate(series)
	from, fromArgs := src.sql()
	// The bucket is found by comparing ts with the buckets' UTC bounds
	// (a binary-search CASE), much cheaper than timezone() on every row.
	bucket := periodIndexSQL(buckets, 0)
	var query string
	var args []any
	if r.Breakdown == nil {
		query = `SELECT ` + bucket + ` AS bucket, '' AS b, ` + agg + ` FROM (` + from + `) GROUP BY ALL`
		args = append(append([]any{}, aggArgs...), fromArgs...)
	} else {
		// Top values by the series' own aggregate over the whole range; the
		// rest fold into "$other" (aggregated again, so DAU stays distinct).
		query = `WITH s AS (` + from + `),
top AS (SELECT ` + bd + ` AS v FROM s GROUP BY 1 ORDER BY ` + agg + ` DESC, 1 LIMIT ?)
SELECT ` + bucket + ` AS bucket,
       CASE WHEN bv IN (SELECT v FROM top) THEN bv ELSE '$other' END AS b, ` + agg + `
FROM s GROUP BY ALL`
		args = append(append(append(append([]any{}, fromArgs...), aggArgs...), r.Breakdown.Limit), aggArgs...)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	for rows.Next() {
		var idx int
		var b string
		var v *float64
		if err := rows.Scan(&idx, &b, &v); err != nil {
			return nil, err
		}
		if v == nil || idx < 0 || idx >= len(buckets) {
			continue
		}
		if out[b] == nil {
			out[b] = map[string]float64{}
		}
		out[b][insight.Label(buckets[idx], q.Interval)] = *v
	}
	return out, rows.Err()
}

// bucketValues is a series' answer from counts per breakdown value ("":
// none) and bucket.
func bucketValues(q *insight.Trend, buckets []time.Time, counts map[string][]int64) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for b, c := range counts {
		out[b] = map[string]float64{}
		for i, n := range c {
			if n > 0 {
				out[b][insight.Label(buckets[i], q.Interval)] = float64(n)
			}
		}
	}
	return out
}

// uniqueActors counts distinct actors per bucket (DAU and friends) with one
// bitmask of active buckets per actor: grouping by actor alone is about as
// cheap as the store's floor, where grouping by (bucket, actor) is not.
func (s *Store) uniqueActors(ctx context.Context, q *insight.Trend, r insight.Range, buckets []time.Time, src source) (map[string]map[string]float64, error) {
	from, fromArgs := src.sql()
	group := "bv"
	var args []any
	if r.Breakdown != nil {
		group = "CASE WHEN bv IN (SELECT v FROM top) THEN bv ELSE '$other' END"
	}
	query := `WITH s AS (` + from + `)`
	args = append(args, fromArgs...)
	if r.Breakdown != nil {
		query += `, top AS (SELECT bv AS v FROM s GROUP BY 1 ORDER BY count(DISTINCT actor) DESC, 1 LIMIT ?)`
		args = append(args, r.Breakdown.Limit)
	}
	// Per-bucket counts come from histograms of the masks' bytes (a few
	// GROUP BYs over 256 values), several times cheaper than a sum per bit.
	var parts []string
	for pos := 0; pos*8 < len(buckets); pos++ {
		parts = append(parts, fmt.Sprintf("SELECT b, %d AS pos, ((mask >> %d::UBIGINT) & 255::UBIGINT)::BIGINT AS v, count(*) FROM m GROUP BY b, v", pos, pos*8))
	}
	query += `, m AS MATERIALIZED (SELECT actor, ` + group + ` AS b, bit_or(1::UBIGINT << (` + periodIndexSQL(buckets, 0) + `)) AS mask FROM s GROUP BY ALL)
` + strings.Join(parts, " UNION ALL ")
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count unique actors: %w", err)
	}
	defer rows.Close()
	counts := map[string][]int64{}
	for rows.Next() {
		var b string
		var pos, v, n int64
		if err := rows.Scan(&b, &pos, &v, &n); err != nil {
			return nil, err
		}
		if counts[b] == nil {
			counts[b] = make([]int64, len(buckets))
		}
		addByteHistogram(counts[b], pos, v, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return bucketValues(q, buckets, counts), nil
}

// activeUsers computes WAU/MAU: for each bucket, the distinct actors
// active in the 7 or 30 days ending on the bucket's last day.
func (s *Store) activeUsers(ctx context.Context, tz *time.Location, q *insight.Trend, r insight.Range, series insight.Series, src source) (map[string]map[string]float64, error) {
	days := 7
	if series.Math == "mau" {
		days = 30
	}
	buckets := insight.Buckets(r.From, r.To, tz, q.Interval)
	if len(buckets) == 0 {
		return nil, nil
	}
	// Look back so the first bucket's window is complete.
	src.from = r.From.AddDate(0, 0, -days)
	from, fromArgs := src.sql()
	ends := make([]string, len(buckets))
	labels := map[string]string{}
	for i, b := range buckets {
		end := insight.BucketEnd(b, q.Interval).AddDate(0, 0, -1) // last local day in the bucket
		if !end.Before(r.To.In(tz)) {
			end = r.To.In(tz).Add(-time.Nanosecond)
		}
		ends[i] = "DATE '" + end.Format("2006-01-02") + "'"
		labels[end.Format("2006-01-02")] = insight.Label(b, q.Interval)
	}
	query := `WITH s AS (` + from + `),
ad AS (SELECT DISTINCT actor, bv, timezone(?, ts::TIMESTAMPTZ)::DATE AS d FROM s),
ends AS (SELECT unnest([` + strings.Join(ends, ",") + `]) AS e)
SELECT ends.e, ad.bv, count(DISTINCT ad.actor)
FROM ends JOIN ad ON ad.d > ends.e - ` + fmt.Sprint(days) + ` AND ad.d <= ends.e
GROUP BY ALL`
	args := append(append([]any{}, fromArgs...), tz.String())
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run %s trend for %q: %w", series.Math, series.Label, err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	for rows.Next() {
		var end time.Time
		var b string
		var n float64
		if err := rows.Scan(&end, &b, &n); err != nil {
			return nil, err
		}
		if out[b] == nil {
			out[b] = map[string]float64{}
		}
		out[b][labels[end.Format("2006-01-02")]] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.Breakdown != nil {
		return insight.TopBySum(out, r.Breakdown.Limit), nil
	}
	return out, nil
}

func bucketUnit(interval string) string {
	switch interval {
	case "hour", "week", "month":
		return interval
	default:
		return "day"
	}
}
