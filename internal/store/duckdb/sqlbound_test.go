package duckdb

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/testutil"
)

// rssMiB is this process' resident memory (the guard's reading).
func rssMiB(t *testing.T) int64 {
	n := residentBytes()
	if n == 0 {
		testutil.Missing(t, "no /proc/self/statm on this system")
	}
	return n >> 20
}

// digitsJoin is n digit tables cross-joined: 10^n rows of s, n digits each.
func digitsJoin(n int) string {
	from := make([]string, n)
	cols := make([]string, n)
	for i := range from {
		a := string(rune('a' + i))
		from[i] = digits(a)
		cols[i] = a + ".x"
	}
	return "(SELECT " + strings.Join(cols, " || ") + " AS s FROM " + strings.Join(from, ", ") + ")"
}

// TestSQLMemoryBounded: allowed queries that need far more memory than
// the limit stop with a memory error (or finish), the process' memory
// stays near the limit, and the store still answers afterwards.
func TestSQLMemoryBounded(t *testing.T) {
	s, err := Open("", Options{MemoryLimit: 128e6, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newLoader(t, s)
	l.Load(1, ev("e", "u", day0, nil))
	doubling := "SELECT properties AS s FROM events"
	for i := 0; i < 26; i++ {
		doubling = "SELECT s || s AS s FROM (" + doubling + ")"
	}
	base := rssMiB(t)
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if r := rssMiB(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	for _, q := range []string{
		"SELECT s FROM " + digitsJoin(6) + " ORDER BY md5(s) DESC LIMIT 1",
		"SELECT count(DISTINCT md5(s)) FROM " + digitsJoin(6),
		"SELECT max(length(s)) FROM (" + doubling + ")",
		"SELECT md5(s), count(*) FROM " + digitsJoin(6) + " GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		began := time.Now()
		_, err := s.SQL(ctx, 1, &insight.SQL{Query: q, Limit: 10})
		cancel()
		t.Logf("%.50s…: %v in %v", q, err, time.Since(began))
		var mem *insight.MemoryError
		if err != nil && !errors.As(err, &mem) {
			t.Errorf("%.60s…: %v, want an answer or a memory error", q, err)
		}
	}
	close(stop)
	<-done
	// 128 MB for DuckDB, plus what Go and the allocator keep around.
	if grew := peak.Load() - base; grew > 450 {
		t.Fatalf("RSS grew by %d MiB (from %d MiB) past a 128 MB limit", grew, base)
	}
	res, err := s.SQL(context.Background(), 1, &insight.SQL{Query: "SELECT count(*) FROM events", Limit: 10})
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("after the bombs: %v %v", res, err)
	}
	t.Logf("RSS %d MiB before, %d MiB at the peak", base, peak.Load())
}

// cpuTime is the process' user and system CPU time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSQLTimeoutStopsWork: past its deadline a query answers and DuckDB
// stops working on it (the CPU goes quiet), it does not run on unseen.
func TestSQLTimeoutStopsWork(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	l.Load(1, ev("e", "u", day0, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.SQL(ctx, 1, &insight.SQL{Query: "SELECT count(*) FROM " + digitsJoin(10) + " WHERE md5(s) = 'x'", Limit: 10})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("answered after %v", took)
	}
	time.Sleep(100 * time.Millisecond)
	before := cpuTime(t)
	time.Sleep(time.Second)
	if used := cpuTime(t) - before; used > 300*time.Millisecond {
		t.Fatalf("%v of CPU in the second after the timeout: the query still runs", used)
	}
}

// TestDefaultMemoryLimit: with no --memory-limit DuckDB gets a quarter of
// the machine's memory (at most DefaultMemoryCap), not its own default of
// 80 %.
func TestDefaultMemoryLimit(t *testing.T) {
	total := memTotal()
	if total == 0 {
		testutil.Missing(t, "memory size unknown on this system")
	}
	s := testdb(t)
	var text string
	if err := s.db.QueryRow(`SELECT current_setting('memory_limit')`).Scan(&text); err != nil {
		t.Fatalf("cannot read memory_limit: %v", err)
	}
	limit := parseSize(text)
	if want := min(max(total/4, 256<<20), DefaultMemoryCap); limit <= 0 || uint64(limit) > want+want/20 || uint64(limit) < want-want/20 {
		t.Fatalf("memory_limit = %d, want about %d (a quarter of %d)", limit, want, total)
	}
}

// TestInsightTimeoutStopsWork: the same for the insights, whose scans feed
// Go functions: past the deadline the funnel and the trend answer and the
// CPU goes quiet.
func TestInsightTimeoutStopsWork(t *testing.T) {
	s := testdb(t)
	s.plan.NoJourneyIndex = true // the SQL plans' feeds are under test (the index's scans stop at the deadline too: TestJourneyIndexTimeout)
	if _, err := s.db.Exec(`INSERT INTO events SELECT 1, uuid(), CASE i % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END,
		'd' || (i % 200000), i % 200000, TIMESTAMP '2026-01-05' + INTERVAL (i % 86400) SECOND, '{"x":' || i || '}', now()
		FROM range(3000000) t(i)`); err != nil {
		t.Fatal(err)
	}
	rng := insight.Range{From: day0, To: day0.AddDate(0, 0, 2)}
	for name, run := range map[string]func(ctx context.Context) error{
		"funnel": func(ctx context.Context) error {
			_, err := s.Funnel(ctx, 1, time.UTC, &insight.Funnel{Steps: []insight.FunnelStep{{Event: "a"}, {Event: "b"}, {Event: "c"}}, Window: "1d", Range: rng})
			return err
		},
		"trend": func(ctx context.Context) error {
			_, err := s.Trend(ctx, 1, time.UTC, &insight.Trend{Series: []insight.Series{{Event: "a", Math: "avg", Property: "x"}}, Interval: "hour", Range: rng})
			return err
		},
	} {
		start := time.Now()
		if err := run(context.Background()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		took := time.Since(start)
		if took < 20*time.Millisecond {
			t.Fatalf("%s took %v: too little work to see it stop", name, took)
		}
		// Cancelled a quarter of the way through.
		ctx, cancel := context.WithTimeout(context.Background(), took/4)
		err := run(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: err %v, want the deadline", name, err)
		}
		time.Sleep(100 * time.Millisecond)
		before := cpuTime(t)
		time.Sleep(500 * time.Millisecond)
		if used := cpuTime(t) - before; used > 150*time.Millisecond {
			t.Fatalf("%s: %v of CPU in the half second after the timeout", name, used)
		}
	}
}

// TestSQLGuard: a sql query whose process memory grows past the guard's
// budget stops with a memory error, whatever DuckDB counts; small queries
// are untouched, and the store answers afterwards.
func TestSQLGuard(t *testing.T) {
	s, err := Open("", Options{MemoryLimit: 512e6, Threads: 2, SQLMemoryBudget: 48 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newLoader(t, s)
	l.Load(1, ev("e", "u", day0, nil))
	if _, err := s.SQL(context.Background(), 1, &insight.SQL{Query: "SELECT count(*) FROM events", Limit: 10}); err != nil {
		t.Fatal(err)
	}
	stops := sqlGuardStops.Get()
	_, err = s.SQL(context.Background(), 1, &insight.SQL{Query: "SELECT count(DISTINCT md5(s) || s) FROM " + digitsJoin(7), Limit: 10})
	var mem *insight.MemoryError
	if !errors.As(err, &mem) || sqlGuardStops.Get() == stops {
		t.Fatalf("err %v (guard stops %d → %d), want a memory error from the guard", err, stops, sqlGuardStops.Get())
	}
	if res, err := s.SQL(context.Background(), 1, &insight.SQL{Query: "SELECT count(*) FROM events", Limit: 10}); err != nil || len(res.Rows) != 1 {
		t.Fatalf("after the guard: %v %v", res, err)
	}
}

func TestParseSize(t *testing.T) {
	for text, want := range map[string]int64{"5.5 GiB": 11 << 29, "0.5 MiB": 1 << 19, "1.0 GB": 1e9, "12 bytes": 12, "nonsense": 0, "1 XB": 0} {
		if got := parseSize(text); got != want {
			t.Errorf("parseSize(%q) = %d, want %d", text, got, want)
		}
	}
	if got := guardBudget(1 << 30); got != 1<<30+512<<20 {
		t.Errorf("guardBudget(1 GiB) = %d", got)
	}
	if got := guardBudget(4 << 30); got != 6<<30 {
		t.Errorf("guardBudget(4 GiB) = %d", got)
	}
}
