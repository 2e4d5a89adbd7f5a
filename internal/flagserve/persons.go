package flagserve

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// Persons reads a person's stored properties and distinct ids; every
// store.Store is one. ErrNotFound (store.ErrNotFound) means no such person.
type Persons interface {
	PersonByDistinctID(ctx context.Context, projectID int64, distinctID string) (store.Person, []string, error)
}

// GroupGetter is implemented by an event store that can read a group's
// stored properties; none does yet, so group properties come from the
// request alone until one does.
type GroupGetter interface {
	GroupProperties(ctx context.Context, projectID int64, groupType, groupKey string) (map[string]any, error)
}

// person is what the cache keeps of one distinct id: the stored
// properties (nil for an unknown person) and every distinct id of the
// person (the id itself for an unknown one). Both are read-only once
// cached.
type person struct {
	props map[string]any
	ids   []string
}

type personEntry struct {
	key     string
	p       person
	size    int
	expires time.Time
}

// personCache is an LRU of persons by (project, distinct id), bounded in
// entries and in (estimated) bytes, each entry kept for ttl.
type personCache struct {
	src      Persons
	ttl      time.Duration
	max      int
	maxBytes int
	now      func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   list.List // front: most recently used
	bytes int
}

func newPersonCache(src Persons, ttl time.Duration, max, maxBytes int, now func() time.Time) *personCache {
	return &personCache{src: src, ttl: ttl, max: max, maxBytes: maxBytes, now: now, byKey: map[string]*list.Element{}}
}

// get returns the person behind distinctID, through the cache. A store
// error is returned (and not cached) with the unknown person.
func (c *personCache) get(ctx context.Context, projectID int64, distinctID string) (person, error) {
	unknown := person{ids: []string{distinctID}}
	if c == nil || c.src == nil || distinctID == "" {
		return unknown, nil
	}
	key := strconv.FormatInt(projectID, 10) + "\x00" + distinctID
	now := c.now()
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		e := el.Value.(*personEntry)
		if now.Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.p, nil
		}
		c.remove(el)
	}
	c.mu.Unlock()

	sp, ids, err := c.src.PersonByDistinctID(ctx, projectID, distinctID)
	var p person
	switch {
	case errors.Is(err, store.ErrNotFound):
		p = unknown
	case err != nil:
		return unknown, err
	default:
		p = person{props: sp.Properties, ids: ids}
		if len(p.ids) == 0 {
			p.ids = unknown.ids
		}
	}
	size := len(key) + 64 + approxSize(p.props, 0)
	for _, id := range p.ids {
		size += len(id) + 16
	}
	if size > c.maxBytes/16 {
		return p, nil // too large to be worth a 16th of the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	e := &personEntry{key: key, p: p, size: size, expires: now.Add(c.ttl)}
	c.byKey[key] = c.lru.PushFront(e)
	c.bytes += size
	for c.lru.Len() > c.max || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
	return p, nil
}

func (c *personCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*personEntry)
	delete(c.byKey, e.key)
	c.bytes -= e.size
}

// approxSize estimates the memory a decoded JSON value holds.
func approxSize(v any, depth int) int {
	if depth > 64 {
		return 64
	}
	switch x := v.(type) {
	case map[string]any:
		n := 48
		for k, e := range x {
			n += len(k) + 32 + approxSize(e, depth+1)
		}
		return n
	case []any:
		n := 24
		for _, e := range x {
			n += 16 + approxSize(e, depth+1)
		}
		return n
	case string:
		return len(x) + 16
	}
	return 16
}
