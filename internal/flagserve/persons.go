package flagserve

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

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

// MaxDistinctIDLen is the longest distinct id, in characters, a person can
// have: capture truncates longer ids to it, as PostHog does (200). The
// SDK routes refuse longer ids; here a longer one is no stored person.
const MaxDistinctIDLen = 200

// ValidDistinctID reports whether id is at most MaxDistinctIDLen
// characters (capture's count: invalid UTF-8 bytes count one each).
func ValidDistinctID(id string) bool {
	return len(id) <= MaxDistinctIDLen || utf8.RuneCountInString(id) <= MaxDistinctIDLen
}

// person is what the cache keeps of one distinct id: the stored
// properties (nil for an unknown person) and every distinct id of the
// person (the id itself for an unknown one). Both are read-only once
// cached. stored: the event store has the person.
type person struct {
	props  map[string]any
	ids    []string
	stored bool
}

// personCache is a shareCache of persons by (project, distinct id), each
// entry kept for ttl: a project's share of the cache is bounded, and so
// are its unknown persons (a 64th of the entries).
type personCache struct {
	src Persons
	ttl time.Duration
	now func() time.Time
	shareCache[person]
}

func newPersonCache(src Persons, ttl time.Duration, max, maxBytes int, now func() time.Time) *personCache {
	c := &personCache{src: src, ttl: ttl, now: now}
	c.init(max, maxBytes, max/64)
	return c
}

// person looks a distinct id's person up in the person index when it
// answers for the snapshot's keys (always current: no cache, fresh or
// not), else through the cache.
func (s *Service) person(ctx context.Context, sn *snapshot, projectID int64, distinctID string, fresh bool) (person, error) {
	if s.opt.Index != nil && distinctID != "" && ValidDistinctID(distinctID) {
		if p, ok := s.opt.Index.lookup(projectID, sn.personKeys, distinctID); ok {
			return p, nil
		}
	}
	return s.persons.lookup(ctx, projectID, distinctID, fresh)
}

// get returns the person behind distinctID, through the cache. A store
// error is returned (and not cached) with the unknown person. An id over
// MaxDistinctIDLen is no person, looked up or cached.
func (c *personCache) get(ctx context.Context, projectID int64, distinctID string) (person, error) {
	return c.lookup(ctx, projectID, distinctID, false)
}

// lookup is get; fresh does not trust a cached unknown person, nor caches
// one (an identify: the person is about to exist, or exists by now).
func (c *personCache) lookup(ctx context.Context, projectID int64, distinctID string, fresh bool) (person, error) {
	unknown := person{ids: []string{distinctID}}
	if c == nil || c.src == nil || distinctID == "" || !ValidDistinctID(distinctID) {
		return unknown, nil
	}
	key := cacheKey(projectID, distinctID)
	now := c.now()
	if p, ok := c.shareCache.get(key, now); ok && (p.stored || !fresh) {
		return p, nil
	}
	sp, ids, err := c.src.PersonByDistinctID(ctx, projectID, distinctID)
	var p person
	switch {
	case errors.Is(err, store.ErrNotFound):
		p = unknown
	case err != nil:
		return unknown, err
	default:
		p = person{props: sp.Properties, ids: ids, stored: true}
		if len(p.ids) == 0 {
			p.ids = unknown.ids
		}
	}
	if fresh && !p.stored {
		c.remove(key)
		return p, nil
	}
	size := len(key) + 64 + approxSize(p.props, 0)
	for _, id := range p.ids {
		size += len(id) + 16
	}
	c.put(projectID, key, p, size, now.Add(c.ttl), !p.stored)
	return p, nil
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
