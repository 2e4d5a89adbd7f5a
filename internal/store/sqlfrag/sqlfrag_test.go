package sqlfrag

import (
	"reflect"
	"testing"
)

// TestFrag: text and arguments stay in step through Add, AddFrag and
// Join, and a copy appended to elsewhere never changes the original's
// arguments.
func TestFrag(t *testing.T) {
	base := New("a = ?", 1)
	x, y := base, base
	x.Add(" AND b = ?", 2)
	y.Add(" AND c = ?", 3)
	if got, args := x.SQL(); got != "a = ? AND b = ?" || !reflect.DeepEqual(args, []any{1, 2}) {
		t.Fatalf("x = %q %v", got, args)
	}
	if got, args := y.SQL(); got != "a = ? AND c = ?" || !reflect.DeepEqual(args, []any{1, 3}) {
		t.Fatalf("y = %q %v (shared arguments with x?)", got, args)
	}
	if !reflect.DeepEqual(base.Args, []any{1}) {
		t.Fatalf("base changed: %v", base.Args)
	}
	j := Join(" OR ", []Frag{New("p = ?", "x"), New("true"), New("q IN (?, ?)", 4, 5)})
	if got, args := j.SQL(); got != "p = ? OR true OR q IN (?, ?)" || !reflect.DeepEqual(args, []any{"x", 4, 5}) {
		t.Fatalf("join = %q %v", got, args)
	}
	if got := Join(", ", nil); got.Text != "" || got.Args != nil {
		t.Fatalf("empty join = %+v", got)
	}
}
