// Package vecfeed reads the vectors DuckDB hands a scalar function, and
// writes its result vector, in place: the DuckDB store's feeds
// (journey_funnel_feed, journey_actor_periods) take their rows through it.
//
// Why: duckdb-go gives scalar functions their input one boxed value at a
// time (DataChunk.GetValue: an allocation per BIGINT) and offers typed
// vector views for strings only (VectorView's type set is ~string).
// Boxing was about 40 % of the funnel's Go CPU on the bench (20 M
// events). Every reader here answers false when it cannot read in place,
// and the caller then uses the boxed API, which gives the same answers:
// an upgrade that breaks an assumption below costs speed, not answers,
// and the tests named below fail so that it is noticed.
//
// What it relies on, as of duckdb-go v2.10506.0 (DuckDB v1.5.6), and how
// each assumption is checked:
//
//  1. duckdb-go's Vector holds a pointer v to its unexported vector, which
//     keeps the C API's duckdb_vector_get_data and
//     duckdb_vector_get_validity pointers in fields dataPtr and maskPtr
//     (unsafe.Pointer). Of finds them by name and type through reflect,
//     once; when they are missing or of another kind it answers false for
//     every vector. Checked by TestLayout here, and in the store by
//     TestFunnelFeedReads, TestDAUDense and TestRetentionDense, which fail
//     when the in-place read is not used (the counters
//     journey_funnel_feed_chunks_total{read="in_place"} and
//     {read="boxed"}, feedChunksInPlace and feedChunksBoxed).
//  2. DuckDB's C API flattens a scalar function's input chunk before the
//     call (no constant or dictionary vectors), as duckdb-go's own getters
//     assume: row i of a column is element i of its data. Checked by
//     TestInPlaceReads (a constant argument and a dictionary-encoded
//     column, every row compared with GetValue).
//  3. Fixed-width values are stored as in C: BIGINT an int64, TIMESTAMP an
//     int64 of µs since the epoch, BOOLEAN one byte (0 or 1). Int64s and
//     Timestamps compare the first and last row of every chunk with
//     GetValue at run time and answer false when they differ. Checked by
//     TestInPlaceReads (every row) and by the store's tests comparing the
//     in-place and boxed reads' answers (TestFunnelFeedReads,
//     TestFunnelEventCodes, TestDAUDense, TestRetentionDense).
//  4. The validity mask is nil when every row is valid, otherwise 64 rows
//     per uint64 word, bit set = valid (DuckDB's ValidityMask). A column
//     with a NULL is not read in place. Checked by TestInPlaceReads (NULLs
//     in the first, a middle and the last row).
//  5. The result vector duckdb-go hands out (GetResultVector) is flat and
//     writable: Bools writes the BOOLEAN results in place and leaves the
//     validity as duckdb-go made it (all valid). Checked by
//     TestInPlaceReads (the query counts the rows set true), and in the
//     store by every feed query, which compares its count of rows with the
//     rows the feed received.
package vecfeed

import (
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Raw is a flat vector's data and validity, read and written in place.
type Raw struct {
	data, mask unsafe.Pointer
}

// vectorLayout is where a duckdb.Vector keeps its *vector and where that
// keeps the data and validity pointers (assumption 1); ok is false when
// duckdb-go's types no longer look as expected.
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

// Of returns vec's data and validity pointers, or false when they cannot
// be found.
func Of(vec duckdb.Vector) (Raw, bool) {
	l := vectorLayout()
	if !l.ok {
		return Raw{}, false
	}
	p := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(&vec), l.v))
	if p == nil {
		return Raw{}, false
	}
	r := Raw{
		data: *(*unsafe.Pointer)(unsafe.Add(p, l.data)),
		mask: *(*unsafe.Pointer)(unsafe.Add(p, l.mask)),
	}
	return r, r.data != nil
}

// Int64s is the vector's first n values as BIGINTs.
func (r Raw) Int64s(n int) []int64 { return unsafe.Slice((*int64)(r.data), n) }

// Bools is the vector's first n values as BOOLEANs.
func (r Raw) Bools(n int) []bool { return unsafe.Slice((*bool)(r.data), n) }

// AllValid says whether none of the first n values is NULL.
func (r Raw) AllValid(n int) bool {
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

// Int64s returns column col of chunk as BIGINTs read in place, or false
// when that is not possible or a NULL is among them: the caller then uses
// the boxed API. It checks the first and last value against GetValue.
func Int64s(chunk *duckdb.DataChunk, col int) ([]int64, bool) {
	return raw64s(chunk, col, func(v any, x int64) bool { return v == any(x) })
}

// Timestamps is Int64s for a TIMESTAMP column: µs since the epoch,
// checked against GetValue's time.Time.
func Timestamps(chunk *duckdb.DataChunk, col int) ([]int64, bool) {
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
	r, ok := Of(vec)
	if !ok || !r.AllValid(n) {
		return nil, false
	}
	xs := r.Int64s(n)
	for _, i := range []int{0, n - 1} {
		if v, err := chunk.GetValue(col, i); err != nil || !same(v, xs[i]) {
			return nil, false
		}
	}
	return xs, true
}

// StringView is column col of chunk as duckdb-go's borrowed VARCHAR view.
func StringView(chunk *duckdb.DataChunk, col int) (duckdb.VectorView[string], error) {
	vec, err := chunk.GetVector(col)
	if err != nil {
		return duckdb.VectorView[string]{}, err
	}
	return duckdb.GetVectorView[string](vec)
}

// Strings copies column col of chunk when it is VARCHAR without NULLs.
func Strings(chunk *duckdb.DataChunk, col int) ([]string, bool) {
	view, err := StringView(chunk, col)
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
