package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/sqlfrag"
)

// Property values are read with visitParamExtract* (ClickHouse 18 has no
// JSONExtract). A value reads as its string form, the way DuckDB's
// json_extract_string gives it: strings unquoted, numbers and booleans as
// written, and a JSON null as no value. visitParam finds a key at any
// nesting level, so the store writes nested keys escaped (nested.go) and
// a property names a top-level key only, as on DuckDB.

// frag is a piece of SQL with its arguments in text order (sqlfrag).
type frag = sqlfrag.Frag

// sqlf is a fragment of text and the arguments of its placeholders.
func sqlf(text string, args ...any) frag { return sqlfrag.New(text, args...) }

// joinFrags joins fragments with sep.
func joinFrags(sep string, fs []frag) frag { return sqlfrag.Join(sep, fs) }

// prop is the string value of property name in the JSON column col.
func prop(col, name string) frag {
	return sqlf(fmt.Sprintf("if(substring(visitParamExtractRaw(%[1]s, ?), 1, 1) = '\"', visitParamExtractString(%[1]s, ?), visitParamExtractRaw(%[1]s, ?))", col), name, name, name)
}

// propExpr is prop's text: the string value of property ? in col, with
// propArgs.
func propExpr(col string) string { return prop(col, "").Text }

func propArgs(name string) []any { return prop("", name).Args }

// breakdownFrag is property name's value as a breakdown value: "$none"
// when the key is missing or JSON null (as DuckDB's json_extract_string
// gives NULL for both).
func breakdownFrag(col, name string) frag {
	f := sqlf("if(visitParamHas("+col+", ?) AND visitParamExtractRaw("+col+", ?) != 'null', ", name, name)
	f.AddFrag(prop(col, name))
	f.Add(", '$none')")
	return f
}

// breakdownValue is breakdownFrag's text, with breakdownArgs.
func breakdownValue(col string) string { return breakdownFrag(col, "").Text }

func breakdownArgs(name string) []any { return breakdownFrag("", name).Args }

type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// addFrag adds a condition fragment.
func (w *where) addFrag(f frag) { w.add(f.Text, f.Args...) }

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1"
	}
	return strings.Join(w.conds, " AND ")
}

// frag is the conditions ANDed.
func (w *where) frag() frag { return sqlf(w.sql(), w.args...) }

// filter compiles one property filter on JSON column col.
func (w *where) filter(col string, f insight.Filter) {
	if f.Type == "element" {
		w.element(col, f)
		return
	}
	val := prop(col, f.Property)
	// present is "the key has a value": a missing key reads as "", and a
	// JSON null is no value (DuckDB's json_extract_string gives NULL), so
	// eq "null" matches only the string "null".
	present := func() frag {
		return sqlf("(visitParamHas("+col+", ?) AND visitParamExtractRaw("+col+", ?) != 'null') AND ", f.Property, f.Property)
	}
	has := func(cond string, args ...any) {
		c := present()
		c.AddFrag(val)
		c.Add(cond, args...)
		w.addFrag(c)
	}
	num := func(cond string) {
		c := sqlf("toFloat64OrNull(")
		c.AddFrag(val)
		c.Add(") "+cond, insight.ValueFloat(f.Value))
		w.addFrag(c)
	}
	switch f.Op {
	case "eq":
		has(" = ?", insight.ValueString(f.Value))
	case "neq":
		c := sqlf("NOT (")
		c.AddFrag(present())
		c.AddFrag(val)
		c.Add(" = ?)", insight.ValueString(f.Value))
		w.addFrag(c)
	case "contains":
		c := present()
		c.Add("positionCaseInsensitiveUTF8(")
		c.AddFrag(val)
		c.Add(", ?) > 0", insight.ValueString(f.Value))
		w.addFrag(c)
	case "gt":
		num("> ?")
	case "lt":
		num("< ?")
	case "is_set":
		w.add("visitParamHas("+col+", ?)", f.Property)
	case "regex":
		c := present()
		c.Add("match(")
		c.AddFrag(val)
		c.Add(", ?)", insight.ValueString(f.Value))
		w.addFrag(c)
	case "in":
		list, _ := f.Value.([]any)
		vals := make([]string, len(list))
		for i, v := range list {
			vals[i] = insight.ValueString(v)
		}
		if len(vals) == 0 {
			w.add("0")
			return
		}
		c := present()
		c.Add("has(?, ", vals)
		c.AddFrag(val)
		c.Add(")")
		w.addFrag(c)
	}
}

