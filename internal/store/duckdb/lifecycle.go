package duckdb

import (
	"context"
	"fmt"
	"strings"
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
	buckets := insight.Buckets(q.From, q.To, tz, q.Interval)
	res := &insight.LifecycleResult{Kind: "lifecycle", Points: make([]insight.LifecyclePoint, len(buckets))}
	for i, b := range buckets {
		res.Points[i].T = insight.Label(b, q.Interval)
	}
	if len(buckets) == 0 {
		return res, nil
	}
	nP := len(buckets)
	// Periods -1 (the one before the range) .. nP-1; -2 is anything older.
	prev := insight.Truncate(buckets[0].Add(-time.Nanosecond), q.Interval)
	period := periodIndexSQL(append([]time.Time{prev}, buckets...), -1)
	src := newMatchSource(projectID, &q.Range, q.Event, q.Action)
	src.from = time.Time{}
	from, args := src.sql()
	rows := "SELECT actor, " + period + " AS p FROM (" + from + ")"

	// Rows (kind, i, b, n): kind A, R, N count n actors for interval i
	// directly; a and r are byte histograms (byte i of the mask has value
	// b for n actors) of the masks of A (bit t+1 is interval t) and R (bit
	// t).
	var query string
	if nP+1 <= s.plan.maskPeriods() {
		// Per actor, the first period ever (f) and a bitmask m of the
		// active periods -1..nP-1; m & (m >> 1) has bit t set when active
		// in t-1 and t.
		query = fmt.Sprintf(`WITH a AS MATERIALIZED (
				SELECT f, m, m & (m >> 1) AS r FROM (
					SELECT actor, min(p) AS f, bit_or(1::UBIGINT << greatest(p + 1, 0)::UBIGINT) FILTER (p >= -1) AS m
					FROM (%s) GROUP BY actor)
				WHERE m IS NOT NULL)
			SELECT 'N' AS kind, f::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n FROM a WHERE f >= 0 GROUP BY f
			UNION ALL %s
			UNION ALL %s`, rows, byteHistogramSQL("a", "a", "m", nP+1, ""), byteHistogramSQL("r", "a", "r", nP, ""))
	} else {
		// Distinct (actor, period) pairs with the actor's previous active
		// period: none means the actor's first.
		query = fmt.Sprintf(`WITH w AS MATERIALIZED (
				SELECT p, lag(p) OVER (PARTITION BY actor ORDER BY p) AS pp
				FROM (SELECT DISTINCT actor, greatest(p, -2) AS p FROM (%s)))
			SELECT 'A' AS kind, p::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n FROM w WHERE p >= -1 GROUP BY p
			UNION ALL SELECT 'R', p, NULL, count(*) FROM w WHERE p >= 0 AND pp = p - 1 GROUP BY p
			UNION ALL SELECT 'N', p, NULL, count(*) FROM w WHERE p >= 0 AND pp IS NULL GROUP BY p`, rows)
	}
	r, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run lifecycle: %w", err)
	}
	defer r.Close()
	active := make([]int64, nP+1) // interval t at t+1
	returning := make([]int64, nP)
	newActors := make([]int64, nP)
	for r.Next() {
		var kind string
		var i int64
		var b *int64
		var n int64
		if err := r.Scan(&kind, &i, &b, &n); err != nil {
			return nil, err
		}
		var ok bool
		switch kind {
		case "A":
			ok = addCount(active, i+1, n)
		case "R":
			ok = addCount(returning, i, n)
		case "N":
			ok = addCount(newActors, i, n)
		case "a":
			ok = b != nil && addByteHistogram(active, i, *b, n)
		case "r":
			ok = b != nil && addByteHistogram(returning, i, *b, n)
		}
		if !ok {
			return nil, fmt.Errorf("lifecycle: bad count %s %d", kind, i)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("cannot run lifecycle: %w", err)
	}
	for t := range res.Points {
		p := &res.Points[t]
		p.New, p.Returning = newActors[t], returning[t]
		p.Resurrecting = active[t+1] - returning[t] - newActors[t]
		p.Dormant = -(active[t] - returning[t])
	}
	return res, nil
}

// byteHistogramSQL counts the values of each byte of the UBIGINT column
// col (of which bits bits are used) of relation rel: rows (kind, byte
// position, byte value, actors[, extra]). Per-bit counts follow in Go
// (addByteHistogram). A few GROUP BYs over 256 values each are several
// times faster than a sum per bit, and than a row per (actor, bit).
func byteHistogramSQL(kind, rel, col string, bits int, extra string) string {
	var parts []string
	for pos := 0; pos*8 < bits; pos++ {
		parts = append(parts, fmt.Sprintf("SELECT '%s', %d, ((%s >> %d::UBIGINT) & 255::UBIGINT)::BIGINT AS v, count(*)%s FROM %s GROUP BY v",
			kind, pos, col, pos*8, extra, rel))
	}
	return strings.Join(parts, " UNION ALL ")
}

// addByteHistogram adds n actors whose mask has byte pos equal to value to
// the per-bit counts; false when a bit falls outside counts.
func addByteHistogram(counts []int64, pos, value, n int64) bool {
	for bit := int64(0); bit < 8; bit++ {
		if value>>bit&1 == 1 && !addCount(counts, pos*8+bit, n) {
			return false
		}
	}
	return true
}

// addCount adds n to counts[i]; false when i is out of range.
func addCount(counts []int64, i, n int64) bool {
	if i < 0 || i >= int64(len(counts)) {
		return false
	}
	counts[i] += n
	return true
}
