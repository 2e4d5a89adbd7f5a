package metatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runSends(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("SendsSchedule", func(t *testing.T) { testSendsSchedule(t, open(t)) })
	t.Run("SendsScheduleConcurrent", func(t *testing.T) { testSendsScheduleConcurrent(t, open(t)) })
	t.Run("SendsClaimConcurrent", func(t *testing.T) { testSendsClaimConcurrent(t, open(t)) })
	t.Run("SendsLease", func(t *testing.T) { testSendsLease(t, open(t)) })
	t.Run("SendsRetry", func(t *testing.T) { testSendsRetry(t, open(t)) })
	t.Run("SendsCompleteBatch", func(t *testing.T) { testSendsCompleteBatch(t, open(t)) }) // sendsbatch.go
	t.Run("SendsCancel", func(t *testing.T) { testSendsCancel(t, open(t)) })
	t.Run("SendsCancelByKey", func(t *testing.T) { testSendsCancelByKey(t, open(t)) })
	t.Run("SendsMove", func(t *testing.T) { testSendsMove(t, open(t)) })
	t.Run("SendsCountsAndCaps", func(t *testing.T) { testSendsCountsAndCaps(t, open(t)) })
	t.Run("Unsubscribes", func(t *testing.T) { testUnsubscribes(t, open(t)) })
}

// t0 is the suite's clock: claims take the time from their caller, so the
// tests move it by hand.
var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// newSend is a pending webhook send of key, due at due.
func newSend(key string, projectID, campaignID, personID int64, due time.Time) meta.Send {
	return meta.Send{Key: key, ProjectID: projectID, CampaignID: campaignID, PersonID: personID, DistinctID: fmt.Sprintf("user-%d", personID),
		Variant: "A", TriggerUUID: "trigger-" + key, Channel: "webhook", DueAt: due,
		Payload: json.RawMessage(fmt.Sprintf(`{"type":"message","subject":"Still thinking about it?","key":%q}`, key))}
}

func campaignFor(t *testing.T, s meta.Store, projectID int64, name string) meta.Campaign {
	t.Helper()
	return try(s.CreateCampaign(context.Background(), meta.Campaign{ProjectID: projectID, Name: name, Status: meta.CampaignActive})).must(t)
}

func sendByKey(t *testing.T, s meta.Store, projectID int64, key string) meta.Send {
	t.Helper()
	return try(s.SendByKey(context.Background(), projectID, key)).must(t)
}

func wantState(t *testing.T, s meta.Store, projectID int64, key, state string) meta.Send {
	t.Helper()
	got := sendByKey(t, s, projectID, key)
	if got.State != state {
		t.Fatalf("send %q is %s, want %s (%+v)", key, got.State, state, got)
	}
	return got
}

// sameSend compares what was scheduled with what is stored (ignoring id,
// creation time and what a sender changes).
func sameScheduled(t *testing.T, what string, got, want meta.Send) {
	t.Helper()
	if got.Key != want.Key || got.ProjectID != want.ProjectID || got.CampaignID != want.CampaignID || got.PersonID != want.PersonID ||
		got.DistinctID != want.DistinctID || got.Variant != want.Variant || got.TriggerUUID != want.TriggerUUID || got.Channel != want.Channel ||
		got.Arm != want.Arm || !got.DueAt.Equal(want.DueAt) || string(got.Payload) != string(want.Payload) ||
		got.DueAt.Location() != time.UTC || got.NextAttemptAt.Location() != time.UTC {
		t.Fatalf("%s:\ngot  %+v (payload %s)\nwant %+v (payload %s)", what, got, got.Payload, want, want.Payload)
	}
}

func claimKeys(list []meta.Send) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.Key)
	}
	return out
}

func wantKeys(t *testing.T, what string, got []meta.Send, want ...string) {
	t.Helper()
	if fmt.Sprint(claimKeys(got)) != fmt.Sprint(append([]string{}, want...)) {
		t.Fatalf("%s: keys %v, want %v", what, claimKeys(got), want)
	}
}

