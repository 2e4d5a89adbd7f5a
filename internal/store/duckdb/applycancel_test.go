package duckdb

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// TestApplyCancelled: an Apply whose context ends while it runs fails
// whole, and the store takes the next writes. database/sql rolls back a
// transaction whose context ends and, as the driver cannot reset a
// session, closes its connection: with the write connection's
// transaction begun on that context, every later Apply failed ("sql:
// connection is already closed"). Cancels at growing delays, so that
// some land inside the transaction.
func TestApplyCancelled(t *testing.T) {
	s, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row := func() store.Row {
		return store.Row{ProjectID: 1, UUID: uuid.New(), Event: "e", DistinctID: "x", PersonID: 7, Timestamp: day0, ReceivedAt: day0, Properties: []byte(`{}`)}
	}
	var stored int64
	ckpt := uint64(0)
	for d := time.Millisecond; d < 2*time.Second; d *= 2 {
		big := make([]store.Row, 100_000)
		for i := range big {
			big[i] = row()
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		ckpt++
		err := s.Apply(ctx, &store.Write{Events: big, Checkpoint: ckpt})
		cancel()
		if err == nil {
			stored += int64(len(big))
		}
		ckpt++
		if err := s.Apply(context.Background(), &store.Write{Events: []store.Row{row()}, Checkpoint: ckpt}); err != nil {
			t.Fatalf("after an Apply cancelled at %v: %v", d, err)
		}
		stored++
		if n, err := s.CountEvents(context.Background(), 1); err != nil || n != stored {
			t.Fatalf("after an Apply cancelled at %v: %d events (%v), want %d (a write is stored whole or not at all)", d, n, err, stored)
		}
	}
}
