package metatest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runDeletions(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("DeletionJobs", func(t *testing.T) { testDeletionJobs(t, open(t)) })
	t.Run("DeletionMetadata", func(t *testing.T) { testDeletionMetadata(t, open(t)) })
	t.Run("DeletionAttempts", func(t *testing.T) { testDeletionAttempts(t, open(t)) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open(t)) })
}

// testDeletionJobs: jobs are created queued, read only in their project,
// claimed oldest first by one owner at a time until the lease runs out
// (the same owner takes its own back at once: an embedded server that
// restarts), saved only by the holder, and a done job keeps no distinct id.
func testDeletionJobs(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, _ := s.CreateProject(ctx, "a", "UTC")
	b, _, _ := s.CreateProject(ctx, "b", "UTC")
	if _, err := s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: a.ID}); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("deletion of nobody: %v, want ErrInvalid", err)
	}
	ja := try(s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: a.ID, PersonID: 7, RequestedBy: "key"})).must(t)
	jb := try(s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: b.ID, DistinctID: "alice@example.com", RequestedBy: "user:1"})).must(t)
	if again := try(s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: a.ID, PersonID: 7, RequestedBy: "key"})).must(t); again.ID != ja.ID {
		t.Fatalf("a repeated deletion queued job %d beside the pending %d", again.ID, ja.ID)
	}
	if ja.Status != meta.DeletionQueued || ja.Step != meta.StepResolve || ja.ID == jb.ID || ja.PersonID != 7 || jb.DistinctID != "alice@example.com" ||
		ja.CreatedAt.IsZero() || ja.Attempts != 0 || ja.Counts != (meta.DeletionCounts{}) {
		t.Fatalf("created %+v and %+v", ja, jb)
	}
	wantJSON(t, "a queued job", meta.DeletionJob{ID: 1, PersonID: 7, Status: "queued", Step: "resolve", RequestedBy: "key", CreatedAt: t0, UpdatedAt: t0},
		`{"id":1,"person_id":7,"status":"queued","step":"resolve","counts":{"events":0,"distinct_ids":0,"persons":0,"overrides":0,"feedback":0,"sends":0,"cohort_members":0,"flag_hash_keys":0},"attempts":0,"requested_by":"key","created_at":"2026-05-01T09:00:00Z","updated_at":"2026-05-01T09:00:00Z"}`)
	if _, err := s.Deletion(ctx, b.ID, ja.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b reads project a's job: %v", err)
	}
	claim := func(owner string, at time.Time) (meta.DeletionJob, bool) {
		t.Helper()
		j, ok, err := s.ClaimDeletion(ctx, owner, at, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return j, ok
	}
	if j, ok := claim("r1", t0); !ok || j.ID != ja.ID || j.Status != meta.DeletionRunning || j.Attempts != 1 || j.ClaimedBy != "r1" {
		t.Fatalf("first claim = %+v %v, want job %d running", j, ok, ja.ID)
	}
	if j, ok := claim("r2", t0); !ok || j.ID != jb.ID {
		t.Fatalf("second claim = %+v %v, want job %d", j, ok, jb.ID)
	}
	if j, ok := claim("r3", t0.Add(30*time.Second)); ok {
		t.Fatalf("claim while both are held = %+v", j)
	}
	if j, ok := claim("r1", t0.Add(30*time.Second)); !ok || j.ID != ja.ID || j.Attempts != 2 {
		t.Fatalf("owner's own claim again = %+v %v, want job %d at once", j, ok, ja.ID)
	}
	j := try(s.Deletion(ctx, a.ID, ja.ID)).must(t)
	j.Step, j.PersonID, j.LogPosition = meta.StepEvents, 7, 12345
	j.Subject = meta.DeletionSubject{PersonID: 7, MergedIDs: []int64{3, -99}, DistinctIDs: []string{"alice", "anon"}}
	j.Counts = meta.DeletionCounts{Events: 10, DistinctIDs: 2, Persons: 1, Overrides: 2}
	if err := s.SaveDeletion(ctx, j, "r2", t0.Add(time.Minute)); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("save by another owner: %v, want ErrNotClaimed", err)
	}
	if err := s.SaveDeletion(ctx, j, "r1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := try(s.Deletion(ctx, a.ID, ja.ID)).must(t)
	if got.Step != meta.StepEvents || got.LogPosition != 12345 || !reflect.DeepEqual(got.Subject, j.Subject) || got.Counts != j.Counts ||
		!got.ClaimedUntil.Equal(t0.Add(2*time.Minute)) || got.Status != meta.DeletionRunning {
		t.Fatalf("saved %+v, read %+v", j, got)
	}
	// The lease runs out: another owner takes the job, with its subject.
	if c, ok := claim("r3", t0.Add(3*time.Minute)); !ok || c.ID != ja.ID || !reflect.DeepEqual(c.Subject, j.Subject) || c.Attempts != 3 {
		t.Fatalf("claim after the lease = %+v %v", c, ok)
	}
	if err := s.SaveDeletion(ctx, j, "r1", t0.Add(4*time.Minute)); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("save by the owner that lost the claim: %v", err)
	}
	jd := try(s.Deletion(ctx, b.ID, jb.ID)).must(t)
	jd.Status, jd.Step, jd.PersonID = meta.DeletionDone, meta.StepDone, 9
	jd.Subject = meta.DeletionSubject{PersonID: 9, MergedIDs: []int64{}, DistinctIDs: []string{"alice@example.com"}}
	if err := s.SaveDeletion(ctx, jd, "r2", t0); err != nil {
		t.Fatal(err)
	}
	done := try(s.Deletion(ctx, b.ID, jb.ID)).must(t)
	if done.Status != meta.DeletionDone || done.DistinctID != "" || len(done.Subject.DistinctIDs) != 0 || done.Subject.PersonID != 9 || done.DoneAt.IsZero() {
		t.Fatalf("done job = %+v, want no distinct id left", done)
	}
	if c, ok := claim("r4", t0.Add(time.Hour)); ok && c.ID == jb.ID {
		t.Fatalf("a done job was claimed: %+v", c)
	}
}

