package enrich

import "sync"

// cache holds values in two generations: a lookup promotes an entry of the
// old one, and when the new one is full the old one goes. That bounds it
// to 2×max entries and keeps what is in use, with no per-entry
// bookkeeping: a miss costs a parse or a lookup, never correctness.
type cache[K comparable, V any] struct {
	mu        sync.Mutex
	cur, prev map[K]V
	max       int
}

func newCache[K comparable, V any](max int) *cache[K, V] {
	return &cache[K, V]{max: max}
}

func (c *cache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.prev[k]
	if ok {
		c.putLocked(k, v)
	}
	return v, ok
}

func (c *cache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, v)
}

func (c *cache[K, V]) putLocked(k K, v V) {
	if c.cur == nil || len(c.cur) >= c.max {
		c.prev, c.cur = c.cur, make(map[K]V, c.max)
	}
	c.cur[k] = v
}