// source is the rows an insight reads: actor (person after merges, or the
// group key), event, ts, ts_us, properties, pid (the event's person after
// merges), with persons also pprops, plus extra columns.
type source struct {
	s         *Store
	projectID int64
	from, to  time.Time
	events    []string
	filters   []insight.Filter
	// action, when set, is a condition on the rows besides events (see
	// newMatchSource).
	action    *insight.ActionDef
	groupType string
	// persons joins pprops, the properties of the event's person after
	// merges (DuckDB's p.properties), for person breakdowns and person
	// filters on one event; extra columns may read it.
	persons bool
	// cohortTo ends behavioural cohorts' windows: the query's to, also
	// where the rows read end elsewhere (retention's start history).
	cohortTo  time.Time
	extra     []string // expressions over the row's columns, with aliases
	extraArgs []any
}

func (s *Store) newSource(projectID int64, r *insight.Range, events ...string) source {
	return source{s: s, projectID: projectID, from: r.From, to: r.To, events: events, filters: r.Filters, groupType: r.GroupType(), cohortTo: r.To}
}

// pidExpr is the person after merges of an event row joined to the
// overrides.
const pidExpr = "if(merged != 0, merged, person_id)"

// overridesSQL maps merged-away persons (person_id) to the surviving one
// (merged), to be ANY LEFT JOINed USING person_id.
func (s *Store) overridesSQL() string {
	return "SELECT opid AS person_id, argMax(npid, version) AS merged FROM (SELECT old_person_id AS opid, person_id AS npid, version FROM " +
		s.db + ".person_overrides) GROUP BY opid"
}

// personPropsSQL is every person's current properties as (pid, pprops),
// to be ANY LEFT JOINed USING pid; its one argument is the project id.
// A row with no person (a personless event) gets empty pprops, which reads
// as no properties.
func (s *Store) personPropsSQL() string {
	return "SELECT id AS pid, argMax(properties, version) AS pprops FROM " + s.db + ".persons WHERE project_id = ? GROUP BY id"
}

// sql returns the source's rows as a query and its arguments.
func (src source) sql() (string, []any, error) {
	f, err := src.frag()
	return f.Text, f.Args, err
}

// frag is sql as a fragment.
func (src source) frag() (frag, error) {
	var w where
	w.add("project_id = ?", uint64(src.projectID))
	w.add("ts >= ?", src.from.UTC())
	w.add("ts < ?", src.to.UTC())
	if len(src.events) == 1 {
		w.add("event = ?", src.events[0])
	} else if len(src.events) > 1 {
		w.add("has(?, event)", src.events)
	}
	if src.action != nil {
		w.and(actionCond(src.action))
	}
	// Person and cohort conditions need the person after merges: they
	// apply to the joined rows (top), on the server that runs the query.
	var top where
	var personFilters []insight.Filter
	for i, f := range src.filters {
		switch f.Type {
		case "", "event", "element":
			w.filter("properties", f)
		case "person":
			personFilters = append(personFilters, f)
		case "cohort":
			src.cohort(&top, f)
		default:
			return frag{}, insight.Bad(fmt.Sprintf("filters[%d].type", i), "unknown filter type %q", f.Type)
		}
	}
	if len(personFilters) > 0 {
		var pw where
		for _, f := range personFilters {
			pw.filter("pprops", f)
		}
		c := sqlf("pid IN (SELECT pid FROM ("+src.s.personPropsSQL()+") WHERE ", uint64(src.projectID))
		c.AddFrag(pw.frag())
		c.Add(")")
		top.addFrag(c)
	}
	actor := sqlf(pidExpr)
	if src.groupType != "" {
		actor = groupKeyFrag(src.groupType)
		gk := groupKeyFrag(src.groupType)
		gk.Add(" != ''")
		w.addFrag(gk)
	}
	const cols = "event, ts, ts_us, properties"
	rows := sqlf("SELECT ")
	rows.AddFrag(actor)
	rows.Add(" AS actor, " + cols + ", " + pidExpr + " AS pid FROM (SELECT person_id, " + cols + " FROM " + src.s.events + " WHERE ")
	rows.AddFrag(w.frag())
	rows.Add(") ANY LEFT JOIN (" + src.s.overridesSQL() + ") USING person_id")
	selected := "actor, " + cols + ", pid"
	if src.persons {
		joined := sqlf("SELECT " + selected + ", pprops FROM (")
		joined.AddFrag(rows)
		joined.Add(") ANY LEFT JOIN ("+src.s.personPropsSQL()+") USING pid", uint64(src.projectID))
		rows, selected = joined, selected+", pprops"
	}
	q := sqlf("SELECT " + selected)
	if len(src.extra) > 0 {
		q.Add(", "+strings.Join(src.extra, ", "), src.extraArgs...)
	}
	q.Add(" FROM (")
	q.AddFrag(rows)
	q.Add(")")
	if len(top.conds) > 0 {
		q.Add(" WHERE ")
		q.AddFrag(top.frag())
	}
	return q, nil
}

