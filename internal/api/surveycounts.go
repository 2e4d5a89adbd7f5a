package api

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/voc"
)

// publicCountTTL is how long the public survey list reuses a project's
// response counts: posthog-js asks on every page load and a count scans
// the project's `survey sent` events, so anyone holding the (public)
// token could otherwise make the store scan once per request. A survey
// may be served up to this long after it reached its responses_limit.
const publicCountTTL = 10 * time.Second

// surveyCountCache holds, per project, the last response counts of its
// limited surveys; one count runs at a time per project and the others
// wait for it; a failed count is not kept. Entries exist only for projects whose token was valid.
type surveyCountCache struct {
	ttl   time.Duration // 0: publicCountTTL; negative: no reuse (tests)
	mu    sync.Mutex
	m     map[int64]*surveyCountEntry
	fills int // counts read from the store (for tests)
}

type surveyCountEntry struct {
	mu     sync.Mutex
	at     time.Time
	ids    string // the limited surveys counted, in order
	counts map[int64]int64
}

// publicSurveyCounts is surveyCounts for the public list, reused for the
// cache's TTL while the set of limited surveys stays the same.
func (s *Server) publicSurveyCounts(ctx context.Context, projectID int64, views []voc.View) (map[int64]int64, error) {
	ids := ""
	for _, v := range views {
		if v.ResponsesLimit != nil {
			ids += strconv.FormatInt(v.ID, 10) + ","
		}
	}
	if ids == "" {
		return map[int64]int64{}, nil
	}
	c := &s.publicCounts
	ttl := c.ttl
	if ttl == 0 {
		ttl = publicCountTTL
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int64]*surveyCountEntry{}
	}
	e := c.m[projectID]
	if e == nil {
		e = &surveyCountEntry{}
		c.m[projectID] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ids == ids && ttl > 0 && time.Since(e.at) < ttl {
		return e.counts, nil
	}
	counts, err := s.surveyCounts(ctx, projectID, views)
	if err != nil {
		// Not kept: a request that went away must not hold every
		// visitor's limited surveys back.
		return counts, err
	}
	e.at, e.ids, e.counts = time.Now(), ids, counts
	c.mu.Lock()
	c.fills++
	c.mu.Unlock()
	return counts, err
}
