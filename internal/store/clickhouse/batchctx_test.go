package clickhouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testutil"
)

// TestQueryAfterCancelledOpen: a caller that cancels Open's context as
// soon as Open returns (app.openEvents, tests) must find the store's
// connections usable. Open's last step sends a batch, and clickhouse-go's
// batch.Send could close that connection after giving it back to the
// pool when the context ended at that moment; the next query failed with
// "use of closed network connection" (CI, TestConformanceTwoShards).
func TestQueryAfterCancelledOpen(t *testing.T) {
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("journey_t_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := Open(ctx, "clickhouse://"+addr+"/"+name)
		cancel()
		if err != nil {
			testutil.Missing(t, "ClickHouse not usable at %s: %v", addr, err)
		}
		_, qerr := s.Identity(context.Background())
		s.q().Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
		s.Close()
		if qerr != nil {
			t.Fatalf("open %d: the first query after Open: %v", i, qerr)
		}
	}
}
