package duckdb

import (
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// rawVec reads and writes a flat DuckDB vector of a fixed-width type in
// place.
//
// Why: duckdb-go gives scalar functions their input one boxed value at a
// time (DataChunk.GetValue: an allocation per BIGINT) and offers typed
// vector views for strings only. Boxing was about 40 % of the funnel's Go
// CPU on the bench (20 M events). duckdb-go keeps each vector's data
// pointer in an unexported field; rawOf finds it by name and type through
// reflect, once, and callers check what they read against the boxed API
// (the first and last row of every chunk), falling back to it when
// anything differs, so a duckdb-go upgrade that moves the field costs
// speed, not answers. DuckDB hands the C API's scalar functions flattened
// vectors, which is what duckdb-go's own getters assume too.
type rawVec struct {
	data, mask unsafe.Pointer
}

// vectorLayout is where a duckdb.Vector keeps its *vector and where that
// keeps the data and validity pointers; ok is false when duckdb-go's
// types no longer look as expected.
var vectorLayout = sync.OnceValue(func() (l struct {
	ok            bool
	v, data, mask uintptr
}) {
	vt := reflect.TypeFor[duckdb.Vector]()
	f, ok := vt.FieldByName("v")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
		return l
	}
	inner := f.Type.Elem()
	d, okD := inner.FieldByName("dataPtr")
	m, okM := inner.FieldByName("maskPtr")
	if !okD || !okM || len(d.Index) != 1 || len(m.Index) != 1 ||
		d.Type.Kind() != reflect.UnsafePointer || m.Type.Kind() != reflect.UnsafePointer {
		return l
	}
	l.ok, l.v, l.data, l.mask = true, f.Offset, d.Offset, m.Offset
	return l
})

// rawOf returns vec's data and validity pointers, or false when they
// cannot be found.
func rawOf(vec duckdb.Vector) (rawVec, bool) {
	l := vectorLayout()
	if !l.ok {
		return rawVec{}, false
	}
	p := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(&vec), l.v))
	if p == nil {
		return rawVec{}, false
	}
	r := rawVec{
		data: *(*unsafe.Pointer)(unsafe.Add(p, l.data)),
		mask: *(*unsafe.Pointer)(unsafe.Add(p, l.mask)),
	}
	return r, r.data != nil
}

// int64s is the vector's first n values as BIGINTs.
func (r rawVec) int64s(n int) []int64 { return unsafe.Slice((*int64)(r.data), n) }

// bools is the vector's first n values as BOOLEANs.
func (r rawVec) bools(n int) []bool { return unsafe.Slice((*bool)(r.data), n) }

// allValid says whether none of the first n values is NULL.
func (r rawVec) allValid(n int) bool {
	if r.mask == nil {
		return true
	}
	words := unsafe.Slice((*uint64)(r.mask), (n+63)/64)
	for i, w := range words {
		want := ^uint64(0)
		if rest := n - 64*i; rest < 64 {
			want = 1<<rest - 1
		}
		if w&want != want {
			return false
		}
	}
	return true
}

// rawInt64s returns column col of chunk as BIGINTs read in place, or false
// when that is not possible or a NULL is among them: the caller then uses
// the boxed API. It checks the first and last value against GetValue.
func rawInt64s(chunk *duckdb.DataChunk, col int) ([]int64, bool) {
	return raw64s(chunk, col, func(v any, x int64) bool { return v == any(x) })
}

// rawTimestamps is rawInt64s for a TIMESTAMP column: µs since the epoch,
// checked against GetValue's time.Time.
func rawTimestamps(chunk *duckdb.DataChunk, col int) ([]int64, bool) {
	return raw64s(chunk, col, func(v any, x int64) bool {
		ts, ok := v.(time.Time)
		return ok && ts.UnixMicro() == x
	})
}

// raw64s reads a column of 8-byte values in place; same reports whether
// GetValue's boxed value is the raw one, for the first and last row.
func raw64s(chunk *duckdb.DataChunk, col int, same func(boxed any, raw int64) bool) ([]int64, bool) {
	n := chunk.GetSize()
	vec, err := chunk.GetVector(col)
	if err != nil || n == 0 {
		return nil, false
	}
	r, ok := rawOf(vec)
	if !ok || !r.allValid(n) {
		return nil, false
	}
	xs := r.int64s(n)
	for _, i := range []int{0, n - 1} {
		if v, err := chunk.GetValue(col, i); err != nil || !same(v, xs[i]) {
			return nil, false
		}
	}
	return xs, true
}

// stringView is column col of chunk as a borrowed VARCHAR view.
func stringView(chunk *duckdb.DataChunk, col int) (duckdb.VectorView[string], error) {
	vec, err := chunk.GetVector(col)
	if err != nil {
		return duckdb.VectorView[string]{}, err
	}
	return duckdb.GetVectorView[string](vec)
}

// nonNullStrings copies column col of chunk when it is VARCHAR without
// NULLs.
func nonNullStrings(chunk *duckdb.DataChunk, col int) ([]string, bool) {
	view, err := stringView(chunk, col)
	if err != nil {
		return nil, false
	}
	out := make([]string, view.Len())
	for i := range out {
		v, ok, err := view.GetValueBorrowed(i)
		if err != nil || !ok {
			return nil, false
		}
		out[i] = strings.Clone(v)
	}
	return out, true
}
