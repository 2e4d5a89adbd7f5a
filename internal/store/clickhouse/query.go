package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/journey-dev/journey/internal/insight"
)

// Property values are read with visitParamExtract* (ClickHouse 18 has no
// JSONExtract). A value reads as its string form, the way DuckDB's
// json_extract_string gives it: strings unquoted, numbers and booleans as
// written. Known difference: visitParam finds a key at any nesting level,
// so a nested object with the same key can shadow a missing top-level one.

// propExpr is the string value of property ? in the JSON column col.
func propExpr(col string) string {
	return fmt.Sprintf("if(substring(visitParamExtractRaw(%[1]s, ?), 1, 1) = '\"', visitParamExtractString(%[1]s, ?), visitParamExtractRaw(%[1]s, ?))", col)
}

func propArgs(name string) []any { return []any{name, name, name} }

// breakdownValue is property ?'s value as a breakdown value: "$none" when
// the key is missing or JSON null (as DuckDB's json_extract_string gives
// NULL for both). Its args are breakdownArgs(name).
func breakdownValue(col string) string {
	return "if(visitParamHas(" + col + ", ?) AND visitParamExtractRaw(" + col + ", ?) != 'null', " + propExpr(col) + ", '$none')"
}

func breakdownArgs(name string) []any { return append([]any{name, name}, propArgs(name)...) }

type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1"
	}
	return strings.Join(w.conds, " AND ")
}

// filter compiles one property filter on JSON column col.
func (w *where) filter(col string, f insight.Filter) {
	if f.Type == "element" {
		w.element(col, f)
		return
	}
	val, args := propExpr(col), propArgs(f.Property)
	switch f.Op {
	case "eq":
		w.add("visitParamHas("+col+", ?) AND "+val+" = ?", append(append([]any{f.Property}, args...), insight.ValueString(f.Value))...)
	case "neq":
		w.add("NOT (visitParamHas("+col+", ?) AND "+val+" = ?)", append(append([]any{f.Property}, args...), insight.ValueString(f.Value))...)
	case "contains":
		w.add("visitParamHas("+col+", ?) AND positionCaseInsensitiveUTF8("+val+", ?) > 0", append(append([]any{f.Property}, args...), insight.ValueString(f.Value))...)
	case "gt":
		w.add("toFloat64OrNull("+val+") > ?", append(args, insight.ValueFloat(f.Value))...)
	case "lt":
		w.add("toFloat64OrNull("+val+") < ?", append(args, insight.ValueFloat(f.Value))...)
	case "is_set":
		w.add("visitParamHas("+col+", ?)", f.Property)
	case "regex":
		w.add("visitParamHas("+col+", ?) AND match("+val+", ?)", append(append([]any{f.Property}, args...), insight.ValueString(f.Value))...)
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
		w.add("visitParamHas("+col+", ?) AND has(?, "+val+")", append(append([]any{f.Property}, vals), args...)...)
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

func (src source) sql() (string, []any, error) {
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
			return "", nil, insight.Bad(fmt.Sprintf("filters[%d].type", i), "unknown filter type %q", f.Type)
		}
	}
	if len(personFilters) > 0 {
		var pw where
		for _, f := range personFilters {
			pw.filter("pprops", f)
		}
		top.add("pid IN (SELECT pid FROM ("+src.s.personPropsSQL()+") WHERE "+pw.sql()+")", append([]any{uint64(src.projectID)}, pw.args...)...)
	}
	actor := pidExpr
	var args []any
	if src.groupType != "" {
		actor = "visitParamExtractString(visitParamExtractRaw(properties, '$groups'), ?)"
		args = append(args, src.groupType)
		w.add("visitParamExtractString(visitParamExtractRaw(properties, '$groups'), ?) != ''", src.groupType)
	}
	cols := "event, ts, ts_us, properties"
	inner := "SELECT person_id, " + cols + " FROM " + src.s.events + " WHERE " + w.sql()
	rows := "SELECT " + actor + " AS actor, " + cols + ", " + pidExpr + " AS pid FROM (" + inner + ") ANY LEFT JOIN (" + src.s.overridesSQL() + ") USING person_id"
	args = append(args, w.args...)
	cols = "actor, " + cols + ", pid"
	if src.persons {
		rows = "SELECT " + cols + ", pprops FROM (" + rows + ") ANY LEFT JOIN (" + src.s.personPropsSQL() + ") USING pid"
		args = append(args, uint64(src.projectID))
		cols += ", pprops"
	}
	for _, x := range src.extra {
		cols += ", " + x
	}
	q := "SELECT " + cols + " FROM (" + rows + ")"
	args = append(append([]any{}, src.extraArgs...), args...)
	if len(top.conds) > 0 {
		q += " WHERE " + top.sql()
		args = append(args, top.args...)
	}
	return q, args, nil
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
	isEvent, eventArgs := eventCond(b.Event, b.Action)
	args := append(append([]any{uint64(src.projectID)}, eventArgs...), to.AddDate(0, 0, -b.Days), to, uint64(b.MinCount))
	w.add("actor "+in+" (SELECT pid FROM (SELECT "+pidExpr+" AS pid FROM (SELECT person_id FROM "+src.s.events+
		" WHERE project_id = ? AND "+isEvent+" AND ts >= ? AND ts < ?) ANY LEFT JOIN ("+src.s.overridesSQL()+") USING person_id) GROUP BY pid HAVING count() >= ?)",
		args...)
}

