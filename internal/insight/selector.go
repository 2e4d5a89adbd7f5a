package insight

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SelectorRegex turns a CSS selector into an RE2 regular expression that
// an event's $elements_chain matches when an element of the chain matches
// the selector, as PostHog matches action selectors.
//
// The chain (PostHog's format) lists the clicked element first, then its
// ancestors, separated by ";" outside quoted values. An element is its
// tag, its classes sorted (".a.b"), then ":" and its attributes as
// key="value" with quotes in values written \": text, href, nth-child,
// nth-of-type, attr_id and attr__<name> for each HTML attribute.
//
// Supported: a tag or *, #id, .class (in any order), [name="value"]
// (single quotes or a bare word too), :nth-child(n), :nth-of-type(n), and
// the descendant (space) and child (>) combinators. Anything else is an
// error, where PostHog would quietly match nothing. As in PostHog, the
// selector's last compound may match any element of the chain (a click
// inside a matching button counts), and attribute names are compared in
// lower case.
func SelectorRegex(selector string) (string, error) {
	parts, err := parseSelector(selector)
	if err != nil {
		return "", fmt.Errorf("cannot read selector %q: %w", selector, err)
	}
	// Start at an element boundary: skip whole elements from the start, so
	// a ";" inside a quoted value never counts as one.
	var b strings.Builder
	b.WriteString(`^(?:` + wholeElement + `)*`)
	for i, p := range parts {
		if i > 0 && !p.child {
			b.WriteString(`(?:` + wholeElement + `)*`) // any elements between
		}
		b.WriteString(p.regex(i == len(parts)-1))
		if b.Len() > MaxSelectorRegex {
			return "", fmt.Errorf("selector %q is too complex: its pattern would be over %d KiB", selector, MaxSelectorRegex>>10)
		}
	}
	return b.String(), nil
}

// MaxSelectorRegex bounds the pattern a selector becomes (attribute orders
// are spelled out, so it grows faster than the selector): the stores
// compile it, per query, on the database's threads.
const MaxSelectorRegex = 16 << 10

// ChainTextPattern and ChainHrefPattern find the text and href attributes
// of the chain's elements (as PostHog's elements_chain_texts and
// elements_chain_href columns do, but quote-aware: a value ends at its
// first unescaped quote); the value, still escaped (ChainEscape), is
// group 1.
const (
	ChainTextPattern = `[:"]text="((?:[^"\\]|\\[\s\S])*)"`
	ChainHrefPattern = `[:"]href="((?:[^"\\]|\\[\s\S])*)"`
)

// Pieces of the chain's grammar, as regexes.
const (
	quotedValue  = `"(?:[^"\\]|\\[\s\S])*"`
	wholeElement = `(?:[^;"]|` + quotedValue + `)*;`
	anyTag       = `[^.;:"]*`
	oneClass     = `\.[^.;"]*`
	oneAttr      = `[^;"=]*=` + quotedValue
)

// selPart is one compound selector; parts run from the clicked element
// outwards (the reverse of the selector's order).
type selPart struct {
	tag     string // "" for any
	classes []string
	attrs   map[string]string // chain key → value
	// child: this element is the parent of the part before it (">").
	child bool
}

// Selector limits: bounded so the regex (attribute orders are spelled
// out, see attrsRegex) stays small.
const (
	maxSelectorParts = 20
	maxPartTerms     = 20
	maxPermutedAttrs = 4
)

// regex matches one element of the chain; last: nothing needs to follow.
func (p *selPart) regex(last bool) string {
	var b strings.Builder
	if p.tag != "" {
		b.WriteString(regexp.QuoteMeta(p.tag))
	} else {
		b.WriteString(anyTag)
	}
	classes := append([]string(nil), p.classes...)
	sort.Strings(classes) // the chain sorts them too
	for _, c := range classes {
		b.WriteString(`(?:` + oneClass + `)*?\.` + regexp.QuoteMeta(c))
	}
	b.WriteString(`(?:` + oneClass + `)*`)
	if len(p.attrs) == 0 {
		b.WriteString(`(?::(?:` + oneAttr + `)*)?`)
	} else {
		b.WriteString(`:` + attrsRegex(p.attrs) + `(?:` + oneAttr + `)*`)
	}
	if last {
		b.WriteString(`(?:;|$)`)
	} else {
		b.WriteString(`;`)
	}
	return b.String()
}

