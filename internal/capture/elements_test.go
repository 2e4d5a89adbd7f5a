package capture

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
)

func elementsOf(t testing.TB, js string) []any {
	t.Helper()
	var v []any
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber() // as the decoders read bodies
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestElementsChain: $elements arrays as older posthog-js sends them, and
// the chains PostHog's ingestion writes for them.
func TestElementsChain(t *testing.T) {
	cases := []struct{ name, elements, chain string }{
		{"button in a card",
			`[{"tag_name":"button","$el_text":"Buy now","attr__class":"primary btn","attr__id":"buy","nth_child":2,"nth_of_type":1,"classes":["primary","btn"]},
			  {"tag_name":"div","attr__class":"card","nth_child":1,"nth_of_type":1},{"tag_name":"body","nth_child":2,"nth_of_type":1}]`,
			`button.btn.primary:attr__class="primary btn"attr__id="buy"attr_id="buy"nth-child="2"nth-of-type="1"text="Buy now";` +
				`div.card:attr__class="card"nth-child="1"nth-of-type="1";body:nth-child="2"nth-of-type="1"`},
		{"link with quotes and semicolons",
			`[{"tag_name":"a","$el_text":"Say \"hi\"; now","attr__href":"/x?a=1;b=\"2\"","nth_child":1,"nth_of_type":1}]`,
			`a:attr__href="/x?a=1;b=\"2\""href="/x?a=1;b=\"2\""nth-child="1"nth-of-type="1"text="Say \"hi\"; now"`},
		{"classes as a list, quotes dropped, no positions",
			`[{"tag_name":"span","attr__class":["z","a\"b"],"attr__data-n":5,"attr__hidden":true}]`,
			`span.ab.z:attr__class="z,a\"b"attr__data-n="5"attr__hidden="true"nth-child="0"nth-of-type="0"`},
		{"classes from the classes list", `[{"tag_name":"i","classes":["b","a"]}]`, `i.a.b:nth-child="0"nth-of-type="0"`},
		{"not objects skipped", `[1,"x",null,{"tag_name":"p"}]`, `p:nth-child="0"nth-of-type="0"`},
	}
	for _, c := range cases {
		if got := ElementsChain(elementsOf(t, c.elements)); got != c.chain {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.chain)
		}
	}
	long := strings.Repeat("é", maxElementText+10)
	got := ElementsChain([]any{map[string]any{"tag_name": "p", "$el_text": long}})
	if !strings.Contains(got, `text="`+strings.Repeat("é", maxElementText)+`"`) {
		t.Errorf("text not cut at %d characters: %d bytes", maxElementText, len(got))
	}
}

// TestElementsChainCapture: a captured event with only $elements is
// stored with the chain (and without the array), which actions' selectors
// and texts then match; a chain the SDK sent is kept as sent.
func TestElementsChainCapture(t *testing.T) {
	body := `{"api_key":"t","batch":[
		{"event":"$autocapture","distinct_id":"u","properties":{"$event_type":"click","$elements":[{"tag_name":"button","$el_text":"Buy","attr__class":"btn buy","nth_child":1,"nth_of_type":1},{"tag_name":"form","nth_child":1,"nth_of_type":1}]}},
		{"event":"$rageclick","distinct_id":"u","properties":{"$elements_chain":"a:text=\"x\"","$elements":[{"tag_name":"b"}]}},
		{"event":"$dead_click","distinct_id":"u","properties":{"$elements_chain":"div:nth-child=\"1\""}}]}`
	d, err := DecodePostHog(Request{Path: "/e/", Header: http.Header{}, Body: []byte(body), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	p := d.Events[0].Properties
	chain, _ := p["$elements_chain"].(string)
	if _, ok := p["$elements"]; ok || chain != `button.btn.buy:attr__class="btn buy"nth-child="1"nth-of-type="1"text="Buy";form:nth-child="1"nth-of-type="1"` {
		t.Fatalf("properties %v", p)
	}
	re, err := insight.SelectorRegex("form > button.buy")
	if err != nil || !regexp.MustCompile(re).MatchString(chain) {
		t.Fatalf("selector on the converted chain: %v", err)
	}
	if p := d.Events[1].Properties; p["$elements_chain"] != `a:text="x"` || p["$elements"] == nil {
		t.Fatalf("a chain and an array: %v", p)
	}
	if p := d.Events[2].Properties; p["$elements_chain"] != `div:nth-child="1"` {
		t.Fatalf("a chain alone: %v", p)
	}
}

// FuzzElementsChain: any JSON array converts without panicking into
// valid UTF-8 (for valid input) with one element per object, split as the
// chain's readers split it (";" outside quoted values).
func FuzzElementsChain(f *testing.F) {
	for _, s := range []string{
		`[{"tag_name":"button","$el_text":"Buy now","attr__class":"btn primary","attr__id":"buy","nth_child":2,"nth_of_type":1}]`,
		`[{"tag_name":"a","$el_text":"a\"b;c","attr__href":"/x;y"},{"tag_name":"div","classes":["q\"","r;s"]}]`,
		`[{"attr__class":["a",1,null,{"x":1}],"nth_child":1e400}]`,
		`[{"tag_name":"p","attr__x\"y":"v\\"}]`,
		`[1,[],"x",null,{}]`,
	} {
		f.Add([]byte(s))
	}
	split := regexp.MustCompile(`(?:[^;"]|"(?:[^"\\]|\\[\s\S])*")+`)
	f.Fuzz(func(t *testing.T, data []byte) {
		var list []any
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if dec.Decode(&list) != nil {
			return
		}
		chain := ElementsChain(list)
		if utf8.Valid(data) && !utf8.ValidString(chain) {
			t.Fatalf("chain of %q is not UTF-8: %q", data, chain)
		}
		objects := 0
		clean := true
		for _, e := range list {
			el, ok := e.(map[string]any)
			if !ok {
				continue
			}
			objects++
			// Tags, classes and keys are written raw, and backslashes are
			// not escaped: a ";" there, or a backslash before a quote,
			// splits differently, as in PostHog's format.
			raw := stringOf(el["tag_name"]) + strings.Join(elementClasses(el), "")
			for k := range el {
				raw += k
			}
			clean = clean && !strings.ContainsAny(raw, `;"`) && !strings.Contains(strings.ReplaceAll(elementString(el), `\"`, ""), `\`)
		}
		if clean && objects > 0 {
			if n := len(split.FindAllString(chain, -1)); n != objects {
				t.Fatalf("%d objects gave %d elements: %q", objects, n, chain)
			}
		}
	})
}
