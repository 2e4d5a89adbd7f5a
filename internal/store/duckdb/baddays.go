package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// BadDays runs a bad-days query in one SQL query: actor-days (days in tz)
// with a bad event among those with any activity, per day and overall,
// and the actors with the most bad days.
func (s *Store) BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error) {
	return insight.RunBadDays(q, tz, s.plan.now(), func(days insight.Periods) ([]insight.CountRow, []insight.BadDaysActor, error) {
		return s.badDaysCounts(ctx, projectID, q, days)
	})
}

// badDaysCounts is insight.BadDaysCounts.
func (s *Store) badDaysCounts(ctx context.Context, projectID int64, q *insight.BadDays, days insight.Periods) ([]insight.CountRow, []insight.BadDaysActor, error) {
	var events []string // none: any event makes a day active
	if len(q.Active) > 0 {
		events = insight.MatchEvents(slices.Concat(q.Bad, q.Active))
	}
	src := newSource(projectID, &q.Range, events...)
	active := sqlf("true")
	if len(q.Active) > 0 {
		active = matchFrag(&src, q.Active)
	}
	bad := matchFrag(&src, q.Bad)
	bad.Add(" AS is_bad, ")
	bad.AddFrag(active)
	bad.Add(" AS is_active")
	src.column(bad)
	rows := sqlf("SELECT actor, " + periodIndexSQL(days.Starts, 0) + " AS d, is_bad, is_bad OR is_active AS is_active FROM (")
	rows.AddFrag(src.frag())
	rows.Add(")")

	// Rows (kind, i, b, n, actor): kind A and B count n active and bad
	// actors on day i directly; a and b are byte histograms (byte i of the
	// mask has value b for n actors) of the masks of active and bad days
	// (bit d is day d); T is the actor ranked i, with b active days and n
	// bad ones. Rows that match an event name but not its filters are
	// neither bad nor active: the aggregates skip them (cheaper than a
	// WHERE).
	var query frag
	if days.Len() <= s.plan.maskPeriods() {
		query.Add(`WITH a AS MATERIALIZED (
				SELECT actor, bit_or(1::UBIGINT << d::UBIGINT) FILTER (is_active) AS am,
					coalesce(bit_or(1::UBIGINT << d::UBIGINT) FILTER (is_bad), 0::UBIGINT) AS bm
				FROM (`)
		query.AddFrag(rows)
		query.Add(`) GROUP BY actor)
			` + byteHistogramSQL("a", "a WHERE am IS NOT NULL", "am", days.Len(), ", NULL::VARCHAR") + ` UNION ALL ` + byteHistogramSQL("b", "a", "bm", days.Len(), ", NULL::VARCHAR") + fmt.Sprintf(`
			UNION ALL SELECT 'T', row_number() OVER (ORDER BY bd DESC, ad DESC, actor), ad, bd, actor::VARCHAR FROM (
				SELECT actor, bit_count(am)::BIGINT AS ad, bit_count(bm)::BIGINT AS bd
				FROM a WHERE bm <> 0 ORDER BY bd DESC, ad DESC, actor LIMIT %d)`, q.Top))
	} else {
		query.Add(`WITH pd AS MATERIALIZED (
				SELECT actor, d, bool_or(is_bad) AS bad FROM (`)
		query.AddFrag(rows)
		query.Add(fmt.Sprintf(`) GROUP BY actor, d HAVING bool_or(is_active))
			SELECT 'A' AS kind, d::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n, NULL::VARCHAR AS actor FROM pd GROUP BY d
			UNION ALL SELECT 'B', d, NULL, count(*), NULL FROM pd WHERE bad GROUP BY d
			UNION ALL SELECT 'T', row_number() OVER (ORDER BY bd DESC, ad DESC, actor), ad, bd, actor::VARCHAR FROM (
				SELECT actor, count(*) AS ad, count(*) FILTER (bad) AS bd
				FROM pd GROUP BY actor HAVING bd > 0 ORDER BY bd DESC, ad DESC, actor LIMIT %d)`, q.Top))
	}
	r, err := s.db.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	defer r.Close()
	var out []insight.CountRow
	var top []insight.BadDaysActor
	var ranks []int64
	for r.Next() {
		var kind string
		var i, n int64
		var b sql.NullInt64
		var actor sql.NullString
		if err := r.Scan(&kind, &i, &b, &n, &actor); err != nil {
			return nil, nil, err
		}
		switch {
		case kind == "T":
			// Ranked, as rows of a UNION come in no particular order.
			top = append(top, insight.BadDaysActor{Actor: actor.String, BadDays: n, ActiveDays: b.Int64})
			ranks = append(ranks, i)
		case kind == "A":
			out = append(out, insight.CountRow{Measure: insight.CountActive, Period: int(i), Value: float64(n)})
		case kind == "B":
			out = append(out, insight.CountRow{Measure: insight.CountBad, Period: int(i), Value: float64(n)})
		case kind == "a" && b.Valid:
			out = bitRows(out, insight.CountRow{Measure: insight.CountActive}, i, b.Int64, n, 0)
		case kind == "b" && b.Valid:
			out = bitRows(out, insight.CountRow{Measure: insight.CountBad}, i, b.Int64, n, 0)
		default:
			return nil, nil, fmt.Errorf("bad days: bad count %s %d", kind, i)
		}
	}
	if err := r.Err(); err != nil {
		return nil, nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	sort.Sort(byRank{ranks, top})
	return out, top, nil
}

// byRank sorts actors by their rank.
type byRank struct {
	rank   []int64
	actors []insight.BadDaysActor
}

func (b byRank) Len() int           { return len(b.rank) }
func (b byRank) Less(i, j int) bool { return b.rank[i] < b.rank[j] }
func (b byRank) Swap(i, j int) {
	b.rank[i], b.rank[j] = b.rank[j], b.rank[i]
	b.actors[i], b.actors[j] = b.actors[j], b.actors[i]
}