// testSendsSchedule: a key is scheduled once, however often and in
// whatever batches it comes; what is stored is what was scheduled, fixed
// payload and all; refusals name the field and insert nothing.
func testSendsSchedule(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	ca, cb := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, b.ID, "b's")
	first := newSend("k1", a.ID, ca.ID, 1, t0.Add(24*time.Hour+123*time.Millisecond))
	first.Payload = json.RawMessage(`{ "subject" : "ü\n<b>", "body": [1, 2.50] }`)
	first.Arm = meta.ArmHoldout
	before := time.Now().Add(-time.Minute)
	// Repeated in one batch and again later: inserted once, the first kept.
	if n := try(s.ScheduleSends(ctx, []meta.Send{first, first, newSend("k2", a.ID, ca.ID, 2, t0)})).must(t); n != 2 {
		t.Fatalf("ScheduleSends of k1, k1, k2 = %d, want 2", n)
	}
	again := newSend("k1", a.ID, ca.ID, 1, t0)
	again.Payload = json.RawMessage(`{"subject":"a different message"}`)
	if n := try(s.ScheduleSends(ctx, []meta.Send{again, newSend("k3", a.ID, ca.ID, 3, t0)})).must(t); n != 1 {
		t.Fatalf("ScheduleSends of k1 again and k3 = %d, want 1", n)
	}
	if n := try(s.ScheduleSends(ctx, []meta.Send{first})).must(t); n != 0 {
		t.Fatalf("ScheduleSends of k1 a third time = %d, want 0", n)
	}
	if n := try(s.ScheduleSends(ctx, nil)).must(t); n != 0 {
		t.Fatalf("ScheduleSends of nothing = %d", n)
	}
	got := sendByKey(t, s, a.ID, "k1")
	sameScheduled(t, "k1", got, first)
	if got.ID == 0 || got.State != meta.SendPending || got.Attempts != 0 || !got.NextAttemptAt.Equal(first.DueAt) || got.LastError != "" ||
		!got.SentAt.IsZero() || got.ClaimedBy != "" || !got.ClaimedUntil.IsZero() || got.CreatedAt.Before(before) ||
		got.CreatedAt.After(time.Now().Add(time.Minute)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("scheduled send = %+v", got)
	}
	sameScheduled(t, "Send(k1)", try(s.Send(ctx, a.ID, got.ID)).must(t), first)
	if k2 := sendByKey(t, s, a.ID, "k2"); k2.Arm != meta.ArmTreatment {
		t.Fatalf("a send without an arm is %q, want treatment", k2.Arm)
	}
	wantJSON(t, "a pending send's times", struct {
		SentAt       time.Time `json:"sent_at,omitzero"`
		ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	}{got.SentAt, got.ClaimedUntil}, `{}`)

	// Tenant isolation: b reads none of a's sends.
	_, err := s.SendByKey(ctx, b.ID, "k1")
	wantNotFound(t, "SendByKey of another project", err)
	_, err = s.Send(ctx, b.ID, got.ID)
	wantNotFound(t, "Send of another project", err)
	for _, key := range []string{"", "k1 ", "K1", "k\x00", "k\xff"} {
		_, err = s.SendByKey(ctx, a.ID, key)
		wantNotFound(t, fmt.Sprintf("SendByKey(%q)", key), err)
	}
	if list := try(s.SendsForPerson(ctx, b.ID, 1)).must(t); list == nil || len(list) != 0 {
		t.Fatalf("SendsForPerson of another project = %#v, want an empty, non-nil list", list)
	}

	// Refusals: the whole batch is refused, naming the field.
	ok := newSend("ok", a.ID, ca.ID, 9, t0)
	for _, bad := range []struct {
		edit  func(*meta.Send)
		field string
	}{
		{func(s *meta.Send) { s.Key = "" }, "key"},
		{func(s *meta.Send) { s.Key = "k\x00" }, "key"},
		{func(s *meta.Send) { s.DistinctID = "\xff" }, "distinct_id"},
		{func(s *meta.Send) { s.CampaignID = 0 }, "campaign_id"},
		{func(s *meta.Send) { s.CampaignID = cb.ID }, "campaign_id"}, // b's campaign in a's send
		{func(s *meta.Send) { s.CampaignID = cb.ID + 1000 }, "campaign_id"},
		{func(s *meta.Send) { s.ProjectID = b.ID + 1000 }, "campaign_id"},
		{func(s *meta.Send) { s.Channel = "" }, "channel"},
		{func(s *meta.Send) { s.Arm = "control" }, "arm"},
		{func(s *meta.Send) { s.State = meta.SendSent }, "state"},
		{func(s *meta.Send) { s.DueAt = time.Time{} }, "due_at"},
		{func(s *meta.Send) { s.Payload = json.RawMessage(`{"subject":`) }, "payload"},
	} {
		s2 := newSend("bad", a.ID, ca.ID, 9, t0)
		bad.edit(&s2)
		_, err := s.ScheduleSends(ctx, []meta.Send{ok, s2})
		wantErr(t, fmt.Sprintf("ScheduleSends of a send without a valid %s", bad.field), err, meta.ErrInvalid, bad.field)
	}
	_, err = s.SendByKey(ctx, a.ID, "ok")
	wantNotFound(t, "a send of a refused batch", err)
	many := make([]meta.Send, meta.MaxSendBatch+1)
	for i := range many {
		many[i] = newSend(fmt.Sprintf("many-%d", i), a.ID, ca.ID, int64(i), t0)
	}
	if _, err := s.ScheduleSends(ctx, many); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("ScheduleSends of %d sends: want ErrInvalid, got %v", len(many), err)
	}
	// A full batch goes in, across several INSERTs, once.
	if n := try(s.ScheduleSends(ctx, many[:meta.MaxSendBatch])).must(t); n != meta.MaxSendBatch {
		t.Fatalf("ScheduleSends of a full batch = %d, want %d", n, meta.MaxSendBatch)
	}
	if n := try(s.ScheduleSends(ctx, many[1:])).must(t); n != 1 {
		t.Fatalf("ScheduleSends of a full batch shifted by one = %d, want 1", n)
	}
}

// testSendsScheduleConcurrent: replicas that see one trigger at once
// schedule its send once between them, overlapping batches in any order
// (on PostgreSQL, without deadlocking on each other's keys).
func testSendsScheduleConcurrent(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	c := campaignFor(t, s, a.ID, "reminder")
	const keys, workers = 400, 8
	inserted := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			batch := make([]meta.Send, keys)
			for i := range batch {
				batch[i] = newSend(fmt.Sprintf("key-%02d", i), a.ID, c.ID, int64(i), t0)
				batch[i].Payload = json.RawMessage(fmt.Sprintf(`{"worker":%d}`, w))
			}
			r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			inserted[w], errs[w] = s.ScheduleSends(ctx, batch)
		})
	}
	wg.Wait()
	total := 0
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		total += inserted[w]
	}
	if total != keys {
		t.Fatalf("%d workers scheduling the same %d keys inserted %d", workers, keys, total)
	}
	counts := try(s.CountSends(ctx, a.ID, c.ID)).must(t)
	if len(counts) != 1 || counts[0].Count != keys {
		t.Fatalf("CountSends = %+v, want %d pending", counts, keys)
	}
}

