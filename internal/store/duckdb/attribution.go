package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Attribution reads a campaign report's touches, conversions and goal
// value (insight.Attribution; issue 15 item 8): package insight plans it,
// this file only reads rows. Times are compared in microseconds, as on
// ClickHouse.
func (s *Store) Attribution(ctx context.Context, projectID int64, q *insight.Attribution) (*insight.AttributionResult, error) {
	return insight.RunAttribution(q, func(p *insight.AttributionPlan) ([]insight.AttributionRow, error) {
		return s.attributionRows(ctx, projectID, p)
	})
}

// attributionKeyed is a source's rows as (actor, us, k, v): k the match
// property's text (” without match; rows without it left out), v the
// value property as a finite number, else 0.
func attributionKeyed(src source, match, value string) frag {
	v := "0::DOUBLE AS v"
	if value != "" {
		src.column(sqlf("TRY_CAST(json_extract_string(e.properties, ?) AS DOUBLE) AS vn", propPath(value)))
		v = "CASE WHEN isfinite(vn) THEN vn ELSE 0 END AS v"
	}
	k := "'' AS k"
	if match != "" {
		src.column(sqlf("json_extract_string(e.properties, ?) AS mk", propPath(match)))
		k = "mk AS k"
	}
	f := sqlf("SELECT actor, epoch_us(ts) AS us, " + k + ", " + v + " FROM (")
	f.AddFrag(src.frag())
	f.Add(")")
	if match != "" {
		f.Add(" WHERE mk IS NOT NULL")
	}
	return f
}

// attributionRows is the read. The CTEs: trig, the touches (actor, t, k)
// with their multiplicity n; goal, the goal rows; firsts, each touch
// with conv (its first goal after it, an ASOF join, is within the
// window) and its bucket; vals, each goal with the latest touch before
// it (ASOF) when that is within the window, summed per actor; px, every
// touched actor's x.
func (s *Store) attributionRows(ctx context.Context, projectID int64, p *insight.AttributionPlan) ([]insight.AttributionRow, error) {
	q := p.Q
	tr := insight.Range{From: q.From, To: q.To, Filters: q.Touch.Filters}
	f := sqlf("WITH trig AS (SELECT actor, us AS t, k, count(*) AS n FROM (")
	f.AddFrag(attributionKeyed(newSource(projectID, &tr, q.Touch.Event), q.Match, ""))
	f.Add(") GROUP BY actor, us, k),\n")
	if q.Goal.Event != "" {
		gr := insight.Range{From: q.From, To: time.UnixMicro(p.GoalToUs), Filters: q.Goal.Filters}
		f.Add("goal AS (")
		f.AddFrag(attributionKeyed(newSource(projectID, &gr, q.Goal.Event), q.Match, q.Value))
		f.Add("),\n")
		f.Add(`firsts AS (SELECT trig.actor, trig.t, trig.n, coalesce(goal.us < trig.t + ?, false) AS conv
  FROM trig ASOF LEFT JOIN goal ON trig.actor = goal.actor AND trig.k = goal.k AND trig.t < goal.us),
vals AS (SELECT goal.actor, sum(goal.v) AS x FROM goal ASOF JOIN trig ON goal.actor = trig.actor AND goal.k = trig.k AND trig.t < goal.us
  WHERE goal.us < trig.t + ? GROUP BY goal.actor),
`, p.WindowUs, p.WindowUs)
	} else {
		f.Add("firsts AS (SELECT actor, t, n, false AS conv FROM trig),\nvals AS (SELECT 0::BIGINT AS actor, 0::DOUBLE AS x WHERE false),\n")
	}
	f.Add("px AS (SELECT a.actor, coalesce(vals.x, 0)::DOUBLE AS x FROM (SELECT DISTINCT actor FROM trig) a LEFT JOIN vals ON a.actor = vals.actor),\n")
	f.Add("b AS (SELECT actor, n, conv, " + insight.BucketCase("t", p.BoundsUs) + " AS bucket FROM firsts)\n")
	counts := "coalesce(sum(n), 0)::BIGINT, coalesce(sum(n) FILTER (WHERE conv), 0)::BIGINT, count(DISTINCT actor), count(DISTINCT actor) FILTER (WHERE conv)"
	f.Add("SELECT -1::BIGINT AS bucket, " + counts + ", (SELECT coalesce(sum(x), 0)::DOUBLE FROM px), (SELECT coalesce(sum(x*x), 0)::DOUBLE FROM px) FROM b")
	if len(q.Starts) > 0 {
		f.Add("\nUNION ALL SELECT bucket::BIGINT, " + counts + ", 0::DOUBLE, 0::DOUBLE FROM b GROUP BY bucket")
	}
	rows, err := s.db.QueryContext(ctx, f.Text, f.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run attribution: %w", err)
	}
	defer rows.Close()
	var out []insight.AttributionRow
	for rows.Next() {
		var r insight.AttributionRow
		if err := rows.Scan(&r.Bucket, &r.Touches, &r.Converted, &r.Persons, &r.ConvertedPersons, &r.ValueSum, &r.ValueSquares); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run attribution: %w", err)
	}
	return out, nil
}
