package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

// TestCampaignScaleOut: two replicas on the scale-out stack (JetStream,
// PostgreSQL, ClickHouse) share the schedule: the replica that loads
// runs the trigger engine (reading JetStream through its own consumer),
// both senders claim due sends (FOR UPDATE SKIP LOCKED), and every
// message reaches the receiver once, by webhook-id and in raw deliveries.
func TestCampaignScaleOut(t *testing.T) {
	so := scaleout.New(t, 1)
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	replica := func() *e2e {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: e2eAdminKey, Campaigns: true, WebhookAllowPrivate: true,
			PublicURL: "http://" + ln.Addr().String(), Events: so.Events, Meta: so.Meta, Log: so.Log})
		if err != nil {
			t.Fatal(err)
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Handler}}
		srv.Start()
		t.Cleanup(func() {
			srv.Close()
			a.Close()
		})
		return &e2e{t: t, a: a, url: srv.URL}
	}
	x, y := replica(), replica()
	x.createProject()
	y.pid, y.token, y.key = x.pid, x.token, x.key
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "1s", 0.1), 201), &c)
	const n = 150
	var a, b []event
	for i := range n {
		e := ev("added_to_cart", fmt.Sprintf("s%03d", i), time.Now(), map[string]any{"item": "sku-" + strconv.Itoa(i%3), "price": 1})
		if i%2 == 0 {
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	post := func(x *e2e, evs []event) {
		for _, e := range evs {
			x.do("POST", "/capture/", "", map[string]any{"api_key": x.token, "event": e.Event, "distinct_id": e.DistinctID,
				"timestamp": e.Timestamp, "properties": e.Properties}, 200)
		}
	}
	post(x, a)
	post(y, b)
	x.settle(c.ID, n, 60*time.Second)
	unique, raw, bad := rc.counts()
	t.Logf("%d unique, %d raw, %d bad", unique, raw, bad)
	counts, err := x.a.Meta.CountSends(context.Background(), x.pid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, sc := range counts {
		if sc.State == "sent" {
			sent += int(sc.Count)
		}
	}
	if bad != 0 || unique != sent || raw != unique || sent < n/2 {
		t.Fatalf("%d unique, %d raw, %d bad deliveries for %d sent: %+v", unique, raw, bad, sent, counts)
	}
	for who, ms := range rc.messages() {
		if len(ms) != 1 {
			t.Fatalf("%s got %d messages", who, len(ms))
		}
	}
	owners := map[string]int{}
	for i := range n {
		p, _, err := x.a.Events.PersonByDistinctID(context.Background(), x.pid, fmt.Sprintf("s%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		sends, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, p.ID)
		for _, sd := range sends {
			owners[sd.ClaimedBy]++
		}
	}
	t.Logf("sends by sender: %v", owners)
	var rep reportOut
	deadline := time.Now().Add(30 * time.Second)
	for {
		x.decode(x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(c.ID, 10)+"/report", x.key, nil, 200), &rep)
		if rep.Sent == int64(sent) && rep.Triggered == n && rep.Holdout.Persons == int64(n-sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rep.Sent != int64(sent) || rep.Triggered != n || rep.Holdout.Persons != int64(n-sent) {
		t.Fatalf("report %+v, want %d sent of %d", rep, sent, n)
	}
}
