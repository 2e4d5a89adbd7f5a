package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

// Experiment runs an experiment query with the DuckDB store's semantics:
// package insight plans it and assembles the answer; this file only reads
// rows of counts and sums. Times are compared in microseconds (ts_us).
// ClickHouse 18 has neither CTEs nor joins of more than two relations,
// so the exposed persons and the per-person values are subqueries,
// repeated where read twice, and the reads are one query at a time
// (insight.ExperimentQueries.Read: the exposures, then each metric).
func (s *Store) Experiment(ctx context.Context, projectID int64, tz *time.Location, q *insight.Experiment) (*insight.ExperimentCounts, error) {
	return insight.RunExperiment(q, tz, insight.ExperimentQueries{
		Exposures: func(p *insight.ExperimentPlan) ([]insight.ExperimentExposureRow, error) {
			return s.experimentExposures(ctx, projectID, p)
		},
		Metric: func(p *insight.ExperimentPlan, k int) ([]insight.ExperimentMetricRow, error) {
			return s.experimentMetric(ctx, projectID, p, k)
		},
	}.Read)
}

// exposureRows are the exposure events: (actor, ts, us, v), v (UInt8) the
// index of the variant the event exposed the actor to.
func (s *Store) exposureRows(projectID int64, p *insight.ExperimentPlan) (frag, error) {
	q := p.Q
	src := s.newSource(projectID, &q.Range, insight.ExposureEvent)
	src.filters = append(slices.Clip(q.Filters), p.ExposureFilters...)
	from, err := src.frag()
	if err != nil {
		return frag{}, err
	}
	// The source's filter keeps only responses among the variants.
	f := sqlf("SELECT actor, ts, toInt64(ts_us) AS us, toUInt8(indexOf(?, ", q.Variants)
	f.AddFrag(prop("properties", "$feature_flag_response"))
	f.Add(") - 1) AS v FROM (")
	f.AddFrag(from)
	f.Add(")")
	return f, nil
}

// exposed is the persons exposed to one variant only: (actor, t0 µs,
// variant).
func (s *Store) exposed(projectID int64, p *insight.ExperimentPlan) (frag, error) {
	rows, err := s.exposureRows(projectID, p)
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, min(us) AS t0, min(v) AS variant FROM (")
	f.AddFrag(rows)
	f.Add(") GROUP BY actor HAVING min(v) = max(v)")
	return f, nil
}

// experimentExposures is insight.ExperimentQueries.Exposures: per mask of
// variants seen and local day of the first exposure, the persons.
func (s *Store) experimentExposures(ctx context.Context, projectID int64, p *insight.ExperimentPlan) ([]insight.ExperimentExposureRow, error) {
	rows, err := s.exposureRows(projectID, p)
	if err != nil {
		return nil, err
	}
	q := sqlf("SELECT mask, day, count() FROM (\n  SELECT ")
	q.AddFrag(periodIndex("first_ts", p.Days))
	q.Add(" AS day, mask FROM (\n    SELECT actor, min(ts) AS first_ts, groupBitOr(bitShiftLeft(toUInt64(1), v)) AS mask FROM (")
	q.AddFrag(rows)
	q.Add(")\n    GROUP BY actor))\nGROUP BY mask, day")
	res, err := s.query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment exposures: %w", err)
	}
	defer res.Close()
	var out []insight.ExperimentExposureRow
	for res.Next() {
		var mask, n uint64
		var day int64
		if err := res.Scan(&mask, &day, &n); err != nil {
			return nil, err
		}
		out = append(out, insight.ExperimentExposureRow{Mask: mask, Day: int(day), Persons: int64(n)})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("cannot run experiment exposures: %w", err)
	}
	return out, nil
}