// testSendsClaimConcurrent: senders claiming at once (goroutines; on
// PostgreSQL each claim on its own pooled connection) never get one send
// twice, and between them get every due send and none that is not due.
func testSendsClaimConcurrent(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	ca, cb := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, b.ID, "b's")
	const due, later = 600, 40
	var batch []meta.Send
	for i := range due {
		p, c := a.ID, ca.ID
		if i%3 == 0 { // claims serve every project
			p, c = b.ID, cb.ID
		}
		batch = append(batch, newSend(fmt.Sprintf("due-%03d", i), p, c, int64(i), t0.Add(-time.Duration(i)*time.Second)))
		if len(batch) == meta.MaxSendBatch/2 {
			try(s.ScheduleSends(ctx, batch)).must(t)
			batch = nil
		}
	}
	for i := range later {
		batch = append(batch, newSend(fmt.Sprintf("later-%02d", i), a.ID, ca.ID, int64(i), t0.Add(time.Duration(i+1)*time.Millisecond)))
	}
	try(s.ScheduleSends(ctx, batch)).must(t)

	const workers = 8
	claims := make([][]meta.Send, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("replica-%d", w)
			for {
				got, err := s.ClaimDueSends(ctx, owner, t0, time.Minute, 1+w%5)
				if err != nil {
					errs[w] = err
					return
				}
				if len(got) == 0 {
					return
				}
				for _, c := range got {
					if c.ClaimedBy != owner || c.State != meta.SendSending || !c.ClaimedUntil.Equal(t0.Add(time.Minute)) {
						errs[w] = fmt.Errorf("%s claimed %+v", owner, c)
						return
					}
				}
				claims[w] = append(claims[w], got...)
				// Completing while others claim must not disturb them.
				if err := s.CompleteSend(ctx, got[0].ID, owner, meta.SendSent, t0, ""); err != nil {
					errs[w] = fmt.Errorf("%s cannot complete its claim of %s (claimed twice?): %w", owner, got[0].Key, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	seen := map[int64]string{}
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for _, c := range claims[w] {
			if other, twice := seen[c.ID]; twice {
				t.Fatalf("send %d (%s) claimed by %s and by replica-%d", c.ID, c.Key, other, w)
			}
			seen[c.ID] = fmt.Sprintf("replica-%d", w)
			if c.Key[:4] != "due-" {
				t.Fatalf("send %q, not yet due, was claimed", c.Key)
			}
		}
	}
	if len(seen) != due {
		t.Fatalf("%d sends claimed, want the %d due", len(seen), due)
	}
	if more := try(s.ClaimDueSends(ctx, "late", t0, time.Minute, 100)).must(t); len(more) != 0 {
		t.Fatalf("a claim after every due send was claimed got %v", claimKeys(more))
	}
	// Earliest first: the later sends come by due time.
	next := try(s.ClaimDueSends(ctx, "late", t0.Add(3*time.Millisecond), time.Minute, 100)).must(t)
	wantKeys(t, "claim of the later sends due by t0+3ms", next, "later-00", "later-01", "later-02")
}

// testSendsLease: a lease that runs out lets another sender reclaim the
// send, after which the first can neither complete, retry nor defer it;
// until then, the holder completes it even past its lease.
func testSendsLease(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	c := campaignFor(t, s, a.ID, "reminder")
	try(s.ScheduleSends(ctx, []meta.Send{newSend("s1", a.ID, c.ID, 1, t0), newSend("s2", a.ID, c.ID, 2, t0.Add(time.Second))})).must(t)

	got := try(s.ClaimDueSends(ctx, "A", t0, time.Minute, 10)).must(t)
	wantKeys(t, "A's claim", got, "s1")
	s1 := got[0]
	if s1.ClaimedBy != "A" || !s1.ClaimedUntil.Equal(t0.Add(time.Minute)) || s1.State != meta.SendSending || s1.Attempts != 0 {
		t.Fatalf("A's claim = %+v", s1)
	}
	// The claim is durable: a read sees it.
	if r := wantState(t, s, a.ID, "s1", meta.SendSending); r.ClaimedBy != "A" || !r.ClaimedUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("stored claim = %+v", r)
	}
	wantKeys(t, "B's claim while A's lease runs", try(s.ClaimDueSends(ctx, "B", t0.Add(30*time.Second), time.Minute, 10)).must(t), "s2")
	// A's lease has run out: B takes s1 over.
	got = try(s.ClaimDueSends(ctx, "B", t0.Add(time.Minute), time.Minute, 10)).must(t)
	wantKeys(t, "B's claim after A's lease", got, "s1")
	if got[0].ClaimedBy != "B" || !got[0].ClaimedUntil.Equal(t0.Add(2*time.Minute)) || string(got[0].Payload) != string(s1.Payload) {
		t.Fatalf("B's reclaim = %+v, want the same message claimed by B until t0+2m", got[0])
	}
	if err := s.CompleteSend(ctx, s1.ID, "A", meta.SendSent, t0.Add(time.Minute), ""); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("stale A completes B's claim: want ErrNotClaimed, got %v", err)
	}
	if err := s.RetrySend(ctx, s1.ID, "A", t0.Add(time.Hour), "timeout"); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("stale A retries B's claim: want ErrNotClaimed, got %v", err)
	}
	if err := s.DeferSend(ctx, s1.ID, "A", t0.Add(time.Hour)); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("stale A defers B's claim: want ErrNotClaimed, got %v", err)
	}
	if r := wantState(t, s, a.ID, "s1", meta.SendSending); r.ClaimedBy != "B" || r.Attempts != 0 {
		t.Fatalf("B's claim after A's attempts = %+v", r)
	}
	// B completes it, past its own lease (nobody claimed it since).
	sentAt := t0.Add(3*time.Minute + 7*time.Millisecond)
	if err := s.CompleteSend(ctx, s1.ID, "B", meta.SendSent, sentAt, ""); err != nil {
		t.Fatal(err)
	}
	done := wantState(t, s, a.ID, "s1", meta.SendSent)
	if !done.SentAt.Equal(sentAt) || done.Attempts != 1 || done.ClaimedBy != "B" || done.SentAt.Location() != time.UTC {
		t.Fatalf("sent send = %+v", done)
	}
	if err := s.CompleteSend(ctx, s1.ID, "B", meta.SendSent, sentAt, ""); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("second completion: want ErrNotClaimed, got %v", err)
	}
	if err := s.RetrySend(ctx, s1.ID, "B", sentAt, ""); !errors.Is(err, meta.ErrNotClaimed) {
		t.Fatalf("retry of a sent send: want ErrNotClaimed, got %v", err)
	}
	if more := try(s.ClaimDueSends(ctx, "C", t0.Add(24*time.Hour), time.Minute, 10)).must(t); len(more) != 1 || more[0].Key != "s2" {
		t.Fatalf("a claim a day later = %v, want only s2 (B's lapsed claim), never the sent s1", claimKeys(more))
	}
	if err := s.CompleteSend(ctx, s1.ID+1000, "B", meta.SendSent, sentAt, ""); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("completion of a missing send: want ErrNotFound, got %v", err)
	}

	// Refusals.
	for what, err := range map[string]error{
		"claim without an owner":        second(s.ClaimDueSends(ctx, "", t0, time.Minute, 1)),
		"claim without a lease":         second(s.ClaimDueSends(ctx, "A", t0, 0, 1)),
		"claim of too many":             second(s.ClaimDueSends(ctx, "A", t0, time.Minute, meta.MaxSendBatch+1)),
		"completion as pending":         s.CompleteSend(ctx, s1.ID, "B", meta.SendPending, sentAt, ""),
		"completion as sent, no time":   s.CompleteSend(ctx, s1.ID, "B", meta.SendSent, time.Time{}, ""),
		"completion without an owner":   s.CompleteSend(ctx, s1.ID, "", meta.SendSent, sentAt, ""),
		"retry without a time":          s.RetrySend(ctx, s1.ID, "B", time.Time{}, ""),
		"deferral without a time":       s.DeferSend(ctx, s1.ID, "B", time.Time{}),
		"held out, no time":             s.CompleteSend(ctx, s1.ID, "B", meta.SendHeldOut, time.Time{}, ""),
		"completion as something else":  s.CompleteSend(ctx, s1.ID, "B", "delivered", sentAt, ""),
		"claim by an unstorable owner":  second(s.ClaimDueSends(ctx, "\xff", t0, time.Minute, 1)),
		"retry by an unstorable owner":  s.RetrySend(ctx, s1.ID, "\x00", sentAt, ""),
		"deferral without an owner":     s.DeferSend(ctx, s1.ID, "", sentAt),
		"claim of a negative lease":     second(s.ClaimDueSends(ctx, "A", t0, -time.Second, 1)),
		"completion by a missing owner": s.CompleteSend(ctx, s1.ID, "", meta.SendFailed, sentAt, ""),
	} {
		if !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("%s: want ErrInvalid, got %v", what, err)
		}
	}
	if got := try(s.ClaimDueSends(ctx, "A", t0.Add(48*time.Hour), time.Minute, 0)).must(t); got == nil || len(got) != 0 {
		t.Fatalf("a claim of 0 sends = %#v, want an empty, non-nil list", got)
	}
}

