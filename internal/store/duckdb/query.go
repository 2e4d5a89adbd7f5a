package duckdb

import (
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// propPath turns a property name into a JSON pointer. The name travels as a
// bound parameter, never as SQL text.
func propPath(name string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}

// where collects SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// filters adds property filters. Event filters read e.properties, person
// filters p.properties (the source joins persons when any is present).
func (w *where) filters(fs []insight.Filter) {
	for _, f := range fs {
		if f.Type == "cohort" {
			continue // the source adds cohort conditions: they need its actor
		}
		col := "e.properties"
		if f.Type == "person" {
			col = "p.properties"
		}
		w.filter(col, f)
	}
}

func (w *where) filter(col string, f insight.Filter) {
	if f.Type == "element" {
		w.element(col, f)
		return
	}
	path := propPath(f.Property)
	val := "json_extract_string(" + col + ", ?)"
	switch f.Op {
	case "eq":
		w.add(val+" = ?", path, insight.ValueString(f.Value))
	case "neq":
		w.add("coalesce("+val+" <> ?, true)", path, insight.ValueString(f.Value))
	case "contains":
		w.add("contains(lower("+val+"), lower(?))", path, insight.ValueString(f.Value))
	case "gt":
		w.add("TRY_CAST("+val+" AS DOUBLE) > ?", path, insight.ValueFloat(f.Value))
	case "lt":
		w.add("TRY_CAST("+val+" AS DOUBLE) < ?", path, insight.ValueFloat(f.Value))
	case "is_set":
		w.add("json_extract("+col+", ?) IS NOT NULL", path)
	case "regex":
		w.add("regexp_matches("+val+", ?)", path, insight.ValueString(f.Value))
	case "in":
		list, _ := f.Value.([]any)
		if len(list) == 0 {
			w.add("false")
			return
		}
		args := []any{path}
		for _, v := range list {
			args = append(args, insight.ValueString(v))
		}
		w.add(val+" IN ("+placeholders(len(list))+")", args...)
	}
}

// source is the set of rows an insight reads: a project's events in a
// time range, optionally only some event names, after filters, each with
// its actor: the person after merges (SPEC §2: merges apply at query time)
// or, for unit group:<type>, the group key from $groups.
type source struct {
	projectID int64
	from, to  time.Time
	events    []string
	filters   []insight.Filter
	// action, when set, is a condition on the rows besides events (see
	// newMatchSource).
	action    *insight.ActionDef
	groupType string
	// cohortTo ends behavioural cohorts' windows: the query's to, also
	// where the rows read end elsewhere (retention's start history).
	cohortTo time.Time
	// extra columns to select, e.g. a breakdown value.
	extra     []string
	extraArgs []any
}

func newSource(projectID int64, r *insight.Range, events ...string) source {
	return source{projectID: projectID, from: r.From, to: r.To, events: events, filters: r.Filters, groupType: r.GroupType(), cohortTo: r.To}
}

// sql returns "SELECT actor, event, ts, properties[, extra…] FROM …".
func (src source) sql() (string, []any) {
	var w where
	w.add("e.project_id = ?", src.projectID)
	w.add("e.ts >= ?", src.from.UTC())
	w.add("e.ts < ?", src.to.UTC())
	if len(src.events) == 1 {
		w.add("e.event = ?", src.events[0])
	} else if len(src.events) > 1 {
		args := make([]any, len(src.events))
		for i, e := range src.events {
			args[i] = e
		}
		w.add("e.event IN ("+placeholders(len(args))+")", args...)
	}
	if src.action != nil {
		c, args := actionCond("e.", src.action)
		w.add(c, args...)
	}
	w.filters(src.filters)
	var args []any
	actor := "coalesce(o.person_id, e.person_id)"
	if src.groupType != "" {
		actor = "json_extract_string(e.properties, ?)"
		args = append(args, "/$groups/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(src.groupType))
		w.add("json_extract_string(e.properties, ?) IS NOT NULL", "/$groups/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(src.groupType))
	}
	for _, f := range src.filters {
		if f.Type == "cohort" {
			src.cohort(&w, actor, args, f)
		}
	}
	cols := actor + " AS actor, e.event, e.ts, e.properties"
	for _, x := range src.extra {
		cols += ", " + x
	}
	args = append(args, src.extraArgs...)
	from := "events e LEFT JOIN person_overrides o ON o.old_person_id = e.person_id"
	if src.needsPersons() {
		from += " LEFT JOIN persons p ON p.id = coalesce(o.person_id, e.person_id)"
	}
	return "SELECT " + cols + " FROM " + from + " WHERE " + w.sql(), append(args, w.args...)
}

// cohort adds "actor in cohort" (or not in). actorArgs are the arguments
// of the actor expression, repeated since it appears again here.
func (src source) cohort(w *where, actor string, actorArgs []any, f insight.Filter) {
	c := f.Cohort
	if c == nil {
		w.add("false") // an unresolved cohort id: the API resolves them; match nothing rather than everything
		return
	}
	in := "IN"
	if f.Op == "not_in" {
		in = "NOT IN"
	}
	args := append([]any(nil), actorArgs...)
	if len(c.DistinctIDs) > 0 {
		args = append(args, src.projectID)
		for _, id := range c.DistinctIDs {
			args = append(args, id)
		}
		w.add(actor+" "+in+" (SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND distinct_id IN ("+placeholders(len(c.DistinctIDs))+"))", args...)
		return
	}
	b := c.Behavior
	did := b.Did == nil || *b.Did
	if !did {
		in = map[string]string{"IN": "NOT IN", "NOT IN": "IN"}[in]
	}
	isEvent, eventArgs := eventCond("e2.", b.Event, b.Action)
	args = append(args, src.projectID)
	args = append(args, eventArgs...)
	args = append(args, src.cohortTo.UTC().AddDate(0, 0, -b.Days), src.cohortTo.UTC(), b.MinCount)
	w.add(actor+" "+in+` (SELECT coalesce(o2.person_id, e2.person_id) FROM events e2
		LEFT JOIN person_overrides o2 ON o2.old_person_id = e2.person_id
		WHERE e2.project_id = ? AND `+isEvent+` AND e2.ts >= ? AND e2.ts < ?
		GROUP BY 1 HAVING count(*) >= ?)`, args...)
}

func (src source) needsPersons() bool {
	for _, f := range src.filters {
		if f.Type == "person" {
			return true
		}
	}
	for _, x := range src.extra {
		if strings.Contains(x, "p.properties") {
			return true
		}
	}
	return false
}

func aggregate(s insight.Series) (string, []any) {
	num := "TRY_CAST(json_extract_string(properties, ?) AS DOUBLE)"
	switch s.Math {
	case "dau":
		return "count(DISTINCT actor)", nil
	case "sum", "avg", "min", "max":
		return s.Math + "(" + num + ")", []any{propPath(s.Property)}
	case "p50", "p90", "p99":
		q := map[string]string{"p50": "0.5", "p90": "0.9", "p99": "0.99"}[s.Math]
		return "quantile_cont(" + num + ", " + q + ")", []any{propPath(s.Property)}
	default:
		return "count(*)", nil
	}
}
