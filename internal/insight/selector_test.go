package insight

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// Chains as posthog-js and PostHog's ingestion write them.
const (
	// A button in a card: classes sorted, attributes sorted by key.
	chainButton = `button.btn.primary:attr__class="btn primary"attr__data-attr="buy"attr__id="buy"attr_id="buy"nth-child="2"nth-of-type="1"text="Buy now";` +
		`div.card:attr__class="card"nth-child="1"nth-of-type="1";body:nth-child="2"nth-of-type="1"`
	// A span whose text holds quotes, semicolons and what looks like an
	// element, inside a link.
	chainTricky = `span:nth-child="1"nth-of-type="1"text="say \"hi\"; x;a.nav;button:";a.nav:attr__href="/x?a=1;b=2"href="/x?a=1;b=2"nth-child="1"nth-of-type="1";body:nth-child="2"nth-of-type="1"`
	// Quotes in an attribute, Tailwind classes with / and :, no text.
	chainInput = `input.hover:bg-blue.w-1/2:attr__placeholder="say \"hi\""nth-child="3"nth-of-type="1";form:nth-child="1"nth-of-type="1"`
)

func TestSelectorRegex(t *testing.T) {
	cases := []struct {
		selector, chain string
		want            bool
	}{
		{"button", chainButton, true},
		{"BUTTON", chainButton, true},
		{"span", chainButton, false},
		{"a", chainButton, false}, // "attr__…" is no tag a
		{"b", chainButton, false}, // nor is "button" or "body" one
		{"*", chainButton, true},
		{"button.btn", chainButton, true},
		{"button.primary.btn", chainButton, true}, // classes in any order
		{".primary.btn", chainButton, true},
		{".bt", chainButton, false},
		{".btn-primary", chainButton, false},
		{"div.btn", chainButton, false}, // both on one element
		{".card", chainButton, true},
		{"#buy", chainButton, true},
		{"#bu", chainButton, false},
		{"button#buy.btn", chainButton, true},
		{"div#buy", chainButton, false},
		{`[id="buy"]`, chainButton, true},
		{`[data-attr=buy]`, chainButton, true},
		{`[DATA-ATTR='buy']`, chainButton, true},
		{`[data-attr="bu"]`, chainButton, false},
		{`[class="btn primary"]`, chainButton, true},
		{`button[data-attr="buy"]#buy:nth-child(2)`, chainButton, true}, // several attributes, any order
		{`button:nth-of-type(1)[data-attr="buy"]:nth-child(2)#buy`, chainButton, true},
		{"button:nth-child(2)", chainButton, true},
		{"button:nth-child(1)", chainButton, false},
		{"div:nth-child(1)", chainButton, true},
		{"div > button", chainButton, true},
		{"div>button.btn", chainButton, true},
		{"body > button", chainButton, false},
		{"body button", chainButton, true},
		{"body  >  div > button", chainButton, true},
		{"body div button", chainButton, true},
		{"div > body", chainButton, false},
		{"button div", chainButton, false},
		{"div > *", chainButton, true},
		{"card button", chainButton, false},

		{"span", chainTricky, true},
		{"a.nav", chainTricky, true},
		{"a.nav > span", chainTricky, true},
		{"body > a > span", chainTricky, true},
		{"body > span", chainTricky, false},
		{"button", chainTricky, false}, // only inside the span's text
		{"span.nav", chainTricky, false},
		{`a[href="/x?a=1;b=2"]`, chainTricky, true},
		{`a[href="/x?a=1"]`, chainTricky, false},

		{`input[placeholder='say "hi"']`, chainInput, true},
		{`input[placeholder="say \"hi\""]`, chainInput, true},
		{`input[placeholder="say"]`, chainInput, false},
		{`.w-1\/2`, chainInput, true},
		{`input.hover\:bg-blue`, chainInput, true},
		{`.w-1`, chainInput, false},
		{`form > input:nth-child(3)`, chainInput, true},
		{`form > input.w-1\/2.hover\:bg-blue`, chainInput, true},
		{`\69 nput`, chainInput, true}, // a hex escape
	}
	for _, c := range cases {
		re, err := SelectorRegex(c.selector)
		if err != nil {
			t.Errorf("SelectorRegex(%q): %v", c.selector, err)
			continue
		}
		if got := regexp.MustCompile(re).MatchString(c.chain); got != c.want {
			t.Errorf("%q on %.40q…: match %v, want %v (regex %s)", c.selector, c.chain, got, c.want, re)
		}
	}
}

