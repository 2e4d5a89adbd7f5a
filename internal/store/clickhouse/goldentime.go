package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// GoldenTime runs a golden-time report with the DuckDB store's
// semantics: package insight plans it and assembles the answer; this file
// only reads rows of counts. Times are compared in microseconds (ts_us).
// ClickHouse 18 has no ASOF join: each (actor, key)'s goal times are a
// sorted array, and a trigger's first goal is arrayFirst over it.
func (s *Store) GoldenTime(ctx context.Context, projectID int64, tz *time.Location, q *insight.GoldenTime) (*insight.GoldenTimeResult, error) {
	return insight.RunGoldenTime(q, insight.GoldenTimeQueries{
		Rows: func(p *insight.GoldenTimePlan) ([]insight.GoldenTimeRow, error) {
			return s.goldenRows(ctx, projectID, p)
		},
	})
}

// goldenKeyed is a golden-time source's rows as (actor, us, k): k the
// match property's text (” without match; rows without it, or with
// JSON null, left out, as DuckDB's json_extract_string gives NULL).
func goldenKeyed(src source, match string) (frag, error) {
	from, err := src.frag()
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, toInt64(ts_us) AS us, ")
	if match == "" {
		f.Add("'' AS k FROM (")
		f.AddFrag(from)
		f.Add(")")
		return f, nil
	}
	f.AddFrag(prop("properties", match))
	f.Add(" AS k FROM (")
	f.AddFrag(from)
	f.Add(") WHERE visitParamHas(properties, ?) AND visitParamExtractRaw(properties, ?) != 'null'", match, match)
	return f, nil
}

