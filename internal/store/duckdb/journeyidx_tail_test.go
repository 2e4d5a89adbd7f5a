package duckdb

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/journey-dev/journey/internal/journeyidx"
)

// A batch's events come back from their encoding as they were (names
// repeated and not, negative persons and times, times going back), and a
// cut or extended encoding is refused.
func TestTailBatchRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"$pageview", "signed_up", "", "ünïcode", "x"}
	for round := range 200 {
		var evs []journeyidx.Event
		for range rng.IntN(50) {
			evs = append(evs, journeyidx.Event{Project: rng.Int64N(3) + 1, Person: rng.Int64N(2000) - 100,
				T: rng.Int64N(1<<50) - 1<<49, Name: names[rng.IntN(len(names))]})
		}
		b := encodeTailBatch(evs)
		got, err := decodeTailBatch(b, nil)
		if err != nil || !reflect.DeepEqual(got, evs) {
			t.Fatalf("round %d: %v %v, want %v", round, got, err, evs)
		}
		if len(b) > 1 {
			if _, err := decodeTailBatch(b[:len(b)-1], nil); err == nil {
				t.Fatalf("round %d: a cut batch decoded", round)
			}
		}
		if _, err := decodeTailBatch(append(b, 0), nil); err == nil {
			t.Fatalf("round %d: a batch with a byte more decoded", round)
		}
	}
}
