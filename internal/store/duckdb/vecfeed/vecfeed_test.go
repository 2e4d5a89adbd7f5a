package vecfeed

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// TestLayout: duckdb-go's Vector still keeps its data and validity where
// Of looks (assumption 1 of the package comment). When this fails after a
// duckdb-go upgrade, the feeds fall back to boxed reads (slower, same
// answers) until Of is taught the new layout.
func TestLayout(t *testing.T) {
	if !vectorLayout().ok {
		t.Fatal("duckdb-go's Vector has no v *vector with dataPtr and maskPtr any more: see the package comment")
	}
	if _, ok := Of(duckdb.Vector{}); ok {
		t.Fatal("Of read a zero Vector")
	}
}

// probeRun collects what the probe function saw, from DuckDB's threads.
type probeRun struct {
	mu       sync.Mutex
	errs     []string
	chunks   int
	inPlace  map[int]int // chunks read in place, by column
	nullRows int         // rows with a NULL in column n
	sumI     int64       // of column i as read in place
	c        any         // column c's value (the table's or a constant)
	s        string      // column s's value when constant, else ""
}

func (p *probeRun) errorf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 10 {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
}

type probeKey struct{}

var probeBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Columns of the probe: i (BIGINT, varies), c (BIGINT, constant), ts
// (TIMESTAMP), n (BIGINT with NULLs), s (VARCHAR, a few values).
const (
	colI = iota
	colC
	colTS
	colN
	colS
)

type probe struct{}

func (probe) Config() duckdb.ScalarFuncConfig {
	typ := func(t duckdb.Type) duckdb.TypeInfo {
		info, err := duckdb.NewTypeInfo(t)
		if err != nil {
			panic(err)
		}
		return info
	}
	return duckdb.ScalarFuncConfig{
		InputTypeInfos:      []duckdb.TypeInfo{typ(duckdb.TYPE_BIGINT), typ(duckdb.TYPE_BIGINT), typ(duckdb.TYPE_TIMESTAMP), typ(duckdb.TYPE_BIGINT), typ(duckdb.TYPE_VARCHAR)},
		ResultTypeInfo:      typ(duckdb.TYPE_BOOLEAN),
		Volatile:            true,
		SpecialNullHandling: true, // rows with a NULL reach the function
	}
}

func (probe) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{ChunkContextExecutor: runProbe}
}

