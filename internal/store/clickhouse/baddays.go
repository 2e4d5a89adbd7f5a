package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// BadDays runs a bad-days query with the DuckDB store's semantics:
// actor-days (days in tz) with a bad event among those with any activity,
// per day and overall, and the actors with the most bad days.
func (s *Store) BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error) {
	return insight.RunBadDays(q, tz, s.now(), func(days insight.Periods) ([]insight.CountRow, []insight.BadDaysActor, error) {
		return s.badDaysCounts(ctx, projectID, q, days)
	})
}

// badDaysCounts is insight.BadDaysCounts.
func (s *Store) badDaysCounts(ctx context.Context, projectID int64, q *insight.BadDays, days insight.Periods) ([]insight.CountRow, []insight.BadDaysActor, error) {
	var events []string // none: any event makes a day active
	if len(q.Active) > 0 {
		events = insight.MatchEvents(slices.Concat(q.Bad, q.Active))
	}
	src := s.newSource(projectID, &q.Range, events...)
	// Person filters on a bad or active event read the event's person
	// (match joins persons for them).
	active := sqlf("toUInt8(1)")
	if len(q.Active) > 0 {
		active = src.matchEvents(q.Active)
	}
	cols := src.matchEvents(q.Bad)
	cols.Add(" AS is_bad, ")
	cols.AddFrag(active)
	cols.Add(" AS is_active")
	src.column(cols)
	from, err := src.frag()
	if err != nil {
		return nil, nil, err
	}
	// Active actor-days, and whether each was bad. Rows that match an
	// event name but not its filters are neither bad nor active.
	actorDays := sqlf("SELECT actor, day, max(is_bad) AS bad_day FROM (\n    SELECT actor, ")
	actorDays.AddFrag(periodIndex("ts", days))
	actorDays.Add(" AS day, is_bad, is_bad OR is_active AS active_row FROM (")
	actorDays.AddFrag(from)
	actorDays.Add("))\n  GROUP BY actor, day HAVING max(active_row) = 1")

	query := sqlf("SELECT day, count(), countIf(bad_day = 1) FROM (")
	query.AddFrag(actorDays)
	query.Add(") GROUP BY day")
	rows, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	defer rows.Close()
	var out []insight.CountRow
	for rows.Next() {
		var day int64
		var a, b uint64
		if err := rows.Scan(&day, &a, &b); err != nil {
			return nil, nil, err
		}
		out = append(out,
			insight.CountRow{Measure: insight.CountActive, Period: int(day), Value: float64(a)},
			insight.CountRow{Measure: insight.CountBad, Period: int(day), Value: float64(b)})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("cannot run bad days: %w", err)
	}

	// Ordered by the actor itself (a person id or a group key), as DuckDB
	// orders ties.
	query = sqlf("SELECT toString(actor), active_days, bad_days FROM (\n  SELECT actor, count() AS active_days, countIf(bad_day = 1) AS bad_days FROM (")
	query.AddFrag(actorDays)
	query.Add(") GROUP BY actor)\nWHERE bad_days > 0 ORDER BY bad_days DESC, active_days DESC, actor LIMIT ?", q.Top)
	ranked, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot rank bad days: %w", err)
	}
	defer ranked.Close()
	var top []insight.BadDaysActor
	for ranked.Next() {
		var actor string
		var ad, bd uint64
		if err := ranked.Scan(&actor, &ad, &bd); err != nil {
			return nil, nil, err
		}
		top = append(top, insight.BadDaysActor{Actor: actor, BadDays: int64(bd), ActiveDays: int64(ad)})
	}
	if err := ranked.Err(); err != nil {
		return nil, nil, fmt.Errorf("cannot rank bad days: %w", err)
	}
	return out, top, nil
}
