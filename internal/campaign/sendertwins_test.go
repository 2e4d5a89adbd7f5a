package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// TestSenderTwinsAfterMerge: a broadcast schedules one send to each of two
// persons, who are then merged; one round claims both. The sends share the
// broadcast's trigger and now one person, so exactly one message goes out
// and the other is cancelled as its duplicate. Before, the send whose
// person had not changed skipped the duplicate check, and the moved one
// (the lower id) passed it: both went out.
func TestSenderTwinsAfterMerge(t *testing.T) {
	w := newCohortWorld(t)
	// anon-b's person is the older (lower id, so its send too), and the
	// merge keeps a's: the send that moves is the one that wins.
	w.send(storetest.Ev("visit", "anon-b", w.now.Add(-time.Hour), nil))
	w.send(storetest.Ev("visit", "a", w.now.Add(-time.Hour), nil))
	cohort := w.cohort(`{"distinct_ids": ["a", "anon-b"]}`)

	var mu sync.Mutex
	got := map[string]int{} // webhook-id → deliveries
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer recv.Close()
	d, err := Parse([]byte(fmt.Sprintf(`{"name": "Blast", "kind": "broadcast", "broadcast": {"cohort": %d}, "holdout": 0,
		"channel": {"type": "webhook", "url": %q, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		"variants": [{"name": "a", "body": "Hello"}], "status": "active"}`, cohort, recv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	secret := d.TakeSecret() // kept apart from the definition, as the API stores it
	def, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.m.CreateCampaign(w.ctx, meta.Campaign{ProjectID: w.pid, Name: d.Name, Kind: d.Kind, Status: d.Status, Definition: def, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	w.tick(w.scheduler("s", 50, 1))
	if n := w.count(c.ID); n != 2 {
		t.Fatalf("%d sends scheduled, want 2", n)
	}
	// The merge arrives after scheduling: anon-b is a's now.
	w.send(storetest.Ev("$identify", "a", w.now.Add(-30*time.Minute), map[string]any{"$anon_distinct_id": "anon-b"}))

	var emitted []event.Event
	s := NewSender(SenderConfig{Meta: w.m, Events: w.events, Campaigns: &Campaigns{Meta: w.m, MaxAge: time.Nanosecond},
		Emit: func(_ context.Context, b event.Batch) error {
			mu.Lock()
			emitted = append(emitted, b.Events...)
			mu.Unlock()
			return nil
		},
		Owner: "t", HTTP: channel.NewHTTPClient(channel.ClientOptions{AllowPrivate: true}),
		Now: func() time.Time { return w.now.Add(time.Minute) }})
	n, err := s.RunOnce(w.ctx)
	if err != nil || n != 2 {
		t.Fatalf("round: %d sends, %v (want both claimed at once)", n, err)
	}
	if len(got) != 1 {
		all, _ := w.m.SendsForPerson(w.ctx, w.pid, w.person("a"))
		t.Fatalf("deliveries by webhook-id: %v, want one message to the merged person; sends %+v", got, all)
	}
	counts, err := w.m.CountSends(w.ctx, w.pid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int64{}
	for _, n := range counts {
		states[n.State] += n.Count
	}
	if states[meta.SendSent] != 1 || states[meta.SendCancelled] != 1 {
		t.Fatalf("sends by state: %v, want one sent and one cancelled", states)
	}
}
