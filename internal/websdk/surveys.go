package websdk

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// posthog-js loads its surveys extension (surveys.js) and asks
// /api/surveys/ only when the remote config's "surveys" is true (or a
// non-empty list), so it says whether the project has an active survey.
// The answer is cached like the settings: config.js and /flags are asked
// on every page view.

// surveysCache keeps, per project, whether it has an active survey.
type surveysCache struct {
	meta meta.Store
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu      sync.Mutex
	entries map[int64]cachedSurveys
}

type cachedSurveys struct {
	active  bool
	expires time.Time
}

func newSurveysCache(m meta.Store, ttl time.Duration, max int) *surveysCache {
	return &surveysCache{meta: m, ttl: ttl, max: max, now: time.Now, entries: map[int64]cachedSurveys{}}
}

// active reports whether the project has a survey to show now; false
// when that cannot be read (and nothing is cached): posthog-js then skips
// surveys on this page view rather than failing it.
func (c *surveysCache) active(ctx context.Context, projectID int64) bool {
	now := c.now()
	c.mu.Lock()
	e, hit := c.entries[projectID]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.active
	}
	list, err := c.meta.ActiveSurveys(ctx, projectID, now)
	if err != nil {
		slog.Warn("cannot read active surveys", "project", projectID, "err", err)
		return hit && e.active
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for id, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, id)
			}
		}
	}
	if len(c.entries) < c.max || hit {
		c.entries[projectID] = cachedSurveys{active: len(list) > 0, expires: now.Add(c.ttl)}
	}
	return len(list) > 0
}