// experimentMetric is insight.ExperimentQueries.Metric: per variant, the
// metric's sums over the persons exposed to it alone.
func (s *Store) experimentMetric(ctx context.Context, projectID int64, p *insight.ExperimentPlan, k int) ([]insight.ExperimentMetricRow, error) {
	pm := p.Metrics[k]
	// vals: every exposed person's (variant, x0, p0, y0, q0), zeros
	// included. Built afresh where read: fragments are values.
	vals := func() (frag, error) {
		exposed, err := s.exposed(projectID, p)
		if err != nil {
			return frag{}, err
		}
		x, err := s.experimentValue(projectID, p, pm.X)
		if err != nil {
			return frag{}, err
		}
		f := sqlf("SELECT actor, variant, post AS x0, pre AS p0 FROM (")
		f.AddFrag(exposed)
		f.Add(") ANY LEFT JOIN (")
		f.AddFrag(x)
		f.Add(") USING actor")
		if pm.Y == nil {
			g := sqlf("SELECT variant, x0, p0, toFloat64(0) AS y0, toFloat64(0) AS q0 FROM (")
			g.AddFrag(f)
			g.Add(")")
			return g, nil
		}
		y, err := s.experimentValue(projectID, p, pm.Y)
		if err != nil {
			return frag{}, err
		}
		g := sqlf("SELECT variant, x0, p0, y0, q0 FROM (")
		g.AddFrag(f)
		g.Add(") ANY LEFT JOIN (SELECT actor, post AS y0, pre AS q0 FROM (")
		g.AddFrag(y)
		g.Add(")) USING actor")
		return g, nil
	}
	capOf := func(v *insight.ExperimentValue, col string) (frag, error) {
		if v == nil {
			return sqlf("inf"), nil
		}
		return experimentCap(v, col, vals)
	}
	xcap, err := capOf(pm.X, "x0")
	if err != nil {
		return nil, err
	}
	ycap, err := capOf(pm.Y, "y0")
	if err != nil {
		return nil, err
	}
	all, err := vals()
	if err != nil {
		return nil, err
	}
	withCaps := sqlf("SELECT variant, x0, p0, y0, q0, ")
	withCaps.AddFrag(xcap)
	withCaps.Add(" AS xcap, ")
	withCaps.AddFrag(ycap)
	withCaps.Add(" AS ycap FROM (")
	withCaps.AddFrag(all)
	withCaps.Add(")")
	query := sqlf(`SELECT variant, count(), sum(x), sum(x*x), sum(y), sum(y*y), sum(x*y),
  sum(p), sum(p*p), sum(q), sum(q*q), sum(x*p), sum(x*q), sum(y*p), sum(y*q), sum(p*q),
  any(xcap), any(ycap)
FROM (SELECT variant, least(x0, xcap) AS x, least(p0, xcap) AS p, least(y0, ycap) AS y, least(q0, ycap) AS q, xcap, ycap FROM (`)
	query.AddFrag(withCaps)
	query.Add("))\nGROUP BY variant")
	res, err := s.query(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment metric %d: %w", k, err)
	}
	defer res.Close()
	var out []insight.ExperimentMetricRow
	for res.Next() {
		var variant uint8
		var n uint64
		var r insight.ExperimentMetricRow
		m := &r.Sums
		if err := res.Scan(&variant, &n, &m.X, &m.XX, &m.Y, &m.YY, &m.XY,
			&m.P, &m.PP, &m.Q, &m.QQ, &m.XP, &m.XQ, &m.YP, &m.YQ, &m.PQ, &r.XCap, &r.YCap); err != nil {
			return nil, err
		}
		r.Variant, r.N = int(variant), int64(n)
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("cannot run experiment metric %d: %w", k, err)
	}
	return out, nil
}

// experimentValue is (actor, post, pre) for the exposed actors with
// events of the value: post over [t0, min(t0 + window, to)), pre over
// [t0 - pre, t0).
func (s *Store) experimentValue(projectID int64, p *insight.ExperimentPlan, v *insight.ExperimentValue) (frag, error) {
	if len(v.Steps) > 0 {
		return s.experimentFunnel(projectID, p, v)
	}
	from, err := s.experimentSource(projectID, p, v.Event, v.Action, v.Filters)
	if err != nil {
		return frag{}, err
	}
	num := sqlf("toFloat64OrNull(")
	num.AddFrag(prop("properties", v.Property))
	num.Add(")")
	rows := sqlf("SELECT actor, toInt64(ts_us) AS us, ")
	switch v.Agg {
	case insight.AggSum:
		// Only finite numbers are kept below: OrZero reads them as OrNull.
		rows.Add("toFloat64OrZero(")
		rows.AddFrag(prop("properties", v.Property))
		rows.Add(")")
	default:
		rows.Add("toFloat64(1)")
	}
	rows.Add(" AS val FROM (")
	rows.AddFrag(from)
	rows.Add(")")
	if v.Agg == insight.AggSum || v.Agg == insight.AggValued {
		rows.Add(" WHERE ifNull(isFinite(")
		rows.AddFrag(num)
		rows.Add("), 0)")
	}
	exposed, err := s.exposed(projectID, p)
	if err != nil {
		return frag{}, err
	}
	agg := "sum"
	if v.Agg == insight.AggConverted {
		agg = "max"
	}
	f := sqlf("SELECT actor, toFloat64(" + agg + "(if(us >= t0, val, 0))) AS post, toFloat64(" + agg + "(if(us < t0, val, 0))) AS pre FROM (")
	f.AddFrag(rows)
	f.Add(") ALL INNER JOIN (")
	f.AddFrag(exposed)
	f.Add(") USING actor WHERE us >= t0 - ? AND us < least(t0 + ?, ?) GROUP BY actor", p.PreUs, v.WindowUs, p.ToUs)
	return f, nil
}

