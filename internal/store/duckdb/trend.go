package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Trend runs a trend query: package insight assembles the series,
// comparison and formula from the counts trendCounts hands back.
func (s *Store) Trend(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend) (*insight.TrendResult, error) {
	return insight.RunTrend(q, tz, s.plan.now(), func(r insight.Range, series insight.Series, p insight.Periods) ([]insight.CountRow, error) {
		return s.trendCounts(ctx, projectID, r, series, p)
	})
}

// trendCounts is insight.TrendCounts: a series' value per breakdown value
// and period.
func (s *Store) trendCounts(ctx context.Context, projectID int64, r insight.Range, series insight.Series, p insight.Periods) ([]insight.CountRow, error) {
	if rows, ok, err := s.indexTrendCounts(ctx, projectID, r, series, p); ok { // journeyidx_plans.go
		return rows, err
	}
	src := newMatchSource(projectID, &r, series.Event, series.Action)
	src.filters = appendFilters(r.Filters, series.Filters)
	src.breakdownColumn(r.Breakdown)
	if w, ok := p.Windows(series.Math); ok {
		return s.activeUsers(ctx, series, src, p, w)
	}
	if series.Math == "dau" && p.Len() <= 64 {
		if r.Breakdown == nil && src.groupType == "" && !s.plan.NoDenseRetention {
			counts, ok, err := s.activePerPeriod(ctx, src, p.Starts)
			if err != nil || ok {
				return periodRows(nil, insight.CountRow{}, counts), err
			}
		}
		return s.uniqueActors(ctx, r.Breakdown, p, src)
	}
	agg := aggregate(series)
	// The period is found by comparing ts with the periods' UTC bounds
	// (a binary-search CASE), much cheaper than timezone() on every row.
	period := periodIndexSQL(p.Starts, 0)
	var q frag
	if r.Breakdown == nil {
		q.Add("SELECT " + period + " AS period, '' AS b, ")
		q.AddFrag(agg)
		q.Add(" FROM (")
		q.AddFrag(src.frag())
		q.Add(") GROUP BY ALL")
	} else {
		// Top values by the series' own aggregate over the whole range; the
		// rest fold into "$other" (aggregated again, so DAU stays distinct).
		q.Add("WITH s AS (")
		q.AddFrag(src.frag())
		q.Add("),\ntop AS (SELECT bv AS v FROM s GROUP BY 1 ORDER BY ")
		q.AddFrag(agg)
		q.Add(" DESC, 1 LIMIT ?)", r.Breakdown.Limit)
		q.Add("\nSELECT " + period + " AS period,\n       CASE WHEN bv IN (SELECT v FROM top) THEN bv ELSE '$other' END AS b, ")
		q.AddFrag(agg)
		q.Add("\nFROM s GROUP BY ALL")
	}
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run trend for %q: %w", series.Label, err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var row insight.CountRow
		var v *float64
		if err := rows.Scan(&row.Period, &row.Breakdown, &v); err != nil {
			return nil, err
		}
		if v != nil {
			row.Value = *v
			out = append(out, row)
		}
	}
	return out, rows.Err()
}

// uniqueActors counts distinct actors per period (DAU and friends) with
// one bitmask of active periods per actor: grouping by actor alone is
// about as cheap as the store's floor, where grouping by (period, actor)
// is not. p has at most 64 periods.
func (s *Store) uniqueActors(ctx context.Context, b *insight.Breakdown, p insight.Periods, src source) ([]insight.CountRow, error) {
	group := "bv"
	q := sqlf("WITH s AS (")
	q.AddFrag(src.frag())
	q.Add(")")
	if b != nil {
		group = "CASE WHEN bv IN (SELECT v FROM top) THEN bv ELSE '$other' END"
		q.Add(", top AS (SELECT bv AS v FROM s GROUP BY 1 ORDER BY count(DISTINCT actor) DESC, 1 LIMIT ?)", b.Limit)
	}
	// Per-period counts come from histograms of the masks' bytes (a few
	// GROUP BYs over 256 values), several times cheaper than a sum per bit.
	q.Add(", m AS MATERIALIZED (SELECT actor, " + group + " AS b, bit_or(1::UBIGINT << (" + periodIndexSQL(p.Starts, 0) + ")) AS mask FROM s GROUP BY ALL)\n")
	for pos := 0; pos*8 < p.Len(); pos++ {
		if pos > 0 {
			q.Add(" UNION ALL ")
		}
		q.Add(fmt.Sprintf("SELECT b, %d AS pos, ((mask >> %d::UBIGINT) & 255::UBIGINT)::BIGINT AS v, count(*) FROM m GROUP BY b, v", pos, pos*8))
	}
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count unique actors: %w", err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var row insight.CountRow
		var pos, v, n int64
		if err := rows.Scan(&row.Breakdown, &pos, &v, &n); err != nil {
			return nil, err
		}
		out = bitRows(out, row, pos, v, n, 0)
	}
	return out, rows.Err()
}

// activeUsers counts WAU/MAU: for each window, the distinct actors active
// in its days (in the periods' timezone).
func (s *Store) activeUsers(ctx context.Context, series insight.Series, src source, p insight.Periods, w insight.Windows) ([]insight.CountRow, error) {
	src.from = w.From // so the first window is whole
	q := sqlf("WITH s AS (")
	q.AddFrag(src.frag())
	q.Add("),\nad AS (SELECT DISTINCT actor, bv, timezone(?, ts::TIMESTAMPTZ)::DATE AS d FROM s),\nends AS (SELECT * FROM (VALUES ", p.Location().String())
	for i, end := range w.Ends {
		if i > 0 {
			q.Add(", ")
		}
		// Our own dates, as literals.
		q.Add(fmt.Sprintf("(%d, DATE '%s')", i, end))
	}
	q.Add(fmt.Sprintf(`) AS ends(i, e))
SELECT ends.i, ad.bv, count(DISTINCT ad.actor)
FROM ends JOIN ad ON ad.d > ends.e - %d AND ad.d <= ends.e
GROUP BY ALL`, w.Days))
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run %s trend for %q: %w", series.Math, series.Label, err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var row insight.CountRow
		if err := rows.Scan(&row.Period, &row.Breakdown, &row.Value); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
