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
// first period ever is t (N); package insight derives the rest.
func (s *Store) Lifecycle(ctx context.Context, projectID int64, tz *time.Location, q *insight.Lifecycle) (*insight.LifecycleResult, error) {
	return insight.RunLifecycle(q, tz, s.now(), func(p insight.Periods) ([]insight.CountRow, error) {
		return s.lifecycleCounts(ctx, projectID, q, p)
	})
}

// lifecycleCounts is insight.LifecycleCounts.
func (s *Store) lifecycleCounts(ctx context.Context, projectID int64, q *insight.Lifecycle, p insight.Periods) ([]insight.CountRow, error) {
	src := s.newMatchSource(projectID, &q.Range, q.Event, q.Action)
	src.from = time.Unix(0, 0) // DateTime starts at the epoch
	from, err := src.frag()
	if err != nil {
		return nil, err
	}
	// ClickHouse 18 has no window functions: each actor's periods (indexes,
	// -1 the one before the range) become an array, and each period from
	// -1 on is checked against it.
	query := sqlf(`SELECT period, count(), countIf(has(periods, period - 1)), countIf(period = first_period) FROM (
  SELECT periods, first_period, arrayJoin(arrayFilter(x -> x >= -1, periods)) AS period FROM (
    SELECT actor, groupUniqArray(`)
	query.AddFrag(periodIndex("ts", p))
	query.Add(`) AS periods, arrayReduce('min', periods) AS first_period
    FROM (`)
	query.AddFrag(from)
	query.Add(`) GROUP BY actor))
GROUP BY period`)
	rows, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run lifecycle for %q: %w", insight.EventNames(q.Event, q.Action), err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var period int64
		var a, r, n uint64
		if err := rows.Scan(&period, &a, &r, &n); err != nil {
			return nil, err
		}
		t := int(period)
		out = append(out, insight.CountRow{Measure: insight.CountActive, Period: t, Value: float64(a)})
		if t >= 0 {
			out = append(out,
				insight.CountRow{Measure: insight.CountReturning, Period: t, Value: float64(r)},
				insight.CountRow{Measure: insight.CountNew, Period: t, Value: float64(n)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run lifecycle for %q: %w", insight.EventNames(q.Event, q.Action), err)
	}
	return out, nil
}