// runProbe reads every column in place and compares every row with
// GetValue; its result, written in place, is i % 3 = 0.
func runProbe(ctx context.Context, st *duckdb.ChunkIteratorState) error {
	p := ctx.Value(probeKey{}).(*probeRun)
	chunk := st.GetInputChunk()
	n := chunk.GetSize()
	read := map[int]bool{}
	nulls := 0
	for _, col := range []int{colI, colC, colN} {
		xs, ok := Int64s(chunk, col)
		read[col] = ok
		for i := range n {
			v, err := chunk.GetValue(col, i)
			if err != nil {
				return err
			}
			if v == nil {
				if ok {
					p.errorf("column %d row %d is NULL, read in place as %d", col, i, xs[i])
				}
				nulls++
				continue
			}
			if ok && v != any(xs[i]) {
				p.errorf("column %d row %d: in place %d, GetValue %v", col, i, xs[i], v)
			}
		}
	}
	ts, ok := Timestamps(chunk, colTS)
	read[colTS] = ok
	for i := range n {
		v, err := chunk.GetValue(colTS, i)
		if err != nil {
			return err
		}
		if tt, _ := v.(time.Time); ok && tt.UnixMicro() != ts[i] {
			p.errorf("ts row %d: in place %d, GetValue %v", i, ts[i], v)
		}
	}
	ss, ok := Strings(chunk, colS)
	read[colS] = ok
	for i := range n {
		v, err := chunk.GetValue(colS, i)
		if err != nil {
			return err
		}
		if ok && v != any(ss[i]) {
			p.errorf("s row %d: in place %q, GetValue %v", i, ss[i], v)
		}
	}
	out, ok := Of(st.GetResultVector())
	if !ok {
		p.errorf("the result vector is not writable in place")
		return nil
	}
	is, ok := Int64s(chunk, colI)
	if !ok {
		p.errorf("column i not read in place")
		return nil
	}
	// What the values should be, not only what GetValue says (it reads
	// the same memory): see the table in TestInPlaceReads.
	var sum int64
	for i, x := range is {
		sum += x
		if v, _ := chunk.GetValue(colC, i); v != p.c {
			p.errorf("c row %d = %v, want %v", i, v, p.c)
		}
		if v, _ := chunk.GetValue(colTS, i); !v.(time.Time).Equal(probeBase.Add(time.Duration(x) * 1000003 * time.Microsecond)) {
			p.errorf("ts row %d = %v for i %d", i, v, x)
		}
		if v, _ := chunk.GetValue(colN, i); v != nil && v != any(x*7) {
			p.errorf("n row %d = %v for i %d", i, v, x)
		}
		want := p.s
		if want == "" {
			want = []string{"ads", "mail", "direct"}[x%3]
		}
		if v, _ := chunk.GetValue(colS, i); v != any(want) {
			p.errorf("s row %d = %v for i %d, want %s", i, v, x, want)
		}
	}
	res := out.Bools(n)
	for i, x := range is {
		res[i] = x%3 == 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chunks++
	p.sumI += sum
	p.nullRows += nulls
	for col, ok := range read {
		if ok {
			p.inPlace[col]++
		}
	}
	return nil
}

// TestInPlaceReads checks assumptions 2 to 5 of the package comment: over
// a checkpointed table (so that DuckDB's scans may hand out constant and
// dictionary vectors) every in-place read equals duckdb-go's boxed value,
// a constant argument and a dictionary-compressed VARCHAR are read in
// place (the input is flattened), a column with a NULL is not, and the
// results written in place are the ones the query counts.
func TestInPlaceReads(t *testing.T) {
	connector, err := duckdb.NewConnector(t.TempDir()+"/probe.duckdb", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := duckdb.RegisterScalarUDF(conn, "vecfeed_probe", probe{}); err != nil {
		t.Fatal(err)
	}
	const rows = 100_000
	if _, err := conn.ExecContext(context.Background(), fmt.Sprintf(`
		CREATE TABLE t AS SELECT i::BIGINT AS i, 5::BIGINT AS c,
			TIMESTAMP '2026-01-01' + to_microseconds(i * 1000003) AS ts,
			CASE WHEN i %% 5000 IN (0, 2047, 4999) THEN NULL ELSE i * 7 END AS n,
			['ads', 'mail', 'direct'][1 + i %% 3] AS s
		FROM range(%d) r(i);
		CHECKPOINT`, rows)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q string
		c any
		s string
	}{
		{`SELECT count(*) FILTER (WHERE vecfeed_probe(i, c, ts, n, s)) FROM t`, int64(5), ""},
		{`SELECT count(*) FILTER (WHERE vecfeed_probe(i, 42::BIGINT, ts, n, 'const')) FROM t`, int64(42), "const"}, // constant arguments
	} {
		q := tc.q
		p := &probeRun{inPlace: map[int]int{}, c: tc.c, s: tc.s}
		var got int64
		if err := conn.QueryRowContext(context.WithValue(context.Background(), probeKey{}, p), q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(p.errs) > 0 {
			t.Fatalf("%s:\n%v", q, p.errs)
		}
		if want := int64((rows + 2) / 3); got != want {
			t.Fatalf("%s: %d rows set true in place, want %d", q, got, want)
		}
		if p.sumI != rows*(rows-1)/2 {
			t.Fatalf("%s: column i read in place sums to %d, want %d", q, p.sumI, rows*(rows-1)/2)
		}
		if p.nullRows != 3*rows/5000 {
			t.Fatalf("%s: saw %d NULLs, want %d", q, p.nullRows, 3*rows/5000)
		}
		for _, col := range []int{colI, colC, colTS, colS} {
			if p.inPlace[col] != p.chunks {
				t.Fatalf("%s: column %d read in place in %d of %d chunks", q, col, p.inPlace[col], p.chunks)
			}
		}
		// Chunks of 2048 rows: a NULL in every 5000 rows leaves some
		// without one, and those are read in place.
		if p.inPlace[colN] == 0 || p.inPlace[colN] == p.chunks {
			t.Fatalf("%s: column n read in place in %d of %d chunks", q, p.inPlace[colN], p.chunks)
		}
	}
}
