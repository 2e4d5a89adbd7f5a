package live

import (
	"context"
	"errors"
	"testing"

	"github.com/journey-dev/journey/internal/event"
)

type sink struct{ err error }

func (s sink) Append(context.Context, event.Batch) error { return s.err }

func TestTapPublishesAcceptedBatchesToTheirProject(t *testing.T) {
	h := NewHub()
	a, stopA, _ := h.Subscribe(1, 1)
	b, stopB, _ := h.Subscribe(2, 2)
	defer stopB()
	tap := Tap{Sink: sink{}, Hub: h}
	if err := tap.Append(context.Background(), event.Batch{ProjectID: 1, Events: []event.Event{{Event: "x"}, {Event: "y"}}}); err != nil {
		t.Fatal(err)
	}
	if e := <-a; e.Event != "x" {
		t.Fatalf("first event %q", e.Event)
	}
	if e := <-a; e.Event != "y" {
		t.Fatalf("second event %q", e.Event)
	}
	select {
	case e := <-b:
		t.Fatalf("project 2 got project 1's event %v", e)
	default:
	}
	// A batch the log refused is not shown.
	failing := Tap{Sink: sink{err: errors.New("full")}, Hub: h}
	if err := failing.Append(context.Background(), event.Batch{ProjectID: 1, Events: []event.Event{{Event: "z"}}}); err == nil {
		t.Fatal("error lost")
	}
	select {
	case e := <-a:
		t.Fatalf("refused event published: %v", e)
	default:
	}
	stopA()
	stopA() // idempotent
	if n := h.count.Load(); n != 1 {
		t.Fatalf("subscribers = %d, want 1", n)
	}
}

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	h := NewHub()
	ch, stop, _ := h.Subscribe(1, 1)
	defer stop()
	evs := make([]event.Event, subscriberBuffer+10)
	h.Publish(event.Batch{ProjectID: 1, Events: evs}) // must not block
	if len(ch) != subscriberBuffer {
		t.Fatalf("buffered %d, want %d", len(ch), subscriberBuffer)
	}
}

// TestSourceRunsWhileWatched: a hub with a source (the shared log) starts
// it for the first viewer, delivers what it publishes, and stops it when
// the last viewer leaves.
func TestSourceRunsWhileWatched(t *testing.T) {
	h := NewHub()
	starts, stops := 0, 0
	var publish func(event.Batch)
	h.SetSource(func(p func(event.Batch)) (func(), error) {
		starts++
		publish = p
		return func() { stops++ }, nil
	})
	a, stopA, _ := h.Subscribe(3, 1)
	_, stopB, _ := h.Subscribe(3, 2)
	if starts != 1 {
		t.Fatalf("source started %d times for two viewers", starts)
	}
	publish(FromRaw(event.RawBatch{ProjectID: 3, Events: []event.Raw{{Event: "from_log", Properties: []byte(`{"k":"v"}`)}}}))
	if e := <-a; e.Event != "from_log" || e.Properties["k"] != "v" {
		t.Fatalf("got %+v", e)
	}
	stopA()
	if stops != 0 {
		t.Fatal("source stopped while a viewer remains")
	}
	stopB()
	if stops != 1 {
		t.Fatalf("source stopped %d times after the last viewer left", stops)
	}
	h.Subscribe(3, 1)
	if starts != 2 {
		t.Fatalf("source not restarted for a new viewer (%d starts)", starts)
	}
}

// TestSubscriberCap: the server cap holds across projects and users.
func TestSubscriberCap(t *testing.T) {
	h := NewHub()
	var stops []func()
	for i := 0; i < MaxSubscribers; i++ {
		// Spread so that neither the user nor the project cap is reached.
		_, stop, err := h.Subscribe(int64(i%(MaxSubscribers/MaxPerProject)), int64(i/MaxPerUser))
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		stops = append(stops, stop)
	}
	if _, _, err := h.Subscribe(99, 999); err != ErrBusy {
		t.Fatalf("subscriber over the cap: %v, want ErrBusy", err)
	}
	stops[0]()
	if _, _, err := h.Subscribe(99, 999); err != nil {
		t.Fatalf("after one left: %v", err)
	}
}

// TestOneViewerCannotTakeEveryStream: a user past MaxPerUser streams is
// refused (in any project), the slots stay free for others, and another
// project's member still gets a stream; a project past MaxPerProject is
// refused without locking other projects out.
func TestOneViewerCannotTakeEveryStream(t *testing.T) {
	h := NewHub()
	const hog, other = 1, 2
	var stops []func()
	for i := 0; i < MaxPerUser; i++ {
		_, stop, err := h.Subscribe(10, hog)
		if err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
		stops = append(stops, stop)
	}
	for i := 0; i < MaxSubscribers; i++ { // the old hub let one viewer open all 200
		if _, _, err := h.Subscribe(10+int64(i%2), hog); err != ErrUserBusy {
			t.Fatalf("stream %d of one user: %v, want ErrUserBusy", MaxPerUser+i+1, err)
		}
	}
	ch, stop, err := h.Subscribe(20, other)
	if err != nil {
		t.Fatalf("another project's member refused: %v", err)
	}
	defer stop()
	h.Publish(event.Batch{ProjectID: 20, Events: []event.Event{{Event: "hello"}}})
	if e := <-ch; e.Event != "hello" {
		t.Fatalf("got %+v", e)
	}
	stops[0]() // closing one frees a slot for the same user
	if _, _, err := h.Subscribe(10, hog); err != nil {
		t.Fatalf("after closing one: %v", err)
	}

	// Many users of one project fill its cap, not the server's.
	for u := int64(100); h.count.Load() < MaxPerProject+MaxPerUser+1; u++ {
		if _, _, err := h.Subscribe(30, u); err != nil {
			t.Fatalf("user %d: %v", u, err)
		}
	}
	if _, _, err := h.Subscribe(30, 500); err != ErrProjectBusy {
		t.Fatalf("project over its cap: %v, want ErrProjectBusy", err)
	}
	if _, stop, err := h.Subscribe(40, 501); err != nil {
		t.Fatalf("another project refused: %v", err)
	} else {
		stop()
	}
}