// column adds a selected column over the row's columns: an expression
// with its alias.
func (src *source) column(f frag) {
	src.extra = append(src.extra, f.Text)
	src.extraArgs = append(src.extraArgs, f.Args...)
}

// cohort adds "actor in the cohort" (or not in) to w, with DuckDB's
// source.cohort semantics: a static cohort is the current persons of its
// distinct ids; a behavioural one the actors (after merges) who did the
// event at least min_count times in the days before the query's to (or
// did not). Cohorts are sets of persons: group units reject them at
// validation. An unresolved cohort id matches nothing rather than
// everything.
func (src source) cohort(w *where, f insight.Filter) {
	c := f.Cohort
	if c == nil {
		w.add("0")
		return
	}
	in := "IN"
	if f.Op == "not_in" {
		in = "NOT IN"
	}
	if len(c.DistinctIDs) > 0 {
		w.add("actor "+in+" (SELECT argMax(person_id, version) FROM "+src.s.db+".person_distinct_ids WHERE project_id = ? AND has(?, distinct_id) GROUP BY distinct_id)",
			uint64(src.projectID), c.DistinctIDs)
		return
	}
	b := c.Behavior
	if b.Did != nil && !*b.Did {
		in = map[string]string{"IN": "NOT IN", "NOT IN": "IN"}[in]
	}
	to := src.cohortTo.UTC()
	cond := sqlf("actor "+in+" (SELECT pid FROM (SELECT "+pidExpr+" AS pid FROM (SELECT person_id FROM "+src.s.events+" WHERE project_id = ? AND ", uint64(src.projectID))
	isEvent, eventArgs := eventCond(b.Event, b.Action)
	cond.Add(isEvent, eventArgs...)
	cond.Add(" AND ts >= ? AND ts < ?) ANY LEFT JOIN ("+src.s.overridesSQL()+") USING person_id) GROUP BY pid HAVING count() >= ?)", to.AddDate(0, 0, -b.Days), to, uint64(b.MinCount))
	w.addFrag(cond)
}

// match returns a condition (0 or 1) over the source's rows that holds
// for a row matching any of ms: the event name and its filters (names
// and values are bound). A person filter reads the event's person, so it
// makes the source join persons.
func (src *source) match(ms []insight.Matcher) (string, []any) {
	f := src.matchFrag(ms)
	return f.Text, f.Args
}

// matchFrag is match as a fragment.
func (src *source) matchFrag(ms []insight.Matcher) frag {
	conds := make([]frag, len(ms))
	for i, m := range ms {
		var w where
		w.and(eventCond(m.Event, m.Action))
		for _, f := range m.Filters {
			col := "properties"
			if f.Type == "person" {
				col, src.persons = "pprops", true
			}
			w.filter(col, f)
		}
		conds[i] = sqlf("("+w.sql()+")", w.args...)
	}
	// A numeric filter on a non-number is NULL: no match.
	out := sqlf("toUInt8(ifNull(")
	out.AddFrag(joinFrags(" OR ", conds))
	out.Add(", 0))")
	return out
}

// matchEvents is match for EventMatches (bad and active events).
func (src *source) matchEvents(ms []insight.EventMatch) frag {
	matchers := make([]insight.Matcher, len(ms))
	for i, m := range ms {
		matchers[i] = insight.Matcher{Event: m.Event, Action: m.Action, Filters: m.Filters}
	}
	return src.matchFrag(matchers)
}

// breakdown adds the breakdown value of each row as column bv: the
// event's property or, for type person, its person's ("$none" when
// unset); without breakdown the empty string.
func (src *source) breakdown(b *insight.Breakdown) {
	if b == nil {
		src.column(sqlf("'' AS bv"))
		return
	}
	col := "properties"
	if b.Type == "person" {
		col, src.persons = "pprops", true
	}
	v := breakdownFrag(col, b.Property)
	v.Add(" AS bv")
	src.column(v)
}

