package duckdb

import (
	"context"
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Retention runs a retention query.
//
// Cohorts are the periods (in tz) starting in [q.From, min(q.To, now)).
// A first_time cohort holds the actors whose first ever start event falls
// in it (so the start events are read from the beginning of time); a
// recurring one every actor with a start event in it. The SQL returns,
// per cohort and breakdown value, how many actors share each set of
// return periods (a bitmask of k = 1..periods-1), which is expanded here.
func (s *Store) Retention(ctx context.Context, projectID int64, tz *time.Location, q *insight.Retention) (*insight.RetentionResult, error) {
	bounds, to := q.CohortBounds(tz, s.plan.now())
	res := &insight.RetentionResult{Kind: "retention", Cohorts: []insight.RetentionCohort{}}
	if len(bounds) == 0 {
		return res, nil
	}
	if ok, err := s.indexRetention(ctx, projectID, q, bounds, to, res); ok || err != nil { // journeyidx_plans.go
		return res, err
	}
	if !s.plan.NoDenseRetention && q.Breakdown == nil && q.GroupType() == "" && len(bounds) <= s.plan.maskPeriods() {
		ok, err := s.retentionDense(ctx, projectID, q, bounds, to, res)
		if err != nil || ok {
			return res, err
		}
	}
	query, args := retentionSQL(projectID, q, bounds, to, s.plan.maskPeriods())
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run retention: %w", err)
	}
	defer rows.Close()

	nP := len(bounds)
	newCohorts := func() []insight.RetentionCohort {
		cs := make([]insight.RetentionCohort, nP)
		for c := range cs {
			cs[c] = insight.RetentionCohort{Start: insight.Label(bounds[c], q.Period), Retained: make([]int64, min(q.Periods, nP-c))}
		}
		return cs
	}
	res.Cohorts = newCohorts()
	byValue := map[string][]insight.RetentionCohort{}
	for rows.Next() {
		var overall bool
		var value *string
		var c, n int64
		var m uint64
		if err := rows.Scan(&overall, &value, &c, &m, &n); err != nil {
			return nil, err
		}
		if c < 0 || c >= int64(nP) {
			return nil, fmt.Errorf("retention: cohort %d out of range", c)
		}
		cs := res.Cohorts
		if !overall {
			v := insight.BreakdownNone
			if value != nil {
				v = *value
			}
			if byValue[v] == nil {
				byValue[v] = newCohorts()
			}
			cs = byValue[v]
		}
		co := &cs[c]
		co.Size += n
		for k := 1; k < len(co.Retained); k++ {
			if m>>k&1 == 1 {
				co.Retained[k] += n
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run retention: %w", err)
	}
	fill := func(cs []insight.RetentionCohort) int64 {
		var total int64
		for i := range cs {
			cs[i].Retained[0] = cs[i].Size
			total += cs[i].Size
		}
		return total
	}
	fill(res.Cohorts)
	if q.Breakdown != nil {
		res.Breakdown = []insight.RetentionBreakdown{}
		totals := map[string]int64{}
		for v, cs := range byValue {
			totals[v] = fill(cs)
			res.Breakdown = append(res.Breakdown, insight.RetentionBreakdown{Value: v, Cohorts: cs})
		}
		sort.Slice(res.Breakdown, func(i, j int) bool {
			a, b := res.Breakdown[i].Value, res.Breakdown[j].Value
			if (a == insight.BreakdownOther) != (b == insight.BreakdownOther) {
				return b == insight.BreakdownOther
			}
			if totals[a] != totals[b] {
				return totals[a] > totals[b]
			}
			return a < b
		})
	}
	return res, nil
}

// retentionDense computes retention without breakdown, for persons, from
// per-period bitsets of the start and return rows' persons (see
// actorPeriods), filling res. ok is false when the dense arrays cannot
// take the persons.
func (s *Store) retentionDense(ctx context.Context, projectID int64, q *insight.Retention, bounds []time.Time, to time.Time, res *insight.RetentionResult) (ok bool, err error) {
	var query, history string
	var args []any
	if len(q.Start.Filters) == 0 && len(q.Return.Filters) == 0 && q.Start.Action == nil && q.Return.Action == nil {
		// Plain event names: a CASE on the name is both the sets and the
		// filter, cheaper than the source's event IN (…) and two matches
		// (bench: 148 ms against 240 ms for that part). Actions take the
		// general path below.
		src := newSource(projectID, &q.Range)
		src.from, src.to = bounds[0], to
		src.extra = []string{"(CASE e.event WHEN ? THEN 1 WHEN ? THEN 2 ELSE 0 END) AS sets"}
		src.extraArgs = []any{q.Start.Event, q.Return.Event}
		if q.Start.Event == q.Return.Event {
			src.extra = []string{"(CASE e.event WHEN ? THEN 3 ELSE 0 END) AS sets"}
			src.extraArgs = src.extraArgs[:1]
		}
		var main string
		main, args = src.sql()
		query = "SELECT actor, ts, sets FROM (" + main + ") WHERE sets <> 0"
		var hArgs []any
		history, hArgs = retentionHistory(projectID, q, bounds)
		args = append(args, hArgs...)
	} else {
		var main string
		main, history, args = retentionSources(projectID, q, bounds, to)
		query = "SELECT actor, ts, (is_s::BIGINT | (is_r::BIGINT << 1)) AS sets FROM (" + main + ")"
	}
	if history != "" {
		query += " UNION ALL SELECT actor, ts, 1 AS sets FROM (" + history + ")"
	}
	a, ok, err := s.feedPeriods(ctx, bounds, 2, query, args)
	if err != nil {
		return false, fmt.Errorf("cannot run retention: %w", err)
	}
	if !ok {
		return false, nil
	}
	nP := len(bounds)
	firstTime := q.Mode == insight.RetentionFirstTime
	res.Cohorts = make([]insight.RetentionCohort, nP)
	for c := range res.Cohorts {
		res.Cohorts[c] = insight.RetentionCohort{Start: insight.Label(bounds[c], q.Period), Retained: make([]int64, min(q.Periods, nP-c))}
	}
	// Slot 0 holds the start rows before the first cohort (first_time's
	// history), slot c+1 cohort c's period; set 0 is start, set 1 return.
	a.eachPage(func(bitsets [][]uint64) {
		start, ret := bitsets[:a.slots], bitsets[a.slots:]
		for w := range pageBits / 64 {
			var seen uint64 // first_time: persons who started earlier
			if start[0] != nil {
				seen = start[0][w]
			}
			for c := range nP {
				if start[c+1] == nil {
					continue
				}
				members := start[c+1][w]
				if firstTime {
					members &^= seen
					seen |= members
				}
				if members == 0 {
					continue
				}
				co := &res.Cohorts[c]
				co.Size += int64(bits.OnesCount64(members))
				for k := 1; k < len(co.Retained); k++ {
					if r := ret[c+1+k]; r != nil {
						co.Retained[k] += int64(bits.OnesCount64(members & r[w]))
					}
				}
			}
		}
	})
	for c := range res.Cohorts {
		res.Cohorts[c].Retained[0] = res.Cohorts[c].Size
	}
	return true, nil
}

// retentionSources returns the queries of a retention's rows: main (actor,
// event, ts, properties, is_s, is_r: the start and return events of the
// cohort periods, flagged by which they match, or neither when only the
// event name matches) and, for first_time, history (actor, event, ts,
// properties: the start events before them, so an actor whose first start
// event predates the range is in no cohort), with their arguments in
// that order.
func retentionSources(projectID int64, q *insight.Retention, bounds []time.Time, to time.Time) (main, history string, args []any) {
	src := newSource(projectID, &q.Range, insight.MatchEvents([]insight.EventMatch{q.Start, q.Return})...)
	src.from, src.to = bounds[0], to
	isStart, startArgs := matchSQL(&src, []insight.EventMatch{q.Start})
	isReturn, returnArgs := matchSQL(&src, []insight.EventMatch{q.Return})
	src.extra = []string{isStart + " AS is_s", isReturn + " AS is_r"}
	src.extraArgs = append(append([]any(nil), startArgs...), returnArgs...)
	if q.Breakdown != nil {
		// Only start events need it: JSON extraction is the costliest
		// part of a row.
		col, bdArgs := breakdownValueSQL(q.Breakdown)
		src.persons = src.persons || q.Breakdown.Type == "person"
		src.extra = append(src.extra, "CASE WHEN "+isStart+" THEN "+col+" END AS bd")
		src.extraArgs = append(append(src.extraArgs, startArgs...), bdArgs...)
	}
	main, args = src.sql()
	history, hArgs := retentionHistory(projectID, q, bounds)
	return main, history, append(args, hArgs...)
}

// retentionHistory returns, for first_time, the query of the start events
// before the first cohort (actor, event, ts, properties), "" otherwise.
func retentionHistory(projectID int64, q *insight.Retention, bounds []time.Time) (string, []any) {
	if q.Mode != insight.RetentionFirstTime {
		return "", nil
	}
	h := newMatchSource(projectID, &q.Range, q.Start.Event, q.Start.Action)
	h.filters = appendFilters(q.Filters, q.Start.Filters)
	h.from, h.to = time.Time{}, bounds[0]
	return h.sql()
}

// retentionSQL builds the retention query. Its rows are (overall, value,
// cohort, mask, actors): mask bit k says the actors did the return event
// in period cohort+k (k ≥ 1); overall rows count every actor once per
// cohort, the others are per breakdown value (only with a breakdown).
func retentionSQL(projectID int64, q *insight.Retention, bounds []time.Time, to time.Time, masks int) (string, []any) {
	nP, nK := len(bounds), q.Periods
	firstTime := q.Mode == insight.RetentionFirstTime
	breakdown := q.Breakdown != nil

	// The rows r(actor, is_s, is_r, p, ts, bd): the start and return events
	// of the cohort periods in one scan with their period, and for
	// first_time the start events before them (p = -1). Rows matching
	// neither start nor return stay: a WHERE dropping those costs more than
	// the aggregates' FILTERs skipping them.
	main, history, args := retentionSources(projectID, q, bounds, to)
	value := "NULL::VARCHAR"
	if breakdown {
		value = "coalesce(bd, '" + insight.BreakdownNone + "')"
	}
	rows := "SELECT actor, is_s, is_r, " + periodIndexSQL(bounds, 0) + " AS p, ts, " + value + " AS bd FROM (" + main + ")"
	if history != "" {
		rows += " UNION ALL SELECT actor, true, false, -1, ts, NULL::VARCHAR FROM (" + history + ")"
	}
	with := "WITH r AS (" + rows + ")"

	// win keeps the mask bits k = 1..periods-1.
	win := fmt.Sprintf("%d::UBIGINT", (uint64(1)<<nK-1)&^1)
	bit := "(1::UBIGINT << greatest(p, 0)::UBIGINT)"
	firstValue := "NULL::VARCHAR"
	if breakdown {
		firstValue = "arg_min(bd, ts) FILTER (is_s)" // the value on the first start event
	}
	var members string // (actor, bd, c, m): an actor in cohort c under value bd, m its return mask
	switch {
	case nP <= masks && firstTime:
		// One pass: per actor, the first start period and a bitmask of
		// the return periods.
		members = `SELECT actor, bd, c, (rm >> c::UBIGINT) & ` + win + ` AS m FROM (
				SELECT actor, min(p) FILTER (is_s) AS c, ` + firstValue + ` AS bd,
					coalesce(bit_or(` + bit + `) FILTER (is_r), 0::UBIGINT) AS rm
				FROM r GROUP BY actor)
			WHERE c >= 0`
	case nP <= masks && !breakdown:
		// One pass: per actor, bitmasks of the start and return periods.
		members = fmt.Sprintf(`SELECT actor, NULL::VARCHAR AS bd, c, (rm >> c::UBIGINT) & %s AS m FROM (
				SELECT actor, bit_or(%s) FILTER (is_s) AS sm, coalesce(bit_or(%s) FILTER (is_r), 0::UBIGINT) AS rm
				FROM r GROUP BY actor)
			CROSS JOIN range(%d) t(c) WHERE (sm >> c::UBIGINT) & 1::UBIGINT = 1`, win, bit, bit, nP)
	case nP <= masks:
		// Recurring with a breakdown: an actor can be in one cohort under
		// several values, so start masks are per (actor, value).
		members = fmt.Sprintf(`SELECT s.actor, s.bd, c, (coalesce(x.rm, 0::UBIGINT) >> c::UBIGINT) & %s AS m
			FROM (SELECT actor, bd, bit_or(%s) AS sm FROM r WHERE is_s GROUP BY actor, bd) s
			LEFT JOIN (SELECT actor, bit_or(%s) AS rm FROM r WHERE is_r GROUP BY actor) x ON x.actor = s.actor
			CROSS JOIN range(%d) t(c) WHERE (s.sm >> c::UBIGINT) & 1::UBIGINT = 1`, win, bit, bit, nP)
	default:
		// Too many periods for a mask: cohort memberships joined with the
		// distinct return periods within reach.
		cohorts := "SELECT DISTINCT actor, bd, p AS c FROM r WHERE is_s"
		if firstTime {
			cohorts = "SELECT actor, " + firstValue + " AS bd, min(p) AS c FROM r WHERE is_s GROUP BY actor HAVING min(p) >= 0"
		}
		members = fmt.Sprintf(`SELECT m0.actor, m0.bd, m0.c, coalesce(bit_or(1::UBIGINT << (x.p - m0.c)::UBIGINT), 0::UBIGINT) AS m
			FROM (%s) m0 LEFT JOIN (SELECT DISTINCT actor, p FROM r WHERE is_r) x
				ON x.actor = m0.actor AND x.p > m0.c AND x.p < m0.c + %d
			GROUP BY m0.actor, m0.bd, m0.c`, cohorts, nK)
	}
	if !breakdown {
		return with + " SELECT true AS overall, NULL::VARCHAR AS bd, c, m, count(*) AS n FROM (" + members + ") GROUP BY c, m", args
	}
	// The top values by cohort memberships keep their name, the rest are
	// $other; an actor counts once per (value, cohort) and once per cohort
	// overall.
	return fmt.Sprintf(`%s, members AS MATERIALIZED (%s),
		top AS (SELECT bd FROM members GROUP BY bd ORDER BY count(*) DESC, bd LIMIT %d)
		SELECT grouping(bd) = 1 AS overall, bd, c, m, count(DISTINCT actor) AS n FROM (
			SELECT actor, CASE WHEN bd IN (SELECT bd FROM top) THEN bd ELSE '%s' END AS bd, c, m FROM members)
		GROUP BY GROUPING SETS ((bd, c, m), (c, m))`, with, members, q.Breakdown.Limit, insight.BreakdownOther), args
}
