package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/stats"
)

// Experiment runs an experiment query (SPEC §5): package insight plans it
// and assembles the answer; this file reads its rows of counts and sums,
// all in one statement. Times are compared in microseconds (epoch_us), as
// on ClickHouse (ts_us).
//
// The statement's CTEs: exposed (actor, t0 µs, mask of the variants
// seen), materialized once from one scan of the exposure events with one
// JSON parse each; single, the actors exposed to one variant alone; per
// group of values (of any metrics) over the same events, their per-actor
// (post, pre) from one scan of those events joined with single (a
// funnel's from its steps'); per metric, vals, caps and capped. Its
// rows, UNION ALL: the exposures per mask and local day of the first
// exposure (metric -1), then each metric's sums per mask (one variant's
// bit).
func (s *Store) Experiment(ctx context.Context, projectID int64, tz *time.Location, q *insight.Experiment) (*insight.ExperimentCounts, error) {
	return insight.RunExperiment(q, tz, func(p *insight.ExperimentPlan) (*insight.ExperimentRows, error) {
		if rows, ok, err := s.indexExperiment(ctx, projectID, p); ok { // experimentidx.go
			return rows, err
		}
		return s.experimentRows(ctx, projectID, p)
	})
}

// experimentFlagType is json_transform's type for the two properties an
// exposure reads: one parse of the properties instead of one per
// property. json_transform reads a property as json_extract_string does
// (the first of duplicate keys; numbers, booleans, objects and arrays as
// their JSON text; null as NULL).
const experimentFlagType = `'{"$feature_flag":"VARCHAR","$feature_flag_response":"VARCHAR"}'`

// experimentExposed adds CTE exposed: per actor with an exposure event
// (ExposureEvent in [from, to) passing the query's filters, whose
// $feature_flag is the flag and $feature_flag_response one of the
// variants: the plan's ExposureFilters), t0 the first exposure's µs and
// mask the variants seen (bit i: Variants[i]). Without filters it reads
// flag_exposures (experimentExposedSide), with them the events.
func (s *Store) experimentExposed(ctx context.Context, tx *sql.Tx, projectID int64, p *insight.ExperimentPlan, c *ctes) error {
	if s.plan.NoFlagExposures || len(p.Q.Range.Filters) > 0 || p.Q.Range.GroupType() != "" {
		c.materialized("exposed", experimentExposedEvents(projectID, p, ""))
		return nil
	}
	cut, merges, err := experimentCutRows(ctx, tx, projectID, p)
	if err != nil {
		return err
	}
	experimentExposedSide(projectID, p, c, cut, merges)
	return nil
}

