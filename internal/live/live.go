// Package live fans captured events out to the UI's live event stream
// ("is my event arriving?"). Embedded, it sits between capture and the
// event log (Tap): an event is shown once the log has accepted it. With a
// shared log (NATS JetStream), a Source tails the log instead, so a viewer
// sees the events every replica captured.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/journey-dev/journey/internal/event"
)

// Source feeds a hub from elsewhere: it starts delivering batches to
// publish and returns how to stop. The hub runs it only while someone is
// watching, so idle replicas do not read the whole event stream.
type Source func(publish func(event.Batch)) (stop func(), err error)

// subscriberBuffer is how many events a slow viewer may fall behind before
// events are dropped for it (never for capture).
const subscriberBuffer = 64

// Stream caps. MaxSubscribers bounds the open streams of one process:
// Publish runs on capture's path and visits each, and each holds a buffer.
// The per-user and per-project caps keep one viewer (or one project's
// viewers) from taking every slot and locking other projects out.
const (
	MaxSubscribers = 200
	MaxPerProject  = 50
	MaxPerUser     = 5
)

// Errors of Subscribe, one per cap.
var (
	ErrBusy        = errors.New("too many live event streams are open on this server")
	ErrProjectBusy = fmt.Errorf("too many live event streams are open for this project (at most %d)", MaxPerProject)
	ErrUserBusy    = fmt.Errorf("you have too many live event streams open (at most %d); close one", MaxPerUser)
)

// Hub keeps each project's subscribers.
type Hub struct {
	mu     sync.Mutex
	subs   map[int64]map[chan event.Event]struct{}
	users  map[int64]int // open streams per user
	count  atomic.Int64  // subscribers; lets Publish skip the lock when 0
	source Source
	stop   func() // the running source's; nil when it is not running
}

// SetSource makes the hub take its events from src (call before use).
func (h *Hub) SetSource(src Source) { h.source = src }

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[int64]map[chan event.Event]struct{}{}, users: map[int64]int{}}
}

// Subscribe returns a channel of the project's events from now on, for
// the user userID, and a function that ends the subscription. It refuses
// with ErrUserBusy, ErrProjectBusy or ErrBusy past a cap.
func (h *Hub) Subscribe(projectID, userID int64) (<-chan event.Event, func(), error) {
	h.mu.Lock()
	switch {
	case h.users[userID] >= MaxPerUser:
		h.mu.Unlock()
		return nil, nil, ErrUserBusy
	case len(h.subs[projectID]) >= MaxPerProject:
		h.mu.Unlock()
		return nil, nil, ErrProjectBusy
	case h.count.Load() >= MaxSubscribers:
		h.mu.Unlock()
		return nil, nil, ErrBusy
	}
	ch := make(chan event.Event, subscriberBuffer)
	if h.users == nil {
		h.users = map[int64]int{}
	}
	h.users[userID]++
	if h.subs[projectID] == nil {
		h.subs[projectID] = map[chan event.Event]struct{}{}
	}
	h.subs[projectID][ch] = struct{}{}
	if h.count.Add(1) == 1 && h.source != nil && h.stop == nil {
		stop, err := h.source(h.Publish)
		if err != nil {
			slog.Warn("live events unavailable", "err", err)
		}
		h.stop = stop
	}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[projectID], ch)
			if len(h.subs[projectID]) == 0 {
				delete(h.subs, projectID)
			}
			if h.users[userID]--; h.users[userID] <= 0 {
				delete(h.users, userID)
			}
			if h.count.Add(-1) == 0 && h.stop != nil {
				h.stop()
				h.stop = nil
			}
			h.mu.Unlock()
		})
	}, nil
}

// Publish sends a batch to its project's subscribers without blocking.
// Sources call it from their own goroutine; Subscribe starts a source while
// holding the lock, so a source must not publish synchronously on start.
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

// FromRaw turns a batch read back from the log into the captured form the
// hub carries (properties decoded; undecodable ones left empty).
func FromRaw(b event.RawBatch) event.Batch {
	out := event.Batch{ProjectID: b.ProjectID, Events: make([]event.Event, len(b.Events))}
	for i, r := range b.Events {
		e := event.Event{UUID: r.UUID, Event: r.Event, DistinctID: r.DistinctID, Timestamp: r.Timestamp, ReceivedAt: r.ReceivedAt}
		_ = json.Unmarshal(r.Properties, &e.Properties)
		out.Events[i] = e
	}
	return out
}
