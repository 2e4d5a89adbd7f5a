package metatest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runCohortMembers(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("CohortRuns", func(t *testing.T) { testCohortRuns(t, open(t)) })
	t.Run("CohortRunClaimConcurrent", func(t *testing.T) { testCohortRunClaimConcurrent(t, open(t)) })
	t.Run("CohortMembers", func(t *testing.T) { testCohortMembers(t, open(t)) })
}

// testCohortRuns: a campaign's run is created at generation 0 by its
// first claim, held by one owner until its lease ends, saved only by its
// holder, read back as saved, reset only by its holder; deleted and
// other projects' campaigns have none.
func testCohortRuns(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, err := s.CreateProject(ctx, "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateProject(ctx, "other", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	c := campaignFor(t, s, p.ID, "blast")
	if _, err := s.CohortRun(ctx, p.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("run before any claim: %v", err)
	}
	r, ok, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "a", t0, time.Minute)
	if err != nil || !ok || r.Generation != 0 || r.Cursor != 0 || !r.AsOf.IsZero() || !r.DoneAt.IsZero() || r.ClaimedBy != "a" ||
		!r.ClaimedUntil.Equal(t0.Add(time.Minute)) || r.CampaignID != c.ID || r.ProjectID != p.ID {
		t.Fatalf("first claim: %+v %v %v", r, ok, err)
	}
	// b waits for a's lease; a claims again (extends).
	if got, ok, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "b", t0.Add(30*time.Second), time.Minute); ok || err != nil || got.ClaimedBy != "a" {
		t.Fatalf("b claimed a held run: %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "a", t0.Add(30*time.Second), time.Minute); !ok || err != nil {
		t.Fatalf("a could not claim its own run again: %v %v", ok, err)
	}
	// a saves progress; b cannot.
	r.Generation, r.Cursor, r.AsOf = 1, 42, t0.Add(time.Second)
	if err := s.SaveCohortRun(ctx, r, "a", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCohortRun(ctx, r, "b", t0.Add(2*time.Minute)); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("b saved a's run: %v", err)
	}
	got, err := s.CohortRun(ctx, p.ID, c.ID)
	if err != nil || got.Generation != 1 || got.Cursor != 42 || !got.AsOf.Equal(t0.Add(time.Second)) || !got.DoneAt.IsZero() ||
		!got.ClaimedUntil.Equal(t0.Add(2*time.Minute)) || got.ClaimedBy != "a" || got.AsOf.Location() != time.UTC {
		t.Fatalf("saved run read back as %+v, %v", got, err)
	}
	// Given back (until now): b claims it with the progress.
	if err := s.SaveCohortRun(ctx, got, "a", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, ok, err = s.ClaimCohortRun(ctx, p.ID, c.ID, "b", t0.Add(time.Minute), time.Minute)
	if err != nil || !ok || got.ClaimedBy != "b" || got.Cursor != 42 || got.Generation != 1 {
		t.Fatalf("b's claim after a gave the run back: %+v %v %v", got, ok, err)
	}
	got.DoneAt = t0.Add(90 * time.Second)
	if err := s.SaveCohortRun(ctx, got, "b", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.CohortRun(ctx, p.ID, c.ID); !got.DoneAt.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("done at %v", got.DoneAt)
	}
	// Another project's id reaches nothing; a deleted campaign gets no run.
	if _, _, err := s.ClaimCohortRun(ctx, other.ID, c.ID, "a", t0, time.Minute); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("claim through another project: %v", err)
	}
	if _, err := s.CohortRun(ctx, other.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("read through another project: %v", err)
	}
	gone := campaignFor(t, s, p.ID, "gone")
	if err := s.DeleteCampaign(ctx, p.ID, gone.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimCohortRun(ctx, p.ID, gone.ID, "a", t0, time.Minute); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("claim of a deleted campaign: %v", err)
	}
	// Bad claims.
	if _, _, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "", t0, time.Minute); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("claim without owner: %v", err)
	}
	if _, _, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "a", t0, 0); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("claim without lease: %v", err)
	}
	// Reset: only by the holder; it drops the members too.
	if err := s.MarkCohortMembers(ctx, p.ID, c.ID, 1, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetCohortRun(ctx, p.ID, c.ID, "a"); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("a reset b's run: %v", err)
	}
	if err := s.ResetCohortRun(ctx, p.ID, c.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CohortRun(ctx, p.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("run after reset: %v", err)
	}
	if n, err := s.DropCohortMembers(ctx, p.ID, c.ID, 99); n != 0 || err != nil {
		t.Fatalf("members left after reset: %d %v", n, err)
	}
	if err := s.ResetCohortRun(ctx, p.ID, c.ID, "b"); err != nil {
		t.Fatalf("reset without a run: %v", err)
	}
	// A fresh claim starts at generation 0 again.
	if r, ok, err := s.ClaimCohortRun(ctx, p.ID, c.ID, "a", t0.Add(time.Hour), time.Minute); !ok || err != nil || r.Generation != 0 || r.Cursor != 0 {
		t.Fatalf("claim after reset: %+v %v %v", r, ok, err)
	}
}