// experimentExposedEvents is exposed from the exposure events, of the
// actors that CTE only names when it is set.
func experimentExposedEvents(projectID int64, p *insight.ExperimentPlan, only string) frag {
	q := p.Q
	src := newSource(projectID, &q.Range, insight.ExposureEvent)
	// v is one list_position, not CASE ff[…] WHEN …, which DuckDB turns
	// into one json_transform per variant.
	variants := make([]any, len(q.Variants))
	for i, v := range q.Variants {
		variants[i] = v
	}
	f := sqlf("SELECT actor, min(us) AS t0, bit_or(1::UBIGINT << v::UBIGINT) AS mask FROM (\n"+
		"    SELECT actor, epoch_us(ts) AS us, list_position(["+placeholders(len(variants))+"], CASE WHEN ff['$feature_flag'] = ? THEN ff['$feature_flag_response'] END) - 1 AS v\n",
		append(variants, q.FlagKey)...)
	f.Add("    FROM (SELECT actor, ts, json_transform(properties, " + experimentFlagType + ") AS ff FROM (")
	f.AddFrag(src.frag())
	f.Add(") WHERE true")
	if only != "" {
		// The filter is below the projection that parses: other actors'
		// rows are not parsed.
		f.Add(" AND actor IN (SELECT actor FROM " + only + ")")
	}
	if flagPrefilter(q.FlagKey) {
		// Rows that cannot be the flag's are not parsed.
		f.Add(" AND (contains(properties, ?) OR contains(properties, ?))", q.FlagKey, `\`)
	}
	f.Add("))\n  WHERE v IS NOT NULL GROUP BY actor")
	return f
}

// experimentExposedSide adds exposed from flag_exposures' rows of the
// flag that overlap [from, to), each of one stored person and variant,
// resolved to its actor through person_overrides as the events are. A
// row is inside when all its exposures are in [from, to): its first_ts
// is then its variant's first exposure in range. The actors:
//   - of one row (not multi), inside, and no merge (neither merged away
//     nor merged into): t0 and mask are the row's, read without a GROUP
//     BY (the common case, and the one that makes this fast);
//   - the others whose rows of asked variants are all inside (two
//     variants, merges): the least first_ts and the variants of those
//     rows (fx_other);
//   - any other, with a row cut by the range: from the events, as without
//     the table, reading those actors' events only (fx_events). Without
//     such rows (withEvents false: experimentCutRows) the branch is left
//     out, and the events are not read at all.
//
// Without merges in the project (merges false) the overrides are not
// joined: every row's actor is its stored person.
func experimentExposedSide(projectID int64, p *insight.ExperimentPlan, c *ctes, withEvents, merges bool) {
	q := p.Q
	pos := func() frag { return experimentVariantPos(q) }
	actor, join, merged, anti := "f.person_id", "", "", ""
	if merges {
		c.add("fx_merged", sqlf("SELECT old_person_id AS id FROM person_overrides WHERE project_id = ? UNION ALL SELECT person_id FROM person_overrides WHERE project_id = ?", projectID, projectID))
		actor, join = "coalesce(o.person_id, f.person_id)", " LEFT JOIN person_overrides o ON o.old_person_id = f.person_id"
		merged, anti = " OR f.person_id IN (SELECT id FROM fx_merged)", " ANTI JOIN fx_merged m ON m.id = f.person_id"
	}
	other := sqlf("SELECT " + actor + " AS actor, (v IS NULL OR ")
	other.AddFrag(experimentRowInside(p))
	other.Add(") AS inside, epoch_us(f.first_ts) AS us, v FROM (SELECT *, ")
	other.AddFrag(pos())
	other.Add(" - 1 AS v FROM flag_exposures f) f" + join + " WHERE ")
	other.AddFrag(experimentRowsOverlap(projectID, p))
	other.Add(" AND (f.multi OR NOT ")
	other.AddFrag(experimentRowInside(p))
	other.Add(merged + ")")
	c.materialized("fx_other", other)
	body := sqlf("SELECT f.person_id AS actor, epoch_us(f.first_ts) AS t0, 1::UBIGINT << (")
	body.AddFrag(pos())
	body.Add(" - 1)::UBIGINT AS mask FROM flag_exposures f"+anti+" WHERE f.project_id = ? AND f.flag_key = ? AND NOT f.multi AND ", projectID, q.FlagKey)
	body.AddFrag(experimentRowInside(p))
	body.Add(" AND ")
	body.AddFrag(pos())
	body.Add(" IS NOT NULL\nUNION ALL\nSELECT actor, min(us) FILTER (WHERE v IS NOT NULL), bit_or(1::UBIGINT << v::UBIGINT) AS mask FROM fx_other GROUP BY actor HAVING bool_and(inside) AND mask IS NOT NULL")
	if withEvents {
		c.add("fx_events", sqlf("SELECT actor FROM fx_other WHERE NOT inside"))
		body.Add("\nUNION ALL\n")
		body.AddFrag(experimentExposedEvents(projectID, p, "fx_events"))
	}
	c.materialized("exposed", body)
}

// experimentVariantPos is the 1-based position of row f's variant among
// the query's, NULL when it is none of them.
func experimentVariantPos(q *insight.Experiment) frag {
	variants := make([]any, len(q.Variants))
	for i, v := range q.Variants {
		variants[i] = v
	}
	return sqlf("list_position(["+placeholders(len(variants))+"], f.variant)", variants...)
}

// experimentRowInside says that row f's exposures are all in [from,
// to). The bounds are TIMESTAMP constants: a time.Time parameter is a
// TIMESTAMPTZ, which would cast every row's TIMESTAMP through the zone.
func experimentRowInside(p *insight.ExperimentPlan) frag {
	return sqlf("(f.first_ts >= make_timestamp(?::BIGINT) AND f.last_ts < make_timestamp(?::BIGINT))", p.FromUs, p.ToUs)
}

// experimentRowsOverlap selects the rows f of the flag with exposures in
// [from, to).
func experimentRowsOverlap(projectID int64, p *insight.ExperimentPlan) frag {
	return sqlf("f.project_id = ? AND f.flag_key = ? AND f.last_ts >= make_timestamp(?::BIGINT) AND f.first_ts < make_timestamp(?::BIGINT)",
		projectID, p.Q.FlagKey, p.FromUs, p.ToUs)
}

// experimentCutRows says whether any row of an asked variant overlaps
// [from, to) without being inside it (only then does exposed read
// events), and whether the project has merged persons (only then does it
// read person_overrides).
func experimentCutRows(ctx context.Context, tx *sql.Tx, projectID int64, p *insight.ExperimentPlan) (cut, merges bool, _ error) {
	f := sqlf("SELECT EXISTS (SELECT 1 FROM flag_exposures f WHERE ")
	f.AddFrag(experimentRowsOverlap(projectID, p))
	f.Add(" AND NOT ")
	f.AddFrag(experimentRowInside(p))
	f.Add(" AND ")
	f.AddFrag(experimentVariantPos(p.Q))
	f.Add(" IS NOT NULL), EXISTS (SELECT 1 FROM person_overrides WHERE project_id = ?)", projectID)
	if err := tx.QueryRowContext(ctx, f.Text, f.Args...).Scan(&cut, &merges); err != nil {
		return false, false, fmt.Errorf("cannot read flag exposures: %w", err)
	}
	return cut, merges, nil
}

// flagPrefilter says whether rows whose properties contain neither the
// flag key nor a backslash may be skipped unparsed. Without a backslash
// the text has no escapes, so a $feature_flag string equal to the key is
// written in it as the key's bytes; but a number, boolean, object or
// array also reads as text (1e2 as "100.0"), so keys that one of those
// could print as are not prefiltered.
func flagPrefilter(key string) bool {
	if key == "" || !utf8.ValidString(key) || key[0] == '{' || key[0] == '[' {
		return false
	}
	switch strings.ToLower(key) {
	case "true", "false", "null":
		return false
	}
	_, err := strconv.ParseFloat(key, 64)
	if err == nil || errors.Is(err, strconv.ErrRange) {
		return false // a number ("inf" and "nan" included)
	}
	return true
}

// experimentSums are the columns of a metric's row after (metric, mask,
// day, persons): the ExperimentSums in order, then the two caps.
var experimentSums = []string{"x", "x*x", "y", "y*y", "x*y", "p", "p*p", "q", "q*q", "x*p", "x*q", "y*p", "y*q", "p*q"}

// experimentRows is the ExperimentRead: one statement for the exposures
// and every metric.
func (s *Store) experimentRows(ctx context.Context, projectID int64, p *insight.ExperimentPlan) (*insight.ExperimentRows, error) {
	// One transaction: the check of flag_exposures that shapes the
	// statement and the statement see the same rows.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment: %w", err)
	}
	defer tx.Rollback()
	var c ctes
	if err := s.experimentExposed(ctx, tx, projectID, p, &c); err != nil { // exposed: read by the exposures and every metric
		return nil, err
	}
	c.add("single", sqlf("SELECT actor, t0, mask FROM exposed WHERE mask & (mask - 1) = 0"))
	zeros := strings.Repeat(", 0::DOUBLE", len(experimentSums)+2)
	branches := []frag{sqlf("SELECT -1 AS metric, mask, day, count(*) AS persons" + zeros +
		" FROM (SELECT mask, " + periodIndexSQL(p.Days.Starts, 0) + " AS day FROM (SELECT mask, make_timestamp(t0) AS ts FROM exposed)) GROUP BY mask, day")}
	cols := experimentValues(projectID, p, &c)
	for k := range p.Metrics {
		branches = append(branches, experimentMetric(p, k, &c, cols))
	}
	query := sqlf("WITH ")
	query.AddFrag(joinFrags(",\n", c.list))
	query.Add("\n")
	query.AddFrag(joinFrags("\nUNION ALL\n", branches))
	rows, err := tx.QueryContext(ctx, query.Text, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run experiment: %w", err)
	}
	defer rows.Close()
	var exposures []insight.ExperimentExposureRow
	sums := map[experimentSumKey]insight.ExperimentMetricRow{}
	for rows.Next() {
		var k, day, n int64
		var mask uint64
		var r insight.ExperimentMetricRow
		m := &r.Sums
		if err := rows.Scan(&k, &mask, &day, &n, &m.X, &m.XX, &m.Y, &m.YY, &m.XY,
			&m.P, &m.PP, &m.Q, &m.QQ, &m.XP, &m.XQ, &m.YP, &m.YQ, &m.PQ, &r.XCap, &r.YCap); err != nil {
			return nil, err
		}
		if k < 0 {
			exposures = append(exposures, insight.ExperimentExposureRow{Mask: mask, Day: int(day), Persons: n})
			continue
		}
		if bits.OnesCount64(mask) != 1 || k >= int64(len(p.Metrics)) {
			return nil, fmt.Errorf("experiment: metric %d's row for mask %#x", k, mask)
		}
		sums[experimentSumKey{int(k), mask}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run experiment: %w", err)
	}
	return experimentAssemble(p, exposures, sums), nil
}

// experimentSumKey is a metric's row: its index and a variant's mask.
type experimentSumKey struct {
	metric int
	mask   uint64
}

// experimentAssemble makes the rows of both plans: every variant with
// persons gets a row, zero where none of its persons had the metric's
// events (their values are all 0). The caps are the same on every row of
// a metric.
func experimentAssemble(p *insight.ExperimentPlan, exposures []insight.ExperimentExposureRow, sums map[experimentSumKey]insight.ExperimentMetricRow) *insight.ExperimentRows {
	out := &insight.ExperimentRows{Exposures: exposures}
	persons := map[uint64]int64{} // per single mask
	for _, e := range exposures {
		if bits.OnesCount64(e.Mask) == 1 {
			persons[e.Mask] += e.Persons
		}
	}
	out.Metrics = make([][]insight.ExperimentMetricRow, len(p.Metrics))
	for k, pm := range p.Metrics {
		xcap, ycap := experimentCapValue(pm.X), experimentCapValue(pm.Y)
		for v := range p.Q.Variants {
			if r, ok := sums[experimentSumKey{k, 1 << v}]; ok {
				xcap, ycap = r.XCap, r.YCap
				break
			}
		}
		for v := range p.Q.Variants {
			mask := uint64(1) << v
			if persons[mask] == 0 {
				continue
			}
			r := sums[experimentSumKey{k, mask}]
			r.Variant, r.N, r.XCap, r.YCap = v, persons[mask], xcap, ycap
			out.Metrics[k] = append(out.Metrics[k], r)
		}
	}
	return out
}

// ctes are a statement's common table expressions, in order; plain names
// those that a statement reads once, never materialized.
type ctes struct {
	list  []frag
	plain map[string]bool
}

func (c *ctes) add(name string, body frag) { c.with(name+" AS (", body) }

// materialized adds a CTE computed once however often it is read.
func (c *ctes) materialized(name string, body frag) {
	if c.plain[name] {
		c.add(name, body)
		return
	}
	c.with(name+" AS MATERIALIZED (", body)
}

func (c *ctes) with(head string, body frag) {
	f := sqlf(head)
	f.AddFrag(body)
	f.Add(")")
	c.list = append(c.list, f)
}

// experimentCapValue is the cap of a value without rows to compute it
// from: none (+Inf) unless absolute.
func experimentCapValue(v *insight.ExperimentValue) float64 {
	if v != nil && v.Cap != nil && v.Cap.Type == stats.CapAbsolute {
		return v.Cap.Value
	}
	return math.Inf(1)
}

// experimentCol is where a value's per-actor (post, pre) are: columns
// post and pre of CTE cte, which has a mask column unless it is a
// funnel's.
type experimentCol struct {
	cte, post, pre string
	masked         bool
}

// experimentGroup is the values of all metrics that read the same events
// (event or action, and filters), computed by one CTE from one scan of
// them joined with single.
type experimentGroup struct {
	event   string
	action  *insight.ActionDef
	filters []insight.Filter
	values  []*insight.ExperimentValue
}

// experimentValues adds the CTEs of every metric's values and says where
// each value's columns are: one CTE per group of values over the same
// events (a mean's sum and count, several metrics of one event), one per
// funnel.
func experimentValues(projectID int64, p *insight.ExperimentPlan, c *ctes) map[*insight.ExperimentValue]experimentCol {
	cols := map[*insight.ExperimentValue]experimentCol{}
	var groups []*experimentGroup
	for k, pm := range p.Metrics {
		for i, v := range []*insight.ExperimentValue{pm.X, pm.Y} {
			if v == nil {
				continue
			}
			if len(v.Steps) > 0 {
				name := fmt.Sprintf("f%d_%d", k, i)
				experimentFunnel(projectID, p, name, v, c)
				cols[v] = experimentCol{cte: name, post: "post", pre: "pre"}
				continue
			}
			gi := slices.IndexFunc(groups, func(g *experimentGroup) bool {
				return g.event == v.Event && reflect.DeepEqual(g.action, v.Action) && reflect.DeepEqual(g.filters, v.Filters)
			})
			if gi < 0 {
				gi = len(groups)
				groups = append(groups, &experimentGroup{event: v.Event, action: v.Action, filters: v.Filters})
			}
			g := groups[gi]
			j := len(g.values)
			g.values = append(g.values, v)
			cols[v] = experimentCol{cte: fmt.Sprintf("g%d", gi), post: fmt.Sprintf("v%dpost", j), pre: fmt.Sprintf("v%dpre", j), masked: true}
		}
	}
	for i, g := range groups {
		c.add(fmt.Sprintf("g%d", i), experimentGroupSQL(projectID, p, g))
	}
	return cols
}

// experimentGroupSQL is a group's CTE: (actor, mask, v<j>post, v<j>pre
// for each value j) for the actors exposed to one variant alone who have
// the group's events in [t0 - pre, min(t0 + the longest window, to)):
// value j's post over [t0, min(t0 + its window, to)), pre over [t0 - pre,
// t0). Properties are parsed after the join, on the rows it keeps only.
func experimentGroupSQL(projectID int64, p *insight.ExperimentPlan, g *experimentGroup) frag {
	src := experimentSource(projectID, p, g.event, g.action, g.filters)
	rows := sqlf("SELECT actor, mask, us < t0 AS pre")
	var longest int64
	for _, v := range g.values {
		longest = max(longest, v.WindowUs)
	}
	// window → its condition: the row is in [t0, min(t0 + window, to));
	// for the longest, every row not before t0.
	windows := map[int64]string{longest: "(NOT pre)"}
	props := map[string]string{} // property → its column
	for _, v := range g.values {
		if windows[v.WindowUs] == "" {
			w := fmt.Sprintf("w%d", len(windows))
			windows[v.WindowUs] = w
			rows.Add(", us >= t0 AND us < least(t0 + ?, ?) AS "+w, v.WindowUs, p.ToUs)
		}
		if (v.Agg == insight.AggSum || v.Agg == insight.AggValued) && props[v.Property] == "" {
			n := fmt.Sprintf("n%d", len(props))
			props[v.Property] = n
			rows.Add(", TRY_CAST(json_extract_string(properties, ?) AS DOUBLE) AS "+n, propPath(v.Property))
		}
	}
	rows.Add(" FROM (SELECT actor, epoch_us(ts) AS us")
	if len(props) > 0 {
		rows.Add(", properties")
	}
	rows.Add(" FROM (")
	rows.AddFrag(src.frag())
	rows.Add(")) JOIN single USING (actor) WHERE us >= t0 - ? AND us < least(t0 + ?, ?)", p.PreUs, longest, p.ToUs)
	body := sqlf("SELECT actor, any_value(mask) AS mask")
	for j, v := range g.values {
		pre := "0::DOUBLE" // without CUPED every row is at or after t0
		if p.PreUs > 0 {
			pre = experimentAgg(v, props[v.Property], "pre")
		}
		body.Add(fmt.Sprintf(", %s AS v%dpost, %s AS v%dpre", experimentAgg(v, props[v.Property], windows[v.WindowUs]), j, pre, j))
	}
	body.Add(" FROM (")
	body.AddFrag(rows)
	body.Add(") GROUP BY actor")
	return body
}

// experimentAgg is a value's aggregate over the rows where column cond
// holds; num is the column of its property's number.
func experimentAgg(v *insight.ExperimentValue, num, cond string) string {
	switch v.Agg {
	case insight.AggConverted:
		return "coalesce(bool_or(" + cond + "), false)::DOUBLE"
	case insight.AggCount:
		return "(count(*) FILTER (" + cond + "))::DOUBLE"
	case insight.AggValued:
		return "(count(*) FILTER (" + cond + " AND isfinite(" + num + ")))::DOUBLE"
	default: // AggSum
		return "coalesce(sum(" + num + ") FILTER (" + cond + " AND isfinite(" + num + ")), 0)::DOUBLE"
	}
}

// experimentMetric adds metric k's CTEs and returns its branch: per mask,
// the sums over the persons exposed to that variant alone who have the
// metric's events (every person's values are 0 otherwise, and capped at a
// non-negative cap stay 0), or over all of them when a percentile cap
// (zeros count) or a funnel (its CTE has no masks) needs every person.
func experimentMetric(p *insight.ExperimentPlan, k int, c *ctes, cols map[*insight.ExperimentValue]experimentCol) frag {
	pm := p.Metrics[k]
	name := fmt.Sprintf("m%d", k)
	x := cols[pm.X]
	col := func(alias string, v experimentCol, post, pre string) string {
		return fmt.Sprintf("coalesce(%s.%s, 0) AS %s, coalesce(%s.%s, 0) AS %s", alias, v.post, post, alias, v.pre, pre)
	}
	var vals frag
	switch {
	case experimentPercentile(pm.X) || experimentPercentile(pm.Y) || !x.masked || (pm.Y != nil && !cols[pm.Y].masked):
		from := "single s LEFT JOIN " + x.cte + " x USING (actor)"
		ys := "0::DOUBLE AS y0, 0::DOUBLE AS q0"
		if pm.Y != nil {
			y := cols[pm.Y]
			if y.cte != x.cte {
				from += " LEFT JOIN " + y.cte + " y USING (actor)"
				ys = col("y", y, "y0", "q0")
			} else {
				ys = col("x", y, "y0", "q0")
			}
		}
		vals = sqlf("SELECT s.mask, " + col("x", x, "x0", "p0") + ", " + ys + " FROM " + from)
	case pm.Y == nil:
		vals = sqlf("SELECT mask, " + col("x", x, "x0", "p0") + ", 0::DOUBLE AS y0, 0::DOUBLE AS q0 FROM " + x.cte + " x")
	case cols[pm.Y].cte == x.cte:
		vals = sqlf("SELECT mask, " + col("x", x, "x0", "p0") + ", " + col("x", cols[pm.Y], "y0", "q0") + " FROM " + x.cte + " x")
	default:
		y := cols[pm.Y]
		vals = sqlf("SELECT coalesce(x.mask, y.mask) AS mask, " + col("x", x, "x0", "p0") + ", " + col("y", y, "y0", "q0") +
			" FROM " + x.cte + " x FULL JOIN " + y.cte + " y USING (actor)")
	}
	valsName := name + "_vals"
	if experimentPercentile(pm.X) || experimentPercentile(pm.Y) {
		c.materialized(valsName, vals) // read by the caps' quantiles and by the sums
	} else {
		c.add(valsName, vals)
	}
	caps := sqlf("SELECT ")
	caps.AddFrag(experimentCap(pm.X, "x0", valsName))
	caps.Add(" AS xcap, ")
	if pm.Y != nil {
		caps.AddFrag(experimentCap(pm.Y, "y0", valsName))
	} else {
		caps.Add("'infinity'::DOUBLE")
	}
	caps.Add(" AS ycap")
	c.add(name+"_caps", caps)
	c.add(name+"_capped", sqlf("SELECT mask, least(x0, xcap) AS x, least(p0, xcap) AS p, least(y0, ycap) AS y, least(q0, ycap) AS q, xcap, ycap FROM "+valsName+", "+name+"_caps"))
	cuped := p.PreUs > 0
	sel := make([]string, len(experimentSums))
	for i, e := range experimentSums {
		needY := strings.Contains(e, "y") || strings.Contains(e, "q")
		needPre := strings.Contains(e, "p") || strings.Contains(e, "q")
		if (needY && pm.Y == nil) || (needPre && !cuped) {
			sel[i] = "0::DOUBLE" // a product of zeros
		} else {
			sel[i] = "sum(" + e + ")"
		}
	}
	return sqlf(fmt.Sprintf("SELECT %d, mask, 0, 0, %s, any_value(xcap), any_value(ycap) FROM %s_capped GROUP BY mask", k, strings.Join(sel, ", "), name))
}

func experimentPercentile(v *insight.ExperimentValue) bool {
	return v != nil && v.Cap != nil && v.Cap.Type == stats.CapPercentile
}

// experimentFunnel adds CTE name for a funnel conversion: (actor, post,
// pre), post 1 for the actors who did the steps in [t0, min(t0 + window,
// to)), pre 1 for those who did them in [t0 - pre, t0). Each step is the
// first of its events strictly after the previous step (a greedy chain,
// which finds a chain whenever there is one).
func experimentFunnel(projectID int64, p *insight.ExperimentPlan, name string, v *insight.ExperimentValue, c *ctes) {
	for i, st := range v.Steps {
		src := experimentSource(projectID, p, st.Event, st.Action, st.Filters)
		rows := sqlf("SELECT actor, epoch_us(ts) AS us FROM (")
		rows.AddFrag(src.frag())
		rows.Add(")")
		c.add(fmt.Sprintf("%s_step%d", name, i), rows)
	}
	// chain is the actors who did every step in [lo, hi), lo and hi
	// expressions of t0.
	chain := func(lo, hi frag) frag {
		var prev frag
		for i := range v.Steps {
			step := fmt.Sprintf("%s_step%d", name, i)
			var f frag
			if i == 0 {
				f = sqlf("SELECT actor, t0, min(us) AS t_0 FROM " + step + " JOIN single USING (actor) WHERE us >= ")
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
	c.add(name, body)
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

// experimentCap is the cap of a value over column col of CTE vals:
// +infinity when none (or a percentile of no values).
func experimentCap(v *insight.ExperimentValue, col, vals string) frag {
	c := v.Cap
	switch {
	case c == nil:
		return sqlf("'infinity'::DOUBLE")
	case c.Type == stats.CapAbsolute:
		return sqlf("?::DOUBLE", c.Value)
	}
	// Linear interpolation between closest ranks, as stats.Capping.
	f := sqlf("coalesce((SELECT quantile_cont("+col+", ?) FROM "+vals, c.Value)
	if c.IgnoreZeros {
		f.Add(" WHERE " + col + " <> 0")
	}
	f.Add("), 'infinity'::DOUBLE)")
	return f
}
