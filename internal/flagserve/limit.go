package flagserve

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// ClientLimiter is a token bucket per client key (intake.ClientKey: an
// IPv4 address, an IPv6 /64), for a bounded number of keys: each key
// takes up to burst at once and burst more at rate a second. Like the
// API's limiters (internal/api/limit.go), its state cannot be reset by
// flooding it with new keys:
//
//   - A bucket is forgotten on its own only once it is surely full again
//     (burst/rate after it was last touched): forgetting it then changes
//     nothing.
//   - To make room for a new key, a full bucket goes first, then the least
//     recently touched bucket that still had a token; forgetting that
//     gives its key at most a full bucket, which the flood had to pay for
//     with one request from each of maxKeys other keys.
//   - A bucket that is empty ("held") is never forgotten to make room: a
//     table full of them refuses new keys (they read as limited) until one
//     refills. Failing closed for newcomers beats handing a limited key a
//     fresh bucket.
//
// Both lists are in order of the last touch, which is also the order in
// which buckets are surely full again, so making room is amortised O(1).
// It is safe for concurrent use.
type ClientLimiter struct {
	rate, burst float64
	maxKeys     int
	now         func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element // of *clientBucket
	open list.List                // had a token left at their last touch, least recently touched first
	held list.List                // had none
}

type clientBucket struct {
	key    string
	tokens float64
	last   time.Time
	held   bool
}

// NewClientLimiter allows each key burst requests at once and rate a
// second, for at most maxKeys keys; now is the clock (nil: time.Now).
func NewClientLimiter(rate float64, burst, maxKeys int, now func() time.Time) *ClientLimiter {
	if now == nil {
		now = time.Now
	}
	return &ClientLimiter{rate: rate, burst: float64(max(1, burst)), maxKeys: max(1, maxKeys), now: now,
		keys: map[string]*list.Element{}}
}

// Allow takes a token from key's bucket and reports true, or reports false
// (taking none) with how long until a token is back, when the bucket is
// empty or the table has no room for a new key.
func (l *ClientLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	el := l.keys[key]
	if el == nil {
		if !l.makeRoom(now) {
			b := l.held.Front().Value.(*clientBucket)
			return false, l.wait(b, now)
		}
		b := &clientBucket{key: key, tokens: l.burst - 1, last: now}
		b.held = b.tokens < 1
		l.keys[key] = l.list(b.held).PushBack(b)
		return true, 0
	}
	b := el.Value.(*clientBucket)
	b.tokens = math.Min(l.burst, b.tokens+l.rate*now.Sub(b.last).Seconds())
	b.last = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	// To the back: its last touch, and so the time it is full again, is the latest.
	l.list(b.held).Remove(el)
	b.held = b.tokens < 1
	l.keys[key] = l.list(b.held).PushBack(b)
	if ok {
		return true, 0
	}
	return false, l.wait(b, now)
}

// wait is how long until b has a token again.
func (l *ClientLimiter) wait(b *clientBucket, now time.Time) time.Duration {
	if l.rate <= 0 {
		return time.Hour
	}
	tokens := math.Min(l.burst, b.tokens+l.rate*now.Sub(b.last).Seconds())
	return time.Duration(math.Max(0, 1-tokens) / l.rate * float64(time.Second))
}

// full reports whether b is surely full again.
func (l *ClientLimiter) full(b *clientBucket, now time.Time) bool {
	return l.rate > 0 && now.Sub(b.last).Seconds()*l.rate >= l.burst
}

// makeRoom frees a slot for a new key if the table is full; false when
// every bucket is empty and not full again yet.
func (l *ClientLimiter) makeRoom(now time.Time) bool {
	for _, ls := range []*list.List{&l.open, &l.held} {
		for f := ls.Front(); f != nil && len(l.keys) >= l.maxKeys; f = ls.Front() {
			b := f.Value.(*clientBucket)
			if !l.full(b, now) {
				break // the rest of this list is full later still
			}
			l.drop(f, b)
		}
	}
	if len(l.keys) < l.maxKeys {
		return true
	}
	if f := l.open.Front(); f != nil {
		l.drop(f, f.Value.(*clientBucket))
		return true
	}
	return false
}

func (l *ClientLimiter) drop(el *list.Element, b *clientBucket) {
	l.list(b.held).Remove(el)
	delete(l.keys, b.key)
}

func (l *ClientLimiter) list(held bool) *list.List {
	if held {
		return &l.held
	}
	return &l.open
}

// Len is the number of keys remembered.
func (l *ClientLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
