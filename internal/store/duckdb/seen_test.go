package duckdb

import (
	"math/rand/v2"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

// TestSeenFalsePositives checks the rate the dedup relies on: filled to
// 90 % of its capacity (when ensureSeen rebuilds it) the filter flags at
// most ~1e-5 of new uuids, so that most 10 000-event batches flag none
// and skip the scan of the stored uuids (dedup.go).
func TestSeenFalsePositives(t *testing.T) {
	const capacity = 1 << 20
	f := bloom.NewWithEstimates(capacity, seenFalsePositives)
	r := rand.New(rand.NewPCG(1, 2))
	key := func() []byte {
		var id [16]byte
		for i := range id {
			id[i] = byte(r.Uint32())
		}
		return seenKey(int64(r.IntN(4)), id)
	}
	for range capacity / 10 * 9 {
		f.Add(key())
	}
	const probes = 2_000_000
	flagged := 0
	for range probes {
		if f.Test(key()) {
			flagged++
		}
	}
	// 1e-5 would flag 20 of the probes; the filter's own estimate at 90 %
	// is ~3e-6 (6). A rate of 1e-4 would flag ~200.
	if flagged > 40 {
		t.Fatalf("flagged %d of %d new uuids (%.2g), want at most ~1e-5", flagged, probes, float64(flagged)/probes)
	}
	t.Logf("flagged %d of %d new uuids; %.1f bits per slot of capacity", flagged, probes, float64(f.Cap())/capacity)
}
