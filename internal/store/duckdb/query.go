package duckdb

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/sqlfrag"
)

// The SQL every insight shares: fragments, sources, filters, periods,
// breakdown values, aggregates and histograms. A kind's own file builds
// its query from these and hands its rows of counts to package insight.

// frag is a piece of SQL with its arguments in text order (sqlfrag).
type frag = sqlfrag.Frag

// sqlf is a fragment of text and the arguments of its placeholders.
func sqlf(text string, args ...any) frag { return sqlfrag.New(text, args...) }

// joinFrags joins fragments with sep.
func joinFrags(sep string, fs []frag) frag { return sqlfrag.Join(sep, fs) }

// propPath turns a property name into a JSON pointer. The name travels as a
// bound parameter, never as SQL text.
func propPath(name string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}

// groupPath is the JSON pointer of a group type's key in $groups.
func groupPath(groupType string) string { return "/$groups" + propPath(groupType) }

// where collects SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
	// persons: a condition reads p.properties, so the rows must join
	// persons (callers pass it on to their source).
	persons bool
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// addFrag adds a condition fragment.
func (w *where) addFrag(f frag) { w.add(f.Text, f.Args...) }

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// frag is the conditions ANDed.
func (w *where) frag() frag { return sqlf(w.sql(), w.args...) }

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
			w.persons = true
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
		vals := make([]any, len(list))
		for i, v := range list {
			vals[i] = insight.ValueString(v)
		}
		c := sqlf(val+" IN (", path)
		c.Add(placeholders(len(vals))+")", vals...)
		w.addFrag(c)
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
	// extra columns to select, e.g. a breakdown value, with their
	// arguments in order (column adds both).
	extra     []string
	extraArgs []any
	// persons joins the rows' persons (p) for extra columns that read
	// p.properties; person filters join them anyway.
	persons bool
}

func newSource(projectID int64, r *insight.Range, events ...string) source {
	return source{projectID: projectID, from: r.From, to: r.To, events: events, filters: r.Filters, groupType: r.GroupType(), cohortTo: r.To}
}

// column adds a selected column: an expression with its alias.
func (src *source) column(f frag) {
	src.extra = append(src.extra, f.Text)
	src.extraArgs = append(src.extraArgs, f.Args...)
}

// breakdownColumn adds column bv: the row's breakdown value ("$none" when
// unset), or the empty string without breakdown.
func (src *source) breakdownColumn(b *insight.Breakdown) {
	if b == nil {
		src.column(sqlf("'' AS bv"))
		return
	}
	v := breakdownValue(b)
	src.persons = src.persons || b.Type == "person"
	src.column(sqlf("coalesce("+v.Text+", '$none') AS bv", v.Args...))
}

// actor is the rows' actor expression.
func (src source) actor() frag {
	if src.groupType != "" {
		return sqlf("json_extract_string(e.properties, ?)", groupPath(src.groupType))
	}
	return sqlf("coalesce(o.person_id, e.person_id)")
}

// sql returns "SELECT actor, event, ts, properties[, extra…] FROM …".
func (src source) sql() (string, []any) { return src.frag().SQL() }

// frag is sql as a fragment.
func (src source) frag() frag {
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
		w.and(actionCond("e.", src.action))
	}
	w.filters(src.filters)
	actor := src.actor()
	if src.groupType != "" {
		w.add("json_extract_string(e.properties, ?) IS NOT NULL", groupPath(src.groupType))
	}
	for _, f := range src.filters {
		if f.Type == "cohort" {
			src.cohort(&w, actor, f)
		}
	}
	q := sqlf("SELECT ")
	q.AddFrag(actor)
	q.Add(" AS actor, e.event, e.ts, e.properties")
	if len(src.extra) > 0 {
		q.Add(", "+strings.Join(src.extra, ", "), src.extraArgs...)
	}
	q.Add(" FROM events e LEFT JOIN person_overrides o ON o.old_person_id = e.person_id")
	if src.needsPersons() {
		q.Add(" LEFT JOIN persons p ON p.id = coalesce(o.person_id, e.person_id)")
	}
	q.Add(" WHERE ")
	q.AddFrag(w.frag())
	return q
}

