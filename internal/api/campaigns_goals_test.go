package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
)

// goalReads is the server's count of sends whose goal the sender checked
// in the event store (journey_campaign_goal_reads_total).
func (x *e2e) goalReads() int {
	x.t.Helper()
	resp, err := http.Get(x.url + "/metrics")
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "journey_campaign_goal_reads_total "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// sendOf is the person's one send of the campaign for the item.
func (x *e2e) sendOf(cid int64, who, item string) meta.Send {
	x.t.Helper()
	sends, err := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID(who))
	if err != nil {
		x.t.Fatal(err)
	}
	var found []meta.Send
	for _, sd := range sends {
		p, err := campaign.ParsePayload(sd.Payload)
		if err == nil && sd.CampaignID == cid && p.Item == item {
			found = append(found, sd)
		}
	}
	if len(found) != 1 {
		x.t.Fatalf("%s has %d sends for %s: %+v", who, len(found), item, sends)
	}
	return found[0]
}

// TestCampaignGoalCancelsExactly: the engine cancels, as it sees a goal,
// exactly the sends it converts (the same item), before they are due;
// the sender reads the event store for the goal only where the engine
// may have missed it: a goal that reached the log before its trigger (an
// earlier timestamp arriving later), and a goal under another distinct id
// merged into the person afterwards. Both of those are still cancelled.
func TestCampaignGoalCancelsExactly(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "4s", 0), 201), &c)
	reads := x.goalReads()
	now := time.Now()
	cart := func(who, item string, at time.Time) event {
		return ev("added_to_cart", who, at, map[string]any{"item": item, "price": 1})
	}
	buy := func(who, item string, at time.Time) event {
		return ev("order_completed", who, at, map[string]any{"item": item})
	}
	// The late goal: the purchase reaches the log first, its cart (a
	// second earlier) after it. The merged goal: "mx" carts, the
	// anonymous "my" buys the item, then they turn out to be one person.
	x.send([]event{ev("signed_up", "mx", now.Add(-time.Hour), nil), buy("late", "sku-9", now)})
	evs := []event{cart("g1", "sku-1", now), cart("g1", "sku-2", now), cart("g2", "sku-1", now), cart("late", "sku-9", now.Add(-time.Second)),
		cart("mx", "sku-5", now)}
	for i := range 20 {
		evs = append(evs, cart(fmt.Sprintf("p%02d", i), "sku-3", now))
	}
	x.send(evs)
	x.scheduled(c.ID, 25, 10*time.Second)
	x.send([]event{buy("g1", "sku-1", now.Add(time.Second)), buy("g2", "other", now.Add(time.Second)), buy("my", "sku-5", now.Add(time.Second))})
	x.send([]event{ev("$identify", "mx", now.Add(2*time.Second), map[string]any{"$anon_distinct_id": "my"})})

	// Before the delay: the engine cancelled g1's sku-1 message only.
	deadline := time.Now().Add(3 * time.Second)
	for x.sendOf(c.ID, "g1", "sku-1").State != meta.SendCancelled && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sd := x.sendOf(c.ID, "g1", "sku-1"); sd.State != meta.SendCancelled || !strings.HasPrefix(sd.LastError, "goal reached: order_completed") ||
		time.Since(now) > 4*time.Second {
		t.Fatalf("g1's sku-1 send %+v, %s after the cart: want cancelled by the engine before it was due", sd, time.Since(now))
	}
	for _, w := range [][2]string{{"g1", "sku-2"}, {"g2", "sku-1"}} {
		if sd := x.sendOf(c.ID, w[0], w[1]); sd.State != meta.SendPending {
			t.Fatalf("%s's %s send is %s, want pending: the goal was another item", w[0], w[1], sd.State)
		}
	}

	x.settle(c.ID, 25, 30*time.Second)
	msgs := rc.messages()
	want := map[string]string{"g1": "sku-2", "g2": "sku-1"}
	for i := range 20 {
		want[fmt.Sprintf("p%02d", i)] = "sku-3"
	}
	for who, item := range want {
		if len(msgs[who]) != 1 || !strings.Contains(msgs[who][0].Body, item) {
			t.Errorf("%s got %+v, want one message about %s", who, msgs[who], item)
		}
	}
	if len(msgs) != len(want) {
		t.Errorf("messages to %d persons, want %d: %v", len(msgs), len(want), msgs)
	}
	for _, w := range [][2]string{{"late", "sku-9"}, {"mx", "sku-5"}} {
		if sd := x.sendOf(c.ID, w[0], w[1]); sd.State != meta.SendCancelled || !strings.HasPrefix(sd.LastError, "goal reached") {
			t.Errorf("%s's %s send %+v: want cancelled, goal reached", w[0], w[1], sd)
		}
	}
	// Two reads: the late goal's send and the merged person's; none for
	// the 22 messages sent.
	if got := x.goalReads() - reads; got != 2 {
		t.Fatalf("%d goal reads in the event store, want 2", got)
	}
}