// experimentFunnel is experimentValue for a funnel conversion: post 1 for
// the actors who did the steps in [t0, min(t0 + window, to)), pre 1 for
// those who did them in [t0 - pre, t0); each step the first of its events
// strictly after the previous step (a greedy chain), as on DuckDB.
func (s *Store) experimentFunnel(projectID int64, p *insight.ExperimentPlan, v *insight.ExperimentValue) (frag, error) {
	chain := func(lo, hi func() frag) (frag, error) {
		var prev frag
		for i, st := range v.Steps {
			from, err := s.experimentSource(projectID, p, st.Event, st.Action, st.Filters)
			if err != nil {
				return frag{}, err
			}
			f := sqlf(fmt.Sprintf("SELECT actor, t0, min(us) AS t_%d FROM (SELECT actor, toInt64(ts_us) AS us FROM (", i))
			f.AddFrag(from)
			f.Add(")) ALL INNER JOIN (")
			if i == 0 {
				exposed, err := s.exposed(projectID, p)
				if err != nil {
					return frag{}, err
				}
				f.AddFrag(exposed)
				f.Add(") USING actor WHERE us >= ")
				f.AddFrag(lo())
			} else {
				f.AddFrag(prev)
				f.Add(fmt.Sprintf(") USING actor WHERE us > t_%d", i-1))
			}
			f.Add(" AND us < ")
			f.AddFrag(hi())
			f.Add(" GROUP BY actor, t0")
			prev = f
		}
		return prev, nil
	}
	post, err := chain(func() frag { return sqlf("t0") }, func() frag { return sqlf("least(t0 + ?, ?)", v.WindowUs, p.ToUs) })
	if err != nil {
		return frag{}, err
	}
	f := sqlf("SELECT actor, max(post) AS post, max(pre) AS pre FROM (SELECT actor, toFloat64(1) AS post, toFloat64(0) AS pre FROM (")
	f.AddFrag(post)
	f.Add(")")
	if p.PreUs > 0 {
		pre, err := chain(func() frag { return sqlf("t0 - ?", p.PreUs) }, func() frag { return sqlf("t0") })
		if err != nil {
			return frag{}, err
		}
		f.Add(" UNION ALL SELECT actor, toFloat64(0) AS post, toFloat64(1) AS pre FROM (")
		f.AddFrag(pre)
		f.Add(")")
	}
	f.Add(") GROUP BY actor")
	return f, nil
}

// experimentSource is the rows of a metric's event (or action) with its
// filters (the query's select the exposures only), from the start of the
// first covariate period to the range's end.
func (s *Store) experimentSource(projectID int64, p *insight.ExperimentPlan, event string, a *insight.ActionDef, filters []insight.Filter) (frag, error) {
	r := p.Q.Range
	r.From = r.From.Add(-time.Duration(p.PreUs) * time.Microsecond)
	r.Filters = filters
	return s.newMatchSource(projectID, &r, event, a).frag()
}

// experimentCap is the cap of a value over column col of vals (a
// Float64): inf when none or a percentile of no values. A percentile
// interpolates linearly between closest ranks, as DuckDB's quantile_cont
// and stats.Capping (ClickHouse 18 has no quantileExactInclusive).
func experimentCap(v *insight.ExperimentValue, col string, vals func() (frag, error)) (frag, error) {
	c := v.Cap
	switch {
	case c == nil:
		return sqlf("inf"), nil
	case c.Type == stats.CapAbsolute:
		return sqlf("toFloat64(?)", c.Value), nil
	}
	from, err := vals()
	if err != nil {
		return frag{}, err
	}
	f := sqlf(`(SELECT if(length(xs) = 0, inf, xs[lo + 1] + (pos - lo) * (xs[least(lo + 2, length(xs))] - xs[lo + 1]))
  FROM (SELECT arraySort(groupArray(`+col+`)) AS xs, toFloat64(?) * (toInt64(length(xs)) - 1) AS pos, toUInt64(floor(pos)) AS lo FROM (`, c.Value)
	f.AddFrag(from)
	f.Add(")")
	if c.IgnoreZeros {
		f.Add(" WHERE " + col + " != 0")
	}
	f.Add("))")
	return f, nil
}
