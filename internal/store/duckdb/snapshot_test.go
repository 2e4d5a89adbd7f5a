package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSnapshot copies a file store while readers hold transactions open
// and a loader waits on the lock: the copy opens on its own, holds the
// checkpoint and the events up to it, and the batch that waited lands in
// the source only.
func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "events.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ld := newLoader(t, s)
	for b := range 5 {
		var evs = ev("a", fmt.Sprint("d", b), day0.Add(time.Duration(b)*time.Hour), map[string]any{"b": b})
		ld.Load(1, evs, ev("b", fmt.Sprint("d", b), day0.Add(time.Duration(b)*time.Hour+time.Minute), nil))
	}
	// A reader mid-transaction must neither block nor break the checkpoint.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 10 {
		t.Fatalf("reader: %d events, %v", n, err)
	}
	var wg sync.WaitGroup
	dst := filepath.Join(dir, "copy.duckdb")
	res, err := s.Snapshot(ctx, dst, func(pos uint64) error {
		if pos != 5 {
			t.Errorf("checkpoint under the lock = %d, want 5", pos)
		}
		wg.Add(1)
		go func() { // blocks on the lock until the copy is done
			defer wg.Done()
			ld.Load(1, ev("c", "late", day0, nil))
		}()
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if res.Checkpoint != 5 || res.Bytes == 0 || res.Version == "" {
		t.Fatalf("snapshot = %+v", res)
	}
	cp, err := Open(dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	pos, err := cp.Checkpoint(ctx)
	if err != nil || pos != 5 {
		t.Fatalf("copy checkpoint = %d, %v", pos, err)
	}
	for _, c := range []struct {
		s    *Store
		want int
	}{{cp, 10}, {s, 11}} {
		if err := c.s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != c.want {
			t.Fatalf("events = %d, %v; want %d", n, err, c.want)
		}
	}
	if _, err := s.Snapshot(ctx, dst, nil); err == nil {
		t.Fatal("snapshot over an existing file accepted")
	}
	mem := testdb(t)
	if _, err := mem.Snapshot(ctx, filepath.Join(dir, "mem.duckdb"), nil); err == nil {
		t.Fatal("snapshot of an in-memory store accepted")
	}
}