// attrsRegex matches the required attributes among an element's others.
// The chain writes them sorted, but SDKs sort differently (code points or
// localeCompare), so up to maxPermutedAttrs every order is accepted.
func attrsRegex(attrs map[string]string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	one := func(order []string) string {
		var b strings.Builder
		for _, k := range order {
			b.WriteString(`(?:` + oneAttr + `)*?` + regexp.QuoteMeta(k) + `="` + regexp.QuoteMeta(ChainEscape(attrs[k])) + `"`)
		}
		return b.String()
	}
	if len(keys) == 1 || len(keys) > maxPermutedAttrs {
		return one(keys)
	}
	var alts []string
	permute(keys, 0, func(order []string) { alts = append(alts, one(order)) })
	return `(?:` + strings.Join(alts, "|") + `)`
}

// permute calls f with every order of s[k:] after s[:k].
func permute(s []string, k int, f func([]string)) {
	if k == len(s) {
		f(s)
		return
	}
	for i := k; i < len(s); i++ {
		s[k], s[i] = s[i], s[k]
		permute(s, k+1, f)
		s[k], s[i] = s[i], s[k]
	}
}

// ChainEscape writes a value as the chain does: quotes as \".
func ChainEscape(v string) string { return strings.ReplaceAll(v, `"`, `\"`) }

// parseSelector reads a selector into parts, clicked element first.
func parseSelector(s string) ([]selPart, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty")
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("not UTF-8")
	}
	r := &selReader{s: s}
	var parts []selPart
	child := false
	for {
		sawSpace := r.skipSpace()
		if r.done() {
			break
		}
		switch c := r.s[r.i]; c {
		case '>':
			if child || len(parts) == 0 {
				return nil, r.errorf("misplaced >")
			}
			r.i++
			child = true
			continue
		case '+', '~', ',':
			return nil, r.errorf("%q is not supported (only descendant and > combinators)", c)
		}
		if len(parts) > 0 && !sawSpace && !child {
			return nil, r.errorf("unexpected %q", r.s[r.i])
		}
		p, err := r.compound()
		if err != nil {
			return nil, err
		}
		if len(parts) > 0 {
			parts[len(parts)-1].child = child
		}
		child = false
		parts = append(parts, p)
		if len(parts) > maxSelectorParts {
			return nil, fmt.Errorf("at most %d compound selectors", maxSelectorParts)
		}
	}
	if child {
		return nil, r.errorf("nothing after >")
	}
	// parts[i].child says parts[i+1] is its child: reversed, the part
	// right after that child in the chain.
	slices.Reverse(parts)
	return parts, nil
}

// selReader walks a selector.
type selReader struct {
	s string
	i int
}

func (r *selReader) done() bool { return r.i >= len(r.s) }

func (r *selReader) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", r.i, fmt.Sprintf(format, args...))
}

func (r *selReader) skipSpace() bool {
	start := r.i
	for !r.done() && strings.IndexByte(" \t\n\r\f", r.s[r.i]) >= 0 {
		r.i++
	}
	return r.i > start
}

// compound reads one compound selector: tag, then #id .class [attr] :nth….
func (r *selReader) compound() (selPart, error) {
	p := selPart{attrs: map[string]string{}}
	start := r.i
	if r.s[r.i] == '*' {
		r.i++
	} else if identStart(r.s[r.i]) {
		tag, err := r.ident()
		if err != nil {
			return p, err
		}
		if !tagName.MatchString(tag) {
			return p, r.errorf("%q is not a tag name", tag)
		}
		p.tag = strings.ToLower(tag)
	}
	for !r.done() {
		var err error
		switch r.s[r.i] {
		case '#':
			r.i++
			var id string
			if id, err = r.ident(); err == nil {
				err = p.setAttr("attr_id", id)
			}
		case '.':
			r.i++
			var c string
			if c, err = r.ident(); err == nil {
				p.classes = append(p.classes, c)
			}
		case '[':
			err = r.attribute(&p)
		case ':':
			err = r.pseudo(&p)
		default:
			if r.i == start {
				return p, r.errorf("unexpected %q", r.s[r.i])
			}
			return p, p.check()
		}
		if err != nil {
			return p, err
		}
	}
	return p, p.check()
}

func (p *selPart) check() error {
	if len(p.classes)+len(p.attrs) > maxPartTerms {
		return fmt.Errorf("at most %d classes and attributes per element", maxPartTerms)
	}
	return nil
}