func TestSelectorRegexRefuses(t *testing.T) {
	for _, sel := range []string{"", "  ", "a + b", "a ~ b", "a, b", "a:hover", "a::before", "[href^='x']", "[disabled]",
		"> a", "a >", "a > > b", `[title="x]`, "a:nth-child(2n+1)", `a\`, "#", ".", "a[", "1a", "a!", "\xff"} {
		if re, err := SelectorRegex(sel); err == nil {
			t.Errorf("SelectorRegex(%q) = %s, want an error", sel, re)
		}
	}
	long := strings.Repeat("a ", maxSelectorParts+1)
	if _, err := SelectorRegex(long); err == nil {
		t.Errorf("%d parts accepted", maxSelectorParts+1)
	}
}

func TestTagRegex(t *testing.T) {
	re := regexp.MustCompile(TagRegex("A"))
	for chain, want := range map[string]bool{
		`a:href="/"`:                          true,
		`span:text="x";a.nav:href="/"`:        true,
		`abbr:nth-child="1"`:                  false,
		`button:attr__a="1"`:                  false,
		`span:nth-child="1";a`:                true,
		`span.a:nth-child="1"`:                false,
		`button:nth-child="1";article.a:x=""`: false,
		`span:text="x;a.b";b:nth-child="1"`:   false,
	} {
		if got := re.MatchString(chain); got != want {
			t.Errorf("tag a on %q: %v, want %v", chain, got, want)
		}
	}
}

// FuzzSelectorRegex: any selector is refused or compiles into a regex
// the stores' engines (RE2, as Go's) take, and reading it never panics.
func FuzzSelectorRegex(f *testing.F) {
	for _, s := range []string{"button", "div > button.btn.primary", `a[href="/x;y"]#id:nth-child(2)`, `[title='say "hi"']`,
		`.w-1\/2 .hover\:bg`, `\31 0`, "a + b", "*", "body  >  *", `[x="\"]`, "a:nth-of-type( 3 )"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		re, err := SelectorRegex(sel)
		if err != nil {
			return
		}
		r, err := regexp.Compile(re)
		if err != nil {
			t.Fatalf("SelectorRegex(%q) = %q, which does not compile: %v", sel, re, err)
		}
		r.MatchString(chainButton)
		r.MatchString(chainTricky)
	})
}

// TestSelectorRegexBounded: a selector whose pattern would be huge (review:
// 1.2 KB of selector became 98 KB of regex, 2.3 s to compile per query) is
// refused; element filter values are bounded like action conditions.
func TestSelectorRegexBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 20; i++ {
		b.WriteString(`div[a="1"][b="2"][c="3"][d="4"]`)
		for j := 0; j < 16; j++ {
			fmt.Fprintf(&b, ".c%d", j)
		}
		b.WriteString(" ")
	}
	if _, err := SelectorRegex(strings.TrimSpace(b.String())); err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Fatalf("huge selector: %v", err)
	}
	if re, err := SelectorRegex(`div.product-card > button.add-to-cart[data-testid="add"]`); err != nil || len(re) > MaxSelectorRegex {
		t.Fatalf("ordinary selector: %d bytes, %v", len(re), err)
	}
	f := Filter{Type: "element", Property: "text", Op: "eq", Value: strings.Repeat("x", maxPatternLen+1)}
	if err := validateElementFilter("filters[0]", f); err == nil {
		t.Fatal("a 2001-byte element filter value was accepted")
	}
}