// testCohortRunClaimConcurrent: owners claiming one run at once get it
// once.
func testCohortRunClaimConcurrent(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, err := s.CreateProject(ctx, "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	c := campaignFor(t, s, p.ID, "blast")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ClaimCohortRun(ctx, p.ID, c.ID, string(rune('a'+i)), t0, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d owners claimed one run at once", won)
	}
}

// testCohortMembers: who entered at a generation is who was seen neither
// at the one before nor at it; generation 1 is the baseline; members not
// seen at a generation are dropped; campaigns do not share members.
func testCohortMembers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, err := s.CreateProject(ctx, "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	c := campaignFor(t, s, p.ID, "entered")
	d := campaignFor(t, s, p.ID, "other")
	entered := func(gen int64, ids ...int64) []int64 {
		t.Helper()
		got, err := s.CohortEntered(ctx, p.ID, c.ID, gen, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	mark := func(gen int64, ids ...int64) {
		t.Helper()
		if err := s.MarkCohortMembers(ctx, p.ID, c.ID, gen, ids); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, got, want []int64) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
	// The baseline: 1, 2, 3 are members; nobody entered.
	same("baseline", entered(1, 1, 2, 3), []int64{})
	mark(1, 1, 2, 3, 3)
	// Pass 2 sees 2, 3, 4, 5: 4 and 5 entered (in the order given, once).
	same("pass 2", entered(2, 5, 2, 3, 4, 5), []int64{5, 4})
	mark(2, 2, 3)
	// A repeated page of pass 2 (a crash after marking 2 and 3): still 4 and 5.
	same("pass 2 again", entered(2, 2, 3, 4, 5), []int64{4, 5})
	mark(2, 4, 5)
	same("pass 2 marked", entered(2, 2, 3, 4, 5), []int64{})
	if n, err := s.DropCohortMembers(ctx, p.ID, c.ID, 2); n != 1 || err != nil { // 1 left
		t.Fatalf("dropped %d, %v; want 1", n, err)
	}
	// Pass 3: 1 is back (entered again), 2 stays.
	same("pass 3", entered(3, 1, 2), []int64{1})
	// Another campaign has seen nobody.
	if got, err := s.CohortEntered(ctx, p.ID, d.ID, 3, []int64{1, 2}); err != nil || !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Fatalf("other campaign: %v %v", got, err)
	}
	// Bounds.
	many := make([]int64, meta.MaxSendBatch+1)
	for i := range many {
		many[i] = int64(i + 1)
	}
	if err := s.MarkCohortMembers(ctx, p.ID, c.ID, 3, many); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("marking %d at once: %v", len(many), err)
	}
	if _, err := s.CohortEntered(ctx, p.ID, c.ID, 3, many); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("asking for %d at once: %v", len(many), err)
	}
	if err := s.MarkCohortMembers(ctx, p.ID, c.ID, 3, many[:meta.MaxSendBatch]); err != nil {
		t.Fatal(err)
	}
	if got := entered(4, many[:meta.MaxSendBatch]...); len(got) != 0 {
		t.Fatalf("%d entered at pass 4 after all were seen at 3", len(got))
	}
}
