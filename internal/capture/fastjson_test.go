package capture

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

// stdDecode is what decodeJSON answered before fastDecode: encoding/json
// with UseNumber, one value and nothing after it.
func stdDecode(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// checkFast fails when fastDecode accepts a text that encoding/json
// refuses or reads differently. fastDecode refusing is always allowed
// (decodeJSON then asks encoding/json), except when mustAccept.
func checkFast(t *testing.T, data []byte, mustAccept bool) {
	t.Helper()
	got, ok := fastDecode(data)
	want, stdOK := stdDecode(data)
	switch {
	case ok && !stdOK:
		t.Fatalf("fastDecode accepted %q, which encoding/json refuses: %#v", data, got)
	case ok && !reflect.DeepEqual(got, want):
		t.Fatalf("fastDecode(%q) = %#v, encoding/json %#v", data, got, want)
	case !ok && mustAccept:
		t.Fatalf("fastDecode refused %q (encoding/json ok: %v)", data, stdOK)
	}
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	accept := []string{
		`{"api_key":"tok_a","event":"$pageview","distinct_id":"lat-17","uuid":"0190b0a2-8c1e-7d3a-9f00-000000000017","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/"}}`,
		`[{"event":"e","properties":{"price":19.99,"n":-0,"big":123456789012345678901234567890,"e":1E+2,"f":2.5e-3}}]`,
		`{"a":[],"b":{},"c":[1,[2,[3]]],"d":null,"t":true,"f":false}`,
		` { "a" : "x\"y\\z\/\b\f\n\r\t\u00e9\u0000" , "a" : 2 } `,
		`{"ünï":"cödé 日本","emoji":"😀"}`,
		`"just a string"`, `12`, `null`,
	}
	for _, s := range accept {
		checkFast(t, []byte(s), true)
	}
	refuse := []string{
		``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a":1} x`, `{"a":1}{}`,
		`01`, `-`, `1.`, `.5`, `1e`, `+1`, `tru`, `truex`, `nul`, `"a`, "\"a\x01\"", `"\x"`, `"\u12"`,
		`"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"", "\"a\\n\xc3\"", `{'a':1}`, `{"a":NaN}`, `[Infinity]`,
		strings.Repeat("[", fastMaxDepth+5) + strings.Repeat("]", fastMaxDepth+5),
	}
	for _, s := range refuse {
		got, ok := fastDecode([]byte(s))
		if ok {
			t.Fatalf("fastDecode accepted %q as %#v; encoding/json must decide it", s, got)
		}
		checkFast(t, []byte(s), false)
	}
}

// FuzzFastDecode: whatever the text, fastDecode's value is
// encoding/json's whenever it gives one.
func FuzzFastDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"e","distinct_id":"u","properties":{"$set":{"a":1},"x":[1.5,"s",null,true]}}`,
		`[{"a":"\u00e9\n"},{"b":-1e-7}]`, `"\ud83d\ude00"`, "\"\xe2\x82\"", `{"a":1,"a":{"b":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data, false)
	})
}

// BenchmarkDecodeJSON is decodeJSON on a posthog-js single event.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(`{"api_key":"tok_a","event":"$pageview","distinct_id":"lat-17","uuid":"0190b0a2-8c1e-7d3a-9f00-000000000017","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/","$browser":"Chrome","$screen_width":1920,"$lib":"web"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := decodeJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := stdDecode(body); !ok {
				b.Fatal("refused")
			}
		}
	})
}
