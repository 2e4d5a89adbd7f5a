package voc_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/voc"
)

// failingSchedule is a real store whose ScheduleSends fails while fail is
// set: the store error between writing a reply and scheduling it.
type failingSchedule struct {
	meta.Store
	fail atomic.Bool
}

var errScheduleDown = errors.New("the send schedule is unavailable")

func (f *failingSchedule) ScheduleSends(ctx context.Context, sends []meta.Send) (int, error) {
	if f.fail.Load() {
		return 0, errScheduleDown
	}
	return f.Store.ScheduleSends(ctx, sends)
}

// TestRepliesSweep: a reply whose scheduling failed (the reply stored,
// its send not) is scheduled by the sweep, once, under its key — a
// second reply to an item and one to a merged duplicate too; a note,
// and a reply already scheduled, are left alone; the sweep's throttle
// checks a project's replies once per ReplySweepEvery.
func TestRepliesSweep(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, _, err := db.CreateProject(ctx, "saas", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	body, err := voc.DecodeNotify([]byte(`{"customers":{"type":"webhook","url":"https://hooks.example/voc"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := voc.Configure(ctx, db, p.ID, 0, body); err != nil {
		t.Fatal(err)
	}
	store := &failingSchedule{Store: db}
	now := time.Now()
	m := &voc.Messenger{Meta: store, PublicURL: "https://journey.example", Now: func() time.Time { return now }}
	add := func(item meta.FeedbackItem, kind, text string) meta.FeedbackComment {
		t.Helper()
		c, err := db.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: p.ID, ItemID: item.ID, Kind: kind, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	newItem := func(who string) meta.FeedbackItem {
		t.Helper()
		f, err := db.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: p.ID, Text: "Export is slow", Source: "api", DistinctID: who})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	hasSend := func(c meta.FeedbackComment) bool {
		t.Helper()
		_, err := db.SendByKey(ctx, p.ID, voc.ReplyKey(p.ID, c.ID))
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	ana, bob, cid := newItem("ana"), newItem("bob"), newItem("cid")
	if _, err := db.MergeFeedback(ctx, p.ID, cid.ID, ana.ID); err != nil { // a duplicate: its author is still told
		t.Fatal(err)
	}
	if cid, err = db.Feedback(ctx, p.ID, cid.ID); err != nil || cid.MergedInto != ana.ID {
		t.Fatalf("the duplicate %+v, %v", cid, err)
	}
	add(ana, meta.CommentNote, "internal")
	ok := add(ana, meta.CommentReply, "Fixed.")
	if sent, err := m.Reply(ctx, ana, ok); err != nil || !sent {
		t.Fatalf("reply scheduled %v, %v", sent, err)
	}
	store.fail.Store(true)
	lost := add(bob, meta.CommentReply, "Looking into it.")
	later := add(ana, meta.CommentReply, "And the CSV too.") // a second reply: no first-response change
	dup := add(cid, meta.CommentReply, "Same fix as #1.")
	for _, c := range []meta.FeedbackComment{lost, later, dup} {
		f := map[int64]meta.FeedbackItem{ana.ID: ana, bob.ID: bob, cid.ID: cid}[c.ItemID]
		if sent, err := m.Reply(ctx, f, c); !errors.Is(err, errScheduleDown) || sent {
			t.Fatalf("reply %d with the schedule down: %v, %v", c.ID, sent, err)
		}
	}
	if hasSend(lost) || hasSend(later) || hasSend(dup) {
		t.Fatal("a reply whose scheduling failed has a send")
	}
	if _, err := m.Replies(ctx, p); !errors.Is(err, errScheduleDown) {
		t.Fatalf("sweep with the schedule still down: %v", err)
	}
	store.fail.Store(false)

	if n, err := m.Replies(ctx, p); err != nil || n != 3 {
		t.Fatalf("sweep: %d scheduled, %v; want bob's, ana's second and the duplicate's", n, err)
	}
	if !hasSend(lost) || !hasSend(later) || !hasSend(ok) || !hasSend(dup) {
		t.Fatal("replies without a send after the sweep")
	}
	sd, err := db.SendByKey(ctx, p.ID, voc.ReplyKey(p.ID, lost.ID))
	if err != nil || sd.DistinctID != "bob" || sd.Variant != voc.VariantReply || sd.State != meta.SendPending || sd.Channel != "webhook" {
		t.Fatalf("bob's reply send %+v, %v", sd, err)
	}
	for _, fresh := range []*voc.Messenger{m, {Meta: db, PublicURL: "https://journey.example"}} {
		if n, err := fresh.Replies(ctx, p); err != nil || n != 0 {
			t.Fatalf("sweep again: %d, %v; want none new", n, err)
		}
	}

	// Sweep checks the replies at most once per ReplySweepEvery: a reply
	// lost now waits for the next check.
	store.fail.Store(true)
	third := add(bob, meta.CommentReply, "Shipped.")
	if _, err := m.Reply(ctx, bob, third); err == nil {
		t.Fatal("reply scheduled with the schedule down")
	}
	store.fail.Store(false)
	if err := m.Sweep(ctx, p); err != nil || !hasSend(third) {
		t.Fatalf("first sweep: %v, scheduled %v", err, hasSend(third))
	}
	store.fail.Store(true)
	fourth := add(bob, meta.CommentReply, "Really shipped.")
	m.Reply(ctx, bob, fourth) // fails: the schedule is down
	store.fail.Store(false)
	if err := m.Sweep(ctx, p); err != nil || hasSend(fourth) {
		t.Fatalf("sweep within ReplySweepEvery: %v, scheduled %v", err, hasSend(fourth))
	}
	now = now.Add(voc.ReplySweepEvery)
	if err := m.Sweep(ctx, p); err != nil || !hasSend(fourth) {
		t.Fatalf("sweep after ReplySweepEvery: %v, scheduled %v", err, hasSend(fourth))
	}
}
