package duckdb

import (
	"strings"

	"github.com/journey-dev/journey/internal/insight"
)

// Actions and element filters compile into conditions over a row's event
// and properties, with names, values and patterns as bound parameters.
// The chain's element conditions read $elements_chain (see
// insight.SelectorRegex for its format).

// newMatchSource is newSource for the rows of one event, or of one action
// (its steps' event names, then the action's condition).
func newMatchSource(projectID int64, r *insight.Range, event string, a *insight.ActionDef) source {
	src := newSource(projectID, r, insight.EventNames(event, a)...)
	src.action = a
	return src
}

// eventCond is the condition that row alias (e.g. "e.") is the event or
// matches the action.
func eventCond(alias, event string, a *insight.ActionDef) (string, []any) {
	if a == nil {
		return alias + "event = ?", []any{event}
	}
	return actionCond(alias, a)
}

// actionCond ORs the action's steps; an unresolved action (the API
// resolves ids) matches nothing rather than everything.
func actionCond(alias string, a *insight.ActionDef) (string, []any) {
	if !a.Resolved() {
		return "false", nil
	}
	var parts []string
	var args []any
	for _, st := range a.Steps {
		var w where
		w.add(alias+"event = ?", st.Event)
		w.step(alias+"properties", st)
		parts = append(parts, "("+w.sql()+")")
		args = append(args, w.args...)
	}
	// A condition on a missing property is NULL: no match.
	return "coalesce(" + strings.Join(parts, " OR ") + ", false)", args
}

// step adds an action step's conditions on the properties column col.
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
		w.add("regexp_matches("+chain(col)+", ?)", chainPath, insight.TagRegex(st.TagName))
	}
	if st.URL != "" {
		c, args := stringMatch("json_extract_string("+col+", ?)", st.URLMatching, st.URL, true)
		w.add(c, append([]any{propPath("$current_url")}, args...)...)
	}
	for _, f := range st.Filters {
		w.filter(col, f)
	}
}

var chainPath = propPath("$elements_chain")

// chain is the row's elements chain (empty without one); its argument is
// chainPath.
func chain(col string) string { return "coalesce(json_extract_string(" + col + ", ?), '')" }

// chainTexts is the list of the chain's texts, unescaped; its arguments
// are chainTextsArgs.
func chainTexts(col string) string {
	return "list_transform(regexp_extract_all(" + chain(col) + `, ?, 1), lambda raw_chain_text: replace(raw_chain_text, '\"', '"'))`
}

func chainTextsArgs() []any { return []any{chainPath, insight.ChainTextPattern} }

// chainHref is the chain's first href (empty when none), unescaped.
func chainHref(col string) string {
	return "replace(regexp_extract(" + chain(col) + `, ?, 1), '\"', '"')`
}

func chainHrefArgs() []any { return []any{chainPath, insight.ChainHrefPattern} }

// stringMatch compares expr with value: exact, contains (ignoring case
// unless caseSensitive, as PostHog's ILIKE and LIKE) or regex.
func stringMatch(expr, mode, value string, caseSensitive bool) (string, []any) {
	switch mode {
	case insight.MatchContains:
		if caseSensitive {
			return "contains(" + expr + ", ?)", []any{value}
		}
		return "contains(lower(" + expr + "), lower(?))", []any{value}
	case insight.MatchRegex:
		return "regexp_matches(" + expr + ", ?)", []any{value}
	default:
		return expr + " = ?", []any{value}
	}
}

// anyText: some element of the chain has a text matching value.
func (w *where) anyText(col, mode, value string) {
	c, args := stringMatch("chain_text", mode, value, false)
	w.add("len(list_filter("+chainTexts(col)+", lambda chain_text: "+c+")) > 0", append(chainTextsArgs(), args...)...)
}

// selector: the chain matches a CSS selector (validated; one that does
// not compile matches nothing).
func (w *where) selector(col, sel string) {
	re, err := insight.SelectorRegex(sel)
	if err != nil {
		w.add("false")
		return
	}
	w.add("regexp_matches("+chain(col)+", ?)", chainPath, re)
}

// element compiles an element filter (validated by insight): text, href,
// selector or tag_name of the chain in properties column col.
func (w *where) element(col string, f insight.Filter) {
	v, _ := f.Value.(string)
	var inner where
	switch f.Property {
	case "text":
		switch f.Op {
		case "is_set":
			inner.add("len("+chainTexts(col)+") > 0", chainTextsArgs()...)
		case "in":
			inner.add("len(list_filter("+chainTexts(col)+", lambda chain_text: chain_text IN ("+placeholders(len(listOf(f)))+"))) > 0", append(chainTextsArgs(), listOf(f)...)...)
		default:
			inner.anyText(col, matching(f.Op), v)
		}
	case "href":
		switch f.Op {
		case "is_set":
			inner.add(chainHref(col)+" <> ''", chainHrefArgs()...)
		case "in":
			inner.add(chainHref(col)+" IN ("+placeholders(len(listOf(f)))+")", append(chainHrefArgs(), listOf(f)...)...)
		default:
			c, args := stringMatch(chainHref(col), matching(f.Op), v, false)
			inner.add(c, append(chainHrefArgs(), args...)...)
		}
	case "selector":
		inner.selector(col, v)
	case "tag_name":
		inner.add("regexp_matches("+chain(col)+", ?)", chainPath, insight.TagRegex(v))
	default:
		w.add("false")
		return
	}
	if f.Op == "in" && len(listOf(f)) == 0 {
		w.add("false")
		return
	}
	if f.Op == "neq" {
		w.add("NOT coalesce("+inner.sql()+", false)", inner.args...)
		return
	}
	w.add("coalesce("+inner.sql()+", false)", inner.args...)
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
func listOf(f insight.Filter) []any {
	list, _ := f.Value.([]any)
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = insight.ValueString(v)
	}
	return out
}

// and adds a condition with its arguments as a list (what eventCond and
// actionCond return).
func (w *where) and(cond string, args []any) { w.add(cond, args...) }
