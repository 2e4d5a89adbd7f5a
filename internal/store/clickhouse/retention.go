package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Retention answers first_time and recurring retention with the DuckDB
// store's semantics: cohorts are the periods (in tz) starting in
// [from, min(to, now)); retained[k] counts cohort actors with a return
// event in period cohort+k; retained[0] is the cohort size.
func (s *Store) Retention(ctx context.Context, projectID int64, tz *time.Location, q *insight.Retention) (*insight.RetentionResult, error) {
	if q.Breakdown != nil {
		return nil, unsupported("breakdown", "a retention breakdown")
	}
	bounds, to := q.CohortBounds(tz, time.Now())
	res := &insight.RetentionResult{Kind: "retention", Cohorts: []insight.RetentionCohort{}}
	if len(bounds) == 0 {
		return res, nil
	}
	index := map[string]int{}
	for i, b := range bounds {
		c := insight.RetentionCohort{Start: insight.Label(b, q.Period), Retained: make([]int64, min(q.Periods, len(bounds)-i))}
		index[c.Start] = i
		res.Cohorts = append(res.Cohorts, c)
	}
	rng := insight.Range{From: bounds[0], To: to, Filters: q.Filters, Unit: q.Unit}
	start := s.newSource(projectID, &rng, q.Start.Event)
	start.filters = append(append([]insight.Filter(nil), q.Filters...), q.Start.Filters...)
	if q.Mode == "first_time" {
		start.from = time.Unix(0, 0)
	}
	ret := s.newSource(projectID, &rng, q.Return.Event)
	ret.filters = append(append([]insight.Filter(nil), q.Filters...), q.Return.Filters...)
	startSQL, startArgs, err := start.sql()
	if err != nil {
		return nil, err
	}
	retSQL, retArgs, err := ret.sql()
	if err != nil {
		return nil, err
	}
	period := map[string]string{"day": "toDate(%s, ?)", "week": "toMonday(%s, ?)", "month": "toStartOfMonth(%s, ?)"}[q.Period]
	cohorts := "SELECT DISTINCT actor, " + fmt.Sprintf(period, "ts") + " AS cohort FROM (" + startSQL + ")"
	cohortArgs := append([]any{tz.String()}, startArgs...)
	if q.Mode == "first_time" {
		cohorts = "SELECT actor, " + fmt.Sprintf(period, "min(ts)") + " AS cohort FROM (" + startSQL + ") GROUP BY actor"
	}
	query := `SELECT toString(cohort), toString(period), uniqExact(actor) FROM (
  SELECT actor, cohort, period FROM (` + cohorts + `)
  ALL INNER JOIN (SELECT DISTINCT actor, ` + fmt.Sprintf(period, "ts") + ` AS period FROM (` + retSQL + `)) USING actor
  WHERE period > cohort)
GROUP BY cohort, period
UNION ALL
SELECT toString(cohort), '', uniqExact(actor) FROM (` + cohorts + `) GROUP BY cohort`
	args := append(append(append(append([]any{}, cohortArgs...), tz.String()), retArgs...), cohortArgs...)
	rows, err := s.q().Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run retention: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cohort, per string
		var n uint64
		if err := rows.Scan(&cohort, &per, &n); err != nil {
			return nil, err
		}
		c, ok := index[cohort]
		if !ok {
			continue // a first_time cohort before the range
		}
		co := &res.Cohorts[c]
		if per == "" {
			co.Size = int64(n)
			if len(co.Retained) > 0 {
				co.Retained[0] = int64(n)
			}
			continue
		}
		if k, ok := index[per]; ok && k-c > 0 && k-c < len(co.Retained) {
			co.Retained[k-c] = int64(n)
		}
	}
	return res, rows.Err()
}