// testDeletionMetadata: ErasePersonMetadata removes the person's feedback
// (items of its persons or distinct ids, their comments and tags; a
// duplicate merged into one stays, unmerged), sends (by person or distinct
// id), cohort memberships and flag hash keys (by distinct id or hash key),
// and nothing of anyone else or another project, and saves the job done
// with the counts in the same transaction; PersonMetadata lists the same
// before, nothing after.
func testDeletionMetadata(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, _ := s.CreateProject(ctx, "shop", "UTC")
	q, _, _ := s.CreateProject(ctx, "other", "UTC")
	seed := func(projectID int64) (alice, bob meta.FeedbackItem) {
		alice = try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: projectID, Text: "slow checkout", Source: meta.SourceAPI, DistinctID: "alice", Tags: []string{"perf"}})).must(t)
		try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: projectID, Text: "by person", Source: meta.SourceAPI, DistinctID: "old-id", PersonID: 7})).must(t)
		bob = try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: projectID, Text: "checkout is slow", Source: meta.SourceAPI, DistinctID: "bob"})).must(t)
		try(s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: projectID, ItemID: alice.ID, Kind: meta.CommentReply, Text: "thanks, Alice"})).must(t)
		try(s.MergeFeedback(ctx, projectID, bob.ID, alice.ID)).must(t)
		c := campaignFor(t, s, projectID, "nudge")
		for i, who := range []struct {
			person int64
			did    string
		}{{7, "alice"}, {8, "bob"}, {99, "anon"}} {
			sd := newSend(fmt.Sprintf("k%d-%d", projectID, i), projectID, c.ID, who.person, t0)
			sd.DistinctID = who.did
			try(s.ScheduleSends(ctx, []meta.Send{sd})).must(t)
		}
		if err := s.MarkCohortMembers(ctx, projectID, c.ID, 1, []int64{7, 8}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFlagHashKeys(ctx, projectID, []string{"alice", "bob"}, []string{"f1", "f2"}, "anon"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFlagHashKeys(ctx, projectID, []string{"carol"}, []string{"f1"}, "carol"); err != nil {
			t.Fatal(err)
		}
		return alice, bob
	}
	alice, bob := seed(p.ID)
	seed(q.ID)
	ids, dids := []int64{7, 3, -5}, []string{"alice", "anon"}
	before := try(s.PersonMetadata(ctx, p.ID, ids, dids)).must(t)
	if len(before.Feedback) != 2 || before.Feedback[0].ID != alice.ID || len(before.Feedback[0].Comments) != 1 || len(before.Sends) != 2 ||
		len(before.CohortMembers) != 1 || before.CohortMembers[0].PersonID != 7 || len(before.FlagHashKeys) != 4 {
		t.Fatalf("metadata before = %+v", before)
	}
	j := try(s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: p.ID, PersonID: 7})).must(t)
	j, _, err := s.ClaimDeletion(ctx, "r1", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j.Subject = meta.DeletionSubject{PersonID: 7, MergedIDs: []int64{3, -5}, DistinctIDs: dids}
	j.Counts.Events = 4
	if _, err := s.ErasePersonMetadata(ctx, j, "r2"); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("erase by another owner: %v, want ErrNotClaimed", err)
	}
	if again := try(s.PersonMetadata(ctx, p.ID, ids, dids)).must(t); !reflect.DeepEqual(again, before) {
		t.Fatalf("a refused erase changed the metadata: %+v", again)
	}
	done := try(s.ErasePersonMetadata(ctx, j, "r1")).must(t)
	want := meta.DeletionCounts{Events: 4, Feedback: 2, Sends: 2, CohortMembers: 1, FlagHashKeys: 4}
	if done.Status != meta.DeletionDone || done.Step != meta.StepDone || done.Counts != want || len(done.Subject.DistinctIDs) != 0 {
		t.Fatalf("erased job = %+v, want done with %+v", done, want)
	}
	after := try(s.PersonMetadata(ctx, p.ID, ids, dids)).must(t)
	wantJSON(t, "metadata after", after, `{"feedback":[],"sends":[],"cohort_memberships":[],"flag_hash_keys":[]}`)
	if f, err := s.Feedback(ctx, p.ID, bob.ID); err != nil || f.MergedInto != 0 {
		t.Fatalf("bob's duplicate after alice's deletion = %+v, %v; want kept, unmerged", f, err)
	}
	if _, err := s.Feedback(ctx, p.ID, alice.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("alice's item after deletion: %v", err)
	}
	if hk := try(s.FlagHashKeys(ctx, p.ID, "carol")).must(t); hk["f1"] != "carol" {
		t.Fatalf("carol's hash keys = %v", hk)
	}
	if hk := try(s.FlagHashKeys(ctx, p.ID, "bob")).must(t); len(hk) != 0 {
		t.Fatalf("bob's hash keys (hash key anon, alice's) = %v, want none", hk)
	}
	bobs := try(s.PersonMetadata(ctx, p.ID, []int64{8}, []string{"bob"})).must(t)
	if len(bobs.Feedback) != 1 || len(bobs.Sends) != 1 || len(bobs.CohortMembers) != 1 {
		t.Fatalf("bob's metadata after alice's deletion = %+v", bobs)
	}
	if other := try(s.PersonMetadata(ctx, q.ID, ids, dids)).must(t); len(other.Feedback) != 2 || len(other.Sends) != 2 || len(other.FlagHashKeys) != 4 {
		t.Fatalf("project other after project shop's deletion = %+v", other)
	}
	// Erasing again (a resumed job) finds nothing and stays done.
	if _, err := s.ErasePersonMetadata(ctx, done, "r1"); err != nil {
		t.Fatal(err)
	}
}

