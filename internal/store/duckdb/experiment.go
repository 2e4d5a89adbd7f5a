package duckdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

// Experiment runs an experiment query (SPEC §5): package insight plans it
// and assembles the answer; this file only reads rows of counts and sums.
// Times are compared in microseconds (epoch_us), as on ClickHouse (ts_us).
func (s *Store) Experiment(ctx context.Context, projectID int64, tz *time.Location, q *insight.Experiment) (*insight.ExperimentCounts, error) {
	return insight.RunExperiment(q, tz, insight.ExperimentQueries{
		Exposures: func(p *insight.ExperimentPlan) ([]insight.ExperimentExposureRow, error) {
			return s.experimentExposures(ctx, projectID, p)
		},
		Metric: func(p *insight.ExperimentPlan, k int) ([]insight.ExperimentMetricRow, error) {
			return s.experimentMetric(ctx, projectID, p, k)
		},
	})
}

// exposureRows are the exposure events: (actor, ts, v), v the index of
// the variant the event exposed the actor to.
func exposureRows(projectID int64, p *insight.ExperimentPlan) frag {
	q := p.Q
	src := newSource(projectID, &q.Range, insight.ExposureEvent)
	src.filters = appendFilters(q.Filters, p.ExposureFilters)
	f := sqlf("SELECT actor, ts, CASE json_extract_string(properties, ?)", propPath("$feature_flag_response"))
	for i, v := range q.Variants {
		f.Add(" WHEN ? THEN "+strconv.Itoa(i), v)
	}
	f.Add(" END AS v FROM (")
	f.AddFrag(src.frag())
	f.Add(")")
	return f
}

// experimentExposures is insight.ExperimentQueries.Exposures: per mask of
// variants seen and local day of the first exposure, the persons.
func (s *Store) experimentExposures(ctx context.Context, projectID int64, p *insight.ExperimentPlan) ([]insight.ExperimentExposureRow, error) {
	q := sqlf("SELECT mask, " + periodIndexSQL(p.Days.Starts, 0) + " AS day, count(*) FROM (\n  SELECT actor, min(ts) AS ts, bit_or(1::UBIGINT << v::UBIGINT) AS mask FROM (")
	q.AddFrag(exposureRows(projectID, p))
	q.Add(")\n  GROUP BY actor)\nGROUP BY mask, day")
	rows, err := s.db.QueryContext(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment exposures: %w", err)
	}
	defer rows.Close()
	var out []insight.ExperimentExposureRow
	for rows.Next() {
		var r insight.ExperimentExposureRow
		if err := rows.Scan(&r.Mask, &r.Day, &r.Persons); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run experiment exposures: %w", err)
	}
	return out, nil
}

