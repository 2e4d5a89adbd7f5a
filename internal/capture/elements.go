package capture

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Autocapture events ($autocapture, $rageclick, $dead_click…) describe the
// clicked element and its ancestors. posthog-js with elementsChainAsString
// (what Journey's remote config asks for) sends them as the string
// property $elements_chain, which is stored as sent; older SDKs send the
// array $elements, which PostHog's ingestion turns into the chain string
// and drops. addElementsChain does the same, so actions and element
// filters read every event alike.

// Limits PostHog's ingestion applies to an element's text and href.
const (
	maxElementText = 400
	maxElementHref = 2048
)

// addElementsChain sets $elements_chain from $elements when the event has
// an array of elements and no chain of its own, and removes $elements.
func addElementsChain(props map[string]any) {
	list, ok := props["$elements"].([]any)
	if !ok || len(list) == 0 {
		return
	}
	if c, ok := props["$elements_chain"].(string); ok && c != "" {
		return // the SDK sent both: its chain wins, the array stays
	}
	props["$elements_chain"] = ElementsChain(list)
	delete(props, "$elements")
}

// ElementsChain writes PostHog's chain string of an $elements array: per
// element its tag, its classes sorted (".a.b", quotes dropped), ":" and
// its attributes sorted by key as key="value" with quotes written \" —
// text, href, nth-child, nth-of-type, attr_id and every attr__* key the
// element has; elements joined by ";". What is not an object is skipped.
func ElementsChain(elements []any) string {
	var parts []string
	for _, e := range elements {
		if el, ok := e.(map[string]any); ok {
			parts = append(parts, elementString(el))
		}
	}
	return strings.Join(parts, ";")
}

func elementString(el map[string]any) string {
	var b strings.Builder
	b.WriteString(stringOf(el["tag_name"]))
	classes := elementClasses(el)
	sort.Strings(classes)
	for _, c := range classes {
		b.WriteString("." + strings.ReplaceAll(c, `"`, ""))
	}
	attrs := map[string]string{
		"nth-child":   numberOr0(el["nth_child"]),
		"nth-of-type": numberOr0(el["nth_of_type"]),
	}
	if t := truncateRunes(stringOf(el["$el_text"]), maxElementText); t != "" {
		attrs["text"] = t
	}
	if h := truncateRunes(stringOf(el["attr__href"]), maxElementHref); h != "" {
		attrs["href"] = h
	}
	if id := stringOf(el["attr__id"]); id != "" {
		attrs["attr_id"] = id
	}
	for k, v := range el {
		if strings.HasPrefix(k, "attr__") {
			attrs[k] = stringOf(v)
		}
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte(':')
	for _, k := range keys {
		b.WriteString(chainEscape(k) + `="` + chainEscape(attrs[k]) + `"`)
	}
	return b.String()
}

// elementClasses reads attr__class (a space-separated string or a list),
// else the classes list posthog-js also sends.
func elementClasses(el map[string]any) []string {
	v, ok := el["attr__class"]
	if !ok || v == nil {
		v = el["classes"]
	}
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, x := range c {
			if s := stringOf(x); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func chainEscape(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

// stringOf writes a JSON value as JavaScript's String() would (the chain
// is made in the browser by posthog-js too): strings as they are, whole
// numbers without a fraction, booleans as true/false, lists joined by
// commas, nothing for null (objects, which no SDK sends, as JSON).
func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return formatNumber(x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return formatNumber(f)
		}
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = stringOf(e)
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// numberOr0 is an element's position: 0 when missing or not a number.
func numberOr0(v any) string {
	switch v.(type) {
	case float64, json.Number:
		return stringOf(v)
	}
	return "0"
}
