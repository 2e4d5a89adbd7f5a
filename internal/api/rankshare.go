package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/voc"
)

// maxRankings is how many impact rankings run at once in the server. A
// ranking reads up to voc.MaxRankItems items and their persons (a few
// hundred MB at the limit), and a viewer may ask for one per request
// (themes, the impact-sorted inbox, the home page): without a bound,
// parallel requests multiply that memory.
const maxRankings = 2

// rankings shares one computation among the requests that ask for the
// same project's ranking with the same options while it runs (a result
// is never kept after it: the next request sees new feedback), and
// bounds the computations that run at once.
type rankings struct {
	once  sync.Once
	sem   chan struct{}
	mu    sync.Mutex
	calls map[string]*rankCall
}

type rankCall struct {
	done chan struct{}
	res  *voc.Ranking
	err  error
}

// do answers key's ranking: a copy of the shared result, so that callers
// may sort and extend it. The computation runs detached from any one
// caller (another may still wait for it) within timeout; a caller stops
// waiting when its own context ends.
func (rs *rankings) do(ctx context.Context, key string, timeout time.Duration, compute func(context.Context) (*voc.Ranking, error)) (*voc.Ranking, error) {
	rs.once.Do(func() {
		rs.sem = make(chan struct{}, maxRankings)
		rs.calls = map[string]*rankCall{}
	})
	rs.mu.Lock()
	c, ok := rs.calls[key]
	if !ok {
		c = &rankCall{done: make(chan struct{})}
		rs.calls[key] = c
		go rs.run(context.WithoutCancel(ctx), key, c, timeout, compute)
	}
	rs.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	out := *c.res
	out.Themes, out.Items, out.Moved = slices.Clone(c.res.Themes), slices.Clone(c.res.Items), nil
	return &out, nil
}

func (rs *rankings) run(ctx context.Context, key string, c *rankCall, timeout time.Duration, compute func(context.Context) (*voc.Ranking, error)) {
	defer func() {
		rs.mu.Lock()
		delete(rs.calls, key)
		rs.mu.Unlock()
		close(c.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case rs.sem <- struct{}{}:
		defer func() { <-rs.sem }()
	case <-ctx.Done():
		c.err = fmt.Errorf("cannot rank feedback: %w", ctx.Err())
		return
	}
	c.res, c.err = compute(ctx)
}
