package clickhouse

import (
	"fmt"
	"strings"
	"time"

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
// group key), event, ts, ts_us, properties, plus extra columns.
type source struct {
	s         *Store
	projectID int64
	from, to  time.Time
	events    []string
	filters   []insight.Filter
	groupType string
	extra     []string // expressions over the event columns, with aliases
	extraArgs []any
}

func (s *Store) newSource(projectID int64, r *insight.Range, events ...string) source {
	return source{s: s, projectID: projectID, from: r.From, to: r.To, events: events, filters: r.Filters, groupType: r.GroupType()}
}

// unsupported reports a query feature this store does not have yet.
func unsupported(field, what string) error {
	return insight.Bad(field, "%s is not supported on the ClickHouse store yet", what)
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
	var personFilters []insight.Filter
	for _, f := range src.filters {
		switch f.Type {
		case "", "event":
			w.filter("properties", f)
		case "person":
			personFilters = append(personFilters, f)
		default:
			return "", nil, unsupported("filters", "a "+f.Type+" filter")
		}
	}
	actor := "if(merged != 0, merged, person_id)"
	var innerArgs []any
	if src.groupType != "" {
		actor = "visitParamExtractString(visitParamExtractRaw(properties, '$groups'), ?)"
		innerArgs = append(innerArgs, src.groupType)
		w.add("visitParamExtractString(visitParamExtractRaw(properties, '$groups'), ?) != ''", src.groupType)
	}
	cols := []string{"event", "ts", "ts_us", "properties"}
	inner := "SELECT person_id, " + strings.Join(cols, ", ") + " FROM " + src.s.events + " WHERE " + w.sql()
	overrides := "SELECT opid AS person_id, argMax(npid, version) AS merged FROM (SELECT old_person_id AS opid, person_id AS npid, version FROM " + src.s.db + ".person_overrides) GROUP BY opid"
	outerCols := actor + " AS actor, " + strings.Join(cols, ", ")
	for _, x := range src.extra {
		outerCols += ", " + x
	}
	args := append(append([]any{}, innerArgs...), src.extraArgs...)
	args = append(args, w.args...)
	q := "SELECT " + outerCols + " FROM (" + inner + ") ANY LEFT JOIN (" + overrides + ") USING person_id"
	if len(personFilters) > 0 {
		var pw where
		for _, f := range personFilters {
			pw.filter("pprops", f)
		}
		q = "SELECT * FROM (" + q + ") WHERE actor IN (SELECT id FROM (SELECT id, argMax(properties, version) AS pprops FROM " +
			src.s.db + ".persons WHERE project_id = ? GROUP BY id) WHERE " + pw.sql() + ")"
		args = append(append(args, uint64(src.projectID)), pw.args...)
	}
	return q, args, nil
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
