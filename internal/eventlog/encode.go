package eventlog

import (
	"bytes"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"encoding/json"

	"github.com/journey-dev/journey/internal/event"
)

// batchEncoder writes a batch's record payload as go-json's Encoder does,
// byte for byte (TestAppendBatchMatchesGoJSON, FuzzAppendBatch), for the
// values capture's decoder makes (maps, slices, strings, json.Number,
// bools, nulls): go-json's encoder was a tenth of the server's CPU at
// 10 000 single-event requests/s, and its deep frames grew the handlers'
// stacks again after every GC shrank them. Anything else (a float64 an
// import set, a time outside what JSON times allow) makes append report
// false, and the record is encoded by go-json.
type batchEncoder struct {
	// keys are the maps' keys being written, nested maps' after their
	// parent's, each with its quoted form in quoted.
	keys   []mapKey
	quoted []byte
}

type mapKey struct {
	key        string
	start, end int // of its quoted form in quoted
}

// append appends b's JSON to buf; false when it has a value it leaves to
// go-json (buf is then to be discarded).
func (e *batchEncoder) append(buf []byte, b event.Batch) ([]byte, bool) {
	buf = append(buf, `{"project_id":`...)
	buf = strconv.AppendInt(buf, b.ProjectID, 10)
	buf = append(buf, `,"events":`...)
	if b.Events == nil {
		return append(buf, "null}"...), true
	}
	buf = append(buf, '[')
	for i := range b.Events {
		if i > 0 {
			buf = append(buf, ',')
		}
		var ok bool
		if buf, ok = e.event(buf, &b.Events[i]); !ok {
			return buf, false
		}
	}
	return append(buf, "]}"...), true
}

// event follows event.Event's fields and tags, omitempty included.
func (e *batchEncoder) event(buf []byte, ev *event.Event) ([]byte, bool) {
	ok := true
	buf = append(buf, `{"uuid":`...)
	buf = appendString(buf, ev.UUID)
	buf = append(buf, `,"event":`...)
	buf = appendString(buf, ev.Event)
	buf = append(buf, `,"distinct_id":`...)
	buf = appendString(buf, ev.DistinctID)
	buf = append(buf, `,"timestamp":`...)
	if buf, ok = appendTime(buf, ev.Timestamp); !ok {
		return buf, false
	}
	for _, f := range [...]struct {
		name string
		m    map[string]any
	}{{`,"properties":`, ev.Properties}, {`,"$set":`, ev.Set}, {`,"$set_once":`, ev.SetOnce}} {
		if len(f.m) == 0 {
			continue
		}
		buf = append(buf, f.name...)
		if buf, ok = e.object(buf, f.m); !ok {
			return buf, false
		}
	}
	if len(ev.Unset) > 0 {
		buf = append(buf, `,"$unset":[`...)
		for i, s := range ev.Unset {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		buf = append(buf, ']')
	}
	if ev.NoPerson {
		buf = append(buf, `,"no_person":true`...)
	}
	buf = append(buf, `,"received_at":`...)
	if buf, ok = appendTime(buf, ev.ReceivedAt); !ok {
		return buf, false
	}
	return append(buf, '}'), true
}

// maxEncodeDepth leaves deeper values to go-json.
const maxEncodeDepth = 100

func (e *batchEncoder) value(buf []byte, v any, depth int) ([]byte, bool) {
	if depth > maxEncodeDepth {
		return buf, false
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), true
	case string:
		return appendString(buf, x), true
	case bool:
		return strconv.AppendBool(buf, x), true
	case json.Number:
		if !validNumber(string(x)) {
			return buf, false // go-json says what is wrong with it
		}
		return append(buf, x...), true
	case map[string]any:
		if x == nil {
			return append(buf, "null"...), true
		}
		return e.objectAt(buf, x, depth)
	case []any:
		if x == nil {
			return append(buf, "null"...), true
		}
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var ok bool
			if buf, ok = e.value(buf, el, depth+1); !ok {
				return buf, false
			}
		}
		return append(buf, ']'), true
	}
	return buf, false
}

func (e *batchEncoder) object(buf []byte, m map[string]any) ([]byte, bool) {
	return e.objectAt(buf, m, 0)
}

// objectAt writes m with its keys in go-json's order: by their quoted
// form, quotes included (so "a!" comes before "a", and "\u2028" before
// "z"), not by the keys themselves as encoding/json sorts.
func (e *batchEncoder) objectAt(buf []byte, m map[string]any, depth int) ([]byte, bool) {
	from, quotedFrom := len(e.keys), len(e.quoted)
	defer func() { e.keys, e.quoted = e.keys[:from], e.quoted[:quotedFrom] }()
	for k := range m {
		start := len(e.quoted)
		e.quoted = appendString(e.quoted, k)
		e.keys = append(e.keys, mapKey{key: k, start: start, end: len(e.quoted)})
	}
	quoted := e.quoted
	slices.SortFunc(e.keys[from:], func(a, b mapKey) int {
		return bytes.Compare(quoted[a.start:a.end], quoted[b.start:b.end])
	})
	buf = append(buf, '{')
	for i := from; i < from+len(m); i++ {
		k := e.keys[i] // e.keys and e.quoted may move while nested maps add theirs
		if i > from {
			buf = append(buf, ',')
		}
		buf = append(buf, e.quoted[k.start:k.end]...)
		buf = append(buf, ':')
		var ok bool
		if buf, ok = e.value(buf, m[k.key], depth+1); !ok {
			return buf, false
		}
	}
	return append(buf, '}'), true
}

// appendTime writes t as time.Time's MarshalJSON does; false for the
// times it refuses (years outside 0-9999, odd zone offsets).
func appendTime(buf []byte, t time.Time) ([]byte, bool) {
	buf = append(buf, '"')
	buf, err := t.AppendText(buf)
	if err != nil {
		return buf, false
	}
	return append(buf, '"'), true
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as go-json does: HTML characters, control
// characters (\b and \f too) as \u00XX except \n, \r and \t, U+2028 and
// U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// validNumber is JSON's number grammar.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}
