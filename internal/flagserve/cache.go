package flagserve

import (
	"container/list"
	"strconv"
	"sync"
	"time"
)

// shareCache is an LRU cache of entries by key, each belonging to one
// project, bounded in entries and in (estimated) bytes in total, and
// shared fairly between projects: when it is full, the entry that goes is
// the least recently used one of the project holding the most bytes
// (its negative entries first). A project filling the cache, with made-up
// ids say, so evicts its own entries and not another's: every project
// keeps at least its fair share (the bound over the projects cached).
// Negative entries (lookups that found nothing) are bounded per project
// apart, at negMax: past it, the project's oldest negative entry goes, so
// lookups of ids that do not exist cost a project at most that share.
// Entries are kept until they expire; one larger than a 16th of maxBytes
// is not cached.
//
// Making room scans the projects cached (one entry each at least), which
// only resolved project tokens create.
type shareCache[V any] struct {
	max, maxBytes, negMax int

	mu       sync.Mutex
	byKey    map[string]*list.Element // of *cacheEntry[V]
	projects map[int64]*cacheShare
	n        int // entries
	bytes    int
}

// cacheShare is one project's part of a shareCache.
type cacheShare struct {
	pos, neg list.List // front: most recently used
	bytes    int
}

type cacheEntry[V any] struct {
	key     string
	project int64
	v       V
	size    int
	expires time.Time
	neg     bool
}

// init sets the bounds of an empty cache.
func (c *shareCache[V]) init(maxEntries, maxBytes, negMax int) {
	c.max, c.maxBytes, c.negMax = maxEntries, maxBytes, max(1, negMax)
	c.byKey, c.projects = map[string]*list.Element{}, map[int64]*cacheShare{}
}

// cacheKey is the key of id in a project.
func cacheKey(projectID int64, id string) string {
	return strconv.FormatInt(projectID, 10) + "\x00" + id
}

// get returns the live entry of key.
func (c *shareCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.byKey[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*cacheEntry[V])
	if !now.Before(e.expires) {
		c.removeLocked(el)
		return zero, false
	}
	c.list(c.projects[e.project], e.neg).MoveToFront(el)
	return e.v, true
}

// put caches v under key until expires; neg marks a negative entry.
func (c *shareCache[V]) put(projectID int64, key string, v V, size int, expires time.Time, neg bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.removeLocked(el)
	}
	if size > c.maxBytes/16 {
		return // too large to be worth a 16th of the cache
	}
	ps := c.projects[projectID]
	if ps == nil {
		ps = &cacheShare{}
		c.projects[projectID] = ps
	}
	if neg {
		for ps.neg.Len() >= c.negMax {
			c.removeLocked(ps.neg.Back())
		}
	}
	e := &cacheEntry[V]{key: key, project: projectID, v: v, size: size, expires: expires, neg: neg}
	c.byKey[key] = c.list(ps, neg).PushFront(e)
	ps.bytes += size
	c.n++
	c.bytes += size
	for c.n > c.max || c.bytes > c.maxBytes {
		c.evictLocked()
	}
}

// remove drops key's entry, if any.
func (c *shareCache[V]) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.removeLocked(el)
	}
}

// evictLocked drops the least recently used entry of the project holding
// the most bytes, a negative one if it has any.
func (c *shareCache[V]) evictLocked() {
	var victim *cacheShare
	for _, ps := range c.projects {
		if victim == nil || ps.bytes > victim.bytes {
			victim = ps
		}
	}
	if el := victim.neg.Back(); el != nil {
		c.removeLocked(el)
		return
	}
	c.removeLocked(victim.pos.Back())
}

func (c *shareCache[V]) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry[V])
	ps := c.projects[e.project]
	c.list(ps, e.neg).Remove(el)
	delete(c.byKey, e.key)
	ps.bytes -= e.size
	c.n--
	c.bytes -= e.size
	if ps.pos.Len() == 0 && ps.neg.Len() == 0 {
		delete(c.projects, e.project)
	}
}

func (c *shareCache[V]) list(ps *cacheShare, neg bool) *list.List {
	if neg {
		return &ps.neg
	}
	return &ps.pos
}

// len is the number of entries (for tests).
func (c *shareCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
