package clickhouse

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestHideNestedKeys(t *testing.T) {
	cases := map[string]string{
		`{"a":1}`:                         `{"a":1}`,
		`{"a":{"b":1,"c":[{"d":"x"}]}}`:   `{"a":{"\u0062":1,"\u0063":[{"\u0064":"x"}]}}`,
		`{"s":"{\"b\":1}","o":{"é":2}}`:   `{"s":"{\"b\":1}","o":{"\u00e9":2}}`,
		`{"o":{"😀k":1,"\u0061":2,"":3}}`:  `{"o":{"\ud83d\ude00k":1,"\u0061":2,"":3}}`,
		`{"l":[1,"a",{"k":{"j":null}}]}`:  `{"l":[1,"a",{"\u006b":{"\u006a":null}}]}`,
		`[{"a":1}]`:                       `[{"a":1}]`,
		`{"$groups":{"company":"acme"}}`:  `{"$groups":{"\u0063ompany":"acme"}}`,
		`{ "a" : { "b" : 1 } , "c" : 2 }`: `{ "a" : { "\u0062" : 1 } , "c" : 2 }`,
	}
	for in, want := range cases {
		got := hideNestedKeys(in)
		if got != want {
			t.Errorf("hideNestedKeys(%s) = %s, want %s", in, got, want)
		}
		var a, b any
		if json.Unmarshal([]byte(in), &a) == nil {
			if err := json.Unmarshal([]byte(got), &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("hideNestedKeys(%s) = %s decodes to %v (%v), want %v", in, got, b, err, a)
			}
		}
	}
	if got := hiddenKey("company"); got != `\u0063ompany` || !strings.Contains(hideNestedKeys(`{"g":{"company":1}}`), `"`+got+`":`) {
		t.Fatalf("hiddenKey = %s", got)
	}
}

// FuzzHideNestedKeys: the JSON decodes to the same value, and no nested key
// is left findable by a visitParam search for its name.
func FuzzHideNestedKeys(f *testing.F) {
	for _, s := range []string{`{"a":{"b":1}}`, `{"a":[{"b":"c"}],"d":"{\"e\":1}"}`, `{"$groups":{"x":"y"}}`, `{}`, `{"😀":{"😀":1}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var a any
		if json.Unmarshal([]byte(in), &a) != nil {
			return
		}
		got := hideNestedKeys(in)
		var b any
		if err := json.Unmarshal([]byte(got), &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("hideNestedKeys(%q) = %q decodes to %v (%v), want %v", in, got, b, err, a)
		}
	})
}