// cohort adds "actor in cohort" (or not in) for the actor expression.
func (src source) cohort(w *where, actor frag, f insight.Filter) {
	c := f.Cohort
	if c == nil {
		w.add("false") // an unresolved cohort id: the API resolves them; match nothing rather than everything
		return
	}
	in := "IN"
	if f.Op == "not_in" {
		in = "NOT IN"
	}
	cond := actor
	if len(c.DistinctIDs) > 0 {
		ids := make([]any, len(c.DistinctIDs))
		for i, id := range c.DistinctIDs {
			ids[i] = id
		}
		cond.Add(" "+in+" (SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND distinct_id IN (", src.projectID)
		cond.Add(placeholders(len(ids))+"))", ids...)
		w.addFrag(cond)
		return
	}
	b := c.Behavior
	did := b.Did == nil || *b.Did
	if !did {
		in = map[string]string{"IN": "NOT IN", "NOT IN": "IN"}[in]
	}
	isEvent, eventArgs := eventCond("e2.", b.Event, b.Action)
	cond.Add(" "+in+` (SELECT coalesce(o2.person_id, e2.person_id) FROM events e2
		LEFT JOIN person_overrides o2 ON o2.old_person_id = e2.person_id
		WHERE e2.project_id = ? AND `, src.projectID)
	cond.Add(isEvent, eventArgs...)
	cond.Add(" AND e2.ts >= ? AND e2.ts < ?\n\t\tGROUP BY 1 HAVING count(*) >= ?)", src.cohortTo.UTC().AddDate(0, 0, -b.Days), src.cohortTo.UTC(), b.MinCount)
	w.addFrag(cond)
}

// needsPersons says whether the rows join persons: for person filters
// and for columns that read p.properties (callers set persons).
func (src source) needsPersons() bool {
	if src.persons {
		return true
	}
	for _, f := range src.filters {
		if f.Type == "person" {
			return true
		}
	}
	return false
}

// appendFilters returns the query's filters followed by an event's own.
func appendFilters(query, own []insight.Filter) []insight.Filter {
	return slices.Concat(query, own)
}

// matchSQL returns a condition that is true for a row of src matching any
// of ms: the event name and its filters, cohort filters included (names
// and values are bound parameters).
func matchSQL(src *source, ms []insight.EventMatch) (string, []any) {
	return matchFrag(src, ms).SQL()
}

// matchFrag is matchSQL as a fragment.
func matchFrag(src *source, ms []insight.EventMatch) frag {
	actor := src.actor() // as source.sql writes it, for cohort filters
	conds := make([]frag, len(ms))
	for i, m := range ms {
		var w where
		w.and(eventCond("e.", m.Event, m.Action))
		w.filters(m.Filters) // all but cohorts
		src.persons = src.persons || w.persons
		for _, f := range m.Filters {
			if f.Type == "cohort" {
				src.cohort(&w, actor, f)
			}
		}
		conds[i] = sqlf("("+w.sql()+")", w.args...)
	}
	out := sqlf("coalesce(")
	out.AddFrag(joinFrags(" OR ", conds))
	out.Add(", false)")
	return out
}

// breakdownValue selects a breakdown property of the row's event or
// person (NULL when unset); the property name travels as a bound
// parameter. A person breakdown needs the source's persons.
func breakdownValue(b *insight.Breakdown) frag {
	col := "e.properties"
	if b.Type == "person" {
		col = "p.properties"
	}
	return sqlf("json_extract_string("+col+", ?)", propPath(b.Property))
}

// breakdownValueSQL is breakdownValue as text and arguments.
func breakdownValueSQL(b *insight.Breakdown) (string, []any) { return breakdownValue(b).SQL() }

