package clickhouse

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ClickHouse 18 reads properties with visitParam*, which finds the first
// `"name":` anywhere in the JSON text, so a key of the same name inside a
// nested object would answer for a top-level one that is missing or comes
// later. DuckDB's JSON pointers read the top level only. To answer the
// same, the ClickHouse store writes every key below the top level with
// its first character as a \u escape: the same JSON to any parser, but
// text that a search for `"name":` does not match. Readers of a nested key
// ($groups' group types) look for the escaped name (hiddenKey). Rows
// written before this keep their nested keys findable.

// hideNestedKeys returns the JSON text raw with the keys of nested objects
// escaped; text that is not a JSON object comes back unchanged.
func hideNestedKeys(raw string) string {
	if !strings.HasPrefix(strings.TrimSpace(raw), "{") || !strings.Contains(raw[1:], "{") {
		return raw // no nested object: nothing to hide
	}
	var b strings.Builder
	b.Grow(len(raw) + 16)
	// stack holds '{' or '[' per open container; expectKey is whether the
	// next string in the current object is a key.
	var stack []byte
	expectKey := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '{':
			stack = append(stack, c)
			expectKey = true
			b.WriteByte(c)
		case '[':
			stack = append(stack, c)
			expectKey = false
			b.WriteByte(c)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
			b.WriteByte(c)
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
			b.WriteByte(c)
		case '"':
			end := stringEnd(raw, i)
			s := raw[i:end]
			if expectKey && len(stack) >= 2 {
				s = hideFirst(s)
			}
			b.WriteString(s)
			i = end - 1
			expectKey = false
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stringEnd is the index after the JSON string starting at raw[i] ('"').
func stringEnd(raw string, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(raw)
}

// hideFirst escapes the first character of the quoted JSON string s (with
// its quotes) as \uXXXX, unless it already is an escape or s is empty.
func hideFirst(s string) string {
	if len(s) < 3 || s[1] == '\\' || s[1] == '"' {
		return s
	}
	r, size := utf8.DecodeRuneInString(s[1:])
	return `"` + escapeRune(r) + s[1+size:]
}

func escapeRune(r rune) string {
	if r > 0xFFFF { // a surrogate pair, as JSON writes it
		r -= 0x10000
		return fmt.Sprintf(`\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// hiddenKey is name as hideNestedKeys writes it inside a nested object,
// for visitParam lookups of a nested key.
func hiddenKey(name string) string {
	if name == "" {
		return name
	}
	r, size := utf8.DecodeRuneInString(name)
	return escapeRune(r) + name[size:]
}

// groupKeyFrag is the key of group type typ in an event's $groups, as
// hideNestedKeys writes it, or as rows written before it did.
func groupKeyFrag(typ string) frag {
	const groups = "visitParamExtractRaw(properties, '$groups')"
	return sqlf("if(visitParamHas("+groups+", ?), visitParamExtractString("+groups+", ?), visitParamExtractString("+groups+", ?))",
		hiddenKey(typ), hiddenKey(typ), typ)
}
