package loader

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// failingStore fails its first Apply, then stores checkpoints.
type failingStore struct {
	memStore
	failed atomic.Bool
}

func (s *failingStore) Apply(ctx context.Context, w *store.Write) error {
	if !s.failed.Swap(true) {
		return errors.New("disk full")
	}
	return s.memStore.Apply(ctx, w)
}

// TestSetApplied: the callback gets every committed write once, in order,
// after the store stored it, and no write whose Apply failed.
func TestSetApplied(t *testing.T) {
	log := &memLog{}
	for range 3 {
		log.entries = append(log.entries, event.RawBatch{ProjectID: 1, Events: []event.Raw{{Event: "e", DistinctID: "d"}}})
	}
	st := &failingStore{}
	ld := New(log, st, 0)
	var mu sync.Mutex
	var got []uint64
	var forgotten []string
	ld.SetApplied(func(w *store.Write) {
		mu.Lock()
		defer mu.Unlock()
		if c := st.checkpoint.Load(); c != w.Checkpoint {
			t.Errorf("called with checkpoint %d before the store stored it (store at %d)", w.Checkpoint, c)
		}
		got = append(got, w.Checkpoint)
	}, func(project int64, ids []string) {
		mu.Lock()
		defer mu.Unlock()
		forgotten = append(forgotten, fmt.Sprint(project, ids))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ld.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := ld.WaitFor(wait, 3); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	log.entries = append(log.entries, event.RawBatch{ProjectID: 1})
	log.mu.Unlock()
	if err := ld.WaitFor(wait, 4); err != nil {
		t.Fatal(err)
	}
	// A deletion's forget reaches the second callback.
	if err := ld.Exclusive(wait, func(_ context.Context, forget Forget) error {
		forget(1, []string{"d"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(forgotten, []string{"1 [d]"}) {
		t.Fatalf("forgotten %v", forgotten)
	}
	if len(got) == 0 || got[len(got)-1] != 4 {
		t.Fatalf("callbacks at checkpoints %v, want the last at 4", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("callbacks at checkpoints %v: not in order", got)
		}
	}
	if !st.failed.Load() {
		t.Fatal("the first Apply did not run")
	}
}
