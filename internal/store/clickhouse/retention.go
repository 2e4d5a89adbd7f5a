package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Retention answers first_time and recurring retention with the DuckDB
// store's semantics: cohorts are the periods (in tz) starting in
// [from, min(to, now)); retained[k] counts cohort actors with a return
// event in period cohort+k; retained[0] is the cohort size. With a
// breakdown, an actor's value is the one on its start event: the first
// ever for first_time (so one value an actor), each start event's for
// recurring (so an actor can be in one cohort under several values); the
// values with the most cohort memberships keep their name, the rest are
// "$other", and an actor counts once per value and cohort.
func (s *Store) Retention(ctx context.Context, projectID int64, tz *time.Location, q *insight.Retention) (*insight.RetentionResult, error) {
	bounds, to := q.CohortBounds(tz, s.now())
	res := &insight.RetentionResult{Kind: "retention", Cohorts: []insight.RetentionCohort{}}
	if q.Breakdown != nil {
		res.Breakdown = []insight.RetentionBreakdown{}
	}
	if len(bounds) == 0 {
		return res, nil
	}
	labels := make([]string, len(bounds))
	index := map[string]int{}
	for i, b := range bounds {
		labels[i] = insight.Label(b, q.Period)
		index[labels[i]] = i
	}
	newCohorts := func() []insight.RetentionCohort {
		cs := make([]insight.RetentionCohort, len(bounds))
		for i := range cs {
			cs[i] = insight.RetentionCohort{Start: labels[i], Retained: make([]int64, min(q.Periods, len(bounds)-i))}
		}
		return cs
	}
	res.Cohorts = newCohorts()
	members, membersArgs, err := s.retentionMembers(projectID, tz, q, bounds[0], to, labels)
	if err != nil {
		return nil, err
	}
	groups, groupArgs := "[(toUInt8(1), '')]", []any(nil)
	if q.Breakdown != nil {
		top, err := s.retentionTop(ctx, members, membersArgs, q.Breakdown.Limit)
		if err != nil {
			return nil, err
		}
		if len(top) == 0 {
			return res, nil // no cohort has an actor
		}
		groups, groupArgs = "[(toUInt8(1), ''), (toUInt8(0), if(has(?, bv), bv, '"+insight.BreakdownOther+"'))]", []any{top}
	}
	ret := s.newMatchSource(projectID, &insight.Range{From: bounds[0], To: to, Filters: q.Filters, Unit: q.Unit}, q.Return.Event, q.Return.Action)
	ret.filters = append(append([]insight.Filter(nil), q.Filters...), q.Return.Filters...)
	ret.cohortTo = q.To
	retSQL, retArgs, err := ret.sql()
	if err != nil {
		return nil, err
	}
	// Each membership counts overall and, with a breakdown, under its
	// value: one scan of the members gives both.
	expanded := `SELECT actor, cohort, tupleElement(g, 1) AS overall, tupleElement(g, 2) AS value FROM (
    SELECT actor, cohort, arrayJoin(` + groups + `) AS g FROM (` + members + `))`
	expandedArgs := append(append([]any{}, groupArgs...), membersArgs...)
	query := `SELECT overall, value, toString(cohort), toString(period), uniqExact(actor) FROM (
  SELECT overall, value, actor, cohort, period FROM (` + expanded + `)
  ALL INNER JOIN (SELECT DISTINCT actor, ` + periodExpr("ts", q.Period) + ` AS period FROM (` + retSQL + `)) USING actor
  WHERE period > cohort)
GROUP BY overall, value, cohort, period
UNION ALL
SELECT overall, value, toString(cohort), '', uniqExact(actor) FROM (` + expanded + `) GROUP BY overall, value, cohort`
	args := append(append(append(append([]any{}, expandedArgs...), tz.String()), retArgs...), expandedArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run retention: %w", err)
	}
	defer rows.Close()
	byValue := map[string][]insight.RetentionCohort{}
	for rows.Next() {
		var overall uint8
		var value, cohort, per string
		var n uint64
		if err := rows.Scan(&overall, &value, &cohort, &per, &n); err != nil {
			return nil, err
		}
		c, ok := index[cohort]
		if !ok {
			continue // a first_time cohort before the range
		}
		cs := res.Cohorts
		if overall == 0 {
			if byValue[value] == nil {
				byValue[value] = newCohorts()
			}
			cs = byValue[value]
		}
		co := &cs[c]
		if per == "" {
			co.Size = int64(n)
			co.Retained[0] = int64(n)
			continue
		}
		if k, ok := index[per]; ok && k-c > 0 && k-c < len(co.Retained) {
			co.Retained[k-c] = int64(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run retention: %w", err)
	}
	if q.Breakdown != nil {
		res.Breakdown = retentionBreakdown(byValue)
	}
	return res, nil
}

// retentionMembers selects the cohort memberships in the range as (actor,
// cohort, bv): cohort is the start of the period (a Date), bv the
// breakdown value (empty without a breakdown).
func (s *Store) retentionMembers(projectID int64, tz *time.Location, q *insight.Retention, from, to time.Time, labels []string) (string, []any, error) {
	start := s.newMatchSource(projectID, &insight.Range{From: from, To: to, Filters: q.Filters, Unit: q.Unit}, q.Start.Event, q.Start.Action)
	start.filters = append(append([]insight.Filter(nil), q.Filters...), q.Start.Filters...)
	start.cohortTo = q.To
	if q.Mode == insight.RetentionFirstTime {
		start.from = time.Unix(0, 0) // an actor's first start event ever decides its cohort
	}
	if q.Breakdown != nil {
		start.breakdown(q.Breakdown)
	} else {
		start.extra = []string{"'' AS bv"}
	}
	startSQL, startArgs, err := start.sql()
	if err != nil {
		return "", nil, err
	}
	members := "SELECT DISTINCT actor, " + periodExpr("ts", q.Period) + " AS cohort, bv FROM (" + startSQL + ")"
	if q.Mode == insight.RetentionFirstTime {
		// The value on the first start event (ts_us orders within a second).
		members = "SELECT actor, " + periodExpr("min(ts)", q.Period) + " AS cohort, argMin(bv, ts_us) AS bv FROM (" + startSQL + ") GROUP BY actor"
	}
	query := "SELECT actor, cohort, bv FROM (" + members + ") WHERE has(?, toString(cohort))"
	return query, append(append([]any{tz.String()}, startArgs...), labels), nil
}

// retentionTop returns the breakdown values with the most cohort
// memberships (ties by value).
func (s *Store) retentionTop(ctx context.Context, members string, args []any, limit int) ([]string, error) {
	rows, err := s.query(ctx, "SELECT bv FROM ("+members+") GROUP BY bv ORDER BY count() DESC, bv LIMIT ?", append(append([]any{}, args...), limit)...)
	if err != nil {
		return nil, fmt.Errorf("cannot rank retention breakdown values: %w", err)
	}
	defer rows.Close()
	var top []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		top = append(top, v)
	}
	return top, rows.Err()
}

// retentionBreakdown orders the values' cohorts as DuckDB does: by their
// total size, largest first, then by value, with "$other" last.
func retentionBreakdown(byValue map[string][]insight.RetentionCohort) []insight.RetentionBreakdown {
	out := []insight.RetentionBreakdown{}
	totals := map[string]int64{}
	for v, cs := range byValue {
		for _, c := range cs {
			totals[v] += c.Size
		}
		out = append(out, insight.RetentionBreakdown{Value: v, Cohorts: cs})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Value, out[j].Value
		if (a == insight.BreakdownOther) != (b == insight.BreakdownOther) {
			return b == insight.BreakdownOther
		}
		if totals[a] != totals[b] {
			return totals[a] > totals[b]
		}
		return a < b
	})
	return out
}
