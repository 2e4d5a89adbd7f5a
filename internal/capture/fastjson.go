package capture

import (
	"encoding/json"
	"unicode/utf8"
)

// fastDecode decodes one JSON value into exactly what encoding/json with
// UseNumber makes of it (map[string]any, []any, string, json.Number, bool,
// nil), in one recursive pass without its byte-at-a-time scanner: that
// scanner was most of the CPU and allocations of a single-event request
// (BenchmarkSingleEventAck). It handles only the text SDKs send; anything
// else (a syntax error, invalid UTF-8, a surrogate \u escape, trailing
// data, deep nesting) makes ok false, and the caller decodes with
// encoding/json, which decides the value or names the error. So whenever
// ok is true the value is encoding/json's (FuzzFastDecode checks that).
func fastDecode(data []byte) (v any, ok bool) {
	d := fastDecoder{data: data}
	if len(data) <= fastShareMax {
		d.text = string(data)
	}
	v, ok = d.value(0)
	if !ok {
		return nil, false
	}
	d.space()
	return v, d.i == len(d.data)
}

type fastDecoder struct {
	data []byte
	// text is data copied once: strings without escapes are cut from it
	// rather than each copied. They keep the whole text alive, so only
	// small texts are shared: an event of a large batch that outlives its
	// request (a live viewer's queue) must not hold the batch.
	text string
	i    int
}

// fastMaxDepth stays below encoding/json's nesting limit (10 000), which
// the fallback then reports.
const fastMaxDepth = 1000

// fastShareMax is the largest text whose strings are cut from one copy.
const fastShareMax = 16 << 10

// cut is data[start:end] as a string.
func (d *fastDecoder) cut(start, end int) string {
	if d.text != "" {
		return d.text[start:end]
	}
	return string(d.data[start:end])
}

func (d *fastDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) value(depth int) (any, bool) {
	d.space()
	if d.i >= len(d.data) || depth > fastMaxDepth {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, ok := d.string()
		if !ok {
			return nil, false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.data)-d.i < len(lit) || string(d.data[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}

func (d *fastDecoder) object(depth int) (any, bool) {
	d.i++ // {
	m := make(map[string]any)
	d.space()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		key, ok := d.string()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[key] = v // a repeated key: the last wins, as with encoding/json
		more, ok := d.more('}')
		if !ok {
			return nil, false
		}
		if !more {
			return m, true
		}
	}
}

// more reads the separator after a member or element: ',' when more
// follow, close when the object or array ends.
func (d *fastDecoder) more(close byte) (more, ok bool) {
	d.space()
	if d.i >= len(d.data) {
		return false, false
	}
	switch d.data[d.i] {
	case ',':
		d.i++
		return true, true
	case close:
		d.i++
		return false, true
	}
	return false, false
}

func (d *fastDecoder) array(depth int) (any, bool) {
	d.i++ // [
	a := make([]any, 0)
	d.space()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		more, ok := d.more(']')
		if !ok {
			return nil, false
		}
		if !more {
			return a, true
		}
	}
}

// string reads the string whose quote is at d.i. Text without escapes is
// copied once; escapes other than surrogates are undone here.
func (d *fastDecoder) string() (string, bool) {
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			raw := d.data[start:j]
			if !ascii && !utf8.Valid(raw) {
				return "", false // encoding/json replaces the bad bytes
			}
			d.i = j + 1
			return d.cut(start, j), true
		case c == '\\':
			return d.escaped(start, j)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// escaped finishes a string that has an escape at data[j].
func (d *fastDecoder) escaped(start, j int) (string, bool) {
	buf := make([]byte, 0, j-start+16)
	buf = append(buf, d.data[start:j]...)
	for j < len(d.data) {
		c := d.data[j]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", false
			}
			d.i = j + 1
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			j++
			continue
		}
		if j+1 >= len(d.data) {
			return "", false
		}
		switch e := d.data[j+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(d.data[j+2:])
			if !ok || r >= 0xd800 && r < 0xe000 {
				return "", false // surrogates: encoding/json pairs them
			}
			buf = utf8.AppendRune(buf, r)
			j += 4
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number in JSON's grammar, kept as its text.
func (d *fastDecoder) number() (any, bool) {
	start, i := d.i, d.i
	if d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case i < len(d.data) && d.data[i] >= '1' && d.data[i] <= '9':
		i = digits(d.data, i)
	default:
		return nil, false
	}
	if i < len(d.data) && d.data[i] == '.' {
		j := digits(d.data, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		j := digits(d.data, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	d.i = i
	return json.Number(d.cut(start, i)), true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
