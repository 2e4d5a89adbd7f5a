// Package live fans captured events out to the UI's live event stream
// ("is my event arriving?"). It sits between capture and the event log:
// an event is shown once the log has accepted it. Each replica shows the
// events it captured itself.
package live

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/journey-dev/journey/internal/event"
)

// subscriberBuffer is how many events a slow viewer may fall behind before
// events are dropped for it (never for capture).
const subscriberBuffer = 256

// Hub keeps each project's subscribers.
type Hub struct {
	mu    sync.Mutex
	subs  map[int64]map[chan event.Event]struct{}
	count atomic.Int64 // subscribers; lets Publish skip the lock when 0
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[int64]map[chan event.Event]struct{}{}} }

// Subscribe returns a channel of the project's events from now on and a
// function that ends the subscription.
func (h *Hub) Subscribe(projectID int64) (<-chan event.Event, func()) {
	ch := make(chan event.Event, subscriberBuffer)
	h.mu.Lock()
	if h.subs[projectID] == nil {
		h.subs[projectID] = map[chan event.Event]struct{}{}
	}
	h.subs[projectID][ch] = struct{}{}
	h.mu.Unlock()
	h.count.Add(1)
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[projectID], ch)
			if len(h.subs[projectID]) == 0 {
				delete(h.subs, projectID)
			}
			h.mu.Unlock()
			h.count.Add(-1)
		})
	}
}

// Publish sends a batch to its project's subscribers without blocking.
func (h *Hub) Publish(b event.Batch) {
	if h.count.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[b.ProjectID] {
		for _, e := range b.Events {
			select {
			case ch <- e:
			default: // viewer too slow: drop for it
			}
		}
	}
}

// Sink is where captured batches go (the event log).
type Sink interface {
	Append(ctx context.Context, b event.Batch) error
}

// Tap is a Sink that publishes every batch its inner Sink accepted.
type Tap struct {
	Sink Sink
	Hub  *Hub
}

// Append appends to the inner sink and then publishes.
func (t Tap) Append(ctx context.Context, b event.Batch) error {
	if err := t.Sink.Append(ctx, b); err != nil {
		return err
	}
	t.Hub.Publish(b)
	return nil
}