// appendFilters returns the query's filters followed by an event's own.
func appendFilters(query, own []insight.Filter) []insight.Filter {
	return slices.Concat(query, own)
}

// periodExpr is the start (a Date, in tz bound as ?) of the day, week
// (from Monday) or month holding the DateTime expression col: the same
// periods insight.Truncate gives, so toString of it is insight.Label's.
func periodExpr(col, interval string) string {
	switch interval {
	case "week":
		return "toMonday(" + col + ", ?)"
	case "month":
		return "toStartOfMonth(" + col + ", ?)"
	default:
		return "toDate(" + col + ", ?)"
	}
}

// periodIndex is the index in p of the period holding the DateTime
// column col (an Int64; negative before the first period): days, weeks
// and months count local dates in p's timezone, hours count real hours
// from the first period's start, as insight.Buckets makes them.
func periodIndex(col string, p insight.Periods) frag {
	tz, first := p.Location().String(), insight.Label(p.Starts[0], "day")
	switch p.Interval {
	case "hour":
		return sqlf("toInt64(floor((toInt64(toUInt32("+col+")) - ?) / 3600))", p.Starts[0].Unix())
	case "week":
		return sqlf("toInt64(intDiv(toRelativeDayNum(toMonday("+col+", ?)) - toRelativeDayNum(toDate(?)), 7))", tz, first)
	case "month":
		return sqlf("toInt64(toRelativeMonthNum("+col+", ?) - toRelativeMonthNum(toDate(?)))", tz, first)
	default:
		return sqlf("toInt64(toRelativeDayNum("+col+", ?) - toRelativeDayNum(toDate(?)))", tz, first)
	}
}

// trendAggregate is a trend series' math over a source's rows: value is
// the aggregate (a Float64, NULL over no values), rank what breakdown
// values are ranked by: the aggregate for counts, the number of rows for
// maths of a property.
func trendAggregate(series insight.Series) (value, rank frag) {
	num := sqlf("toFloat64OrNull(")
	num.AddFrag(prop("properties", series.Property))
	num.Add(")")
	switch series.Math {
	case "dau":
		value := sqlf("toFloat64(uniqExact(actor))")
		return value, value
	case "sum", "avg", "min", "max":
		value = sqlf("toFloat64(" + series.Math + "(")
		value.AddFrag(num)
		value.Add("))")
	case "p50", "p90", "p99":
		// Linear interpolation between closest ranks, as DuckDB's
		// quantile_cont (ClickHouse's quantileExact picks one element).
		level := map[string]string{"p50": "0.5", "p90": "0.9", "p99": "0.99"}[series.Math]
		value = sqlf("if(length(arraySort(groupArray(")
		value.AddFrag(num)
		value.Add(fmt.Sprintf(`)) AS sorted_values) = 0, NULL,
			  sorted_values[toUInt64(floor(%[1]s * (length(sorted_values) - 1))) + 1] +
			  (%[1]s * (length(sorted_values) - 1) - floor(%[1]s * (length(sorted_values) - 1))) *
			  (sorted_values[least(toUInt64(floor(%[1]s * (length(sorted_values) - 1))) + 2, length(sorted_values))] -
			   sorted_values[toUInt64(floor(%[1]s * (length(sorted_values) - 1))) + 1]))`, level))
	default:
		value := sqlf("toFloat64(count())")
		return value, value
	}
	return value, sqlf("toFloat64(count())")
}

// now is the query run's one reading of the clock.
func (s *Store) now() time.Time { return s.clock.Now() }

// maxQuerySize lets a query's text (arguments bound in) reach 64 MiB
// instead of ClickHouse's default 256 KiB: a static cohort may list 10,000
// distinct ids of up to 200 characters, and an insight's SQL can hold its
// source more than once.
const maxQuerySize = 64 << 20

// query runs an insight's read with maxQuerySize (and withMemoryCap).
func (s *Store) query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	ctx = ch.Context(ctx, ch.WithSettings(withMemoryCap(ctx, ch.Settings{"max_query_size": maxQuerySize})))
	return s.q().Query(ctx, query, args...)
}

// withMemoryCap adds the query's memory cap, when one was set
// (--query-memory), to settings as its max_memory_usage; else the
// server's profile decides.
func withMemoryCap(ctx context.Context, settings ch.Settings) ch.Settings {
	if n, ok := insight.SetMemoryCap(ctx); ok {
		settings["max_memory_usage"] = int(n)
	}
	return settings
}
