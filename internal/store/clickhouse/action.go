package clickhouse

import (
	"strings"

	"github.com/journey-dev/journey/internal/insight"
)

// Actions and element filters compile into conditions over a row's event
// and properties columns (as DuckDB's do, with the same semantics), with
// names, values and patterns as bound parameters. The element conditions
// read $elements_chain (see insight.SelectorRegex for its format).
//
// ClickHouse 18.16's match() looks for a regex's literal parts before it
// runs RE2 and does so case-sensitively, so "(?i)" in a user's regex does
// not work there; contains conditions use positionCaseInsensitiveUTF8.

// newMatchSource is newSource for the rows of one event or one action.
func (s *Store) newMatchSource(projectID int64, r *insight.Range, event string, a *insight.ActionDef) source {
	src := s.newSource(projectID, r, insight.EventNames(event, a)...)
	src.action = a
	return src
}

// eventCond is the condition that a row (columns event and properties)
// is the event or matches the action.
func eventCond(event string, a *insight.ActionDef) (string, []any) {
	if a == nil {
		return "event = ?", []any{event}
	}
	return actionCond(a)
}

// actionCond ORs the action's steps; an unresolved action (the API
// resolves ids) matches nothing rather than everything.
func actionCond(a *insight.ActionDef) (string, []any) {
	if !a.Resolved() {
		return "0", nil
	}
	var parts []string
	var args []any
	for _, st := range a.Steps {
		var w where
		w.add("event = ?", st.Event)
		w.step("properties", st)
		parts = append(parts, "("+w.sql()+")")
		args = append(args, w.args...)
	}
	// A numeric filter on a non-number is NULL: no match.
	return "ifNull(" + strings.Join(parts, " OR ") + ", 0)", args
}

// step adds an action step's conditions on the JSON column col.
func (w *where) step(col string, st insight.ActionStep) {
	if st.Text != "" {
		w.anyText(col, st.TextMatching, st.Text)
	}
	if st.Href != "" {
		c, args := stringMatch(chainHref(col), st.HrefMatching, st.Href, false)
		w.add(c, append(chainHrefArgs(), args...)...)
	}
	if st.Selector != "" {
		w.selector(col, st.Selector)
	}
	if st.TagName != "" {
		w.add("match("+chain(col)+", ?)", chainKey, insight.TagRegex(st.TagName))
	}
	if st.URL != "" {
		c, args := stringMatch("visitParamExtractString("+col+", ?)", st.URLMatching, st.URL, true)
		w.add("visitParamHas("+col+", ?) AND "+c, append([]any{"$current_url", "$current_url"}, args...)...)
	}
	for _, f := range st.Filters {
		w.filter(col, f)
	}
}

const chainKey = "$elements_chain"

// chain is the row's elements chain (empty without one); its argument is
// chainKey.
func chain(col string) string { return "visitParamExtractString(" + col + ", ?)" }

// chainTexts is the array of the chain's texts, unescaped. (Lambda
// parameters have names no query uses as an alias: ClickHouse resolves
// aliases before lambda parameters.)
func chainTexts(col string) string {
	return `arrayMap(raw_chain_text -> replaceAll(raw_chain_text, '\\"', '"'), extractAll(` + chain(col) + `, ?))`
}

func chainTextsArgs() []any { return []any{chainKey, insight.ChainTextPattern} }

// chainHref is the chain's first href (empty when none), unescaped.
func chainHref(col string) string {
	return `replaceAll(extract(` + chain(col) + `, ?), '\\"', '"')`
}

func chainHrefArgs() []any { return []any{chainKey, insight.ChainHrefPattern} }

// stringMatch compares expr with value: exact, contains (ignoring case
// unless caseSensitive, as PostHog's ILIKE and LIKE) or regex.
func stringMatch(expr, mode, value string, caseSensitive bool) (string, []any) {
	switch mode {
	case insight.MatchContains:
		if caseSensitive {
			return "position(" + expr + ", ?) > 0", []any{value}
		}
		return "positionCaseInsensitiveUTF8(" + expr + ", ?) > 0", []any{value}
	case insight.MatchRegex:
		return "match(" + expr + ", ?)", []any{value}
	default:
		return expr + " = ?", []any{value}
	}
}

// anyText: some element of the chain has a text matching value.
func (w *where) anyText(col, mode, value string) {
	c, args := stringMatch("chain_text", mode, value, false)
	w.add("arrayExists(chain_text -> "+c+", "+chainTexts(col)+")", append(args, chainTextsArgs()...)...)
}

// selector: the chain matches a CSS selector (validated; one that does
// not compile matches nothing).
func (w *where) selector(col, sel string) {
	re, err := insight.SelectorRegex(sel)
	if err != nil {
		w.add("0")
		return
	}
	w.add("match("+chain(col)+", ?)", chainKey, re)
}

// element compiles an element filter (validated by insight): text, href,
// selector or tag_name of the chain in JSON column col.
func (w *where) element(col string, f insight.Filter) {
	v, _ := f.Value.(string)
	var inner where
	switch f.Property {
	case "text":
		switch f.Op {
		case "is_set":
			inner.add("notEmpty("+chainTexts(col)+")", chainTextsArgs()...)
		case "in":
			inner.add("hasAny("+chainTexts(col)+", ?)", append(chainTextsArgs(), listOf(f))...)
		default:
			inner.anyText(col, matching(f.Op), v)
		}
	case "href":
		switch f.Op {
		case "is_set":
			inner.add(chainHref(col)+" != ''", chainHrefArgs()...)
		case "in":
			inner.add("has(?, "+chainHref(col)+")", append([]any{listOf(f)}, chainHrefArgs()...)...)
		default:
			c, args := stringMatch(chainHref(col), matching(f.Op), v, false)
			inner.add(c, append(chainHrefArgs(), args...)...)
		}
	case "selector":
		inner.selector(col, v)
	case "tag_name":
		inner.add("match("+chain(col)+", ?)", chainKey, insight.TagRegex(v))
	default:
		w.add("0")
		return
	}
	if f.Op == "in" && len(listOf(f)) == 0 {
		w.add("0")
		return
	}
	if f.Op == "neq" {
		w.add("NOT ("+inner.sql()+")", inner.args...)
		return
	}
	w.add("("+inner.sql()+")", inner.args...)
}

// matching is the string match of a filter op (neq: eq, negated after).
func matching(op string) string {
	switch op {
	case "contains":
		return insight.MatchContains
	case "regex":
		return insight.MatchRegex
	default:
		return insight.MatchExact
	}
}

// listOf is an in filter's values as strings.
func listOf(f insight.Filter) []string {
	list, _ := f.Value.([]any)
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = insight.ValueString(v)
	}
	return out
}

// and adds a condition with its arguments as a list (what eventCond and
// actionCond return).
func (w *where) and(cond string, args []any) { w.add(cond, args...) }