// goldenFirsts is every trigger (actor, n: its multiplicity) with g, its
// first goal strictly after it and before it + horizon (0: none), and
// minute, the minutes to g (-1: none). Queries over it read minute, not
// g alone: ClickHouse 18 prunes a column that only a lambda reads (t)
// from the subquery ("Unknown identifier: t").
func (s *Store) goldenFirsts(projectID int64, p *insight.GoldenTimePlan) (frag, error) {
	q := p.Q
	tr := q.Range
	tr.Filters = p.TriggerFilters
	trig, err := goldenKeyed(s.newSource(projectID, &tr, q.Trigger.Event), q.Match)
	if err != nil {
		return frag{}, err
	}
	gr := insight.Range{From: q.From, To: time.UnixMicro(p.GoalToUs), Filters: q.Goal.Filters}
	goal, err := goldenKeyed(s.newSource(projectID, &gr, q.Goal.Event), q.Match)
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, n, arrayFirst(x -> x > t AND x < t + ?, gs) AS g, if(g = 0, toInt64(-1), toInt64(intDiv(g - t, 60000000))) AS minute FROM (SELECT actor, k, us AS t, count() AS n FROM (", p.HorizonUs)
	f.AddFrag(trig)
	f.Add(") GROUP BY actor, k, t) ANY LEFT JOIN (SELECT actor, k, arraySort(groupArray(us)) AS gs FROM (")
	f.AddFrag(goal)
	f.Add(") GROUP BY actor, k) USING (actor, k)")
	return f, nil
}

// goldenRows is insight.GoldenTimeQueries.Rows: the triggers by minute
// of delay, then one row of the persons (c) and converted persons
// (minute), read back as two rows.
func (s *Store) goldenRows(ctx context.Context, projectID int64, p *insight.GoldenTimePlan) ([]insight.GoldenTimeRow, error) {
	a, err := s.goldenFirsts(projectID, p)
	if err != nil {
		return nil, err
	}
	b, err := s.goldenFirsts(projectID, p)
	if err != nil {
		return nil, err
	}
	q := sqlf("SELECT ? AS m, minute, toInt64(sum(n)) AS c FROM (", insight.GoldenTriggers)
	q.AddFrag(a)
	q.Add(") GROUP BY minute\nUNION ALL SELECT ? AS m, toInt64(uniqExactIf(actor, minute >= 0)) AS minute, toInt64(uniqExact(actor)) AS c FROM (", insight.GoldenPersons)
	q.AddFrag(b)
	q.Add(")")
	res, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run golden time: %w", err)
	}
	defer res.Close()
	var out []insight.GoldenTimeRow
	for res.Next() {
		var r insight.GoldenTimeRow
		if err := res.Scan(&r.Measure, &r.Minute, &r.Count); err != nil {
			return nil, err
		}
		if r.Measure == insight.GoldenPersons {
			out = append(out, insight.GoldenTimeRow{Measure: insight.GoldenConvertedPersons, Count: r.Minute})
			r.Minute = 0
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
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

// engagementZones is insight.EngagementQueries.Zones: over the persons'
// current properties (the latest version of each), as DuckDB's.
func (s *Store) engagementZones(ctx context.Context, projectID int64, persons []int64) ([]string, error) {
	q := sqlf("SELECT tz FROM (SELECT ")
	q.AddFrag(prop("props", insight.TimezoneProperty))
	q.Add(" AS tz FROM (SELECT id, argMax(properties, version) AS props FROM "+s.db+".persons WHERE project_id = ?", uint64(projectID))
	if persons != nil {
		q.Add(" AND has(?, id)", persons)
	}
	q.Add(" GROUP BY id) WHERE visitParamHas(props, ?) AND visitParamExtractRaw(props, ?) != 'null')", insight.TimezoneProperty, insight.TimezoneProperty)
	q.Add(" GROUP BY tz ORDER BY count() DESC, tz LIMIT " + strconv.Itoa(insight.MaxZoneValues))
	res, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read time zones: %w", err)
	}
	defer res.Close()
	var out []string
	for res.Next() {
		var z string
		if err := res.Scan(&z); err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, res.Err()
}

// zoneOffset is the UTC offset (seconds, an Int64) of zone z at the
// row's instant (ts_us); offsets and starts are our own numbers.
func zoneOffset(z insight.EngagementZone) string {
	last := "toInt64(" + strconv.FormatInt(z.Offsets[len(z.Offsets)-1], 10) + ")"
	if len(z.Offsets) == 1 {
		return last
	}
	c := "multiIf("
	for i := 1; i < len(z.Starts); i++ {
		c += "ts_us < " + strconv.FormatInt(z.Starts[i]*1e6, 10) + ", toInt64(" + strconv.FormatInt(z.Offsets[i-1], 10) + "), "
	}
	return c + last + ")"
}

// engagementRows is insight.EngagementQueries.Hours: the rows' local
// hour is that of the instant shifted by the zone's offset then.
func (s *Store) engagementRows(ctx context.Context, projectID int64, p *insight.EngagementPlan) ([]insight.EngagementRow, error) {
	r := insight.Range{From: time.UnixMicro(p.SinceUs), To: time.UnixMicro(p.UntilUs)}
	src := s.newSource(projectID, &r)
	src.persons = true
	ptz := prop("pprops", insight.TimezoneProperty)
	ptz.Add(" AS ptz")
	src.column(ptz)
	from, err := src.frag()
	if err != nil {
		return nil, err
	}
	offset := sqlf(zoneOffset(p.Fallback))
	if len(p.Zones) > 0 {
		offset = sqlf("multiIf(")
		for _, z := range p.Zones {
			offset.Add("ptz = ?, "+zoneOffset(z)+", ", z.Name)
		}
		offset.Add(zoneOffset(p.Fallback) + ")")
	}
	q := sqlf("SELECT ")
	if p.Persons != nil {
		q.Add("actor")
	} else {
		q.Add("toInt64(0)")
	}
	q.Add(" AS person, toInt64(intDiv(toInt64(intDiv(ts_us, 1000000)) + ")
	q.AddFrag(offset)
	q.Add(", 3600) % 24) AS hour, toInt64(count()) FROM (")
	q.AddFrag(from)
	q.Add(") WHERE NOT has(?, event)", p.Exclude)
	if p.Persons != nil {
		q.Add(" AND has(?, actor)", p.Persons)
	}
	q.Add(" GROUP BY person, hour")
	res, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count engagement hours: %w", err)
	}
	defer res.Close()
	var out []insight.EngagementRow
	for res.Next() {
		var e insight.EngagementRow
		var hour int64
		if err := res.Scan(&e.Person, &hour, &e.Count); err != nil {
			return nil, err
		}
		e.Hour = int(hour)
		out = append(out, e)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("cannot count engagement hours: %w", err)
	}
	return out, nil
}
