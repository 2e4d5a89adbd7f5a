package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Attribution reads a campaign report's touches, conversions and goal
// value with the DuckDB store's semantics (insight.Attribution; issue 15
// item 8): package insight plans it, this file only reads rows. Without
// ASOF joins (ClickHouse 18), each (actor, key)'s goal (or touch) times
// are an array, and arrayExists asks whether one is in the window.
func (s *Store) Attribution(ctx context.Context, projectID int64, q *insight.Attribution) (*insight.AttributionResult, error) {
	return insight.RunAttribution(q, func(p *insight.AttributionPlan) ([]insight.AttributionRow, error) {
		return s.attributionRows(ctx, projectID, p)
	})
}

// attributionKeyed is a source's rows as (actor, us, k, v): k the match
// property's text (” without match; rows without it, or with JSON null,
// left out, as on DuckDB), v the value property as a finite number, else
// 0.
func attributionKeyed(src source, match, value string) (frag, error) {
	from, err := src.frag()
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, toInt64(ts_us) AS us, ")
	if match == "" {
		f.Add("'' AS k, ")
	} else {
		f.AddFrag(prop("properties", match))
		f.Add(" AS k, ")
	}
	if value == "" {
		f.Add("toFloat64(0) AS v")
	} else {
		num := func() frag {
			n := sqlf("ifNull(toFloat64OrNull(")
			n.AddFrag(prop("properties", value))
			n.Add("), 0)")
			return n
		}
		f.Add("if(isFinite(")
		f.AddFrag(num())
		f.Add("), ")
		f.AddFrag(num())
		f.Add(", toFloat64(0)) AS v")
	}
	f.Add(" FROM (")
	f.AddFrag(from)
	f.Add(")")
	if match != "" {
		f.Add(" WHERE visitParamHas(properties, ?) AND visitParamExtractRaw(properties, ?) != 'null'", match, match)
	}
	return f, nil
}

