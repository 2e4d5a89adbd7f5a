package capture

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// uuidNamespace derives deterministic UUIDs (v5) from client ids that are
// not UUIDs, so that a retried request maps to the same dedup key.
var uuidNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://journey.dev/capture/event-id"))

// eventUUID applies the dedup-key rule: the client's id when it is a UUID
// (canonical form), a UUIDv5 of it when it is something else, and a fresh
// UUIDv7 when there is none. The nil UUID counts as none: clients that send
// it send it for every event, and dedup would drop all but the first.
func eventUUID(v any) string {
	s, ok := idString(v)
	if !ok {
		return newUUID()
	}
	if u, err := uuid.Parse(s); err == nil {
		if u == uuid.Nil {
			return newUUID()
		}
		return u.String()
	}
	return uuid.NewSHA1(uuidNamespace, []byte(s)).String()
}

func newUUID() string {
	if u, err := uuid.NewV7(); err == nil {
		return u.String()
	}
	return uuid.NewString()
}

// idString reads an id that may be a string or a number. Numbers keep their
// JSON literal when it is an integer (so huge ids are not rounded) and are
// written without exponent when they are integral (123, not 1.23e+02).
// ok is false for missing, empty and other types.
func idString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return numberString(x), true
	case float64:
		return floatString(x), true
	}
	return "", false
}

func numberString(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return floatString(f)
}

func floatString(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// stringField returns m[key] when it is a non-empty string.
func stringField(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// objectField returns m[key] when it is an object.
func objectField(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// mergeObjects returns base with over's keys written over it; either may be
// nil. It copies neither when the other is empty.
func mergeObjects(base, over map[string]any) map[string]any {
	if len(base) == 0 {
		return over
	}
	if len(over) == 0 {
		return base
	}
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// unsetList reads $unset: a list of property names, or, from some clients,
// an object whose keys are the names.
func unsetList(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case map[string]any:
		for k := range x {
			out = append(out, k)
		}
		sort.Strings(out)
	case string:
		if x != "" {
			out = []string{x}
		}
	}
	return out
}

// tokenSet collects the distinct project tokens named in one request.
type tokenSet []string

func (t *tokenSet) add(s string) {
	if s == "" {
		return
	}
	for _, have := range *t {
		if have == s {
			return
		}
	}
	*t = append(*t, s)
}

// one returns the single token of the request, or the 401 for none or many.
func (t tokenSet) one(field string) (string, *Error) {
	switch len(t) {
	case 0:
		return "", unauthorized(field, "missing project token")
	case 1:
		return t[0], nil
	}
	return "", unauthorized(field, "more than one project token in one request")
}

// itemField names a field of batch item i, or of the single event when the
// request is not a batch (i < 0).
func itemField(i int, name string) string {
	if i < 0 {
		return name
	}
	if name == "" {
		return "batch[" + strconv.Itoa(i) + "]"
	}
	return "batch[" + strconv.Itoa(i) + "]." + name
}
