package channel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func templateData() map[string]any {
	var item map[string]any
	json.Unmarshal([]byte(`{"name":"Linen Shirt","price":49.9,"qty":2,"big":12345678901234567890,"tags":["a","b"],"meta":{"color":"blue"},"on_sale":true,"none":null}`), &item)
	return map[string]any{
		"person": map[string]any{
			"name":        "Ana",
			"distinct_id": "user-42",
			"empty":       "",
			"plan.tier":   "pro",
			"address":     map[string]any{"city": "Seoul"},
			"$browser":    "Chrome",
			"hostile":     `<script>alert("x")</script>{{person.name}}`,
			"tpl":         "{{event.secret}}",
			"nul":         "a\x00b\x1bc\u2028d",
			"joined":      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			"score":       int64(7),
		},
		"event": map[string]any{"event": "added_to_cart", "secret": "LEAK", "n": 3.0},
		"item":  item,
		"flat":  map[string]string{"k": "v"},
	}
}

func TestRender(t *testing.T) {
	d := templateData()
	cases := []struct {
		tpl    string
		escape func(string) string
		want   string
	}{
		{"Hi {{person.name}}!", nil, "Hi Ana!"},
		{"Hi {{ person.name }}!", nil, "Hi Ana!"},
		{"Hi {{person.nickname}}!", nil, "Hi !"},
		{"Hi {{person.nickname|there}}!", nil, "Hi there!"},
		{"Hi {{ person.nickname | there you are }}!", nil, "Hi there you are!"},
		{"Hi {{person.empty|friend}}", nil, "Hi friend"},
		{"Hi {{person.name|friend}}", nil, "Hi Ana"},
		{"{{nobody.name|x}}", nil, "x"},
		{"{{person.address.city}}", nil, "Seoul"},
		{"{{person.plan.tier}}", nil, "pro"},
		{`{{person["plan.tier"]}}`, nil, "pro"},
		{"{{person.$browser}}", nil, "Chrome"},
		{"{{item.name}} for {{item.price}} x{{item.qty}}", nil, "Linen Shirt for 49.9 x2"},
		{"{{item.big}}", nil, "12345678901234567000"},
		{"{{item.tags}} {{item.meta}} {{item.on_sale}} [{{item.none}}] [{{item.none|-}}]", nil, `["a","b"] {"color":"blue"} true [] [-]`},
		{"{{item.meta.color}}", nil, "blue"},
		{"{{event.n}} {{person.score}} {{person.joined}}", nil, "3 7 2026-01-02T03:04:05Z"},
		{"{{flat.k}}", nil, "v"},
		{"{{person}}", nil, `{"$browser":"Chrome","address":{"city":"Seoul"},"distinct_id":"user-42","empty":"","hostile":"\u003cscript\u003ealert(\"x\")\u003c/script\u003e{{person.name}}","joined":"2026-01-02T03:04:05Z","name":"Ana","nul":"a\u0000b\u001bc\u2028d","plan.tier":"pro","score":7,"tpl":"{{event.secret}}"}`},
		// Values are never templates: a value holding a placeholder stays text.
		{"{{person.tpl}}", nil, "{{event.secret}}"},
		{"{{person.hostile}}", nil, `<script>alert("x")</script>{{person.name}}`},
		{"<p>{{person.hostile}}</p>", EscapeHTML, `<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{{person.name}}</p>`},
		{`<a title="{{person.hostile}}">`, EscapeHTML, `<a title="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{{person.name}}">`},
		{"{{person.nickname|<b>you</b>}}", EscapeHTML, "&lt;b&gt;you&lt;/b&gt;"},
		// The template's own markup is the author's and stays.
		{"<b>{{person.name}}</b>", EscapeHTML, "<b>Ana</b>"},
		{"{{person.nul}}", EscapeText, "abcd"},
		{"{{person.nul}}", nil, "a\x00b\x1bc\u2028d"},
		{"Subject: {{person.hostile}}\n", EscapeLine, `Subject: <script>alert("x")</script>{{person.name}}` + "\n"},
		// Not placeholders: written as they are.
		{"{{", nil, "{{"},
		{"{{person.name", nil, "{{person.name"},
		{"}}{{}}", nil, "}}{{}}"},
		{"{{ }}", nil, "{{ }}"},
		{"{{person..name}}", nil, "{{person..name}}"},
		{"{{person.name.}}", nil, "{{person.name.}}"},
		{"{{.person}}", nil, "{{.person}}"},
		{"{{person name}}", nil, "{{person name}}"},
		{"{{printf \"%s\" 1}}", nil, `{{printf "%s" 1}}`},
		{"{{{person.name}}}", nil, "{Ana}"},
		{"{{x}}{{person.name}}", nil, "Ana"},
		{`{{person["unterminated}}`, nil, `{{person["unterminated}}`},
		{"", nil, ""},
		{"plain text", nil, "plain text"},
		{"a|b {{person.nickname|x|y}}", nil, "a|b x|y"},
		{"{{person.name}}", func(string) string { return "ESC" }, "ESC"},
	}
	for _, c := range cases {
		if got := Render(c.tpl, d, c.escape); got != c.want {
			t.Errorf("Render(%q) =\n  %q\nwant\n  %q", c.tpl, got, c.want)
		}
	}
	if got := Render("Hi {{person.name|there}}", nil, nil); got != "Hi there" {
		t.Errorf("nil data: %q", got)
	}
}

