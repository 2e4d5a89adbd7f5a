package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

type replyDeliveryOut struct {
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	SentAt        time.Time `json:"sent_at"`
	LastError     string    `json:"last_error"`
}

type feedbackRepliesOut struct {
	Replies []struct {
		ID       int64             `json:"id"`
		Text     string            `json:"text"`
		Delivery *replyDeliveryOut `json:"delivery"`
	} `json:"replies"`
}

// TestFeedbackReplyRetried: a reply goes through the durable schedule, so
// a customer webhook that answers 503 gets it again (the Standard
// Webhooks schedule: 5 s later, the same webhook-id) and it ends
// delivered; GET /feedback/{id} shows the delivery as it goes (pending
// after one attempt with the 503 as its last error, then sent after two).
// A reply whose scheduling failed (stored, no send: written here straight
// to the store, as the handler leaves it) has no delivery until the
// messenger's sweep schedules it; then it is delivered the same way.
func TestFeedbackReplyRetried(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	rc.status = func(id string, attempt int) int {
		if attempt == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	ctx := context.Background()
	var n notifyOut
	x.decode(x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{
		"customers": map[string]any{"type": "webhook", "url": rc.srv.URL, "secret": secret}}, 200), &n)
	x.send([]event{ev("pageview", "ana", time.Now(), nil)})
	var f fbItem
	x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "Where is my invoice?", "distinct_id": "ana"}, 201), &f)
	delivery := func(i int) *replyDeliveryOut {
		t.Helper()
		var v feedbackRepliesOut
		x.decode(x.do("GET", "/api/v1/feedback/"+slaID(f.ID), x.key, nil, 200), &v)
		if len(v.Replies) <= i {
			t.Fatalf("replies %+v: want %d", v.Replies, i+1)
		}
		return v.Replies[i].Delivery
	}
	// waitRetry waits for reply i's first attempt to fail: pending, one
	// attempt, the 503 kept, the next attempt about 5 s on.
	waitRetry := func(i int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			d := delivery(i)
			if d != nil && d.Attempts == 1 {
				if d.State != meta.SendPending || !strings.Contains(d.LastError, "503") || d.NextAttemptAt.IsZero() || !d.SentAt.IsZero() {
					t.Fatalf("reply %d after the 503: %+v", i, d)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("reply %d not attempted: %+v", i, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wantDelivered := func(i int, text string) {
		t.Helper()
		if d := delivery(i); d == nil || d.State != meta.SendSent || d.Attempts != 2 || d.SentAt.IsZero() || !d.NextAttemptAt.IsZero() {
			t.Fatalf("reply %d delivery %+v: want sent after 2 attempts", i, d)
		}
		var got []string
		for _, m := range rc.messages()["ana"] {
			got = append(got, m.Body)
		}
		if !strings.Contains(strings.Join(got, "|"), text) {
			t.Fatalf("ana's messages %q: want %q", got, text)
		}
	}

	x.do("POST", "/api/v1/feedback/"+slaID(f.ID)+"/replies", x.key, map[string]string{"text": "It is in Settings > Billing."}, 201)
	waitRetry(0)
	x.settle(n.CustomersCampaign, 1, 30*time.Second)
	wantDelivered(0, "It is in Settings > Billing.")

	// The reply the handler could not schedule.
	lost, err := x.a.Meta.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: x.pid, ItemID: f.ID, Kind: meta.CommentReply, Text: "And the PDF is attached."})
	if err != nil {
		t.Fatal(err)
	}
	if d := delivery(1); d != nil {
		t.Fatalf("an unscheduled reply shows a delivery %+v", d)
	}
	p, err := x.a.Meta.Project(ctx, x.pid)
	if err != nil {
		t.Fatal(err)
	}
	m := &voc.Messenger{Meta: x.a.Meta, Events: x.a.Events, PublicURL: x.url}
	// The app's own messenger sweeps too (every 15 s): it may have been
	// first, so the reply is scheduled by one of the two.
	if k, err := m.Replies(ctx, p); err != nil || k > 1 {
		t.Fatalf("sweep scheduled %d replies, %v; want at most 1", k, err)
	}
	if _, err := x.a.Meta.SendByKey(ctx, x.pid, voc.ReplyKey(x.pid, lost.ID)); err != nil {
		t.Fatalf("the swept reply's send: %v", err)
	}
	if k, err := m.Replies(ctx, p); err != nil || k != 0 {
		t.Fatalf("sweep again scheduled %d, %v; want 0", k, err)
	}
	waitRetry(1)
	x.settle(n.CustomersCampaign, 2, 30*time.Second)
	wantDelivered(1, "And the PDF is attached.")
	if u, raw, bad := rc.counts(); u != 2 || raw != 4 || bad != 0 {
		t.Fatalf("receiver: %d unique, %d raw, %d bad; want 2 messages in 4 deliveries", u, raw, bad)
	}
}
