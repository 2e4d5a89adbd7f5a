package duckdb

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// TestExposedTable feeds random exposed rows (one variant or several,
// actors inside the array, past it and negative, times before the first
// day, on day starts and huge) in chunks and checks every actor's lookup
// and the persons per (mask, day) against a plain recomputation.
func TestExposedTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := &insight.ExperimentPlan{Q: &insight.Experiment{Variants: []string{"a", "b", "c"}}}
	for i := range 5 {
		p.Days.Starts = append(p.Days.Starts, day0.Add(time.Duration(i)*24*time.Hour))
	}
	const maxID = 100
	e := newExposedTable(p, maxID)
	type row struct{ actor, t0, mask int64 }
	var rows []row
	for i, actor := range rng.Perm(300) {
		a := int64(actor) - 50 // negative, inside, past maxID
		t0 := day0.Add(time.Duration(rng.IntN(7*24)-24) * time.Hour).UnixMicro()
		switch i % 7 {
		case 0:
			t0 = p.Days.Starts[rng.IntN(5)].UnixMicro()
		case 1:
			t0 = []int64{exposedMaxT, exposedMaxT + 1, -exposedMaxT - 1, 1 << 61}[rng.IntN(4)] // the largest packed, too large to pack
		}
		mask := int64(1) << rng.IntN(3)
		if i%5 == 0 {
			mask |= 1 << rng.IntN(3)
		}
		rows = append(rows, row{a, t0, mask})
	}
	for lo := 0; lo < len(rows); lo += 64 {
		var actors, t0s, masks []int64
		for _, r := range rows[lo:min(lo+64, len(rows))] {
			actors, t0s, masks = append(actors, r.actor), append(t0s, r.t0), append(masks, r.mask)
		}
		e.feedChunk(actors, t0s, masks)
	}
	want := map[exposureKey]int64{}
	for _, r := range rows {
		day := sort.Search(len(p.Days.Starts), func(i int) bool { return p.Days.Starts[i].UnixMicro() > r.t0 }) - 1
		want[exposureKey{uint64(r.mask), day}]++
		t0, v, ok := e.get(r.actor)
		single := r.mask&(r.mask-1) == 0
		if ok != single || single && (t0 != r.t0 || int64(1)<<v != r.mask) {
			t.Fatalf("actor %d (t0 %d, mask %b): got %d, variant %d, %v", r.actor, r.t0, r.mask, t0, v, ok)
		}
	}
	if _, _, ok := e.get(1000); ok {
		t.Fatal("actor 1000 was never fed")
	}
	got := map[exposureKey]int64{}
	for _, r := range e.exposureRows() {
		got[exposureKey{r.Mask, r.Day}] += r.Persons
	}
	if len(got) != len(want) {
		t.Fatalf("exposure rows %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("exposure rows %v, want %v", got, want)
		}
	}
}