func (p *selPart) setAttr(key, value string) error {
	if old, ok := p.attrs[key]; ok && old != value {
		return fmt.Errorf("%s given twice", key)
	}
	p.attrs[key] = value
	return nil
}

// attribute reads [name="value"] (or 'value', or a bare word).
func (r *selReader) attribute(p *selPart) error {
	r.i++ // [
	r.skipSpace()
	name, err := r.ident()
	if err != nil {
		return err
	}
	r.skipSpace()
	if r.done() || r.s[r.i] != '=' {
		return r.errorf("attribute selectors need =\"value\" (presence and ^= $= *= ~= |= are not supported)")
	}
	r.i++
	r.skipSpace()
	var value string
	if !r.done() && (r.s[r.i] == '"' || r.s[r.i] == '\'') {
		value, err = r.quoted()
	} else {
		value, err = r.ident()
	}
	if err != nil {
		return err
	}
	r.skipSpace()
	if r.done() || r.s[r.i] != ']' {
		return r.errorf("missing ]")
	}
	r.i++
	name = strings.ToLower(name)
	switch name {
	case "id":
		return p.setAttr("attr_id", value)
	default:
		return p.setAttr("attr__"+name, value)
	}
}

// pseudo reads :nth-child(n) or :nth-of-type(n), the positions the chain
// records.
func (r *selReader) pseudo(p *selPart) error {
	r.i++ // :
	name, err := r.ident()
	if err != nil {
		return err
	}
	name = strings.ToLower(name)
	if name != "nth-child" && name != "nth-of-type" {
		return r.errorf("pseudo-class :%s is not supported (only :nth-child(n) and :nth-of-type(n))", name)
	}
	if r.done() || r.s[r.i] != '(' {
		return r.errorf(":%s needs (n)", name)
	}
	r.i++
	r.skipSpace()
	start := r.i
	for !r.done() && r.s[r.i] >= '0' && r.s[r.i] <= '9' {
		r.i++
	}
	n := r.s[start:r.i]
	r.skipSpace()
	if n == "" || r.done() || r.s[r.i] != ')' {
		return r.errorf(":%s takes a plain number", name)
	}
	r.i++
	v, err := strconv.Atoi(n)
	if err != nil {
		return r.errorf(":%s takes a plain number", name)
	}
	return p.setAttr(name, strconv.Itoa(v))
}

func identStart(c byte) bool {
	return c == '-' || c == '_' || c == '\\' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ident reads a CSS identifier, with backslash escapes (w-1\/2, \31 0).
func (r *selReader) ident() (string, error) {
	var b strings.Builder
	for !r.done() && identStart(r.s[r.i]) {
		if r.s[r.i] == '\\' {
			if err := r.escape(&b); err != nil {
				return "", err
			}
			continue
		}
		b.WriteByte(r.s[r.i])
		r.i++
	}
	if b.Len() == 0 {
		if r.done() {
			return "", r.errorf("a name is missing at the end")
		}
		return "", r.errorf("a name is missing before %q", r.s[r.i])
	}
	return b.String(), nil
}

// escape reads a backslash escape into b: up to 6 hex digits and one
// optional space, or any other character as itself.
func (r *selReader) escape(b *strings.Builder) error {
	r.i++ // backslash
	if r.done() {
		return r.errorf("a backslash ends the selector")
	}
	start := r.i
	for r.i < len(r.s) && r.i-start < 6 && isHex(r.s[r.i]) {
		r.i++
	}
	if r.i > start {
		v, _ := strconv.ParseUint(r.s[start:r.i], 16, 32)
		if v == 0 || v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			v = utf8.RuneError
		}
		b.WriteRune(rune(v))
		if !r.done() && r.s[r.i] == ' ' {
			r.i++
		}
		return nil
	}
	c, n := utf8.DecodeRuneInString(r.s[r.i:])
	if c == '\n' {
		return r.errorf("a backslash before a newline")
	}
	b.WriteRune(c)
	r.i += n
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// quoted reads a CSS string in single or double quotes.
func (r *selReader) quoted() (string, error) {
	q := r.s[r.i]
	r.i++
	var b strings.Builder
	for !r.done() {
		switch c := r.s[r.i]; c {
		case q:
			r.i++
			return b.String(), nil
		case '\\':
			if err := r.escape(&b); err != nil {
				return "", err
			}
		case '\n':
			return "", r.errorf("a newline in a string")
		default:
			b.WriteByte(c)
			r.i++
		}
	}
	return "", r.errorf("unterminated string")
}
