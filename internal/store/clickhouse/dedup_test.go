package clickhouse

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestDedupBackfill: a database written before event_uuids existed (its
// uuids missing, no backfill marker) gets them at the next open, so a
// copy of an old event sent 30 days later is still dropped; and a crash
// between the events and their uuids (uuids missing for one batch) is
// healed by the replay, which the time-bounded check on events catches.
func TestDedupBackfill(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		ctx := context.Background()
		s := testdb(t, sharded)
		l := storetest.NewLoader(t, s)
		old := storetest.Ev("e", "x", storetest.Day0, nil)
		l.Load(1, old)
		// As before the table existed.
		if err := s.q().Exec(ctx, "TRUNCATE TABLE "+s.db+".event_uuids"); err != nil {
			t.Fatal(err)
		}
		if err := s.q().Exec(ctx, "DROP TABLE "+s.db+".event_uuids_backfill"); err != nil {
			t.Fatal(err)
		}
		s2 := reopen(t, s, sharded)
		later := old
		later.Timestamp = old.Timestamp.AddDate(0, 0, 30)
		storetest.NewLoader(t, s2).Load(1, later)
		if n, err := s2.CountEvents(ctx, 1); err != nil || n != 1 {
			t.Fatalf("sharded %v: %d events after the backfill and a copy 30 days later (%v), want 1", sharded, n, err)
		}

		// A crash after the events, before their uuids: the replay finds
		// the events near its time and records the uuids.
		crash := storetest.Ev("e", "x", storetest.Day0.Add(time.Hour), nil)
		w := &store.Write{Events: []store.Row{{ProjectID: 1, UUID: parseUUID(t, crash.UUID), Event: "e", DistinctID: "x", PersonID: 1, Timestamp: crash.Timestamp, ReceivedAt: crash.ReceivedAt}}}
		if err := s2.insertEvents(ctx, w.Events); err != nil {
			t.Fatal(err)
		}
		storetest.NewLoader(t, s2).Load(1, crash) // the replay
		again := crash
		again.Timestamp = crash.Timestamp.AddDate(0, 0, 30)
		storetest.NewLoader(t, s2).Load(1, again)
		if n, err := s2.CountEvents(ctx, 1); err != nil || n != 2 {
			t.Fatalf("sharded %v: %d events after a replayed crash and a copy 30 days later (%v), want 2", sharded, n, err)
		}
	}
}

// reopen opens s's database again, as a restart does.
func reopen(t *testing.T, s *Store, sharded bool) *Store {
	t.Helper()
	hosts := addr
	q := ""
	if sharded {
		hosts, q = "127.0.0.1:19000,127.0.0.1:19001", "?"+url.Values{"cluster": {s.cluster}}.Encode()
	}
	s2, err := Open(context.Background(), "clickhouse://"+hosts+"/"+s.db+q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func parseUUID(t *testing.T, s string) [16]byte {
	t.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
