package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// The end-to-end campaign: the embedded stack with the trigger engine and
// the sender, events sent to /batch/ as an SDK sends them, the campaign
// driven through the API, and a real Standard Webhooks receiver on
// loopback that verifies every signature and counts deliveries by
// webhook-id.

// receiver is a webhook endpoint: it verifies signatures (constant time,
// channel.Verify) and keeps each message once by webhook-id, counting the
// raw deliveries too.
type receiver struct {
	t      *testing.T
	key    []byte
	srv    *httptest.Server
	mu     sync.Mutex
	byID   map[string]channel.WebhookPayload
	raw    int
	bad    int
	status func(id string, attempt int) int // nil: 200
	tries  map[string]int
}

func newReceiver(t *testing.T, secret string) *receiver {
	key, err := channel.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, key: key, byID: map[string]channel.WebhookPayload{}, tries: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.raw++
		if err := channel.Verify(rc.key, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			rc.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(channel.HeaderWebhookID)
		rc.tries[id]++
		if rc.status != nil {
			if st := rc.status(id, rc.tries[id]); st != 200 {
				w.WriteHeader(st)
				return
			}
		}
		var p channel.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if old, dup := rc.byID[id]; dup && old != p {
			rc.t.Errorf("webhook-id %s delivered twice with different messages: %+v and %+v", id, old, p)
		}
		rc.byID[id] = p
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// messages are the deduplicated messages by distinct id.
func (rc *receiver) messages() map[string][]channel.WebhookPayload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string][]channel.WebhookPayload{}
	for _, p := range rc.byID {
		out[p.DistinctID] = append(out[p.DistinctID], p)
	}
	return out
}

func (rc *receiver) counts() (unique, raw, bad int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.byID), rc.raw, rc.bad
}

// campaignStack opens the embedded stack with campaigns on, on dir, with
// its server listening on loopback (click links need its URL first).
func campaignStack(t *testing.T, dir string, campaigns bool) (*e2e, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(app.Config{DataDir: dir, AdminKey: e2eAdminKey, NoSync: true, Campaigns: campaigns, WebhookAllowPrivate: true,
		PublicURL: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Handler}}
	srv.Start()
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	t.Cleanup(stop)
	return &e2e{t: t, a: a, url: srv.URL}, stop
}

func (x *e2e) createProject() {
	var p struct {
		ID        int64  `json:"id"`
		Token     string `json:"token"`
		SecretKey string `json:"secret_key"`
	}
	x.decode(x.do("POST", "/api/v1/projects", e2eAdminKey, map[string]string{"name": "shop", "timezone": "UTC"}, 201), &p)
	x.pid, x.token, x.key = p.ID, p.Token, p.SecretKey
}

type campaignOut struct {
	ID            int64  `json:"id"`
	Status        string `json:"status"`
	WebhookSecret string `json:"webhook_secret"`
	Channel       struct {
		Type   string `json:"type"`
		URL    string `json:"url"`
		Secret string `json:"secret"`
	} `json:"channel"`
}

func reminderBody(url, secret, delay string, holdout float64) map[string]any {
	return map[string]any{
		"name":    "Cart reminder",
		"trigger": map[string]any{"event": "added_to_cart", "filters": []any{map[string]any{"property": "price", "op": "gt", "value": 0}}},
		"goal":    map[string]any{"event": "order_completed", "match": "item", "within": "72h"},
		"wait":    map[string]any{"delay": delay},
		"holdout": holdout,
		"channel": map[string]any{"type": "webhook", "url": url, "secret": secret},
		"variants": []any{
			map[string]any{"name": "plain", "weight": 1, "subject": "Still thinking?", "body": "{{item}} is waiting, {{person.name | there}}", "url": "https://shop.example.com/item/{{item}}"},
			map[string]any{"name": "urgent", "weight": 1, "subject": "Almost gone", "body": "Only a few {{item}} left", "url": "https://shop.example.com/item/{{item}}?v=u"},
		},
		"status": "active",
	}
}

