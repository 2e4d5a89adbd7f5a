package eventlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

func TestFileAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFile(dir, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := l.Append(context.Background(), batch(1, fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Errorf("append: %v", err)
				}
			}
		}(g)
	}
	wg.Wait()
	ids, end := readAll(t, l, 0)
	if len(ids) != 400 {
		t.Fatalf("read %d events, want 400", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
	}
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
