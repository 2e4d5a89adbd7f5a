package channel

import (
	"encoding/json"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxRendered bounds Render's output.
const MaxRendered = 256 << 10

// Render fills the placeholders of a message template from data,
// passing every value through escape (nil: as it is).
//
// A template is text with placeholders; nothing else in it is special.
// A placeholder is
//
//	{{person.name}}            the value at that path, "" when missing
//	{{ person.name | there }}  the value, or "there" when missing or ""
//
// A path is dot-separated names of letters, digits, "_", "$" and "-" (a
// name may also be quoted, as in {{person["plan.tier"]}}); the first
// name picks an entry of data (the scheduler passes "person": person
// properties with "distinct_id"; "event": the trigger event's
// properties with "event", "uuid" and "timestamp"; "item": the trigger's
// item when the campaign matches on one; "campaign"), the next ones walk
// nested maps. At each step the remaining names joined with "." are
// first tried as one key, so {{person.plan.tier}} finds a property
// named "plan.tier" as well as plan → tier.
//
// Strings render as they are, numbers in their shortest form (no
// exponent below 1e21), booleans as true/false, times in RFC 3339, maps
// and lists as compact JSON, null and missing values as the default.
//
// Values and defaults go through escape; the template's own text does
// not (it is the campaign author's). The output is made in one pass over
// the template: a value that holds "{{…}}" or markup is only ever text,
// never a placeholder and never executed. "{{" that does not start a
// well-formed placeholder is written as it is. The output is at most
// MaxRendered bytes and the time linear in the template's length.
//
// This is deliberately not text/template: there are no functions, no
// conditionals and nothing that a campaign author or a person property
// can use to run code or reach data beyond the map.
func Render(tpl string, data map[string]any, escape func(string) string) string {
	var b strings.Builder
	pos := 0
	closeAt := -2 // the next "}}" at or after an opening's end; -1: none left
	for pos < len(tpl) && b.Len() < MaxRendered {
		i := strings.Index(tpl[pos:], "{{")
		if i < 0 {
			writeBounded(&b, tpl[pos:])
			break
		}
		open := pos + i
		writeBounded(&b, tpl[pos:open])
		if closeAt != -1 && closeAt < open+2 {
			closeAt = strings.Index(tpl[open+2:], "}}")
			if closeAt >= 0 {
				closeAt += open + 2
			}
		}
		if closeAt == -1 {
			writeBounded(&b, tpl[open:])
			break
		}
		path, def, ok := parsePlaceholder(tpl[open+2 : closeAt])
		if !ok {
			// Not a placeholder: write "{" and go on from the next
			// character, so that "{{{x}}}" still finds "{{x}}".
			writeBounded(&b, tpl[open:open+1])
			pos = open + 1
			continue
		}
		pos = closeAt + 2
		v, found := lookup(data, path)
		s := ""
		if found {
			s = formatValue(v)
		}
		if s == "" {
			s = def
		}
		if escape != nil {
			s = escape(s)
		}
		writeBounded(&b, s)
	}
	return b.String()
}

// maxPlaceholder bounds the text between "{{" and "}}" of a placeholder
// (which keeps Render linear in the template's length).
const maxPlaceholder = 1024

func writeBounded(b *strings.Builder, s string) {
	room := MaxRendered - b.Len()
	if room <= 0 {
		return
	}
	if len(s) > room {
		// Do not cut a UTF-8 sequence in half.
		for room > 0 && !utf8.RuneStart(s[room]) {
			room--
		}
		s = s[:room]
	}
	b.WriteString(s)
}

// parsePlaceholder splits "path | default" into its path names and
// default; ok is false when inner is not a placeholder.
func parsePlaceholder(inner string) (path []string, def string, ok bool) {
	if len(inner) > maxPlaceholder {
		return nil, "", false
	}
	p, def, _ := strings.Cut(inner, "|")
	p = strings.TrimSpace(p)
	def = strings.TrimSpace(def)
	if p == "" {
		return nil, "", false
	}
	for p != "" {
		var name string
		if strings.HasPrefix(p, `["`) {
			j := strings.Index(p[2:], `"]`)
			if j < 0 {
				return nil, "", false
			}
			name, p = p[2:2+j], p[2+j+2:]
		} else {
			j := strings.IndexAny(p, ".[")
			if j < 0 {
				j = len(p)
			}
			name, p = p[:j], p[j:]
			if name == "" || !validName(name) {
				return nil, "", false
			}
		}
		path = append(path, name)
		switch {
		case p == "":
		case strings.HasPrefix(p, "."):
			p = p[1:]
			if p == "" {
				return nil, "", false
			}
		case strings.HasPrefix(p, `["`):
		default:
			return nil, "", false
		}
	}
	if len(path) > 16 {
		return nil, "", false
	}
	return path, def, true
}

func validName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '$' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// lookup walks data along path. At each level the remaining names joined
// with "." are tried as one key first.
func lookup(data map[string]any, path []string) (any, bool) {
	var cur any = data
	for i := 0; i < len(path); {
		if len(path)-i > 1 {
			if v, ok := get(cur, strings.Join(path[i:], ".")); ok {
				return v, true
			}
		}
		v, ok := get(cur, path[i])
		if !ok {
			return nil, false
		}
		cur = v
		i++
	}
	return cur, true
}

func get(m any, key string) (any, bool) {
	switch m := m.(type) {
	case map[string]any:
		v, ok := m[key]
		return v, ok
	case map[string]string:
		v, ok := m[key]
		return v, ok
	case json.RawMessage:
		var mm map[string]any
		if json.Unmarshal(m, &mm) != nil {
			return nil, false
		}
		v, ok := mm[key]
		return v, ok
	}
	return nil, false
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return formatFloat(v)
	case float32:
		return formatFloat(float64(v))
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case json.Number:
		return v.String()
	case time.Time:
		return v.Format(time.RFC3339)
	case json.RawMessage:
		var x any
		if json.Unmarshal(v, &x) == nil {
			return formatValue(x)
		}
		return ""
	case []byte:
		return string(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// RenderSubject renders a subject or push title template: values one
// line each (EscapeLine). For every channel.
func RenderSubject(tpl string, data map[string]any) string {
	return EscapeLine(Render(tpl, data, EscapeLine))
}

// RenderBody renders a plain-text body template (EscapeText): the email
// text part (the email sender escapes it again as a whole for the HTML
// part it makes), the push body and the webhook "body", which are
// JSON-encoded on the way out.
func RenderBody(tpl string, data map[string]any) string { return Render(tpl, data, EscapeText) }

// RenderHTML renders an email HTML template (EscapeHTML) into
// Message.HTML.
func RenderHTML(tpl string, data map[string]any) string { return Render(tpl, data, EscapeHTML) }

// Escapers, one per place a value lands.

// EscapeHTML is for email HTML parts: the value is made into text with
// html.EscapeString (& < > " ' become entities), so it is safe in element
// content and in quoted attribute values. Do not put property values in
// URL attributes (href, src): links go to Message.URL, the tracking
// redirect, which only redirects to the campaign's own URLs.
func EscapeHTML(s string) string { return html.EscapeString(EscapeText(s)) }

// MaxValueRunes bounds one value in text parts, subjects and JSON.
const MaxValueRunes = 1000

// EscapeText is for plain text (email text part, subjects, push and
// webhook copy, which are JSON-encoded later): control characters other
// than newline and tab are dropped, invalid UTF-8 is replaced, and the
// value is cut at MaxValueRunes runes.
func EscapeText(s string) string { return Bounded(MaxValueRunes)(s) }

// EscapeLine is EscapeText for one-line places (subjects, push titles):
// newlines and tabs become spaces too.
func EscapeLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", " ")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r == '\r' {
			return ' '
		}
		return r
	}, EscapeText(s))
}

// Bounded is EscapeText with a limit of n runes ("…" marks a cut).
func Bounded(n int) func(string) string {
	return func(s string) string {
		var b strings.Builder
		count := 0
		for i, r := range s {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
					r = '\uFFFD'
				}
			}
			if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
				continue
			}
			if count == n {
				b.WriteString("…")
				break
			}
			b.WriteRune(r)
			count++
		}
		return b.String()
	}
}
