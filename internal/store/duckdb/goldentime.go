package duckdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// GoldenTime runs a golden-time report (SPEC §6): package insight plans
// it and assembles the answer; this file only reads rows of counts.
// Times are compared in microseconds (epoch_us), as on ClickHouse (ts_us).
func (s *Store) GoldenTime(ctx context.Context, projectID int64, tz *time.Location, q *insight.GoldenTime) (*insight.GoldenTimeResult, error) {
	return insight.RunGoldenTime(q, insight.GoldenTimeQueries{
		Rows: func(p *insight.GoldenTimePlan) ([]insight.GoldenTimeRow, error) {
			return s.goldenRows(ctx, projectID, p)
		},
	})
}

// goldenKeyed is a golden-time source's rows as (actor, us, k): k the
// match property's text (” without match; rows without it left out).
func goldenKeyed(src source, match string) frag {
	f := sqlf("SELECT actor, epoch_us(ts) AS us, ")
	if match == "" {
		f.Add("'' AS k FROM (")
		f.AddFrag(src.frag())
		f.Add(")")
		return f
	}
	src.column(sqlf("json_extract_string(e.properties, ?) AS mk", propPath(match)))
	f.Add("mk AS k FROM (")
	f.AddFrag(src.frag())
	f.Add(") WHERE mk IS NOT NULL")
	return f
}

// goldenRows is insight.GoldenTimeQueries.Rows. The CTEs: trig, the
// triggers (actor, t, k) with their multiplicity n; goal, the goal rows;
// firsts, each trigger's delay d to its first goal after it (an ASOF
// join: the nearest goal strictly after t of the same actor and key),
// NULL past the horizon.
func (s *Store) goldenRows(ctx context.Context, projectID int64, p *insight.GoldenTimePlan) ([]insight.GoldenTimeRow, error) {
	q := p.Q
	tr := q.Range
	tr.Filters = p.TriggerFilters
	trig := sqlf("WITH trig AS (SELECT actor, us AS t, k, count(*) AS n FROM (")
	trig.AddFrag(goldenKeyed(newSource(projectID, &tr, q.Trigger.Event), q.Match))
	trig.Add(") GROUP BY actor, us, k),\ngoal AS (SELECT actor, us AS g, k FROM (")
	gr := insight.Range{From: q.From, To: time.UnixMicro(p.GoalToUs), Filters: q.Goal.Filters}
	trig.AddFrag(goldenKeyed(newSource(projectID, &gr, q.Goal.Event), q.Match))
	trig.Add(`)),
firsts AS (SELECT trig.actor, trig.n, CASE WHEN goal.g < trig.t + ? THEN goal.g - trig.t END AS d
  FROM trig ASOF LEFT JOIN goal ON trig.actor = goal.actor AND trig.k = goal.k AND trig.t < goal.g)
SELECT ?, coalesce(d // 60000000, -1) AS minute, sum(n)::BIGINT FROM firsts GROUP BY minute
UNION ALL SELECT ?, 0, count(DISTINCT actor) FROM firsts
UNION ALL SELECT ?, 0, count(DISTINCT actor) FILTER (WHERE d IS NOT NULL) FROM firsts`,
		p.HorizonUs, insight.GoldenTriggers, insight.GoldenPersons, insight.GoldenConvertedPersons)
	rows, err := s.db.QueryContext(ctx, trig.Text, trig.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run golden time: %w", err)
	}
	defer rows.Close()
	var out []insight.GoldenTimeRow
	for rows.Next() {
		var r insight.GoldenTimeRow
		if err := rows.Scan(&r.Measure, &r.Minute, &r.Count); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run golden time: %w", err)
	}
	return out, nil
}

// EngagementHours counts each person's events by local hour (in the
// person's $timezone, else tz) from since, for campaign best times.
func (s *Store) EngagementHours(ctx context.Context, projectID int64, tz *time.Location, personIDs []int64, since time.Time) (map[int64][24]float64, error) {
	return insight.RunEngagementHours(personIDs, since, tz, s.engagementQueries(ctx, projectID))
}

