package metatest

import (
	"context"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

// testConsumers: a log consumer's position is absent until stored, then
// the last one stored; consumers do not share positions.
func testConsumers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if _, ok, err := s.ConsumerPosition(ctx, "campaigns"); ok || err != nil {
		t.Fatalf("fresh store: ok %v, err %v", ok, err)
	}
	for _, pos := range []uint64{10, 7, 1 << 40} {
		if err := s.SetConsumerPosition(ctx, "campaigns", pos); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.ConsumerPosition(ctx, "campaigns"); !ok || err != nil || got != pos {
			t.Fatalf("after storing %d: %d %v %v", pos, got, ok, err)
		}
	}
	if _, ok, _ := s.ConsumerPosition(ctx, "other"); ok {
		t.Fatal("another consumer reads campaigns' position")
	}
	if err := s.SetConsumerPosition(ctx, "", 1); err == nil {
		t.Fatal("an unnamed consumer was stored")
	}
}
