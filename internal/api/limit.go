package api

import (
	"container/list"
	"sync"
	"time"
)

// limiter counts events per key (a client address, a shared dashboard)
// over a sliding window, for a bounded number of keys. Its state cannot be
// reset by flooding it with new keys:
//
//   - An entry that has reached its limit ("held") is dropped only once
//     every event it counted has left the window, never to make room. A
//     table full of held entries refuses new keys instead (they read as
//     limited until an entry expires): failing closed for newcomers is
//     better than handing the limited key a fresh count.
//   - To make room, expired entries go first (they hold nothing), then the
//     least recently counted entry still under its limit. Forgetting that
//     one gives its key at most a fresh count, which the flood had to pay
//     for with one counted event from each of capacity-many other keys, so
//     evicting it gains an attacker nothing they did not already have.
//
// Both lists are in order of the last counted event, which with one
// window per list is also the order in which entries expire, so making
// room is amortised O(1).
type limiter struct {
	now func() time.Time // nil: time.Now (tests set it)

	mu   sync.Mutex
	keys map[string]*list.Element // of *limitEntry
	open list.List                // under their limit, least recently counted first
	held list.List                // at their limit, least recently counted first
}

// limitPolicy is what a limiter enforces: at most limit events per window
// for each of at most maxKeys keys.
type limitPolicy struct {
	limit   int
	window  time.Duration
	maxKeys int
}

type limitEntry struct {
	key   string
	times []time.Time // counted events still in the window, oldest first
	held  bool        // in l.held rather than l.open
}

// reserve counts an event for key and reports true, or reports false
// (counting nothing) when key is at its limit or the table has no room
// for it.
func (l *limiter) reserve(key string, p limitPolicy) bool {
	if p.limit <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	if l.keys == nil {
		l.keys = map[string]*list.Element{}
	}
	el := l.keys[key]
	if el == nil {
		if !l.makeRoom(now, p) {
			return false
		}
		e := &limitEntry{key: key, times: []time.Time{now}, held: p.limit == 1}
		l.keys[key] = l.list(e.held).PushBack(e)
		return true
	}
	e := el.Value.(*limitEntry)
	e.times = inWindow(e.times, now, p.window)
	if len(e.times) >= p.limit {
		l.place(el, e, true) // stays where it is otherwise: nothing new was counted
		return false
	}
	e.times = append(e.times, now)
	// Moved to the back: its last event, and so its expiry, is the latest.
	l.list(e.held).Remove(el)
	e.held = len(e.times) >= p.limit
	l.keys[key] = l.list(e.held).PushBack(e)
	return true
}

// release gives back the last event counted for key (a login that
// succeeded). An entry left with nothing counted is dropped.
func (l *limiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.keys[key]
	if el == nil {
		return
	}
	e := el.Value.(*limitEntry)
	if n := len(e.times); n > 0 {
		e.times = e.times[:n-1]
	}
	if len(e.times) == 0 {
		l.drop(el, e)
		return
	}
	// Its expiry may now be earlier than its place in the list says; it
	// then goes a little later than it could, never earlier.
	l.place(el, e, false)
}

// makeRoom frees a slot for a new key if the table is full; false when
// every entry is held and live.
func (l *limiter) makeRoom(now time.Time, p limitPolicy) bool {
	for _, ls := range []*list.List{&l.open, &l.held} {
		for f := ls.Front(); f != nil && len(l.keys) >= p.maxKeys; f = ls.Front() {
			e := f.Value.(*limitEntry)
			if n := len(e.times); n > 0 && now.Sub(e.times[n-1]) < p.window {
				break // the rest of this list expires later still
			}
			l.drop(f, e)
		}
	}
	if len(l.keys) < p.maxKeys {
		return true
	}
	if f := l.open.Front(); f != nil {
		l.drop(f, f.Value.(*limitEntry))
		return true
	}
	return false
}

// place moves an entry to the list its state says, keeping its position
// when it is already there.
func (l *limiter) place(el *list.Element, e *limitEntry, held bool) {
	if e.held == held {
		return
	}
	l.list(e.held).Remove(el)
	e.held = held
	// Pushed to the front: nothing new was counted, so its last event is
	// usually older than the other entries'. When it is not, the entry is
	// only looked at early: a live held one stops the sweep of expired
	// entries for a while, an open one is the next evicted; neither frees
	// a held count.
	l.keys[e.key] = l.list(held).PushFront(e)
}

func (l *limiter) drop(el *list.Element, e *limitEntry) {
	l.list(e.held).Remove(el)
	delete(l.keys, e.key)
}

func (l *limiter) list(held bool) *list.List {
	if held {
		return &l.held
	}
	return &l.open
}

func (l *limiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// size is the number of keys remembered (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// inWindow drops the times that left the window (times are oldest first).
func inWindow(times []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(times) && now.Sub(times[i]) >= window {
		i++
	}
	if i == 0 {
		return times
	}
	return append(times[:0], times[i:]...)
}