// experimentMetric is insight.ExperimentQueries.Metric: per variant, the
// metric's sums over the persons exposed to it alone. The CTEs: exposed
// (actor, t0 µs, variant), each value's per-actor (actor, post, pre) for
// the actors with events, vals (every exposed person's x, p, y, q, zeros
// included), caps (the thresholds) and the sums.
func (s *Store) experimentMetric(ctx context.Context, projectID int64, p *insight.ExperimentPlan, k int) ([]insight.ExperimentMetricRow, error) {
	pm := p.Metrics[k]
	var ctes []frag
	cte := func(name string, body frag) {
		f := sqlf(name + " AS (")
		f.AddFrag(body)
		f.Add(")")
		ctes = append(ctes, f)
	}
	exposed := sqlf("SELECT actor, epoch_us(min(ts)) AS t0, min(v) AS variant FROM (")
	exposed.AddFrag(exposureRows(projectID, p))
	exposed.Add(") GROUP BY actor HAVING min(v) = max(v)")
	cte("exposed", exposed)
	experimentValue(projectID, p, "x", pm.X, cte)
	vals := sqlf("SELECT variant, coalesce(x.post, 0) AS x0, coalesce(x.pre, 0) AS p0, ")
	if pm.Y != nil {
		experimentValue(projectID, p, "y", pm.Y, cte)
		vals.Add("coalesce(y.post, 0) AS y0, coalesce(y.pre, 0) AS q0 FROM exposed LEFT JOIN x_value x USING (actor) LEFT JOIN y_value y USING (actor)")
	} else {
		vals.Add("0::DOUBLE AS y0, 0::DOUBLE AS q0 FROM exposed LEFT JOIN x_value x USING (actor)")
	}
	cte("vals", vals)
	caps := sqlf("SELECT ")
	caps.AddFrag(experimentCap(pm.X, "x0"))
	caps.Add(" AS xcap, ")
	if pm.Y != nil {
		caps.AddFrag(experimentCap(pm.Y, "y0"))
	} else {
		caps.Add("'infinity'::DOUBLE")
	}
	caps.Add(" AS ycap")
	cte("caps", caps)
	cte("capped", sqlf("SELECT variant, least(x0, xcap) AS x, least(p0, xcap) AS p, least(y0, ycap) AS y, least(q0, ycap) AS q, xcap, ycap FROM vals, caps"))

	query := sqlf("WITH ")
	query.AddFrag(joinFrags(",\n", ctes))
	query.Add(`
SELECT variant, count(*), sum(x), sum(x*x), sum(y), sum(y*y), sum(x*y),
  sum(p), sum(p*p), sum(q), sum(q*q), sum(x*p), sum(x*q), sum(y*p), sum(y*q), sum(p*q),
  any_value(xcap), any_value(ycap)
FROM capped GROUP BY variant`)
	rows, err := s.db.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment metric %d: %w", k, err)
	}
	defer rows.Close()
	var out []insight.ExperimentMetricRow
	for rows.Next() {
		var r insight.ExperimentMetricRow
		m := &r.Sums
		if err := rows.Scan(&r.Variant, &r.N, &m.X, &m.XX, &m.Y, &m.YY, &m.XY,
			&m.P, &m.PP, &m.Q, &m.QQ, &m.XP, &m.XQ, &m.YP, &m.YQ, &m.PQ, &r.XCap, &r.YCap); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run experiment metric %d: %w", k, err)
	}
	return out, nil
}

// experimentValue adds CTE <name>_value: (actor, post, pre) for the
// exposed actors with events of the value (post over [t0, min(t0 +
// window, to)), pre over [t0 - pre, t0)), with the CTEs it reads.
func experimentValue(projectID int64, p *insight.ExperimentPlan, name string, v *insight.ExperimentValue, cte func(string, frag)) {
	if len(v.Steps) > 0 {
		experimentFunnel(projectID, p, name, v, cte)
		return
	}
	src := experimentSource(projectID, p, v.Event, v.Action, v.Filters)
	num := sqlf("TRY_CAST(json_extract_string(properties, ?) AS DOUBLE)", propPath(v.Property))
	rows := sqlf("SELECT actor, epoch_us(ts) AS us, ")
	switch v.Agg {
	case insight.AggSum:
		rows.AddFrag(num)
	default:
		rows.Add("1")
	}
	rows.Add(" AS val FROM (")
	rows.AddFrag(src.frag())
	rows.Add(")")
	if v.Agg == insight.AggSum || v.Agg == insight.AggValued {
		rows.Add(" WHERE isfinite(")
		rows.AddFrag(num)
		rows.Add(")")
	}
	agg := "sum"
	if v.Agg == insight.AggConverted {
		agg = "max"
	}
	body := sqlf("SELECT actor, " + agg + "(CASE WHEN us >= t0 THEN val ELSE 0 END)::DOUBLE AS post, " +
		agg + "(CASE WHEN us < t0 THEN val ELSE 0 END)::DOUBLE AS pre FROM (")
	body.AddFrag(rows)
	body.Add(") JOIN exposed USING (actor) WHERE us >= t0 - ? AND us < least(t0 + ?, ?) GROUP BY actor", p.PreUs, v.WindowUs, p.ToUs)
	cte(name+"_value", body)
}