func second[T any](_ T, err error) error { return err }

// testSendsRetry: a retry counts the attempt and waits for its time; a
// deferral waits without counting; failure and holdouts end a send; a
// lapsed lease makes a send claimable again; the message stays the one
// scheduled throughout.
func testSendsRetry(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	c := campaignFor(t, s, a.ID, "reminder")
	hold := newSend("held", a.ID, c.ID, 2, t0.Add(2*time.Second))
	hold.Arm = meta.ArmHoldout
	try(s.ScheduleSends(ctx, []meta.Send{newSend("r", a.ID, c.ID, 1, t0), hold, newSend("x", a.ID, c.ID, 3, t0.Add(time.Second))})).must(t)
	scheduled := sendByKey(t, s, a.ID, "r")

	wantKeys(t, "first claim", try(s.ClaimDueSends(ctx, "w", t0, time.Minute, 1)).must(t), "r")
	if err := s.RetrySend(ctx, scheduled.ID, "w", t0.Add(5*time.Minute), "HTTP 503 \xff\x00 from receiver"); err != nil {
		t.Fatal(err)
	}
	r := wantState(t, s, a.ID, "r", meta.SendPending)
	if r.Attempts != 1 || !r.NextAttemptAt.Equal(t0.Add(5*time.Minute)) || r.LastError != "HTTP 503 \uFFFD from receiver" ||
		r.ClaimedBy != "" || !r.ClaimedUntil.IsZero() || !r.DueAt.Equal(t0) {
		t.Fatalf("retried send = %+v", r)
	}
	// Not before its next attempt; the others, due earlier, come first.
	got := try(s.ClaimDueSends(ctx, "w", t0.Add(5*time.Minute-time.Millisecond), time.Hour, 5)).must(t)
	wantKeys(t, "claim before the retry", got, "x", "held")
	x, h := got[0], got[1]
	got = try(s.ClaimDueSends(ctx, "w", t0.Add(5*time.Minute), time.Minute, 5)).must(t)
	wantKeys(t, "claim at the retry", got, "r")
	if got[0].Attempts != 1 || string(got[0].Payload) != string(scheduled.Payload) {
		t.Fatalf("re-claimed send = %+v, want attempt 1 and the scheduled message", got[0])
	}
	if err := s.RetrySend(ctx, scheduled.ID, "w", t0.Add(10*time.Minute), "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "claim at the second retry", try(s.ClaimDueSends(ctx, "w", t0.Add(10*time.Minute), time.Minute, 5)).must(t), "r")
	// Quiet hours: deferred, not counted.
	if err := s.DeferSend(ctx, scheduled.ID, "w", t0.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := wantState(t, s, a.ID, "r", meta.SendPending); r.Attempts != 2 || !r.NextAttemptAt.Equal(t0.Add(8*time.Hour)) || r.LastError != "HTTP 500" {
		t.Fatalf("deferred send = %+v", r)
	}
	// A holdout's "would have sent": held_out at its time, no attempt.
	if err := s.CompleteSend(ctx, h.ID, "w", meta.SendHeldOut, h.DueAt, ""); err != nil {
		t.Fatal(err)
	}
	if r := wantState(t, s, a.ID, "held", meta.SendHeldOut); r.Attempts != 0 || !r.SentAt.Equal(t0.Add(2*time.Second)) || r.Arm != meta.ArmHoldout {
		t.Fatalf("held-out send = %+v", r)
	}
	// x's hour-long lease has lapsed (its sender died): claimable again,
	// attempts unchanged; r waits for the end of its deferral.
	got = try(s.ClaimDueSends(ctx, "w2", t0.Add(8*time.Hour-time.Millisecond), time.Minute, 5)).must(t)
	wantKeys(t, "claim before the deferral ends", got, "x")
	if got[0].ID != x.ID || got[0].Attempts != 0 || got[0].ClaimedBy != "w2" {
		t.Fatalf("reclaimed lapsed send = %+v", got[0])
	}
	wantKeys(t, "claim at the deferral's end", try(s.ClaimDueSends(ctx, "w", t0.Add(8*time.Hour), time.Minute, 5)).must(t), "r")
	// Gives up: failed, the attempt counted, never claimed again.
	if err := s.CompleteSend(ctx, scheduled.ID, "w", meta.SendFailed, time.Time{}, "HTTP 410: endpoint gone"); err != nil {
		t.Fatal(err)
	}
	if r := wantState(t, s, a.ID, "r", meta.SendFailed); r.Attempts != 3 || r.LastError != "HTTP 410: endpoint gone" || !r.SentAt.IsZero() {
		t.Fatalf("failed send = %+v", r)
	}
	wantKeys(t, "claim much later", try(s.ClaimDueSends(ctx, "w", t0.Add(1000*time.Hour), time.Minute, 5)).must(t), "x")
	// A long error is kept short, cut at a character.
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'e'
	}
	if err := s.RetrySend(ctx, x.ID, "w", t0, "ü"+string(long)); err != nil {
		t.Fatal(err)
	}
	if r := sendByKey(t, s, a.ID, "x"); len(r.LastError) > 2000 || len(r.LastError) < 1000 || r.LastError[:2] != "ü" || r.Attempts != 1 {
		t.Fatalf("a long error is stored as %d bytes (attempts %d)", len(r.LastError), r.Attempts)
	}
}

// testSendsCancel: a goal reached cancels the campaign's pending sends to
// those persons, in every arm, and nothing else: not another campaign's,
// not another project's, not one being sent.
func testSendsCancel(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	c1, c2, cb := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, a.ID, "other"), campaignFor(t, s, b.ID, "b's")
	held := newSend("a-c1-p2", a.ID, c1.ID, 2, t0)
	held.Arm = meta.ArmHoldout
	try(s.ScheduleSends(ctx, []meta.Send{
		newSend("a-c1-p1", a.ID, c1.ID, 1, t0.Add(time.Hour)), held, newSend("a-c1-p3", a.ID, c1.ID, 3, t0),
		newSend("a-c2-p1", a.ID, c2.ID, 1, t0), newSend("b-p1", b.ID, cb.ID, 1, t0), newSend("a-c1-p4", a.ID, c1.ID, 4, t0.Add(-time.Hour)),
	})).must(t)
	wantKeys(t, "claim", try(s.ClaimDueSends(ctx, "w", t0.Add(-time.Hour), time.Minute, 1)).must(t), "a-c1-p4")

	if n := try(s.CancelSends(ctx, b.ID, c1.ID, []int64{1, 2, 3, 4}, "x")).must(t); n != 0 {
		t.Fatalf("CancelSends of another project's campaign = %d, want 0", n)
	}
	if n := try(s.CancelSends(ctx, a.ID, c1.ID, []int64{1, 2, 4, 99}, "goal reached: purchased")).must(t); n != 2 {
		t.Fatalf("CancelSends = %d, want 2", n)
	}
	if r := wantState(t, s, a.ID, "a-c1-p1", meta.SendCancelled); r.LastError != "goal reached: purchased" {
		t.Fatalf("cancelled send = %+v", r)
	}
	wantState(t, s, a.ID, "a-c1-p2", meta.SendCancelled)
	wantState(t, s, a.ID, "a-c1-p3", meta.SendPending)
	wantState(t, s, a.ID, "a-c2-p1", meta.SendPending)
	wantState(t, s, a.ID, "a-c1-p4", meta.SendSending)
	wantState(t, s, b.ID, "b-p1", meta.SendPending)
	if n := try(s.CancelSends(ctx, a.ID, c1.ID, []int64{1, 2}, "again")).must(t); n != 0 {
		t.Fatalf("second CancelSends = %d, want 0", n)
	}
	if n := try(s.CancelSends(ctx, a.ID, c1.ID, nil, "nobody")).must(t); n != 0 {
		t.Fatalf("CancelSends of no persons = %d, want 0", n)
	}
	if _, err := s.CancelSends(ctx, a.ID, c1.ID, make([]int64, meta.MaxSendBatch+1), "x"); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("CancelSends of too many persons: want ErrInvalid, got %v", err)
	}
	// Campaign 0: every campaign of the project.
	if n := try(s.CancelSends(ctx, a.ID, 0, []int64{1}, "person deleted")).must(t); n != 1 {
		t.Fatalf("CancelSends of every campaign = %d, want 1", n)
	}
	wantState(t, s, a.ID, "a-c2-p1", meta.SendCancelled)
	wantState(t, s, b.ID, "b-p1", meta.SendPending)
	// A cancelled send is never claimed (a-c1-p4's lease has lapsed).
	wantKeys(t, "claim after cancelling", try(s.ClaimDueSends(ctx, "w", t0.Add(24*time.Hour), time.Minute, 10)).must(t), "a-c1-p4", "a-c1-p3", "b-p1")

	// A stopped campaign: all its pending sends.
	try(s.ScheduleSends(ctx, []meta.Send{newSend("late-1", a.ID, c1.ID, 7, t0.Add(48*time.Hour)), newSend("late-2", a.ID, c1.ID, 8, t0.Add(48*time.Hour)),
		newSend("late-c2", a.ID, c2.ID, 8, t0.Add(48*time.Hour))})).must(t)
	if n := try(s.CancelCampaignSends(ctx, b.ID, c1.ID, "stolen")).must(t); n != 0 {
		t.Fatalf("CancelCampaignSends of another project's campaign = %d, want 0", n)
	}
	if n := try(s.CancelCampaignSends(ctx, a.ID, c1.ID, "campaign stopped")).must(t); n != 2 {
		t.Fatalf("CancelCampaignSends = %d, want 2", n)
	}
	wantState(t, s, a.ID, "late-c2", meta.SendPending)
	wantState(t, s, a.ID, "a-c1-p3", meta.SendSending)
}

