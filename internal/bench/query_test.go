package bench

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/testutil/chtest"
)

// TestQuerySmall runs the query benchmark on a few thousand events: the
// bench's own connection writes the events the store then answers on,
// the floors run, and (with the local ClickHouse) the export and
// windowFunnel agree with the funnel.
func TestQuerySmall(t *testing.T) {
	o := QueryOptions{Events: 20_000, Seed: 1, Dir: t.TempDir(), Scale: true, Threads: 2, Repeat: 1}
	if resp, err := http.Get(chtest.URL + "/ping"); err != nil {
		testutil.Missing(t, "ClickHouse not reachable at %s (run scripts/clickhouse.sh start): %v", chtest.URL, err)
	} else {
		resp.Body.Close()
		o.ClickHouse = chtest.URL
	}
	res, err := Query(context.Background(), o, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.FunnelSteps) != 3 || res.FunnelSteps[0] == 0 || res.FloorMS <= 0 || res.TrendFloorMS <= 0 || res.RetentionFloorMS <= 0 || res.Events2x != 40_000 {
		t.Fatalf("result %+v", res)
	}
	// The journey index's figures, the SQL plans' beside them (the bench
	// checks their steps agree), and what the index costs.
	if res.FunnelNoIndexMS <= 0 || res.RetentionNoIndexMS <= 0 || res.TrendNoIndexMS <= 0 || res.IndexBytes <= 0 || res.IndexBuildMS <= 0 || res.Threads != 2 {
		t.Fatalf("journey index figures %+v", res)
	}
	if !slices.Equal(res.FunnelSteps, res.ClickHouseSteps) {
		t.Fatalf("funnel steps %v, ClickHouse's windowFunnel %v", res.FunnelSteps, res.ClickHouseSteps)
	}
}
