package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Lifecycle runs a lifecycle query in one SQL query. Whether an actor is
// new or resurrecting depends on all their history, so the event is read
// from the beginning of time up to q.To. Intervals are whole periods in tz:
// activity in the first interval counts from its start even when q.From is
// later, and the interval before it decides who is returning or dormant in
// the first one.
//
// The SQL counts, per interval t, the actors active in t (A, also for the
// interval before the range), those active in t and t-1 (R) and those whose
// first event ever is in t (N); then new = N, returning = R, resurrecting =
// A(t) - R(t) - N(t) and dormant = A(t-1) - R(t).
func (s *Store) Lifecycle(ctx context.Context, projectID int64, tz *time.Location, q *insight.Lifecycle) (*insight.LifecycleResult, error) {
	return insight.RunLifecycle(q, tz, s.plan.now(), func(p insight.Periods) ([]insight.CountRow, error) {
		return s.lifecycleCounts(ctx, projectID, q, p)
	})
}

// lifecycleCounts is insight.LifecycleCounts.
func (s *Store) lifecycleCounts(ctx context.Context, projectID int64, q *insight.Lifecycle, p insight.Periods) ([]insight.CountRow, error) {
	if rows, ok, err := s.indexLifecycleCounts(ctx, projectID, q, p); ok { // journeyidx_counts.go
		return rows, err
	}
	nP := p.Len()
	// Periods -1 (the one before the range) .. nP-1; -2 is anything older.
	period := periodIndexSQL(append([]time.Time{p.Before()}, p.Starts...), -1)
	src := newMatchSource(projectID, &q.Range, q.Event, q.Action)
	src.from = time.Time{}
	rows := sqlf("SELECT actor, " + period + " AS p FROM (")
	rows.AddFrag(src.frag())
	rows.Add(")")

	// Rows (kind, i, b, n): kind A, R, N count n actors for interval i
	// directly; a and r are byte histograms (byte i of the mask has value
	// b for n actors) of the masks of A (bit t+1 is interval t) and R (bit
	// t).
	var query frag
	if nP+1 <= s.plan.maskPeriods() {
		// Per actor, the first period ever (f) and a bitmask m of the
		// active periods -1..nP-1; m & (m >> 1) has bit t set when active
		// in t-1 and t.
		query.Add(`WITH a AS MATERIALIZED (
				SELECT f, m, m & (m >> 1) AS r FROM (
					SELECT actor, min(p) AS f, bit_or(1::UBIGINT << greatest(p + 1, 0)::UBIGINT) FILTER (p >= -1) AS m
					FROM (`)
		query.AddFrag(rows)
		query.Add(`) GROUP BY actor)
				WHERE m IS NOT NULL)
			SELECT 'N' AS kind, f::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n FROM a WHERE f >= 0 GROUP BY f
			UNION ALL ` + byteHistogramSQL("a", "a", "m", nP+1, "") + `
			UNION ALL ` + byteHistogramSQL("r", "a", "r", nP, ""))
	} else {
		// Distinct (actor, period) pairs with the actor's previous active
		// period: none means the actor's first.
		query.Add(`WITH w AS MATERIALIZED (
				SELECT p, lag(p) OVER (PARTITION BY actor ORDER BY p) AS pp
				FROM (SELECT DISTINCT actor, greatest(p, -2) AS p FROM (`)
		query.AddFrag(rows)
		query.Add(`)))
			SELECT 'A' AS kind, p::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n FROM w WHERE p >= -1 GROUP BY p
			UNION ALL SELECT 'R', p, NULL, count(*) FROM w WHERE p >= 0 AND pp = p - 1 GROUP BY p
			UNION ALL SELECT 'N', p, NULL, count(*) FROM w WHERE p >= 0 AND pp IS NULL GROUP BY p`)
	}
	r, err := s.db.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run lifecycle: %w", err)
	}
	defer r.Close()
	var out []insight.CountRow
	for r.Next() {
		var kind string
		var i int64
		var b *int64
		var n int64
		if err := r.Scan(&kind, &i, &b, &n); err != nil {
			return nil, err
		}
		switch {
		case kind == "A":
			out = append(out, insight.CountRow{Measure: insight.CountActive, Period: int(i), Value: float64(n)})
		case kind == "R":
			out = append(out, insight.CountRow{Measure: insight.CountReturning, Period: int(i), Value: float64(n)})
		case kind == "N":
			out = append(out, insight.CountRow{Measure: insight.CountNew, Period: int(i), Value: float64(n)})
		case kind == "a" && b != nil:
			out = bitRows(out, insight.CountRow{Measure: insight.CountActive}, i, *b, n, -1)
		case kind == "r" && b != nil:
			out = bitRows(out, insight.CountRow{Measure: insight.CountReturning}, i, *b, n, 0)
		default:
			return nil, fmt.Errorf("lifecycle: bad count %s %d", kind, i)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("cannot run lifecycle: %w", err)
	}
	return out, nil
}
