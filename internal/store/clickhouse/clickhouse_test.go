package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
	"github.com/journey-dev/journey/internal/testutil"
)

// addr is the first local ClickHouse that scripts/clickhouse.sh starts;
// the second (19001) makes the two-shard cluster journey_two_shards.
var addr = envOr("JOURNEY_TEST_CLICKHOUSE", "127.0.0.1:19000")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// testdb opens a store on a fresh database (dropped after the test); with
// sharded, on both local servers as two shards.
func testdb(t *testing.T, sharded bool) *Store {
	t.Helper()
	name := fmt.Sprintf("journey_t_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	dsn := "clickhouse://" + addr + "/" + name
	if sharded {
		dsn = "clickhouse://127.0.0.1:19000,127.0.0.1:19001/" + name + "?cluster=journey_two_shards"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn)
	if err != nil {
		testutil.Missing(t, "ClickHouse not usable at %s (run scripts/clickhouse.sh start 2): %v", dsn, err)
	}
	t.Cleanup(func() {
		for _, c := range s.shards {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb(t, false) })
}

func TestConformanceTwoShards(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb(t, true) })
}

// TestQueryMemoryCap: ClickHouse runs insight queries (and the sql kind,
// read-only) with the query's memory cap as max_memory_usage, and its
// out-of-memory error reads as *insight.MemoryError.
func TestQueryMemoryCap(t *testing.T) {
	s := testdb(t, false)
	storetest.NewLoader(t, s).Load(1, storetest.Ev("e", "u", storetest.Day0.Add(time.Hour), nil))
	q := &insight.Trend{Series: []insight.Series{{Event: "e"}}, Interval: "day", Range: insight.Range{From: storetest.Day0, To: storetest.Day0.AddDate(0, 0, 2)}}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Trend(insight.WithMemoryCap(context.Background(), 1<<30), 1, time.UTC, q); err != nil {
		t.Fatal(err)
	}
	ctx := insight.WithMemoryCap(context.Background(), 1<<10)
	_, err := s.Trend(ctx, 1, time.UTC, q)
	var mem *insight.MemoryError
	if !errors.As(store.AsMemoryError(ctx, err), &mem) || mem.Cap != 1<<10 {
		t.Fatalf("trend under a 1 KiB cap: %v, want ClickHouse's memory limit as a MemoryError", err)
	}
	_, err = s.SQL(ctx, 1, &insight.SQL{Query: "SELECT count() FROM events", Limit: 10})
	if !errors.As(store.AsMemoryError(ctx, err), &mem) {
		t.Fatalf("sql under a 1 KiB cap: %v, want a MemoryError", err)
	}
}
