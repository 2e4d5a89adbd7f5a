package duckdb

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/journey-dev/journey/internal/store"
)

// TestSeenAfterReopen checks the filter built from the stored events (the
// first Apply after opening): a uuid stored before the reopen is dropped
// from a later batch, in its project only, and the batch's new uuid is
// inserted.
func TestSeenAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.duckdb")
	ts := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	row := func(project int64, b byte) store.Row {
		return store.Row{ProjectID: project, UUID: [16]byte{0: 0x01, 6: 0x40, 15: b}, Event: "e", DistinctID: "d",
			PersonID: 1, Timestamp: ts, Properties: []byte(`{}`), ReceivedAt: ts}
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, &store.Write{Events: []store.Row{row(1, 1)}, Checkpoint: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A year later: the old time-bounded check would not have looked.
	later := row(1, 1)
	later.Timestamp = ts.AddDate(1, 0, 0)
	if err := s.Apply(ctx, &store.Write{Events: []store.Row{later, row(1, 2), row(2, 1)}, Checkpoint: 2}); err != nil {
		t.Fatal(err)
	}
	var got []string
	rows, err := s.db.QueryContext(ctx, `SELECT project_id || ':' || uuid::VARCHAR || ':' || year(ts) FROM events ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []string{
		"1:01000000-0000-4000-0000-000000000001:2024",
		"1:01000000-0000-4000-0000-000000000002:2024",
		"2:01000000-0000-4000-0000-000000000001:2024",
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

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
