// Package loader moves batches from the event log into the event store:
// it resolves identities, writes events and identity changes, and stores
// the log position in the same transaction, so every batch lands once.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/obs"
	"github.com/journey-dev/journey/internal/store"
)

var (
	loadedEvents  = metrics.NewCounter("journey_loader_events_total")
	loadedBatches = metrics.NewCounter("journey_loader_applies_total")
	loadErrors    = metrics.NewCounter("journey_loader_errors_total")
	loadDuration  = metrics.NewSummary("journey_loader_apply_seconds")
	// current is the loader the lag gauges report (one per process outside
	// tests; lag.go).
	current atomic.Pointer[Loader]
)

// Loader is the single writer of an event store.
type Loader struct {
	log      eventlog.Log
	store    store.Writer
	maxBytes int

	pos     atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed when pos moves
	// trimFloor, when set, bounds what the loader trims: another reader of
	// the log (the campaign trigger engine) still needs what lies after
	// the position it returns.
	trimFloor atomic.Pointer[func() uint64]
	// applied, when set, is called with every write the store committed;
	// forgotten with the distinct ids an Exclusive deletion removed.
	applied   atomic.Pointer[func(*store.Write)]
	forgotten atomic.Pointer[func(project int64, distinctIDs []string)]

	lagState // lag.go
	writes   *obs.Histogram

	exclusive             // exclusive.go: deletions between batches
	defs      definitions // definitions.go: event and property definitions
}

// SetTrimFloor makes the loader trim the log only up to min(its own
// position, floor()): for a second consumer of the log with its own
// durable checkpoint (the campaign trigger engine), which re-reads from
// that checkpoint after a restart. nil removes the floor.
func (l *Loader) SetTrimFloor(floor func() uint64) {
	if floor == nil {
		l.trimFloor.Store(nil)
		return
	}
	l.trimFloor.Store(&floor)
}

// SetApplied makes the loader call f with every write, in order, once the
// store committed it: for in-memory views of the store that the loader's
// writes keep current (flagserve's person index). f runs on the loader's
// goroutine, so it must be quick. forgotten, when not nil, is called
// with the distinct ids a deletion removed from the store (Exclusive's
// forget), before the next write. nil removes them.
func (l *Loader) SetApplied(f func(*store.Write), forgotten func(project int64, distinctIDs []string)) {
	if f == nil {
		l.applied.Store(nil)
	} else {
		l.applied.Store(&f)
	}
	if forgotten == nil {
		l.forgotten.Store(nil)
	} else {
		l.forgotten.Store(&forgotten)
	}
}

// trimTo is how far the log may be trimmed once pos is loaded.
func (l *Loader) trimTo(pos uint64) uint64 {
	if f := l.trimFloor.Load(); f != nil {
		return min(pos, (*f)())
	}
	return pos
}

// New returns a loader that reads up to maxBytes of log per store write.
func New(l eventlog.Log, s store.Writer, maxBytes int) *Loader {
	if maxBytes <= 0 {
		maxBytes = 16 << 20
	}
	ld := &Loader{log: l, store: s, maxBytes: maxBytes, changed: make(chan struct{}),
		writes: storeWrites.With(obs.Label("store", obs.PackageName(s)))}
	current.Store(ld)
	return ld
}

// Position is the log position loaded so far.
func (l *Loader) Position() uint64 { return l.pos.Load() }

// Lag is how many log bytes wait to be loaded.
func (l *Loader) Lag() uint64 {
	end, pos := l.log.End(), l.pos.Load()
	if end < pos {
		return 0
	}
	return end - pos
}

// Run loads until ctx is done. Store errors are retried with back-off after
// reloading the identity state, so a failed write never half-applies.
func (l *Loader) Run(ctx context.Context) error {
	l.running.Store(true)
	defer l.running.Store(false)
	for {
		err := l.run(ctx)
		if ctx.Err() != nil || errors.Is(err, eventlog.ErrClosed) {
			return nil
		}
		loadErrors.Inc()
		slog.Error("loader failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (l *Loader) run(ctx context.Context) error {
	pos, err := l.store.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("cannot read loader checkpoint: %w", err)
	}
	l.setPos(pos)
	resolver, err := l.loadResolver(ctx)
	if err != nil {
		return err
	}
	defer l.setResolver(nil)
	for {
		entries, err := l.gather(ctx, pos)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			continue
		}
		start := time.Now()
		batches := make([]event.RawBatch, len(entries))
		n := 0
		for i, e := range entries {
			batches[i] = e.Batch
			n += len(e.Batch.Events)
		}
		l.excl.Lock() // no deletion between resolving and storing a batch
		w, err := resolver.Resolve(ctx, batches, l.store.Persons)
		if err != nil {
			l.excl.Unlock()
			return err
		}
		w.Checkpoint = entries[len(entries)-1].Next
		write := time.Now()
		err = l.store.Apply(ctx, w)
		l.excl.Unlock()
		if err != nil {
			return err
		}
		l.writes.Since(write)
		if f := l.applied.Load(); f != nil {
			(*f)(w)
		}
		l.defs.feed(w) // never fails nor blocks: its writes run apart
		l.loadedEvents.Add(uint64(n))
		l.loadedPositions.Add(w.Checkpoint - pos)
		pos = w.Checkpoint
		l.setPos(pos)
		if err := l.log.Trim(l.trimTo(pos)); err != nil {
			slog.Warn("cannot trim event log", "err", err)
		}
		loadedEvents.Add(n)
		loadedBatches.Inc()
		loadDuration.UpdateDuration(start)
	}
}

// linger is how long the loader waits for more entries before a store
// write. Each write has a fixed cost (the dedup scan, a commit), so many
// small writes would fall behind a busy capture; a quarter second keeps
// events queryable almost at once.
const linger = 250 * time.Millisecond

// gather reads entries after pos: it waits for the first, then lingers so
// that one store write takes everything that arrived meanwhile.
func (l *Loader) gather(ctx context.Context, pos uint64) ([]eventlog.Entry, error) {
	entries, err := l.log.Read(ctx, pos, l.maxBytes)
	if err != nil || len(entries) == 0 {
		return entries, err
	}
	size := int(entries[len(entries)-1].Next - pos)
	if size >= l.maxBytes {
		return entries, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(linger):
	}
	if l.log.End() <= entries[len(entries)-1].Next {
		return entries, nil
	}
	more, err := l.log.Read(ctx, entries[len(entries)-1].Next, l.maxBytes-size)
	if err != nil {
		return nil, err
	}
	return append(entries, more...), nil
}

func (l *Loader) setPos(p uint64) {
	l.pos.Store(p)
	l.notify()
}

// notify wakes the WaitFor callers after pos moved.
func (l *Loader) notify() {
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// WaitFor blocks until everything up to log position p is loaded.
func (l *Loader) WaitFor(ctx context.Context, p uint64) error {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if l.pos.Load() >= p {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Sync waits until everything appended so far is loaded.
func (l *Loader) Sync(ctx context.Context) error { return l.WaitFor(ctx, l.log.End()) }
