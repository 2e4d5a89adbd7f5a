package capture

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per project, counted in events. Buckets are
// keyed by project id, not token: only known projects get one, so random
// tokens cannot grow the map, and no token is kept in memory.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[int64]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, now func() time.Time) *limiter {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return nil
	}
	return &limiter{rate: rate, burst: 2 * rate, now: now, buckets: map[int64]*bucket{}}
}

// take asks for n events. A batch larger than the bucket passes when the
// bucket is full and leaves it in debt, so big batches are slowed down, not
// refused forever. retry says when to come back after a refusal.
func (l *limiter) take(project int64, n int) (ok bool, retry time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[project]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[project] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	need := math.Min(float64(n), l.burst)
	if b.tokens < need {
		return false, time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens -= float64(n)
	return true, 0
}