// match returns a condition (0 or 1) over the source's rows that holds
// for a row matching any of ms: the event name and its filters (names
// and values are bound). A person filter reads the event's person, so it
// makes the source join persons.
func (src *source) match(ms []insight.Matcher) (string, []any) {
	var conds []string
	var args []any
	for _, m := range ms {
		var w where
		w.and(eventCond(m.Event, m.Action))
		for _, f := range m.Filters {
			col := "properties"
			if f.Type == "person" {
				col, src.persons = "pprops", true
			}
			w.filter(col, f)
		}
		conds = append(conds, "("+w.sql()+")")
		args = append(args, w.args...)
	}
	// A numeric filter on a non-number is NULL: no match.
	return "toUInt8(ifNull(" + strings.Join(conds, " OR ") + ", 0))", args
}

// matchEvents is match for EventMatches (bad and active events).
func (src *source) matchEvents(ms []insight.EventMatch) (string, []any) {
	matchers := make([]insight.Matcher, len(ms))
	for i, m := range ms {
		matchers[i] = insight.Matcher{Event: m.Event, Action: m.Action, Filters: m.Filters}
	}
	return src.match(matchers)
}

// breakdown adds the breakdown value of each row as column bv: the
// event's property or, for type person, its person's ("$none" when unset).
func (src *source) breakdown(b *insight.Breakdown) {
	col := "properties"
	if b.Type == "person" {
		col, src.persons = "pprops", true
	}
	src.extra = append(src.extra, breakdownValue(col)+" AS bv")
	src.extraArgs = append(src.extraArgs, breakdownArgs(b.Property)...)
}

// bucketLabel formats ts (a DateTime column) as the bucket's label in tz:
// the same labels insight.Label gives.
func bucketLabel(col, interval string) string {
	switch interval {
	case "hour":
		return "formatDateTime(toStartOfHour(" + col + ", ?), '%Y-%m-%dT%H:00', ?)"
	case "week":
		return "toString(toMonday(" + col + ", ?))"
	case "month":
		return "toString(toStartOfMonth(" + col + ", ?))"
	default:
		return "toString(toDate(" + col + ", ?))"
	}
}

func bucketArgs(interval string, tz *time.Location) []any {
	if interval == "hour" {
		return []any{tz.String(), tz.String()}
	}
	return []any{tz.String()}
}

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