// testSendsCancelByKey: a goal cancels exactly the sends it converts, by
// key, in the campaign and project named; sends being sent or done, and
// other campaigns' and projects' sends of the same keys, are untouched.
func testSendsCancelByKey(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	c1, c2, cb := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, a.ID, "other"), campaignFor(t, s, b.ID, "b's")
	try(s.ScheduleSends(ctx, []meta.Send{
		newSend("item-1", a.ID, c1.ID, 1, t0.Add(time.Hour)), newSend("item-2", a.ID, c1.ID, 1, t0.Add(time.Hour)),
		newSend("item-3", a.ID, c1.ID, 1, t0.Add(-time.Hour)), newSend("c2-item-1", a.ID, c2.ID, 1, t0), newSend("b-item-1", b.ID, cb.ID, 1, t0),
	})).must(t)
	wantKeys(t, "claim", try(s.ClaimDueSends(ctx, "w", t0.Add(-time.Hour), time.Minute, 1)).must(t), "item-3")
	if n := try(s.CancelSendsByKey(ctx, b.ID, c1.ID, []string{"item-1", "item-2"}, "x")).must(t); n != 0 {
		t.Fatalf("CancelSendsByKey in another project = %d, want 0", n)
	}
	if n := try(s.CancelSendsByKey(ctx, a.ID, c2.ID, []string{"item-1"}, "x")).must(t); n != 0 {
		t.Fatalf("CancelSendsByKey of another campaign = %d, want 0", n)
	}
	if n := try(s.CancelSendsByKey(ctx, a.ID, c1.ID, []string{"item-1", "item-3", "c2-item-1", "b-item-1", "nope", "bad\xff"}, "goal reached: bought item 1")).must(t); n != 1 {
		t.Fatalf("CancelSendsByKey = %d, want 1 (item-3 is being sent)", n)
	}
	if r := wantState(t, s, a.ID, "item-1", meta.SendCancelled); r.LastError != "goal reached: bought item 1" {
		t.Fatalf("cancelled send = %+v", r)
	}
	wantState(t, s, a.ID, "item-2", meta.SendPending)
	wantState(t, s, a.ID, "item-3", meta.SendSending)
	wantState(t, s, a.ID, "c2-item-1", meta.SendPending)
	wantState(t, s, b.ID, "b-item-1", meta.SendPending)
	if n := try(s.CancelSendsByKey(ctx, a.ID, c1.ID, []string{"item-1"}, "again")).must(t); n != 0 {
		t.Fatalf("second CancelSendsByKey = %d, want 0", n)
	}
	if n := try(s.CancelSendsByKey(ctx, a.ID, c1.ID, nil, "none")).must(t); n != 0 {
		t.Fatalf("CancelSendsByKey of no keys = %d, want 0", n)
	}
	if _, err := s.CancelSendsByKey(ctx, a.ID, c1.ID, make([]string, meta.MaxSendBatch+1), "x"); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("CancelSendsByKey of too many keys: want ErrInvalid, got %v", err)
	}
	// Put back to pending (a deferral), the send is cancellable again.
	if err := s.DeferSend(ctx, sendByKey(t, s, a.ID, "item-3").ID, "w", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := try(s.CancelSendsByKey(ctx, a.ID, c1.ID, []string{"item-3"}, "goal")).must(t); n != 1 {
		t.Fatalf("CancelSendsByKey after a deferral = %d, want 1", n)
	}
	wantKeys(t, "claim after cancelling", try(s.ClaimDueSends(ctx, "w", t0.Add(24*time.Hour), time.Minute, 10)).must(t), "b-item-1", "c2-item-1", "item-2")
}

