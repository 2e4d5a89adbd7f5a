package websdk

import (
	"bytes"
	"net/url"
)

// peekFlagsToken reads the project token a /flags payload (JSON, past
// its encodings) carries, as DecodeFlagsRequest would, without decoding
// the rest: one pass over the top-level object that builds nothing, so an
// unknown token is refused before the decode (which builds maps of up to
// ~25 × the body). ok is false when it cannot tell cheaply (escapes in a
// key or in the token, a token that is no string or number, anything
// that is not an object): the decode then says.
func peekFlagsToken(payload []byte, query url.Values) (token string, ok bool) {
	fromQuery := func() string { return firstNonEmpty(query.Get("token"), query.Get("api_key")) }
	b := bytes.TrimSpace(payload)
	if len(b) == 0 {
		return fromQuery(), true
	}
	fields, ok := scanTopLevel(b, tokenFields)
	if !ok {
		return "", false
	}
	for _, name := range tokenFields {
		raw, present := fields[name]
		if !present || string(raw) == "null" {
			continue
		}
		switch {
		case raw[0] == '"':
			s := raw[1 : len(raw)-1]
			for _, c := range s {
				if c < 0x20 || c >= 0x7f || c == '\\' {
					return "", false // an escape, or text JSON decoding may change
				}
			}
			if len(s) > 0 {
				return string(s), true
			}
		case isJSONNumber(raw):
			return string(raw), true
		default:
			return "", false
		}
	}
	return fromQuery(), true
}

// tokenFields are the fields a /flags body names its token with, first
// found first (stringField's order in parseFlags).
var tokenFields = []string{"token", "api_key", "$token"}

// scanTopLevel returns the raw values of the named keys of the JSON object
// b (the last of a repeated key, as encoding/json keeps), skipping the
// others; false when b is not an object it can read (a key with escapes
// included).
func scanTopLevel(b []byte, names []string) (map[string][]byte, bool) {
	out := map[string][]byte{}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		end, escaped := scanString(b, i)
		if end < 0 || escaped {
			return nil, false
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipSpace(b, i+1)
		start := i
		if i = skipValue(b, i); i < 0 {
			return nil, false
		}
		for _, n := range names {
			if string(key) == n {
				out[n] = b[start:i]
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return out, true
		default:
			return nil, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index past the string starting at b[i] ('"'),
// or -1, and whether it holds escapes.
func scanString(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index past the JSON value starting at b[i], or -1.
// Nested values are skipped by their brackets (strings in them too), not
// checked.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := scanString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// isJSONNumber reports whether b is a JSON number literal.
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
