package eventlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
)

func batch(project int64, ids ...string) event.Batch {
	b := event.Batch{ProjectID: project}
	for _, id := range ids {
		b.Events = append(b.Events, event.Event{UUID: id, Event: "e", DistinctID: "d", Timestamp: time.Unix(1, 0).UTC()})
	}
	return b
}

func readAll(t *testing.T, l Log, from uint64) ([]string, uint64) {
	t.Helper()
	var ids []string
	for from < l.End() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		entries, err := l.Read(ctx, from, 1<<20)
		cancel()
		if err != nil {
			t.Fatalf("cannot read: %v", err)
		}
		for _, e := range entries {
			for _, ev := range e.Batch.Events {
				ids = append(ids, ev.UUID)
			}
			from = e.Next
		}
	}
	return ids, from
}

// TestFileTornTail: a record torn by a crash is cut on reopen; what was
// acknowledged before it stays readable, and appends continue after it.
// (Concurrent appends are covered for every log by testLog.)
func TestFileTornTail(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFile(dir, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := l.Append(context.Background(), batch(1, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	ids, end := readAll(t, l, 0)
	assertOnce(t, ids, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A torn record at the tail (a crash mid-write) is cut on reopen and the
	// acknowledged records before it stay readable.
	seg := filepath.Join(dir, fmt.Sprintf("%020d.wal", 0))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{50, 0, 0, 0, 1, 2, 3, 4, '{'})
	f.Close()
	l, err = OpenFile(dir, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.End() != end {
		t.Fatalf("end after recovery = %d, want %d", l.End(), end)
	}
	if err := l.Append(context.Background(), batch(1, "after")); err != nil {
		t.Fatal(err)
	}
	ids, _ = readAll(t, l, end)
	if len(ids) != 1 || ids[0] != "after" {
		t.Fatalf("after reopen read %v, want [after]", ids)
	}
}

func TestFileReadWaitsForAppend(t *testing.T) {
	l, err := OpenFile(t.TempDir(), FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []Entry, 1)
	go func() {
		e, err := l.Read(context.Background(), 0, 1<<20)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- e
	}()
	time.Sleep(20 * time.Millisecond)
	if err := l.Append(context.Background(), batch(7, "x")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if len(e) != 1 || e[0].Batch.ProjectID != 7 || e[0].Batch.Events[0].UUID != "x" {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not wake up after Append")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Read(ctx, l.End(), 1<<20); err == nil {
		t.Fatal("Read at the end returned without data")
	}
}

func TestFileTrim(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFile(dir, FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := batch(1)
	for i := 0; i < 1000; i++ {
		big.Events = append(big.Events, event.Event{UUID: fmt.Sprint(i), Event: strings.Repeat("x", 20000), DistinctID: "d"})
	}
	for i := 0; i < 4; i++ { // ~80 MB: rolls at least once
		if err := l.Append(context.Background(), big); err != nil {
			t.Fatal(err)
		}
	}
	// Records larger than the read budget still come back whole, across
	// segments; and reads whose budget ends mid-segment continue correctly.
	if ids, _ := readAll(t, l, 0); len(ids) != 4000 {
		t.Fatalf("read %d events back, want 4000", len(ids))
	}
	small := batch(1)
	for i := 0; i < 30; i++ {
		small.Events = append(small.Events, event.Event{UUID: fmt.Sprint(i), Event: strings.Repeat("y", 100_000), DistinctID: "d"})
	}
	from := l.End()
	for i := 0; i < 30; i++ { // ~90 MB in 3 MB records: crosses a segment boundary
		if err := l.Append(context.Background(), small); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for pos := from; pos < l.End(); {
		entries, err := l.Read(context.Background(), pos, 5<<20) // budget not a multiple of the record size
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			n += len(e.Batch.Events)
			pos = e.Next
		}
	}
	if n != 900 {
		t.Fatalf("read %d events in small steps, want 900", n)
	}
	segs, _ := listSegments(dir)
	if len(segs) < 2 {
		t.Fatalf("want a rolled segment, have %v", segs)
	}
	if err := l.Trim(l.End()); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if len(after) != 1 || after[0] != segs[len(segs)-1] {
		t.Fatalf("after trim segments = %v, want only the active %d", after, segs[len(segs)-1])
	}
}

func TestFileLog(t *testing.T) {
	testLog(t, perTest(func(t *testing.T) string { return t.TempDir() }, func(t *testing.T, dir string) Log {
		l, err := OpenFile(dir, FileOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}))
}

// perTest turns open into an opener whose storage (a directory, a stream)
// is made once per test by newStore, so a test that closes its log and
// opens it again gets the same entries back.
func perTest[S any](newStore func(t *testing.T) S, open func(t *testing.T, store S) Log) func(t *testing.T) Log {
	var mu sync.Mutex
	stores := map[*testing.T]S{}
	return func(t *testing.T) Log {
		mu.Lock()
		s, ok := stores[t]
		if !ok {
			s = newStore(t)
			stores[t] = s
		}
		mu.Unlock()
		return open(t, s)
	}
}

// testLog is what every Log implementation must do. open returns the log
// of t's storage; a second call in the same test reopens the same storage
// (after the first log was closed).
func testLog(t *testing.T, open func(t *testing.T) Log) {
	t.Run("ConcurrentAppends", func(t *testing.T) {
		l := open(t)
		appendConcurrently(t, l, 8, 50).Wait()
		ids, _ := readAll(t, l, 0)
		assertOnce(t, ids, 400)
	})

	t.Run("ReadWaitsForAppend", func(t *testing.T) {
		l := open(t)
		from := l.End()
		got := make(chan []Entry, 1)
		go func() {
			e, err := l.Read(context.Background(), from, 1<<20)
			if err != nil {
				t.Errorf("read: %v", err)
			}
			got <- e
		}()
		time.Sleep(50 * time.Millisecond)
		if err := l.Append(context.Background(), batch(7, "x")); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if len(e) != 1 || e[0].Batch.ProjectID != 7 || e[0].Batch.Events[0].UUID != "x" {
				t.Fatalf("got %+v", e)
			}
			if e[0].Next != l.End() {
				t.Fatalf("entry's Next = %d, End = %d", e[0].Next, l.End())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read did not wake up after Append")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if e, err := l.Read(ctx, l.End(), 1<<20); err == nil {
			t.Fatalf("Read at the end returned %d entries and no error", len(e))
		}
	})

	// The loader's pattern: follow the log from the last Next while
	// appends run; every batch arrives once, in the order of the log.
	t.Run("FollowWhileAppending", func(t *testing.T) {
		l := open(t)
		wg := appendConcurrently(t, l, 4, 100)
		var ids []string
		last := map[int]int{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for pos := uint64(0); len(ids) < 400; {
			entries, err := l.Read(ctx, pos, 4<<10)
			if err != nil {
				t.Fatalf("read after %d events: %v", len(ids), err)
			}
			for _, e := range entries {
				if e.Next <= pos {
					t.Fatalf("Next %d not after %d", e.Next, pos)
				}
				pos = e.Next
				for _, ev := range e.Batch.Events {
					var g, i int
					fmt.Sscanf(ev.UUID, "%d-%d", &g, &i)
					if prev, ok := last[g]; ok && i <= prev {
						t.Fatalf("writer %d: %d read after %d", g, i, prev)
					}
					last[g] = i
					ids = append(ids, ev.UUID)
				}
			}
		}
		wg.Wait()
		assertOnce(t, ids, 400)
	})

	// A loader stores the Next of the last entry it loaded; after a
	// restart it reads from there and gets exactly what came after.
	t.Run("ResumeAfterReopen", func(t *testing.T) {
		l := open(t)
		for i := 0; i < 10; i++ {
			if err := l.Append(context.Background(), batch(1, fmt.Sprintf("a%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		var entries []Entry
		for pos := uint64(0); len(entries) < 10; {
			e, err := l.Read(context.Background(), pos, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e...)
			pos = e[len(e)-1].Next
		}
		stored := entries[4].Next
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open(t)
		for i := 0; i < 5; i++ {
			if err := l.Append(context.Background(), batch(1, fmt.Sprintf("b%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		ids, _ := readAll(t, l, stored)
		want := []string{"a5", "a6", "a7", "a8", "a9", "b0", "b1", "b2", "b3", "b4"}
		if !slices.Equal(ids, want) {
			t.Fatalf("resumed at %d and read %v, want %v", stored, ids, want)
		}
	})

	// A batch over 8 MB (the most a JetStream message carries here; capture
	// takes up to 20 MB) holding a 1 MB event, then many 300 KB batches
	// read with a budget that is not a multiple of their size.
	t.Run("BigBatches", func(t *testing.T) {
		l := open(t)
		big := batch(1)
		big.Events = append(big.Events, event.Event{UUID: "huge", Event: strings.Repeat("h", 1<<20), DistinctID: "d"})
		for i := 0; i < 200; i++ {
			big.Events = append(big.Events, event.Event{UUID: fmt.Sprintf("big-%d", i), Event: strings.Repeat("x", 100_000), DistinctID: "d"})
		}
		if err := l.Append(context.Background(), big); err != nil {
			t.Fatal(err)
		}
		medium := batch(2)
		for i := 0; i < 30; i++ {
			medium.Events = append(medium.Events, event.Event{UUID: fmt.Sprint(i), Event: strings.Repeat("y", 10_000), DistinctID: "d"})
		}
		for i := 0; i < 40; i++ {
			if err := l.Append(context.Background(), medium); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		for pos := uint64(0); pos < l.End(); {
			entries, err := l.Read(context.Background(), pos, 1_500_000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				for _, ev := range e.Batch.Events {
					if e.Batch.ProjectID == 1 {
						ids = append(ids, ev.UUID)
					}
				}
				pos = e.Next
			}
		}
		if len(ids) != 201 || ids[0] != "huge" || ids[200] != "big-199" {
			t.Fatalf("read %d events of the big batch back (first %q), want 201 in order", len(ids), ids[0])
		}
		for i, id := range ids[1:] {
			if id != fmt.Sprintf("big-%d", i) {
				t.Fatalf("big batch event %d is %q", i, id)
			}
		}
		if n, _ := readAll(t, l, 0); len(n) != 201+40*30 {
			t.Fatalf("read %d events in all, want %d", len(n), 201+40*30)
		}
	})
}

func assertOnce(t *testing.T, ids []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
	}
	if len(ids) != want {
		t.Fatalf("read %d events, want %d", len(ids), want)
	}
}

func TestFileAppendAfterClose(t *testing.T) {
	l, err := OpenFile(t.TempDir(), FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	done := make(chan error, 1)
	go func() { done <- l.Append(context.Background(), batch(1, "late")) }()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("append after close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("append after close hangs")
	}
}

// appendConcurrently starts writers goroutines that each append n one-event
// batches with uuids "<writer>-<i>"; Wait on the result for them to end.
func appendConcurrently(t *testing.T, l Log, writers, n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := l.Append(context.Background(), batch(1, fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Errorf("append: %v", err)
				}
			}
		}(g)
	}
	return &wg
}