// testSendsMove: an identity merge gives the merged person every send of
// the other, keys unchanged, and cancels the pending ones that would now
// message the person twice for one trigger event of one campaign.
func testSendsMove(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	c1, c2 := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, a.ID, "other")
	cb := campaignFor(t, s, b.ID, "b's")
	const from, to = 10, 20
	send := func(key string, campaign, person int64, trigger string) meta.Send {
		x := newSend(key, a.ID, campaign, person, t0.Add(time.Hour))
		x.TriggerUUID = trigger
		return x
	}
	// Scheduled one at a time: ids in this order.
	for _, x := range []meta.Send{
		send("to-T1", c1.ID, to, "T1"),          // pending, first: wins over from-T1
		send("from-T1", c1.ID, from, "T1"),      // pending duplicate: cancelled
		send("from-T2", c1.ID, from, "T2"),      // no duplicate: moved, pending
		send("to-T3", c2.ID, to, "T3"),          // pending duplicate: cancelled
		send("from-T3-sent", c2.ID, from, "T3"), // sent: wins
		send("from-T4", c1.ID, from, "T4"),      // pending, first: wins over to-T4
		send("to-T4", c1.ID, to, "T4"),          // pending duplicate: cancelled
		send("from-T5", c2.ID, from, "T1"),      // same trigger, other campaign: kept
		send("other-T2", c1.ID, 30, "T2"),       // another person: untouched
	} {
		try(s.ScheduleSends(ctx, []meta.Send{x})).must(t)
	}
	bs := newSend("b-from", b.ID, cb.ID, from, t0)
	try(s.ScheduleSends(ctx, []meta.Send{bs})).must(t)
	sent := sendByKey(t, s, a.ID, "from-T3-sent")
	for {
		got := try(s.ClaimDueSends(ctx, "w", t0.Add(time.Hour), time.Minute, 1)).must(t)
		if len(got) == 0 {
			t.Fatal("from-T3-sent was never claimed")
		}
		if got[0].ID == sent.ID {
			break
		}
		try(0, s.DeferSend(ctx, got[0].ID, "w", t0.Add(2*time.Hour))).must(t)
	}
	try(0, s.CompleteSend(ctx, sent.ID, "w", meta.SendSent, t0.Add(time.Hour), "")).must(t)
	before := map[string]meta.Send{}
	for _, x := range try(s.SendsForPerson(ctx, a.ID, from)).must(t) {
		before[x.Key] = x
	}

	// Another project's merge touches none of a's sends.
	if moved, cancelled := try2(t)(s.MoveSends(ctx, b.ID, from, to)); moved != 1 || cancelled != 0 {
		t.Fatalf("MoveSends in project b = %d moved, %d cancelled; want 1, 0", moved, cancelled)
	}
	if got := try(s.SendsForPerson(ctx, a.ID, from)).must(t); len(got) != 5 {
		t.Fatalf("a's person %d has %d sends after b's merge, want 5", from, len(got))
	}
	if moved, cancelled := try2(t)(s.MoveSends(ctx, a.ID, from, to)); moved != 5 || cancelled != 3 {
		t.Fatalf("MoveSends = %d moved, %d cancelled; want 5, 3", moved, cancelled)
	}
	if got := try(s.SendsForPerson(ctx, a.ID, from)).must(t); len(got) != 0 {
		t.Fatalf("person %d keeps %v after the merge", from, claimKeys(got))
	}
	want := map[string]string{
		"to-T1": meta.SendPending, "from-T1": meta.SendCancelled, "from-T2": meta.SendPending, "to-T3": meta.SendCancelled,
		"from-T3-sent": meta.SendSent, "from-T4": meta.SendPending, "to-T4": meta.SendCancelled, "from-T5": meta.SendPending,
	}
	got := try(s.SendsForPerson(ctx, a.ID, to)).must(t)
	if len(got) != len(want) {
		t.Fatalf("person %d has %v after the merge, want %d sends", to, claimKeys(got), len(want))
	}
	for i, x := range got {
		if i > 0 && got[i-1].ID >= x.ID {
			t.Fatalf("SendsForPerson not by id: %v", claimKeys(got))
		}
		if x.State != want[x.Key] || x.PersonID != to {
			t.Fatalf("send %q after the merge = %+v, want %s for person %d", x.Key, x, want[x.Key], to)
		}
		if old, ok := before[x.Key]; ok && (old.ID != x.ID || string(old.Payload) != string(x.Payload) || old.DistinctID != x.DistinctID) {
			t.Fatalf("moved send %q changed: %+v → %+v", x.Key, old, x)
		}
	}
	if r := sendByKey(t, s, a.ID, "from-T1"); r.LastError == "" {
		t.Fatalf("a merge's cancellation gives no reason: %+v", r)
	}
	wantState(t, s, a.ID, "other-T2", meta.SendPending)
	if r := sendByKey(t, s, b.ID, "b-from"); r.PersonID != to || r.State != meta.SendPending {
		t.Fatalf("b's send after b's merge = %+v", r)
	}
	// Nothing left to move; a merge into oneself is nothing.
	if moved, cancelled := try2(t)(s.MoveSends(ctx, a.ID, from, to)); moved != 0 || cancelled != 0 {
		t.Fatalf("second MoveSends = %d, %d", moved, cancelled)
	}
	if moved, cancelled := try2(t)(s.MoveSends(ctx, a.ID, to, to)); moved != 0 || cancelled != 0 {
		t.Fatalf("MoveSends into the same person = %d, %d", moved, cancelled)
	}
	// The merged person's history counts for frequency caps.
	if last := try(s.LastSentAt(ctx, a.ID, to, "webhook", t0)).must(t); !last.Equal(t0.Add(time.Hour)) {
		t.Fatalf("LastSentAt of the merged person = %v, want the moved send's", last)
	}
	if last := try(s.LastSentAt(ctx, a.ID, from, "", t0)).must(t); !last.IsZero() {
		t.Fatalf("LastSentAt of the person merged away = %v, want zero", last)
	}
}

