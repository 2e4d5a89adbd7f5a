package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// KPI computes the share of denominator actors that meet the numerator's
// conditions, over the whole range and per interval, with the DuckDB
// store's semantics: a condition holds for an actor in a period when they
// did the event in it (or did not); a first_time one when, in addition,
// their first such event ever is in the period (over the whole range: at
// or after its start).
func (s *Store) KPI(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI) (*insight.KPIResult, error) {
	return insight.RunKPI(q, tz, func(conds []insight.Condition, interval string) (map[string]insight.KPIPoint, error) {
		return s.kpiQuery(ctx, projectID, tz, q, conds, interval)
	})
}

// kpiQuery returns numerator and denominator per period label; with
// interval "" there is one period, the whole range.
func (s *Store) kpiQuery(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI, conds []insight.Condition, interval string) (map[string]insight.KPIPoint, error) {
	var events []string
	for _, c := range conds {
		events = append(events, insight.EventNames(c.Event, c.Action)...)
	}
	src := s.newSource(projectID, &q.Range, events...)
	src.from = time.Unix(0, 0) // first_time conditions look at all history
	var counts, firsts []string
	for i, c := range conds {
		expr, args := src.match([]insight.Matcher{{Event: c.Event, Action: c.Action, Filters: c.Filters}})
		src.extra = append(src.extra, fmt.Sprintf("%s AS cond_match_%d", expr, i))
		src.extraArgs = append(src.extraArgs, args...)
		counts = append(counts, fmt.Sprintf("countIf(cond_match_%d = 1) AS cond_count_%d", i, i))
		// With no match minIf gives the epoch, but every test of it
		// below also needs a match in the period.
		firsts = append(firsts, fmt.Sprintf("minIf(ts, cond_match_%d = 1) AS cond_first_%d", i, i))
	}
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	period, periodArgs := "toDate(0)", []any(nil)
	if interval != "" {
		period, periodArgs = periodExpr("ts", interval), []any{tz.String()}
	}
	var den, num []string
	var denArgs, numArgs []any
	nd := len(q.Denominator.Conditions)
	for i, c := range conds {
		var expr string
		var args []any
		switch {
		case c.Did != nil && !*c.Did:
			expr = fmt.Sprintf("cond_count_%d = 0", i)
		case c.FirstTime && interval == "":
			expr, args = fmt.Sprintf("(cond_count_%d > 0 AND cond_first_%d >= ?)", i, i), []any{q.From.UTC()}
		case c.FirstTime:
			expr, args = fmt.Sprintf("(cond_count_%d > 0 AND %s = period)", i, periodExpr(fmt.Sprintf("cond_first_%d", i), interval)), []any{tz.String()}
		default:
			expr = fmt.Sprintf("cond_count_%d > 0", i)
		}
		if i < nd {
			den, denArgs = append(den, expr), append(denArgs, args...)
		} else {
			num, numArgs = append(num, expr), append(numArgs, args...)
		}
	}
	numExpr := "1"
	if len(num) > 0 {
		numExpr = strings.Join(num, " AND ")
	}
	// Per actor and period in the range, the condition counts, joined to
	// each actor's first matches ever.
	query := `SELECT period_label, countIf(in_den = 1), countIf(in_den = 1 AND in_num = 1) FROM (
  SELECT toString(period) AS period_label, toUInt8(` + strings.Join(den, " AND ") + `) AS in_den, toUInt8(` + numExpr + `) AS in_num FROM (
    SELECT actor, ` + period + ` AS period, ` + strings.Join(counts, ", ") + ` FROM (` + from + `) WHERE ts >= ? GROUP BY actor, period)
  ANY INNER JOIN (SELECT actor, ` + strings.Join(firsts, ", ") + ` FROM (` + from + `) GROUP BY actor) USING actor)
GROUP BY period_label`
	args := append(append([]any{}, denArgs...), numArgs...)
	args = append(append(args, periodArgs...), fromArgs...)
	args = append(append(args, q.From.UTC()), fromArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run kpi: %w", err)
	}
	defer rows.Close()
	out := map[string]insight.KPIPoint{}
	for rows.Next() {
		var label string
		var d, n uint64
		if err := rows.Scan(&label, &d, &n); err != nil {
			return nil, err
		}
		out[label] = insight.KPIPoint{Denominator: int64(d), Numerator: int64(n)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run kpi: %w", err)
	}
	return out, nil
}
