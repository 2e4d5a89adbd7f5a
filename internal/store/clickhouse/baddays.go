package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// BadDays runs a bad-days query with the DuckDB store's semantics:
// actor-days (days in tz) with a bad event among those with any activity,
// per day and overall, and the actors with the most bad days.
func (s *Store) BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error) {
	days := insight.Buckets(q.From, q.To, tz, "day")
	res := &insight.BadDaysResult{Kind: "bad_days", Days: make([]insight.BadDay, len(days)), TopPersons: []insight.BadDaysActor{}}
	index := map[string]int{}
	for i, d := range days {
		res.Days[i].T = insight.Label(d, "day")
		index[res.Days[i].T] = i
	}
	if len(days) == 0 {
		return res, nil
	}
	var events []string // none: any event makes a day active
	if len(q.Active) > 0 {
		events = insight.MatchEvents(append(append([]insight.EventMatch(nil), q.Bad...), q.Active...))
	}
	src := s.newSource(projectID, &q.Range, events...)
	// Person filters on a bad or active event read the event's person
	// (match joins persons for them).
	active, activeArgs := "toUInt8(1)", []any(nil)
	if len(q.Active) > 0 {
		active, activeArgs = src.matchEvents(q.Active)
	}
	bad, badArgs := src.matchEvents(q.Bad)
	src.extra = []string{bad + " AS is_bad", active + " AS is_active"}
	src.extraArgs = append(badArgs, activeArgs...)
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	// Active actor-days, and whether each was bad. Rows that match an
	// event name but not its filters are neither bad nor active.
	actorDays := `SELECT actor, day, max(is_bad) AS bad_day FROM (
    SELECT actor, toDate(ts, ?) AS day, is_bad, is_bad OR is_active AS active_row FROM (` + from + `))
  GROUP BY actor, day HAVING max(active_row) = 1`
	args := append([]any{tz.String()}, fromArgs...)

	query := "SELECT toString(day), count(), countIf(bad_day = 1) FROM (" + actorDays + ") GROUP BY day"
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var label string
		var a, b uint64
		if err := rows.Scan(&label, &a, &b); err != nil {
			return nil, err
		}
		d, ok := index[label]
		if !ok {
			return nil, fmt.Errorf("bad days: day %s out of range", label)
		}
		res.Days[d].Active, res.Days[d].Bad = int64(a), int64(b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run bad days: %w", err)
	}
	var totalBad, totalActive int64
	for d := range res.Days {
		day := &res.Days[d]
		if day.Active > 0 {
			day.Rate = float64(day.Bad) / float64(day.Active)
		}
		totalBad += day.Bad
		totalActive += day.Active
	}
	if totalActive > 0 {
		res.Rate = float64(totalBad) / float64(totalActive)
	}

	// Ordered by the actor itself (a person id or a group key), as DuckDB
	// orders ties.
	query = `SELECT toString(actor), active_days, bad_days FROM (
  SELECT actor, count() AS active_days, countIf(bad_day = 1) AS bad_days FROM (` + actorDays + `) GROUP BY actor)
WHERE bad_days > 0 ORDER BY bad_days DESC, active_days DESC, actor LIMIT ?`
	top, err := s.query(ctx, query, append(args, q.Top)...)
	if err != nil {
		return nil, fmt.Errorf("cannot rank bad days: %w", err)
	}
	defer top.Close()
	for top.Next() {
		var actor string
		var ad, bd uint64
		if err := top.Scan(&actor, &ad, &bd); err != nil {
			return nil, err
		}
		res.TopPersons = append(res.TopPersons, insight.BadDaysActor{Actor: actor, BadDays: int64(bd), ActiveDays: int64(ad)})
	}
	if err := top.Err(); err != nil {
		return nil, fmt.Errorf("cannot rank bad days: %w", err)
	}
	return res, nil
}
