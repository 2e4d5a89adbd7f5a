package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// watchSyncs replaces the disk sync for one test with sync, which gets
// the real one (fdatasync) to call.
func watchSyncs(t *testing.T, sync func(f *os.File, real func(*os.File) error) error) {
	t.Helper()
	syncFile = func(f *os.File) error { return sync(f, fdatasync) }
	t.Cleanup(func() { syncFile = fdatasync })
}

// TestFileAnswersAfterSync: no append is answered, and no record becomes
// readable, before a disk sync that began after it was written has
// returned, while 32 writers append during slow syncs (so that appends
// are written while a sync runs and wait for the next one). The sizes the
// syncs began at are what they made durable; End may never pass the
// largest of those that returned.
func TestFileAnswersAfterSync(t *testing.T) {
	var durable atomic.Int64
	var syncs atomic.Int64
	watchSyncs(t, func(f *os.File, real func(*os.File) error) error {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond) // appends arrive meanwhile
		if err := real(f); err != nil {
			return err
		}
		syncs.Add(1)
		for d := durable.Load(); d < st.Size() && !durable.CompareAndSwap(d, st.Size()); d = durable.Load() {
		}
		return nil
	})
	l, err := OpenFile(t.TempDir(), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	const writers, each = 32, 40
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := l.Append(context.Background(), batch(1, fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
				if end, d := l.End(), durable.Load(); end > uint64(d) {
					t.Errorf("answered with the log readable to %d, synced only to %d", end, d)
					return
				}
			}
		}()
	}
	wg.Wait()
	ids, _ := readAll(t, l, 0)
	assertOnce(t, ids, writers*each)
	if n := syncs.Load(); n >= writers*each/2 {
		t.Errorf("%d syncs for %d appends: group commit shared too few", n, writers*each)
	}
	t.Logf("%d appends, %d syncs", writers*each, syncs.Load())
}

// TestFileSyncFails: when a sync fails, the appends it was to make
// durable get the error, nothing of theirs becomes readable, and every
// later append fails too (the page cache may have dropped what was
// written), rather than being answered by a later sync.
func TestFileSyncFails(t *testing.T) {
	broken := errors.New("disk gone")
	var fail atomic.Bool
	watchSyncs(t, func(f *os.File, real func(*os.File) error) error {
		if fail.Load() {
			return broken
		}
		return real(f)
	})
	l, err := OpenFile(t.TempDir(), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(context.Background(), batch(1, "before")); err != nil {
		t.Fatal(err)
	}
	end := l.End()
	fail.Store(true)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Append(context.Background(), batch(1, fmt.Sprintf("during-%d", i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, broken) {
			t.Errorf("append %d during the failed sync: %v, want %v", i, err, broken)
		}
	}
	fail.Store(false)
	if err := l.Append(context.Background(), batch(1, "after")); !errors.Is(err, broken) {
		t.Errorf("append after the failed sync: %v, want %v", err, broken)
	}
	if l.End() != end {
		t.Errorf("End moved from %d to %d past a failed sync", end, l.End())
	}
}

// TestFileSyncFailsDuringWrite: an append whose write was under way when
// a sync failed gets the sync's error instead of waiting for ever (the
// writer checked the log was sound before writing, then handed the group
// to syncs that the failure had stopped). The failing sync waits until
// the file grows, so it fails while the writer writes a large record.
func TestFileSyncFailsDuringWrite(t *testing.T) {
	broken := errors.New("disk gone")
	var first atomic.Bool
	watchSyncs(t, func(f *os.File, real func(*os.File) error) error {
		if first.Swap(true) {
			return broken
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if now, err := f.Stat(); err == nil && now.Size() > st.Size() {
				break // the large record is being written
			}
			time.Sleep(10 * time.Microsecond)
		}
		return broken
	})
	l, err := OpenFile(t.TempDir(), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	small := make(chan error, 1)
	go func() { small <- l.Append(context.Background(), batch(1, "small")) }()
	for first.Load() == false {
		time.Sleep(10 * time.Microsecond) // the small append's sync has begun
	}
	large := batch(1, "large")
	large.Events[0].Properties = map[string]any{"blob": strings.Repeat("x", 48<<20)}
	done := make(chan error, 1)
	go func() { done <- l.Append(context.Background(), large) }()
	for name, c := range map[string]chan error{"small": small, "large": done} {
		select {
		case err := <-c:
			if !errors.Is(err, broken) {
				t.Errorf("%s append: %v, want %v", name, err, broken)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s append not answered 10 s after its sync failed", name)
		}
	}
}
