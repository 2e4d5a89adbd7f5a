package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// countingMeta counts token lookups that reach the metadata store.
type countingMeta struct {
	meta.Store
	lookups atomic.Int64
}

func (c *countingMeta) ProjectByToken(ctx context.Context, token string) (meta.Project, error) {
	c.lookups.Add(1)
	return c.Store.ProjectByToken(ctx, token)
}

// TestTokenCacheFlood: made-up tokens neither push a real token out of the
// cache (it was wiped whole past 100 000 entries) nor grow it past its
// bound.
func TestTokenCacheFlood(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	p, _, err := db.CreateProject(ctx, "p", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	token := p.Token
	m := &countingMeta{Store: db}
	c := &tokenCache{meta: m}
	if _, ok, err := c.ProjectByToken(ctx, token); !ok || err != nil {
		t.Fatalf("real token: %v %v", ok, err)
	}
	for i := 0; i < maxMisses+5_000; i++ {
		if _, ok, _ := c.ProjectByToken(ctx, fmt.Sprintf("jpt_madeup%d", i)); ok {
			t.Fatal("made-up token found")
		}
	}
	before := m.lookups.Load()
	if _, ok, err := c.ProjectByToken(ctx, token); !ok || err != nil {
		t.Fatalf("real token after the flood: %v %v", ok, err)
	}
	if m.lookups.Load() != before {
		t.Fatal("the flood pushed the real token out of the cache")
	}
	if n := len(c.misses); n > maxMisses {
		t.Fatalf("%d misses cached, bound %d", n, maxMisses)
	}
}

// TestTokenCacheLongTokens: a made-up token far longer than real ones is
// answered unknown without a lookup and not kept (review: 300 tokens of
// 1 MB held 303 MB).
func TestTokenCacheLongTokens(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &countingMeta{Store: db}
	c := &tokenCache{meta: m}
	long := strings.Repeat("x", 1<<20)
	if _, ok, err := c.ProjectByToken(context.Background(), long); ok || err != nil {
		t.Fatalf("long token: %v %v", ok, err)
	}
	if m.lookups.Load() != 0 || len(c.misses) != 0 {
		t.Fatalf("long token looked up (%d) or kept (%d)", m.lookups.Load(), len(c.misses))
	}
}