func TestEscapers(t *testing.T) {
	long := strings.Repeat("é", MaxValueRunes+10)
	if got := EscapeText(long); utf8.RuneCountInString(got) != MaxValueRunes+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("EscapeText does not bound: %d runes", utf8.RuneCountInString(got))
	}
	if got := Bounded(3)("abcdef"); got != "abc…" {
		t.Errorf("Bounded(3) = %q", got)
	}
	if got := Bounded(3)("abc"); got != "abc" {
		t.Errorf("Bounded(3) = %q", got)
	}
	if got := EscapeText("a\xffb\r\nc\td"); got != "a\uFFFDb\nc\td" {
		t.Errorf("EscapeText = %q", got)
	}
	if got := EscapeLine("a\r\nb\tc"); got != "a b c" {
		t.Errorf("EscapeLine = %q", got)
	}
	if got := EscapeHTML(`'"&<>`); got != "&#39;&#34;&amp;&lt;&gt;" {
		t.Errorf("EscapeHTML = %q", got)
	}
}

func TestRenderBounded(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	tpl := strings.Repeat("{{person.bio}}", 1000) // 10 MB unbounded
	out := Render(tpl, map[string]any{"person": map[string]any{"bio": big}}, nil)
	if len(out) != MaxRendered {
		t.Fatalf("output of %d bytes, want %d", len(out), MaxRendered)
	}
	out = Render(strings.Repeat("é", MaxRendered), nil, nil)
	if len(out) > MaxRendered || !utf8.ValidString(out) {
		t.Fatalf("cut output: %d bytes, valid %v", len(out), utf8.ValidString(out))
	}
}

func FuzzRender(f *testing.F) {
	seeds := []struct{ tpl, val string }{
		{"Hi {{person.name}}!", "Ana"},
		{"{{person.name|there}}", ""},
		{"<p>{{person.name}}</p>", "<script>alert(1)</script>"},
		{"{{person.name}}", "{{person.name}}{{event.x}}"},
		{"{{{{person.name}}}}", "}}{{"},
		{`{{person["a.b"]}}`, "&amp;"},
		{"{{person.a.b.c.d}}", "\x00\xff"},
		{"{{ person.name | <i>x</i> }}", "\"'"},
		{"{{", "{{"},
		{"}}{{person.name", "x"},
	}
	for _, s := range seeds {
		f.Add(s.tpl, s.val)
	}
	f.Fuzz(func(t *testing.T, tpl, val string) {
		data := map[string]any{"person": map[string]any{"name": val, "a": map[string]any{"b": val}, "a.b": val}}
		out := Render(tpl, data, EscapeHTML)
		if len(out) > MaxRendered {
			t.Fatalf("output of %d bytes", len(out))
		}
		// What the value contributes is escaped: with a template free of
		// markup, no markup can appear in the output.
		if !strings.ContainsAny(tpl, "<>\"'&") && strings.ContainsAny(out, "<>\"'") {
			t.Fatalf("Render(%q) with value %q = %q: unescaped markup", tpl, val, out)
		}
		// A template without "{{" is copied as it is.
		if !strings.Contains(tpl, "{{") && len(tpl) <= MaxRendered && out != tpl {
			t.Fatalf("Render(%q) = %q", tpl, out)
		}
		// Rendering is deterministic, and a value's placeholders never
		// expand: a value that is a placeholder for another key renders
		// as its own escaped text.
		if Render(tpl, data, EscapeHTML) != out {
			t.Fatal("not deterministic")
		}
		plain := Render(tpl, map[string]any{"person": map[string]any{"name": "{{person.secret}}", "secret": "LEAK"}}, nil)
		if strings.Contains(plain, "LEAK") && !strings.Contains(tpl, "secret") {
			t.Fatalf("Render(%q) expanded a value: %q", tpl, plain)
		}
		if utf8.ValidString(tpl) && utf8.ValidString(val) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", out)
		}
	})
}

// A template made to be slow ("{{" repeated, one "}}" at the end)
// renders in linear time.
func TestRenderLinear(t *testing.T) {
	tpl := strings.Repeat("{{", 100_000) + "person.name}}"
	start := time.Now()
	out := Render(tpl, map[string]any{"person": map[string]any{"name": "Ana"}}, nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if len(out) != 2*100_000-2+3 || !strings.HasSuffix(out, "Ana") {
		t.Fatalf("output of %d bytes ending %q", len(out), out[len(out)-5:])
	}
}

func TestRenderHelpers(t *testing.T) {
	d := map[string]any{"person": map[string]any{"name": "Ana\r\nBcc: x", "bio": "<b>hi</b>\x07"}}
	if got := RenderSubject("Hi {{person.name}}\n!", d); got != "Hi Ana Bcc: x !" {
		t.Errorf("RenderSubject = %q", got)
	}
	if got := RenderBody("{{person.bio}}\nbye", d); got != "<b>hi</b>\nbye" {
		t.Errorf("RenderBody = %q", got)
	}
	if got := RenderHTML("<p>{{person.bio}}</p>", d); got != "<p>&lt;b&gt;hi&lt;/b&gt;</p>" {
		t.Errorf("RenderHTML = %q", got)
	}
}