// ProjectEngagementHours counts the project's events by local hour, the
// best-time fallback for persons with little history.
func (s *Store) ProjectEngagementHours(ctx context.Context, projectID int64, tz *time.Location, since time.Time) ([24]float64, error) {
	return insight.RunProjectEngagement(since, tz, s.engagementQueries(ctx, projectID))
}

func (s *Store) engagementQueries(ctx context.Context, projectID int64) insight.EngagementQueries {
	return insight.EngagementQueries{
		Zones: func(persons []int64) ([]string, error) { return s.engagementZones(ctx, projectID, persons) },
		Hours: func(p *insight.EngagementPlan) ([]insight.EngagementRow, error) {
			return s.engagementRows(ctx, projectID, p)
		},
	}
}

// engagementZones is insight.EngagementQueries.Zones.
func (s *Store) engagementZones(ctx context.Context, projectID int64, persons []int64) ([]string, error) {
	q := sqlf("SELECT tz FROM (SELECT json_extract_string(properties, ?) AS tz FROM persons WHERE project_id = ?",
		propPath(insight.TimezoneProperty), projectID)
	if persons != nil {
		q.Add(" AND id IN ("+placeholders(len(persons))+")", int64Args(persons)...)
	}
	q.Add(") WHERE tz IS NOT NULL GROUP BY tz ORDER BY count(*) DESC, tz LIMIT " + strconv.Itoa(insight.MaxZoneValues))
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read time zones: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var z string
		if err := rows.Scan(&z); err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// zoneOffset is the UTC offset (seconds) of zone z at the row's instant
// (epoch_us(ts)); offsets and starts are our own numbers.
func zoneOffset(z insight.EngagementZone) string {
	if len(z.Offsets) == 1 {
		return strconv.FormatInt(z.Offsets[0], 10)
	}
	c := "CASE"
	for i := 1; i < len(z.Starts); i++ {
		c += " WHEN epoch_us(ts) < " + strconv.FormatInt(z.Starts[i]*1e6, 10) + " THEN " + strconv.FormatInt(z.Offsets[i-1], 10)
	}
	return c + " ELSE " + strconv.FormatInt(z.Offsets[len(z.Offsets)-1], 10) + " END"
}

// engagementRows is insight.EngagementQueries.Hours: the rows' local
// hour is that of the instant shifted by the zone's offset then.
func (s *Store) engagementRows(ctx context.Context, projectID int64, p *insight.EngagementPlan) ([]insight.EngagementRow, error) {
	r := insight.Range{From: time.UnixMicro(p.SinceUs), To: time.UnixMicro(p.UntilUs)}
	src := newSource(projectID, &r)
	src.persons = true
	src.column(sqlf("json_extract_string(p.properties, ?) AS ptz", propPath(insight.TimezoneProperty)))
	offset := sqlf(zoneOffset(p.Fallback))
	if len(p.Zones) > 0 {
		offset = sqlf("CASE")
		for _, z := range p.Zones {
			offset.Add(" WHEN ptz = ? THEN "+zoneOffset(z), z.Name)
		}
		offset.Add(" ELSE " + zoneOffset(p.Fallback) + " END")
	}
	q := sqlf("SELECT ")
	if p.Persons != nil {
		q.Add("actor")
	} else {
		q.Add("0::BIGINT")
	}
	q.Add(" AS person, ((epoch_us(ts) // 1000000 + ")
	q.AddFrag(offset)
	q.Add(") // 3600 % 24)::INTEGER AS hour, count(*) FROM (")
	q.AddFrag(src.frag())
	q.Add(") WHERE event NOT IN ("+placeholders(len(p.Exclude))+")", stringArgs(p.Exclude)...)
	if p.Persons != nil {
		q.Add(" AND actor IN ("+placeholders(len(p.Persons))+")", int64Args(p.Persons)...)
	}
	q.Add(" GROUP BY person, hour")
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count engagement hours: %w", err)
	}
	defer rows.Close()
	var out []insight.EngagementRow
	for rows.Next() {
		var e insight.EngagementRow
		if err := rows.Scan(&e.Person, &e.Hour, &e.Count); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot count engagement hours: %w", err)
	}
	return out, nil
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
