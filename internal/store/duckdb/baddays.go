package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// BadDays runs a bad-days query in one SQL query: actor-days (days in tz)
// with a bad event among those with any activity, per day and overall,
// and the actors with the most bad days.
func (s *Store) BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error) {
	days := insight.Buckets(q.From, q.To, tz, "day")
	res := &insight.BadDaysResult{Kind: "bad_days", Days: make([]insight.BadDay, len(days)), TopPersons: []insight.BadDaysActor{}}
	for i, d := range days {
		res.Days[i].T = insight.Label(d, "day")
	}
	if len(days) == 0 {
		return res, nil
	}
	var events []string // none: any event makes a day active
	if len(q.Active) > 0 {
		events = insight.MatchEvents(append(append([]insight.EventMatch(nil), q.Bad...), q.Active...))
	}
	src := newSource(projectID, &q.Range, events...)
	active, activeArgs := "true", []any(nil)
	if len(q.Active) > 0 {
		active, activeArgs = matchSQL(src, q.Active)
	}
	bad, badArgs := matchSQL(src, q.Bad)
	src.extra = []string{bad + " AS is_bad", active + " AS is_active"}
	src.extraArgs = append(badArgs, activeArgs...)
	from, args := src.sql()
	rows := "SELECT actor, " + periodIndexSQL(days, 0) + " AS d, is_bad, is_bad OR is_active AS is_active FROM (" + from + ")"

	// Rows (kind, i, b, n, actor): kind A and B count n active and bad
	// actors on day i directly; a and b are byte histograms (byte i of the
	// mask has value b for n actors) of the masks of active and bad days
	// (bit d is day d); T is the actor ranked i, with b active days and n
	// bad ones. Rows that match an event name but not its filters are
	// neither bad nor active: the aggregates skip them (cheaper than a
	// WHERE).
	var query string
	if len(days) <= s.plan.maskPeriods() {
		query = fmt.Sprintf(`WITH a AS MATERIALIZED (
				SELECT actor, bit_or(1::UBIGINT << d::UBIGINT) FILTER (is_active) AS am,
					coalesce(bit_or(1::UBIGINT << d::UBIGINT) FILTER (is_bad), 0::UBIGINT) AS bm
				FROM (%s) GROUP BY actor)
			%s UNION ALL %s
			UNION ALL SELECT 'T', row_number() OVER (ORDER BY bd DESC, ad DESC, actor), ad, bd, actor::VARCHAR FROM (
				SELECT actor, bit_count(am)::BIGINT AS ad, bit_count(bm)::BIGINT AS bd
				FROM a WHERE bm <> 0 ORDER BY bd DESC, ad DESC, actor LIMIT %d)`,
			rows, byteHistogramSQL("a", "a WHERE am IS NOT NULL", "am", len(days), ", NULL::VARCHAR"), byteHistogramSQL("b", "a", "bm", len(days), ", NULL::VARCHAR"), q.Top)
	} else {
		query = fmt.Sprintf(`WITH pd AS MATERIALIZED (
				SELECT actor, d, bool_or(is_bad) AS bad FROM (%s) GROUP BY actor, d HAVING bool_or(is_active))
			SELECT 'A' AS kind, d::BIGINT AS i, NULL::BIGINT AS b, count(*) AS n, NULL::VARCHAR AS actor FROM pd GROUP BY d
			UNION ALL SELECT 'B', d, NULL, count(*), NULL FROM pd WHERE bad GROUP BY d
			UNION ALL SELECT 'T', row_number() OVER (ORDER BY bd DESC, ad DESC, actor), ad, bd, actor::VARCHAR FROM (
				SELECT actor, count(*) AS ad, count(*) FILTER (bad) AS bd
				FROM pd GROUP BY actor HAVING bd > 0 ORDER BY bd DESC, ad DESC, actor LIMIT %d)`, rows, q.Top)
	}
	r, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	defer r.Close()
	activeDays := make([]int64, len(days))
	badDays := make([]int64, len(days))
	var ranks []int64
	for r.Next() {
		var kind string
		var i, n int64
		var b sql.NullInt64
		var actor sql.NullString
		if err := r.Scan(&kind, &i, &b, &n, &actor); err != nil {
			return nil, err
		}
		ok := true
		switch kind {
		case "T":
			// Ranked, as rows of a UNION come in no particular order.
			res.TopPersons = append(res.TopPersons, insight.BadDaysActor{Actor: actor.String, BadDays: n, ActiveDays: b.Int64})
			ranks = append(ranks, i)
		case "A":
			ok = addCount(activeDays, i, n)
		case "B":
			ok = addCount(badDays, i, n)
		case "a":
			ok = b.Valid && addByteHistogram(activeDays, i, b.Int64, n)
		case "b":
			ok = b.Valid && addByteHistogram(badDays, i, b.Int64, n)
		}
		if !ok {
			return nil, fmt.Errorf("bad days: bad count %s %d", kind, i)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	var totalBad, totalActive int64
	for d := range res.Days {
		day := &res.Days[d]
		day.Active, day.Bad = activeDays[d], badDays[d]
		if day.Active > 0 {
			day.Rate = float64(day.Bad) / float64(day.Active)
		}
		totalBad += day.Bad
		totalActive += day.Active
	}
	sort.Sort(byRank{ranks, res.TopPersons})
	if totalActive > 0 {
		res.Rate = float64(totalBad) / float64(totalActive)
	}
	return res, nil
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
