package loader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/store"
)

// memLog is an in-memory log: entry i is at position i+1.
type memLog struct {
	mu      sync.Mutex
	entries []event.RawBatch
	trims   []uint64
}

func (l *memLog) Append(_ context.Context, b event.Batch) error { return nil }

func (l *memLog) Read(ctx context.Context, from uint64, _ int) ([]eventlog.Entry, error) {
	for {
		l.mu.Lock()
		n := uint64(len(l.entries))
		var out []eventlog.Entry
		for i := from; i < n; i++ {
			out = append(out, eventlog.Entry{Next: i + 1, Batch: l.entries[i]})
		}
		l.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (l *memLog) Trim(upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trims = append(l.trims, upTo)
	return nil
}

func (l *memLog) End() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

func (l *memLog) Close() error { return nil }

// trimmedTo waits a little for the trim that follows a load.
func (l *memLog) trimmedTo(want uint64) uint64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := l.lastTrim()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *memLog) lastTrim() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.trims) == 0 {
		return 0
	}
	return l.trims[len(l.trims)-1]
}

// memStore applies nothing but the checkpoint.
type memStore struct{ checkpoint atomic.Uint64 }

func (s *memStore) Apply(_ context.Context, w *store.Write) error {
	s.checkpoint.Store(w.Checkpoint)
	return nil
}
func (s *memStore) Checkpoint(context.Context) (uint64, error)       { return s.checkpoint.Load(), nil }
func (s *memStore) Identity(context.Context) (store.Identity, error) { return store.Identity{}, nil }
func (s *memStore) Persons(context.Context, []int64) (map[int64]store.Person, error) {
	return map[int64]store.Person{}, nil
}

// TestTrimFloor: with a floor (a second reader's stored checkpoint) the
// loader trims the log only up to it; without one, up to what it loaded.
func TestTrimFloor(t *testing.T) {
	log := &memLog{}
	for range 5 {
		log.entries = append(log.entries, event.RawBatch{ProjectID: 1})
	}
	ld := New(log, &memStore{}, 0)
	var floor atomic.Uint64
	floor.Store(2)
	ld.SetTrimFloor(floor.Load)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ld.Run(ctx)
	}()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := ld.WaitFor(wait, 5); err != nil {
		t.Fatal(err)
	}
	if got := log.trimmedTo(2); got != 2 {
		t.Fatalf("trimmed up to %d with the floor at 2, loaded 5", got)
	}
	// The floor moves, then goes: the next batch trims up to the loader.
	floor.Store(4)
	log.mu.Lock()
	log.entries = append(log.entries, event.RawBatch{ProjectID: 1})
	log.mu.Unlock()
	if err := ld.WaitFor(wait, 6); err != nil {
		t.Fatal(err)
	}
	if got := log.trimmedTo(4); got != 4 {
		t.Fatalf("trimmed up to %d with the floor at 4", got)
	}
	ld.SetTrimFloor(nil)
	log.mu.Lock()
	log.entries = append(log.entries, event.RawBatch{ProjectID: 1})
	log.mu.Unlock()
	if err := ld.WaitFor(wait, 7); err != nil {
		t.Fatal(err)
	}
	if got := log.trimmedTo(7); got != 7 {
		t.Fatalf("trimmed up to %d without a floor, loaded 7", got)
	}
	cancel()
	<-done
}