// try2 checks a (moved, cancelled, error) call inline.
func try2(t *testing.T) func(int, int, error) (int, int) {
	return func(a, b int, err error) (int, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// testSendsCountsAndCaps: counts by arm, variant and state per campaign;
// the last message sent on a channel, for frequency caps; each per
// project.
func testSendsCountsAndCaps(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	c, other := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, a.ID, "other")
	cb := campaignFor(t, s, b.ID, "b's")
	var batch []meta.Send
	for i := range 10 {
		x := newSend(fmt.Sprintf("s%d", i), a.ID, c.ID, int64(i%2), t0.Add(time.Duration(i)*time.Minute))
		switch {
		case i < 2:
			x.Arm = meta.ArmHoldout
		case i == 2:
			x.Arm = meta.ArmControlGroup
		case i%2 == 0:
			x.Variant = "B"
		}
		if i == 9 {
			x.Channel = "email"
		}
		batch = append(batch, x)
	}
	batch = append(batch, newSend("o", a.ID, other.ID, 0, t0), newSend("b", b.ID, cb.ID, 0, t0))
	try(s.ScheduleSends(ctx, batch)).must(t)
	if got := try(s.CountSends(ctx, b.ID, c.ID)).must(t); got == nil || len(got) != 0 {
		t.Fatalf("CountSends of another project's campaign = %#v, want an empty, non-nil list", got)
	}
	// Send s3…s9 (every other fails), hold out s0 and s1, at their due times.
	for range 20 {
		got := try(s.ClaimDueSends(ctx, "w", t0.Add(time.Hour), time.Minute, 3)).must(t)
		if len(got) == 0 {
			break
		}
		for _, x := range got {
			var err error
			switch {
			case x.Arm != meta.ArmTreatment && x.Arm != meta.ArmControlGroup:
				err = s.CompleteSend(ctx, x.ID, "w", meta.SendHeldOut, x.DueAt, "")
			case x.Key == "s2" || x.Key == "o" || x.Key == "b":
				err = s.DeferSend(ctx, x.ID, "w", t0.Add(100*time.Hour))
			case x.Key == "s4":
				err = s.CompleteSend(ctx, x.ID, "w", meta.SendFailed, time.Time{}, "refused")
			default:
				err = s.CompleteSend(ctx, x.ID, "w", meta.SendSent, x.DueAt.Add(time.Second), "")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []meta.SendCount{
		{Arm: "control_group", Variant: "A", State: "pending", Count: 1},
		{Arm: "holdout", Variant: "A", State: "held_out", Count: 2},
		{Arm: "treatment", Variant: "A", State: "sent", Count: 4},
		{Arm: "treatment", Variant: "B", State: "failed", Count: 1},
		{Arm: "treatment", Variant: "B", State: "sent", Count: 2},
	}
	if got := try(s.CountSends(ctx, a.ID, c.ID)).must(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CountSends = %+v, want %+v", got, want)
	}

	// Person 1 was sent s3, s5 and s7 on the webhook and s9 by email;
	// person 0 s6 and s8 (s4 failed, s0 held out).
	last := func(person int64, channel string, since time.Time) time.Time {
		t.Helper()
		return try(s.LastSentAt(ctx, a.ID, person, channel, since)).must(t)
	}
	minute := func(i int) time.Time { return t0.Add(time.Duration(i)*time.Minute + time.Second) }
	for _, tc := range []struct {
		person  int64
		channel string
		since   time.Time
		want    time.Time
	}{
		{1, "webhook", t0, minute(7)},
		{1, "email", t0, minute(9)},
		{1, "", t0, minute(9)},
		{1, "webhook", minute(7), minute(7)},
		{1, "webhook", minute(7).Add(time.Millisecond), time.Time{}},
		{0, "webhook", t0, minute(8)},
		{0, "email", t0, time.Time{}},
		{2, "", t0, time.Time{}},
		{1, "web_push", t0, time.Time{}},
		{1, "web\xffpush", t0, time.Time{}},
	} {
		if got := last(tc.person, tc.channel, tc.since); !got.Equal(tc.want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Fatalf("LastSentAt(person %d, %q, since %v) = %v, want %v", tc.person, tc.channel, tc.since, got, tc.want)
		}
	}
	if got := try(s.LastSentAt(ctx, b.ID, 1, "", t0)).must(t); !got.IsZero() {
		t.Fatalf("LastSentAt in another project = %v, want zero", got)
	}
}

// testUnsubscribes: per project, per channel, exact address; repeating
// is no error.
func testUnsubscribes(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	is := func(projectID int64, channel, address string) bool {
		t.Helper()
		return try(s.IsUnsubscribed(ctx, projectID, channel, address)).must(t)
	}
	if is(a.ID, "email", "ada@example.com") {
		t.Fatal("unsubscribed before unsubscribing")
	}
	for range 2 {
		if err := s.Unsubscribe(ctx, a.ID, "email", "ada@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if !is(a.ID, "email", "ada@example.com") {
		t.Fatal("not unsubscribed after unsubscribing")
	}
	for _, tc := range []struct {
		project          int64
		channel, address string
	}{
		{b.ID, "email", "ada@example.com"},
		{a.ID, "web_push", "ada@example.com"},
		{a.ID, "email", "ada@example.com "},
		{a.ID, "email", "bob@example.com"},
		{a.ID, "email", "ada@example.com\x00"},
		{a.ID, "email", "%"},
		{a.ID, "", "ada@example.com"},
	} {
		if is(tc.project, tc.channel, tc.address) {
			t.Fatalf("IsUnsubscribed(%d, %q, %q) = true", tc.project, tc.channel, tc.address)
		}
	}
	for _, bad := range [][2]string{{"", "x"}, {"email", ""}, {"email", "\xff"}, {"e\x00", "x"}} {
		err := s.Unsubscribe(ctx, a.ID, bad[0], bad[1])
		if !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("Unsubscribe(%q, %q): want ErrInvalid, got %v", bad[0], bad[1], err)
		}
	}
	if err := s.Unsubscribe(ctx, b.ID+1000, "email", "x@example.com"); err == nil {
		t.Fatal("Unsubscribe in a missing project succeeded")
	}
}