// attributionFirsts is every touch (actor, t, n: its multiplicity) with
// conv (a goal of the same actor and key is in (t, t + window)) and its
// bucket. The conditions on t (and g below) outside the lambdas are true
// of every row read; they keep the column from being pruned (ClickHouse
// 18 prunes a column that only a lambda reads: "Unknown identifier").
func (s *Store) attributionFirsts(projectID int64, p *insight.AttributionPlan) (frag, error) {
	q := p.Q
	tr := insight.Range{From: q.From, To: q.To, Filters: q.Touch.Filters}
	trig, err := attributionKeyed(s.newSource(projectID, &tr, q.Touch.Event), q.Match, "")
	if err != nil {
		return frag{}, err
	}
	bucket := insight.BucketCase("t", p.BoundsUs)
	if q.Goal.Event == "" {
		f := sqlf("SELECT actor, n, toInt64(" + bucket + ") AS bucket, toUInt8(0) AS conv FROM (SELECT actor, k, us AS t, count() AS n FROM (")
		f.AddFrag(trig)
		f.Add(") GROUP BY actor, k, t)")
		return f, nil
	}
	gr := insight.Range{From: q.From, To: time.UnixMicro(p.GoalToUs), Filters: q.Goal.Filters}
	goal, err := attributionKeyed(s.newSource(projectID, &gr, q.Goal.Event), q.Match, "")
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, n, toInt64("+bucket+") AS bucket, toUInt8(t >= ? AND arrayExists(u -> u > t AND u < t + ?, gs)) AS conv FROM (SELECT actor, k, us AS t, count() AS n FROM (",
		p.FromUs, p.WindowUs)
	f.AddFrag(trig)
	f.Add(") GROUP BY actor, k, t) ANY LEFT JOIN (SELECT actor, k, groupArray(us) AS gs FROM (")
	f.AddFrag(goal)
	f.Add(") GROUP BY actor, k) USING (actor, k)")
	return f, nil
}

// attributionValues is (Σx, Σx²) over the touched actors: x the sum of
// v over an actor's goals with a touch of the same key in (g - window,
// g).
func (s *Store) attributionValues(projectID int64, p *insight.AttributionPlan) (frag, error) {
	q := p.Q
	tr := insight.Range{From: q.From, To: q.To, Filters: q.Touch.Filters}
	touched, err := attributionKeyed(s.newSource(projectID, &tr, q.Touch.Event), q.Match, "")
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT toFloat64(sum(x)), toFloat64(sum(x * x)) FROM (SELECT actor FROM (")
	f.AddFrag(touched)
	f.Add(") GROUP BY actor) ANY LEFT JOIN (")
	if q.Goal.Event == "" || q.Value == "" {
		f.Add("SELECT toInt64(0) AS actor, toFloat64(0) AS x WHERE 0")
	} else {
		gr := insight.Range{From: q.From, To: time.UnixMicro(p.GoalToUs), Filters: q.Goal.Filters}
		goal, err := attributionKeyed(s.newSource(projectID, &gr, q.Goal.Event), q.Match, q.Value)
		if err != nil {
			return frag{}, err
		}
		again, err := attributionKeyed(s.newSource(projectID, &tr, q.Touch.Event), q.Match, "")
		if err != nil {
			return frag{}, err
		}
		f.Add("SELECT actor, toFloat64(sum(if(g >= ? AND arrayExists(u -> u < g AND u > g - ?, ts), v, 0))) AS x FROM (SELECT actor, k, us AS g, v FROM (", p.FromUs, p.WindowUs)
		f.AddFrag(goal)
		f.Add(")) ALL INNER JOIN (SELECT actor, k, groupArray(us) AS ts FROM (")
		f.AddFrag(again)
		f.Add(") GROUP BY actor, k) USING (actor, k) GROUP BY actor")
	}
	f.Add(") USING actor")
	return f, nil
}

// attributionRows is the read: the whole range's counts (bucket -1),
// each bucket's, and the values, read back into the row of the whole
// range.
func (s *Store) attributionRows(ctx context.Context, projectID int64, p *insight.AttributionPlan) ([]insight.AttributionRow, error) {
	const counts = "toInt64(sum(n)), toInt64(sumIf(n, conv = 1)), toInt64(uniqExact(actor)), toInt64(uniqExactIf(actor, conv = 1))"
	all, err := s.attributionFirsts(projectID, p)
	if err != nil {
		return nil, err
	}
	// bucket >= 0 holds for every touch; it reads the bucket (see
	// attributionFirsts).
	q := sqlf("SELECT toInt64(-1) AS b, " + counts + ", toFloat64(0), toFloat64(0) FROM (")
	q.AddFrag(all)
	q.Add(") WHERE bucket >= 0")
	if len(p.Q.Starts) > 0 {
		byBucket, err := s.attributionFirsts(projectID, p)
		if err != nil {
			return nil, err
		}
		q.Add("\nUNION ALL SELECT bucket AS b, " + counts + ", toFloat64(0), toFloat64(0) FROM (")
		q.AddFrag(byBucket)
		q.Add(") GROUP BY bucket")
	}
	vals, err := s.attributionValues(projectID, p)
	if err != nil {
		return nil, err
	}
	q.Add("\nUNION ALL SELECT toInt64(-2) AS b, toInt64(0), toInt64(0), toInt64(0), toInt64(0), * FROM (")
	q.AddFrag(vals)
	q.Add(")")
	res, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run attribution: %w", err)
	}
	defer res.Close()
	total := insight.AttributionRow{Bucket: -1}
	var out []insight.AttributionRow
	for res.Next() {
		var r insight.AttributionRow
		if err := res.Scan(&r.Bucket, &r.Touches, &r.Converted, &r.Persons, &r.ConvertedPersons, &r.ValueSum, &r.ValueSquares); err != nil {
			return nil, err
		}
		switch r.Bucket {
		case -1:
			total.Touches, total.Converted, total.Persons, total.ConvertedPersons = r.Touches, r.Converted, r.Persons, r.ConvertedPersons
		case -2:
			total.ValueSum, total.ValueSquares = r.ValueSum, r.ValueSquares
		default:
			out = append(out, r)
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("cannot run attribution: %w", err)
	}
	return append(out, total), nil
}