// settle waits until the campaign has no send pending or being sent.
func (x *e2e) settle(cid int64, wantTotal int, within time.Duration) []meta.SendCount {
	x.t.Helper()
	deadline := time.Now().Add(within)
	for {
		counts, err := x.a.Meta.CountSends(context.Background(), x.pid, cid)
		if err != nil {
			x.t.Fatal(err)
		}
		total, open := 0, 0
		for _, c := range counts {
			total += int(c.Count)
			if c.State == meta.SendPending || c.State == meta.SendSending {
				open += int(c.Count)
			}
		}
		if total >= wantTotal && open == 0 {
			return counts
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("sends not settled after %s: %d of %d scheduled, %d open: %+v", within, total, wantTotal, open, counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scheduled waits until the campaign has n sends.
func (x *e2e) scheduled(cid int64, n int, within time.Duration) {
	x.t.Helper()
	deadline := time.Now().Add(within)
	for {
		counts, err := x.a.Meta.CountSends(context.Background(), x.pid, cid)
		if err != nil {
			x.t.Fatal(err)
		}
		total := 0
		for _, c := range counts {
			total += int(c.Count)
		}
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%d of %d sends scheduled after %s", total, n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *e2e) personID(distinctID string) int64 {
	x.t.Helper()
	p, _, err := x.a.Events.PersonByDistinctID(context.Background(), x.pid, distinctID)
	if err != nil {
		x.t.Fatalf("person of %s: %v", distinctID, err)
	}
	return p.ID
}

// eventCount counts stored events of a name (of the campaign) by SQL.
func (x *e2e) eventCounts(cid int64) map[string]int {
	x.t.Helper()
	res, err := x.a.Events.SQL(context.Background(), x.pid, &insight.SQL{Query: fmt.Sprintf(
		`SELECT event, count(*) AS n FROM events WHERE json_extract_string(properties, '$.campaign_id') = '%d' GROUP BY event`, cid), Limit: 100})
	if err != nil {
		x.t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range res.Rows {
		n, _ := strconv.Atoi(fmt.Sprint(r[1]))
		out[fmt.Sprint(r[0])] = n
	}
	return out
}

func (x *e2e) syncLoader() {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := x.a.Loader.Sync(ctx); err != nil {
		x.t.Fatal(err)
	}
}

type reportOut struct {
	Triggered   int64   `json:"triggered"`
	Sent        int64   `json:"sent"`
	Delivered   int64   `json:"delivered"`
	Clicked     int64   `json:"clicked"`
	CTR         float64 `json:"ctr"`
	Conversions int64   `json:"conversions"`
	CVR         float64 `json:"cvr"`
	Cancelled   int64   `json:"cancelled"`
	Holdout     struct {
		Persons     int64   `json:"persons"`
		Conversions int64   `json:"conversions"`
		CVR         float64 `json:"cvr"`
	} `json:"holdout"`
	Lift *struct {
		Effect float64    `json:"effect"`
		CI     [2]float64 `json:"ci"`
	} `json:"lift"`
	Variants []struct {
		Name      string `json:"name"`
		Delivered int64  `json:"delivered"`
		Clicked   int64  `json:"clicked"`
	} `json:"variants"`
}

func TestCampaignEndToEnd(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()

	// Refusals: a loopback URL is allowed here (--webhook-allow-private),
	// but unknown fields, a bad secret and element filters are not.
	bad := reminderBody(rc.srv.URL, "whsec_short", "2s", 0.2)
	x.do("POST", "/api/v1/campaigns", x.key, bad, 400)
	bad = reminderBody(rc.srv.URL, secret, "2s", 0.2)
	bad["surprise"] = 1
	x.do("POST", "/api/v1/campaigns", x.key, bad, 400)

	var c campaignOut
	raw := x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "2s", 0.2), 201)
	x.decode(raw, &c)
	if c.ID == 0 || c.Status != "active" || c.Channel.Secret != "" || strings.Contains(string(raw), secret) || c.WebhookSecret != "" {
		t.Fatalf("created %s", raw)
	}
	if got := x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(c.ID, 10), x.key, nil, 200); strings.Contains(string(got), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("GET echoes the secret: %s", got)
	}
	if got := x.do("GET", "/api/v1/campaigns", x.key, nil, 200); strings.Contains(string(got), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("list echoes the secret: %s", got)
	}

	// 200 persons cart an item; every fifth buys the same item at once
	// (no message), the next every fifth buys another item (still
	// messaged).
	const n = 200
	now := time.Now()
	var carts, buys []event
	item := func(i int) string { return "sku-" + strconv.Itoa(i%7) }
	for i := range n {
		who := fmt.Sprintf("u%03d", i)
		carts = append(carts, ev("added_to_cart", who, now, map[string]any{"item": item(i), "price": 10 + i%3, "$set": map[string]any{"name": "P" + who}}))
		switch i % 5 {
		case 0:
			buys = append(buys, ev("order_completed", who, now.Add(time.Millisecond), map[string]any{"item": item(i)}))
		case 1:
			buys = append(buys, ev("order_completed", who, now.Add(time.Millisecond), map[string]any{"item": "other-" + item(i)}))
		}
	}
	// A cart without a price does not pass the filter.
	carts = append(carts, ev("added_to_cart", "nofilter", now, map[string]any{"item": "sku-1"}))
	// The merge: an anonymous visitor carts; the user they turn out to
	// be (known already) buys the item under their own id; then they
	// identify, all before the message is due: no message.
	x.send([]event{ev("signed_up", "user-m", now.Add(-time.Hour), nil)})
	carts = append(carts, ev("added_to_cart", "anon-m", now, map[string]any{"item": "sku-m", "price": 5}))
	x.send(carts)
	buys = append(buys, ev("order_completed", "user-m", now.Add(10*time.Millisecond), map[string]any{"item": "sku-m"}))
	x.send(buys)
	x.send([]event{ev("$identify", "user-m", now.Add(20*time.Millisecond), map[string]any{"$anon_distinct_id": "anon-m"})})

	counts := x.settle(c.ID, n+1, 30*time.Second)
	t.Logf("sends: %+v", counts)

	// What each person should have got.
	pid, cid := strconv.FormatInt(x.pid, 10), strconv.FormatInt(c.ID, 10)
	wantMsg, wantHeld := map[string]bool{}, map[string]bool{}
	for i := range n {
		who := fmt.Sprintf("u%03d", i)
		if i%5 == 0 {
			continue
		}
		switch campaign.Assign(pid, cid, strconv.FormatInt(x.personID(who), 10), 0.2, 0) {
		case campaign.ArmTreatment:
			wantMsg[who] = true
		default:
			wantHeld[who] = true
		}
	}
	if len(wantHeld) < 15 || len(wantMsg) < 100 {
		t.Fatalf("holdout of %d and %d messaged: not a 0.2 share of 160", len(wantHeld), len(wantMsg))
	}
	msgs := rc.messages()
	unique, rawN, badN := rc.counts()
	t.Logf("receiver: %d unique messages, %d raw deliveries, %d bad signatures", unique, rawN, badN)
	if badN != 0 {
		t.Fatalf("%d deliveries did not verify", badN)
	}
	for who := range wantMsg {
		if len(msgs[who]) != 1 {
			t.Errorf("%s got %d messages, want 1", who, len(msgs[who]))
		}
	}
	for who, ms := range msgs {
		if !wantMsg[who] {
			t.Errorf("%s got %d messages, want none (holdout %v): %+v", who, len(ms), wantHeld[who], ms)
		}
	}
	if unique != len(wantMsg) {
		t.Fatalf("%d unique messages, want %d", unique, len(wantMsg))
	}
	// The payload is the contract's, rendered with the person's and the
	// item's values.
	var some channel.WebhookPayload
	for who := range wantMsg {
		some = msgs[who][0]
		i, _ := strconv.Atoi(strings.TrimPrefix(who, "u"))
		if some.Type != "message" || some.CampaignID != c.ID || some.PersonID != x.personID(who) || some.TriggerUUID == "" ||
			(some.Variant != "plain" && some.Variant != "urgent") || !strings.Contains(some.Body, item(i)) || !strings.HasPrefix(some.URL, x.url+"/c/") {
			t.Fatalf("payload %+v", some)
		}
		if some.Variant == "plain" && some.Body != item(i)+" is waiting, P"+who {
			t.Fatalf("body %q", some.Body)
		}
		break
	}
	// The merged visitor's send was cancelled (the user bought).
	sends, err := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("user-m"))
	if err != nil || len(sends) != 1 || sends[0].State != meta.SendCancelled || sends[0].DistinctID != "anon-m" {
		t.Fatalf("merged person's sends %+v, %v", sends, err)
	}

	// Events: a sent and a delivered per message, a "would have sent"
	// per holdout person.
	x.syncLoader()
	evs := x.eventCounts(c.ID)
	if evs[campaign.EventSent] != len(wantMsg) || evs[campaign.EventDelivered] != len(wantMsg) || evs[campaign.EventWouldHaveSent] != len(wantHeld) {
		t.Fatalf("events %v, want %d sent/delivered and %d would-have-sent", evs, len(wantMsg), len(wantHeld))
	}

	// Clicks go through the redirect to the message's own URL; a forged
	// token goes nowhere.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	clicked, repeatSameMinute := 0, false
	for who := range wantMsg {
		if clicked == 10 {
			break
		}
		m := msgs[who][0]
		clickedAt := time.Now()
		resp, err := noFollow.Get(m.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		i, _ := strconv.Atoi(strings.TrimPrefix(who, "u"))
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://shop.example.com/item/"+item(i)) {
			t.Fatalf("click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		clicked++
		if clicked == 1 { // twice: still one message clicked, and one event
			resp, _ := noFollow.Get(m.URL)
			resp.Body.Close()
			repeatSameMinute = clickedAt.Unix()/60 == time.Now().Unix()/60
			forged := m.URL[:len(m.URL)-3] + "abc"
			if resp, _ := noFollow.Get(forged); resp.StatusCode != 404 {
				t.Fatalf("forged click token: %d", resp.StatusCode)
			}
		}
	}

	// Conversions: 30 messaged persons and 6 of the holdout buy the
	// carted item after the message (or the "would have sent").
	var later []event
	convMsg, convHeld := 0, 0
	for i := range n {
		who := fmt.Sprintf("u%03d", i)
		if wantMsg[who] && convMsg < 30 {
			convMsg++
			later = append(later, ev("order_completed", who, time.Now(), map[string]any{"item": item(i)}))
		}
		if wantHeld[who] && convHeld < 6 {
			convHeld++
			later = append(later, ev("order_completed", who, time.Now(), map[string]any{"item": item(i)}))
		}
	}
	x.send(later)
	var rep reportOut
	x.decode(x.do("GET", "/api/v1/campaigns/"+cid+"/report", x.key, nil, 200), &rep)
	t.Logf("report: %+v", rep)
	// Click events dedup per message and minute: the repeated click is
	// none (unless the two fell in different minutes).
	if n := x.eventCounts(c.ID)[campaign.EventClicked]; repeatSameMinute && n != clicked || n < clicked || n > clicked+1 {
		t.Fatalf("%d click events for %d messages clicked (repeat in the same minute: %v)", n, clicked, repeatSameMinute)
	}
	if rep.Triggered != int64(n+1) || rep.Sent != int64(len(wantMsg)) || rep.Delivered != int64(len(wantMsg)) || rep.Clicked != int64(clicked) ||
		rep.Conversions != int64(convMsg) || rep.Holdout.Persons != int64(len(wantHeld)) || rep.Holdout.Conversions != int64(convHeld) {
		t.Fatalf("report %+v", rep)
	}
	if want := float64(clicked) / float64(len(wantMsg)); rep.CTR != want {
		t.Fatalf("ctr %v, want %v", rep.CTR, want)
	}
	if rep.Lift == nil || rep.Lift.CI[0] > rep.Lift.Effect || rep.Lift.CI[1] < rep.Lift.Effect {
		t.Fatalf("lift %+v", rep.Lift)
	}
	if len(rep.Variants) != 2 || rep.Variants[0].Delivered+rep.Variants[1].Delivered != int64(len(wantMsg)) {
		t.Fatalf("variants %+v", rep.Variants)
	}

	// A test send renders for a real person and sends at once, with a
	// key of its own, outside the schedule.
	var ts struct {
		Delivered bool   `json:"delivered"`
		Key       string `json:"key"`
	}
	x.decode(x.do("POST", "/api/v1/campaigns/"+cid+"/test", x.key, map[string]any{"distinct_id": "u001", "variant": "urgent",
		"event": map[string]any{"item": "preview-item"}}, 200), &ts)
	if !ts.Delivered || !strings.HasPrefix(ts.Key, "test_") {
		t.Fatalf("test send %+v", ts)
	}
	if m := rc.messages()["u001"]; len(m) != 2 && !(len(m) == 1 && !wantMsg["u001"]) {
		t.Fatalf("u001 has %d messages after a test send", len(m))
	}
	var pv struct {
		Variants []struct {
			Name, Subject, Body, URL string
		} `json:"variants"`
	}
	x.decode(x.do("POST", "/api/v1/campaigns/"+cid+"/preview", x.key, map[string]any{"distinct_id": "u002", "event": map[string]any{"item": "a&b"}}, 200), &pv)
	if len(pv.Variants) != 2 || pv.Variants[0].Body != "a&b is waiting, Pu002" || pv.Variants[0].URL != "https://shop.example.com/item/a%26b" {
		t.Fatalf("preview %+v", pv)
	}

	// Pausing stops the messages, stopping cancels them.
	x.do("PATCH", "/api/v1/campaigns/"+cid, x.key, map[string]any{"status": "stopped"}, 200)
	x.do("PATCH", "/api/v1/campaigns/"+cid, x.key, map[string]any{"status": "active"}, 409)
	x.do("DELETE", "/api/v1/campaigns/"+cid, x.key, nil, 204)
	x.do("GET", "/api/v1/campaigns/"+cid, x.key, nil, 404)
}

// TestCampaignRestart: apps close with messages scheduled and not yet
// due, with triggers loaded while the engine was off, and with triggers
// loaded but perhaps not yet read by the engine; the next app on the same
// data directory delivers each message once.
func TestCampaignRestart(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	dir := t.TempDir()
	x, stop := campaignStack(t, dir, true)
	x.createProject()
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "3s", 0), 201), &c)
	carts := func(prefix string) []event {
		var out []event
		for i := range 40 {
			out = append(out, ev("added_to_cart", fmt.Sprintf("%s%02d", prefix, i), time.Now(), map[string]any{"item": "sku", "price": 1}))
		}
		return out
	}
	x.send(carts("a"))
	x.scheduled(c.ID, 40, 10*time.Second)
	stop() // scheduled, none due
	if u, _, _ := rc.counts(); u != 0 {
		t.Fatalf("%d delivered before the delay", u)
	}
	reopen := func(campaigns bool) (*e2e, func()) {
		y, stop := campaignStack(t, dir, campaigns)
		y.pid, y.token, y.key = x.pid, x.token, x.key
		return y, stop
	}
	// The engine is off: the loader loads, and keeps the log for it.
	y, stop := reopen(false)
	y.send(carts("b"))
	stop()
	// The loader has them; the engine maybe not.
	y, stop = reopen(true)
	y.send(carts("c"))
	stop()

	z, _ := reopen(true)
	z.scheduled(c.ID, 120, 30*time.Second)
	z.settle(c.ID, 120, 30*time.Second)
	msgs := rc.messages()
	unique, raw, bad := rc.counts()
	t.Logf("after restarts: %d unique, %d raw, %d bad", unique, raw, bad)
	if unique != 120 || bad != 0 || len(msgs) != 120 {
		t.Fatalf("%d unique messages to %d persons, %d bad, want 120", unique, len(msgs), bad)
	}
	for who, ms := range msgs {
		if len(ms) != 1 {
			t.Fatalf("%s got %d messages", who, len(ms))
		}
	}
}

// TestCampaignRetryAndGone: a receiver that answers 503 gets the message
// again on the Standard Webhooks schedule (5 s later), with the same
// webhook-id; an endpoint that answers 410 fails its message and pauses
// its campaign, saying why.
func TestCampaignRetryAndGone(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	failed := 0
	rc.status = func(id string, attempt int) int {
		if attempt == 1 && failed < 3 {
			failed++
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	var c, g campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "0s", 0), 201), &c)
	goneBody := reminderBody(gone.URL, "", "0s", 0)
	goneBody["trigger"] = map[string]any{"event": "product_liked"}
	raw := x.do("POST", "/api/v1/campaigns", x.key, goneBody, 201)
	x.decode(raw, &g)
	if !strings.HasPrefix(g.WebhookSecret, "whsec_") {
		t.Fatalf("no generated secret answered: %s", raw)
	}
	if again := x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(g.ID, 10), x.key, nil, 200); strings.Contains(string(again), g.WebhookSecret[6:]) {
		t.Fatalf("the generated secret is answered again: %s", again)
	}
	var evs []event
	for i := range 6 {
		evs = append(evs, ev("added_to_cart", fmt.Sprintf("r%d", i), time.Now(), map[string]any{"item": "sku", "price": 1}))
	}
	evs = append(evs, ev("product_liked", "liker", time.Now(), map[string]any{"item": "sku"}))
	x.send(evs)
	x.settle(c.ID, 6, 30*time.Second)
	unique, rawN, bad := rc.counts()
	if unique != 6 || rawN != 9 || bad != 0 {
		t.Fatalf("%d unique, %d raw, %d bad: want 6 messages in 9 deliveries", unique, rawN, bad)
	}
	x.settle(g.ID, 1, 10*time.Second)
	var view struct {
		Status       string `json:"status"`
		StatusReason *struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"status_reason"`
	}
	x.decode(x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(g.ID, 10), x.key, nil, 200), &view)
	if view.Status != "paused" || view.StatusReason == nil || !strings.Contains(view.StatusReason.Reason, "410") {
		t.Fatalf("gone endpoint's campaign: %+v %+v", view, view.StatusReason)
	}
	x.syncLoader()
	if n := x.eventCounts(g.ID)[campaign.EventFailed]; n != 1 {
		t.Fatalf("%d $message_failed, want 1", n)
	}
	var rep reportOut
	x.decode(x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(g.ID, 10)+"/report", x.key, nil, 200), &rep)
	if rep.Sent != 1 || rep.Delivered != 0 {
		t.Fatalf("gone report %+v", rep)
	}
}

// TestCampaignControlGroup: the project-wide control group (a stable
// hash share of the project's persons) is never messaged by a campaign;
// it gets "would have sent" records, reported apart from the holdout.
func TestCampaignControlGroup(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	x.do("PUT", "/api/v1/campaigns/control-group", x.key, map[string]any{"percent": 80}, 400)
	x.do("PUT", "/api/v1/campaigns/control-group", x.key, map[string]any{"percent": 30}, 200)
	var cg struct {
		Percent float64 `json:"percent"`
	}
	x.decode(x.do("GET", "/api/v1/campaigns/control-group", x.key, nil, 200), &cg)
	if cg.Percent != 30 {
		t.Fatalf("control group %v", cg.Percent)
	}
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(rc.srv.URL, secret, "0s", 0), 201), &c)
	var evs []event
	for i := range 60 {
		evs = append(evs, ev("added_to_cart", fmt.Sprintf("g%02d", i), time.Now(), map[string]any{"item": "sku", "price": 1}))
	}
	x.send(evs)
	x.settle(c.ID, 60, 20*time.Second)
	msgs := rc.messages()
	control := 0
	for i := range 60 {
		who := fmt.Sprintf("g%02d", i)
		arm := campaign.Assign(strconv.FormatInt(x.pid, 10), strconv.FormatInt(c.ID, 10), strconv.FormatInt(x.personID(who), 10), 0, 0.3)
		if arm == campaign.ArmControlGroup {
			control++
		}
		if got := len(msgs[who]); (arm == campaign.ArmTreatment) != (got == 1) {
			t.Errorf("%s in %s got %d messages", who, arm, got)
		}
	}
	if control < 8 || control > 30 {
		t.Fatalf("%d of 60 in a 30%% control group", control)
	}
	x.syncLoader()
	var rep struct {
		Holdout      struct{ Persons int64 } `json:"holdout"`
		ControlGroup struct{ Persons int64 } `json:"control_group"`
	}
	x.decode(x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(c.ID, 10)+"/report", x.key, nil, 200), &rep)
	if rep.ControlGroup.Persons != int64(control) || rep.Holdout.Persons != 0 {
		t.Fatalf("report %+v, want %d in the control group", rep, control)
	}
}
