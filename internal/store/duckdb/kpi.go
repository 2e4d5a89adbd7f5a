package duckdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// KPI computes the share of denominator actors that meet the numerator's
// conditions, over the whole range and per interval.
func (s *Store) KPI(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI) (*insight.KPIResult, error) {
	return insight.RunKPI(q, tz, func(conds []insight.Condition, interval string) (map[string]insight.KPIPoint, error) {
		return s.kpiQuery(ctx, projectID, tz, q, conds, interval)
	})
}

// kpiQuery returns numerator and denominator per bucket label; with
// interval "" there is one bucket, the whole range.
func (s *Store) kpiQuery(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI, conds []insight.Condition, interval string) (map[string]insight.KPIPoint, error) {
	var events []string
	for _, c := range conds {
		events = append(events, insight.EventNames(c.Event, c.Action)...)
	}
	src := newSource(projectID, &q.Range, events...)
	src.from = time.Time{} // first_time conditions look at all history
	var counts, firsts []string
	for i, c := range conds {
		expr, args := matchExpr(&src, insight.Matcher{Event: c.Event, Action: c.Action, Filters: c.Filters})
		src.extra = append(src.extra, expr+fmt.Sprintf(" AS m%d", i))
		src.extraArgs = append(src.extraArgs, args...)
		counts = append(counts, fmt.Sprintf("count_if(m%d) AS c%d", i, i))
		firsts = append(firsts, fmt.Sprintf("min(ts) FILTER (WHERE m%d) AS f%d", i, i))
	}
	from, args := src.sql()
	bucket := func(col string) string {
		if interval == "" {
			return "TIMESTAMP '1970-01-01'"
		}
		return "date_trunc('" + interval + "', timezone('" + strings.ReplaceAll(tz.String(), "'", "") + "', " + col + "::TIMESTAMPTZ))"
	}
	cond := func(i int, c insight.Condition) string {
		switch {
		case c.Did != nil && !*c.Did:
			return fmt.Sprintf("c%d = 0", i)
		case c.FirstTime && interval == "":
			return fmt.Sprintf("(c%d > 0 AND f%d >= ?)", i, i)
		case c.FirstTime:
			return fmt.Sprintf("(c%d > 0 AND %s = b)", i, bucket(fmt.Sprintf("f%d", i)))
		default:
			return fmt.Sprintf("c%d > 0", i)
		}
	}
	var den, num []string
	var condArgs []any
	nd := len(q.Denominator.Conditions)
	for i, c := range conds {
		expr := cond(i, c)
		if c.FirstTime && interval == "" {
			condArgs = append(condArgs, q.From.UTC())
		}
		if i < nd {
			den = append(den, expr)
		} else {
			num = append(num, expr)
		}
	}
	numExpr := "true"
	if len(num) > 0 {
		numExpr = strings.Join(num, " AND ")
	}
	denExpr := strings.Join(den, " AND ")
	// Denominator placeholders come twice (once alone, once with the
	// numerator), so their args are repeated in order.
	denArgs, numArgs := splitArgs(conds, nd, condArgs)
	query := `WITH s AS (` + from + `),
firsts AS (SELECT actor, ` + strings.Join(firsts, ", ") + ` FROM s GROUP BY actor),
per AS (SELECT actor, ` + bucket("ts") + ` AS b, ` + strings.Join(counts, ", ") + ` FROM s WHERE ts >= ? GROUP BY ALL)
SELECT b, count_if(` + denExpr + `), count_if(` + denExpr + ` AND ` + numExpr + `)
FROM per JOIN firsts USING (actor) GROUP BY b`
	args = append(args, q.From.UTC())
	args = append(args, denArgs...)
	args = append(args, denArgs...)
	args = append(args, numArgs...)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run kpi: %w", err)
	}
	defer rows.Close()
	out := map[string]insight.KPIPoint{}
	for rows.Next() {
		var b time.Time
		var p insight.KPIPoint
		if err := rows.Scan(&b, &p.Denominator, &p.Numerator); err != nil {
			return nil, err
		}
		out[insight.Label(b, interval)] = p
	}
	return out, rows.Err()
}

// splitArgs splits the condition args into the denominator's and the
// numerator's (only first_time conditions over the whole range have one).
func splitArgs(conds []insight.Condition, nd int, args []any) (den, num []any) {
	k := 0
	for i, c := range conds {
		if c.FirstTime && (c.Did == nil || *c.Did) && k < len(args) {
			if i < nd {
				den = append(den, args[k])
			} else {
				num = append(num, args[k])
			}
			k++
		}
	}
	return den, num
}
