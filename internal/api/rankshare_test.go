package api

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/voc"
)

// Concurrent requests for one project's ranking share one computation and
// each get their own copy; computations of different keys run at most
// maxRankings at once; a caller whose context ends stops waiting.
func TestRankingsShareAndBound(t *testing.T) {
	var rs rankings
	release := make(chan struct{})
	var calls, running, most atomic.Int32
	compute := func(ctx context.Context) (*voc.Ranking, error) {
		calls.Add(1)
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
		return &voc.Ranking{Themes: []voc.Impact{{ID: 1}, {ID: 2}}}, nil
	}
	var wg sync.WaitGroup
	got := make([]*voc.Ranking, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := rs.do(context.Background(), "p1", time.Minute, compute)
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		}()
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := rs.do(context.Background(), fmt.Sprint("other", i), time.Minute, compute); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := rs.do(ctx, "p1", time.Minute, compute); err == nil {
		t.Error("a caller whose context ended still waited for its answer")
	}
	cancel()
	close(release)
	wg.Wait()
	if c := calls.Load(); c != 5 {
		t.Fatalf("%d computations for 1 + 4 keys", c)
	}
	if m := most.Load(); m > maxRankings {
		t.Fatalf("%d rankings ran at once, want at most %d", m, maxRankings)
	}
	got[0].Themes[0].ID = 99 // each caller's copy is its own
	if got[1].Themes[0].ID != 1 {
		t.Fatal("callers share the result's slices")
	}
}