// testDeletionAttempts: a job that keeps failing gives up.
func testDeletionAttempts(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, _ := s.CreateProject(ctx, "shop", "UTC")
	j := try(s.CreateDeletion(ctx, meta.DeletionJob{ProjectID: p.ID, PersonID: 1})).must(t)
	for i := 1; i <= meta.MaxDeletionAttempts; i++ {
		if c, ok, err := s.ClaimDeletion(ctx, fmt.Sprint("r", i), t0.Add(time.Duration(i)*time.Hour), time.Minute); err != nil || !ok || c.Attempts != i {
			t.Fatalf("claim %d = %+v %v %v", i, c, ok, err)
		}
	}
	if c, ok, err := s.ClaimDeletion(ctx, "last", t0.Add(100*time.Hour), time.Minute); err != nil || ok {
		t.Fatalf("claim past the attempts = %+v %v %v", c, ok, err)
	}
	if got := try(s.Deletion(ctx, p.ID, j.ID)).must(t); got.Status != meta.DeletionFailed || got.Error == "" || got.DoneAt.IsZero() {
		t.Fatalf("job after too many attempts = %+v, want failed", got)
	}
}

// testRetention: the retention setting reads 0 when unset and validates.
func testRetention(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, _ := s.CreateProject(ctx, "shop", "UTC")
	if r, err := meta.LoadRetention(ctx, s, p.ID); err != nil || r.Days != 0 {
		t.Fatalf("unset retention = %+v, %v", r, err)
	}
	if err := s.SetSetting(ctx, p.ID, meta.SettingRetention, []byte(`{"retention_days":30}`)); err != nil {
		t.Fatal(err)
	}
	if r, err := meta.LoadRetention(ctx, s, p.ID); err != nil || r.Days != 30 {
		t.Fatalf("retention = %+v, %v", r, err)
	}
	for _, bad := range []int{-1, meta.MaxRetentionDays + 1} {
		var fe *meta.FieldError
		if err := (meta.Retention{Days: bad}).Validate(); !errors.As(err, &fe) || fe.Field != "retention_days" {
			t.Fatalf("Validate(%d) = %v", bad, err)
		}
	}
}
