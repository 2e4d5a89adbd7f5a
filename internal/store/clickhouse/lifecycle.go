package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Lifecycle runs a lifecycle query with the DuckDB store's semantics.
// Whether an actor is new or resurrecting depends on all their history, so
// the event is read from the beginning of time up to q.To. Intervals are
// whole periods in tz, and the interval before the range decides who is
// returning or dormant in the first one.
//
// Per interval t (from the one before the range) the query counts the
// actors active in t (A), those active in t and t-1 (R) and those whose
// first period ever is t (N); then new = N, returning = R, resurrecting =
// A(t) - R(t) - N(t) and dormant = A(t-1) - R(t).
func (s *Store) Lifecycle(ctx context.Context, projectID int64, tz *time.Location, q *insight.Lifecycle) (*insight.LifecycleResult, error) {
	buckets := insight.Buckets(q.From, q.To, tz, q.Interval)
	res := &insight.LifecycleResult{Kind: "lifecycle", Points: make([]insight.LifecyclePoint, len(buckets))}
	if len(buckets) == 0 {
		return res, nil
	}
	prev := insight.Truncate(buckets[0].Add(-time.Nanosecond), q.Interval)
	index := map[string]int{insight.Label(prev, q.Interval): -1}
	for i, b := range buckets {
		res.Points[i].T = insight.Label(b, q.Interval)
		index[res.Points[i].T] = i
	}
	src := s.newMatchSource(projectID, &q.Range, q.Event, q.Action)
	src.from = time.Unix(0, 0) // DateTime starts at the epoch
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	before := map[string]string{"day": "subtractDays(%s, 1)", "week": "subtractWeeks(%s, 1)", "month": "subtractMonths(%s, 1)"}[q.Interval]
	// ClickHouse 18 has no window functions: each actor's periods become
	// an array, and each period in the range is checked against it.
	query := `SELECT toString(period), count(), countIf(has(periods, ` + fmt.Sprintf(before, "period") + `)), countIf(period = first_period) FROM (
  SELECT periods, first_period, arrayJoin(arrayFilter(x -> x >= toDate(?), periods)) AS period FROM (
    SELECT actor, groupUniqArray(` + periodExpr("ts", q.Interval) + `) AS periods, arrayReduce('min', periods) AS first_period
    FROM (` + from + `) GROUP BY actor))
GROUP BY period`
	args := append([]any{prev.Format("2006-01-02"), tz.String()}, fromArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run lifecycle for %q: %w", insight.EventNames(q.Event, q.Action), err)
	}
	defer rows.Close()
	active := make([]int64, len(buckets)+1) // interval t at t+1
	returning := make([]int64, len(buckets))
	newActors := make([]int64, len(buckets))
	for rows.Next() {
		var label string
		var a, r, n uint64
		if err := rows.Scan(&label, &a, &r, &n); err != nil {
			return nil, err
		}
		t, ok := index[label]
		if !ok {
			return nil, fmt.Errorf("lifecycle: interval %s out of range", label)
		}
		active[t+1] = int64(a)
		if t >= 0 {
			returning[t], newActors[t] = int64(r), int64(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run lifecycle for %q: %w", insight.EventNames(q.Event, q.Action), err)
	}
	for t := range res.Points {
		p := &res.Points[t]
		p.New, p.Returning = newActors[t], returning[t]
		p.Resurrecting = active[t+1] - returning[t] - newActors[t]
		p.Dormant = -(active[t] - returning[t])
	}
	return res, nil
}
