// Package sqlfrag is the SQL fragment both event stores build queries
// from: a piece of SQL text with its bound arguments in text order. Text
// and arguments are only ever appended together, so no caller lines up
// argument lists by hand and nothing decides by searching generated SQL.
package sqlfrag

import "slices"

// Frag is SQL text and the arguments of its placeholders, in order.
type Frag struct {
	Text string
	Args []any
}

// New is a fragment of text and the arguments of its placeholders.
func New(text string, args ...any) Frag { return Frag{Text: text, Args: args} }

// Add appends text and the arguments of its placeholders.
func (f *Frag) Add(text string, args ...any) {
	f.Text += text
	// Clipped: a copy of f appended to elsewhere never shares arguments.
	// (Each Add copies: build long lists in one Add.)
	f.Args = append(slices.Clip(f.Args), args...)
}

// AddFrag appends another fragment.
func (f *Frag) AddFrag(g Frag) { f.Add(g.Text, g.Args...) }

// SQL is the fragment as a query and its arguments.
func (f Frag) SQL() (string, []any) { return f.Text, f.Args }

// Join joins fragments with sep.
func Join(sep string, fs []Frag) Frag {
	var out Frag
	for i, f := range fs {
		if i > 0 {
			out.Add(sep)
		}
		out.AddFrag(f)
	}
	return out
}