// periodIndexSQL returns a SQL expression giving the index of the period
// that holds the row's ts: bounds are the periods' starts as instants
// (ascending, e.g. insight.Buckets in the project timezone), so days,
// weeks and months follow the project's timezone and its DST changes
// exactly. A ts before bounds[0] gets first-1, one in [bounds[i],
// bounds[i+1]) gets first+i, the last period is open-ended. The CASE is a
// binary search: log2(len(bounds)) comparisons a row, much cheaper than
// timezone() on every row. Bounds are our own instants, written as
// literals; nothing of the request is spliced in.
func periodIndexSQL(bounds []time.Time, first int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN ts < %s THEN %d ELSE ", utcLiteral(bounds[0]), first-1)
	var split func(lo, hi int)
	split = func(lo, hi int) {
		if hi-lo == 1 {
			fmt.Fprintf(&b, "%d", first+lo)
			return
		}
		mid := (lo + hi) / 2
		fmt.Fprintf(&b, "CASE WHEN ts < %s THEN ", utcLiteral(bounds[mid]))
		split(lo, mid)
		b.WriteString(" ELSE ")
		split(mid, hi)
		b.WriteString(" END")
	}
	split(0, len(bounds))
	b.WriteString(" END")
	return b.String()
}

// utcLiteral writes an instant as a TIMESTAMP literal in UTC, the zone
// events.ts is stored in.
func utcLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "'"
}

// aggregate is a trend series' math over a source's rows.
func aggregate(s insight.Series) frag {
	num := "TRY_CAST(json_extract_string(properties, ?) AS DOUBLE)"
	switch s.Math {
	case "dau":
		return sqlf("count(DISTINCT actor)")
	case "sum", "avg", "min", "max":
		return sqlf(s.Math+"("+num+")", propPath(s.Property))
	case "p50", "p90", "p99":
		q := map[string]string{"p50": "0.5", "p90": "0.9", "p99": "0.99"}[s.Math]
		return sqlf("quantile_cont("+num+", "+q+")", propPath(s.Property))
	default:
		return sqlf("count(*)")
	}
}

// byteHistogramSQL counts the values of each byte of the UBIGINT column
// col (of which bits bits are used) of relation rel: rows (kind, byte
// position, byte value, actors[, extra]). Per-bit counts follow in Go
// (bitRows). A few GROUP BYs over 256 values each are several times
// faster than a sum per bit, and than a row per (actor, bit).
func byteHistogramSQL(kind, rel, col string, bits int, extra string) string {
	var parts []string
	for pos := 0; pos*8 < bits; pos++ {
		parts = append(parts, fmt.Sprintf("SELECT '%s', %d, ((%s >> %d::UBIGINT) & 255::UBIGINT)::BIGINT AS v, count(*)%s FROM %s GROUP BY v",
			kind, pos, col, pos*8, extra, rel))
	}
	return strings.Join(parts, " UNION ALL ")
}

// bitRows appends, for a byte histogram's row (n actors whose mask has
// byte pos equal to value), a count row per set bit: row with Period the
// bit's number plus shift and Value n.
func bitRows(rows []insight.CountRow, row insight.CountRow, pos, value, n int64, shift int) []insight.CountRow {
	for bit := int64(0); bit < 8; bit++ {
		if value>>bit&1 == 1 {
			row.Period, row.Value = int(pos*8+bit)+shift, float64(n)
			rows = append(rows, row)
		}
	}
	return rows
}

// periodRows are count rows (Period i, Value counts[i]) for the periods
// with a count, each a copy of row otherwise.
func periodRows(rows []insight.CountRow, row insight.CountRow, counts []int64) []insight.CountRow {
	for i, n := range counts {
		if n != 0 {
			row.Period, row.Value = i, float64(n)
			rows = append(rows, row)
		}
	}
	return rows
}