// experimentFunnel adds CTE <name>_value for a funnel conversion: post 1
// for the actors who did the steps in [t0, min(t0 + window, to)), pre 1
// for those who did them in [t0 - pre, t0). Each step is the first of
// its events strictly after the previous step (a greedy chain, which
// finds a chain whenever there is one).
func experimentFunnel(projectID int64, p *insight.ExperimentPlan, name string, v *insight.ExperimentValue, cte func(string, frag)) {
	for i, st := range v.Steps {
		src := experimentSource(projectID, p, st.Event, st.Action, st.Filters)
		rows := sqlf("SELECT actor, epoch_us(ts) AS us FROM (")
		rows.AddFrag(src.frag())
		rows.Add(")")
		cte(fmt.Sprintf("%s_step%d", name, i), rows)
	}
	// chain is the actors who did every step in [lo, hi), lo and hi
	// expressions of t0.
	chain := func(lo, hi frag) frag {
		var prev frag
		for i := range v.Steps {
			step := fmt.Sprintf("%s_step%d", name, i)
			var f frag
			if i == 0 {
				f = sqlf("SELECT actor, t0, min(us) AS t_0 FROM " + step + " JOIN exposed USING (actor) WHERE us >= ")
				f.AddFrag(lo)
			} else {
				f = sqlf(fmt.Sprintf("SELECT actor, t0, min(us) AS t_%d FROM %s JOIN (", i, step))
				f.AddFrag(prev)
				f.Add(fmt.Sprintf(") USING (actor) WHERE us > t_%d", i-1))
			}
			f.Add(" AND us < ")
			f.AddFrag(hi)
			f.Add(" GROUP BY actor, t0")
			prev = f
		}
		return prev
	}
	post := chain(sqlf("t0"), sqlf("least(t0 + ?, ?)", v.WindowUs, p.ToUs))
	body := sqlf("SELECT actor, max(post) AS post, max(pre) AS pre FROM (SELECT actor, 1::DOUBLE AS post, 0::DOUBLE AS pre FROM (")
	body.AddFrag(post)
	body.Add(")")
	if p.PreUs > 0 {
		pre := chain(sqlf("t0 - ?", p.PreUs), sqlf("t0"))
		body.Add(" UNION ALL SELECT actor, 0::DOUBLE, 1::DOUBLE FROM (")
		body.AddFrag(pre)
		body.Add(")")
	}
	body.Add(") GROUP BY actor")
	cte(name+"_value", body)
}

// experimentSource is the rows of a metric's event (or action) with its
// filters (the query's select the exposures only), from the start of the
// first covariate period to the range's end.
func experimentSource(projectID int64, p *insight.ExperimentPlan, event string, a *insight.ActionDef, filters []insight.Filter) source {
	r := p.Q.Range
	r.From = r.From.Add(-time.Duration(p.PreUs) * time.Microsecond)
	r.Filters = filters
	return newMatchSource(projectID, &r, event, a)
}

// experimentCap is the cap of a value over column col of vals: +infinity
// when none (or a percentile of no values).
func experimentCap(v *insight.ExperimentValue, col string) frag {
	c := v.Cap
	switch {
	case c == nil:
		return sqlf("'infinity'::DOUBLE")
	case c.Type == stats.CapAbsolute:
		return sqlf("?::DOUBLE", c.Value)
	}
	// Linear interpolation between closest ranks, as stats.Capping.
	f := sqlf("coalesce((SELECT quantile_cont("+col+", ?) FROM vals", c.Value)
	if c.IgnoreZeros {
		f.Add(" WHERE " + col + " <> 0")
	}
	f.Add("), 'infinity'::DOUBLE)")
	return f
}
