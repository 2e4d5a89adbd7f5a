package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

// Broadcasts and cohort triggers end to end: the embedded stack, persons
// captured through /batch/, cohorts and campaigns through the API, and the
// loopback Standard Webhooks receiver of campaigns_e2e_test.go.

// cohortStack is campaignStack with cohort triggers evaluated every
// interval (broadcasts looked for as often).
func cohortStack(t *testing.T, dir string, campaigns bool, interval time.Duration) (*e2e, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(app.Config{DataDir: dir, AdminKey: e2eAdminKey, NoSync: true, Campaigns: campaigns, WebhookAllowPrivate: true,
		PublicURL: "http://" + ln.Addr().String(), CohortInterval: interval})
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

func (x *e2e) createCohort(def map[string]any) int64 {
	x.t.Helper()
	var c struct {
		ID int64 `json:"id"`
	}
	x.decode(x.do("POST", "/api/v1/cohorts", x.key, map[string]any{"name": "c", "definition": def}, 201), &c)
	if c.ID == 0 {
		x.t.Fatal("cohort without id")
	}
	return c.ID
}

// refused checks a 400 naming field.
func (x *e2e) refused(body map[string]any, field string) {
	x.t.Helper()
	var e struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 400), &e)
	if e.Field != field || e.Error == "" {
		x.t.Fatalf("refusal %+v, want field %q", e, field)
	}
}

func broadcastCampaign(url, secret string, cohort int64) map[string]any {
	return map[string]any{
		"name":        "Spring sale",
		"kind":        "broadcast",
		"broadcast":   map[string]any{"cohort": cohort},
		"goal":        map[string]any{"event": "purchase"},
		"attribution": "1h",
		"holdout":     0.2,
		"channel":     map[string]any{"type": "webhook", "url": url, "secret": secret},
		"variants": []any{
			map[string]any{"name": "plain", "body": "Sale today, {{person.name | there}}", "url": "https://shop.example.com/sale"},
			map[string]any{"name": "loud", "body": "SALE"},
		},
		"status": "active",
	}
}

// with returns a copy of body with keys replaced (nil: removed).
func with(body map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestBroadcastEndToEnd: a broadcast to a 200-person cohort is scheduled
// halfway by one server, which stops with the cursor behind what it
// scheduled (a crash before storing it); the next server on the same data
// resumes the pass and sends the rest: each treatment person gets one
// message (by webhook-id, delivered once), the holdout gets "would have
// sent" records, the schedule holds 200 sends, and the report counts
// conversions within the attribution window after the message.
func TestBroadcastEndToEnd(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	dir := t.TempDir()
	x, stop := cohortStack(t, dir, false, 100*time.Millisecond)
	x.createProject()

	const n = 200
	now := time.Now()
	var evs []event
	for i := range n {
		evs = append(evs, ev("visit", fmt.Sprintf("p%03d", i), now.Add(-time.Hour), map[string]any{"$set": map[string]any{"name": fmt.Sprintf("N%03d", i)}}))
	}
	// The anonymous visitor who turns out to be p000 is one member; a
	// person who did not visit is none.
	evs = append(evs, ev("visit", "anon-x", now.Add(-2*time.Hour), nil), ev("view", "lurker", now.Add(-time.Hour), nil))
	x.send(evs)
	x.send([]event{ev("$identify", "p000", now.Add(-30*time.Minute), map[string]any{"$anon_distinct_id": "anon-x"})})
	cohort := x.createCohort(map[string]any{"behavior": map[string]any{"event": "visit", "days": 7}})

	// Bad bodies name their field.
	body := broadcastCampaign(rc.srv.URL, secret, cohort)
	x.refused(with(body, "broadcast", nil), "broadcast")
	x.refused(with(body, "broadcast", map[string]any{"cohort": 999999}), "broadcast.cohort")
	x.refused(with(body, "broadcast", map[string]any{"cohort": cohort, "at": "tomorrow"}), "broadcast.at")
	x.refused(with(body, "trigger", map[string]any{"event": "visit"}), "trigger")
	x.refused(with(body, "wait", map[string]any{"delay": "1h"}), "wait")
	x.refused(with(body, "goal", map[string]any{"event": "purchase", "match": "item"}), "goal.match")
	x.refused(with(reminderBody(rc.srv.URL, secret, "0s", 0), "trigger", map[string]any{"cohort": 999999}, "goal", map[string]any{"event": "purchase"}), "trigger.cohort")

	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &c)
	cid := strconv.FormatInt(c.ID, 10)

	// The first server (campaigns off, its scheduler driven by hand)
	// schedules two pages of 50, then stops with the cursor set back to
	// the end of the first page.
	ctx := context.Background()
	first := campaign.NewCohortScheduler(campaign.CohortConfig{Meta: x.a.Meta, Events: x.a.Events, PublicURL: x.url, Owner: "first",
		Page: 50, PagesPerTick: 2})
	if more, err := first.Tick(ctx); err != nil || !more {
		t.Fatalf("first tick: more %v, %v", more, err)
	}
	x.scheduled(c.ID, 100, time.Second)
	run, err := x.a.Meta.CohortRun(ctx, x.pid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	def, err := campaign.CohortDef(ctx, x.a.Meta, x.pid, cohort)
	if err != nil {
		t.Fatal(err)
	}
	page, err := x.a.Events.CohortPersons(ctx, x.pid, def, run.AsOf, 0, 50)
	if err != nil || len(page) != 50 {
		t.Fatalf("first page: %d, %v", len(page), err)
	}
	if _, ok, err := x.a.Meta.ClaimCohortRun(ctx, x.pid, c.ID, "crash", time.Now(), time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	run.Cursor = page[len(page)-1].ID
	if err := x.a.Meta.SaveCohortRun(ctx, run, "crash", time.Now()); err != nil {
		t.Fatal(err)
	}
	stop()

	y, _ := cohortStack(t, dir, true, 100*time.Millisecond)
	y.pid, y.token, y.key = x.pid, x.token, x.key
	counts := y.settle(c.ID, n, 30*time.Second)
	total := 0
	for _, sc := range counts {
		total += int(sc.Count)
	}
	if total != n {
		t.Fatalf("%d sends for a 200-person cohort: %+v", total, counts)
	}
	if run, _ := y.a.Meta.CohortRun(ctx, y.pid, c.ID); run.DoneAt.IsZero() {
		t.Fatalf("the broadcast's pass did not end: %+v", run)
	}

	// Who should have got what.
	pid := strconv.FormatInt(x.pid, 10)
	wantMsg, wantHeld := map[string]bool{}, map[string]bool{}
	for i := range n {
		who := fmt.Sprintf("p%03d", i)
		if i == 0 {
			who = "anon-x" // the merged person's least distinct id
		}
		if campaign.Assign(pid, cid, strconv.FormatInt(y.personID(who), 10), 0.2, 0) == campaign.ArmTreatment {
			wantMsg[who] = true
		} else {
			wantHeld[who] = true
		}
	}
	if len(wantHeld) < 20 || len(wantMsg) < 120 {
		t.Fatalf("holdout of %d and %d messaged: not a 0.2 share of 200", len(wantHeld), len(wantMsg))
	}
	msgs := rc.messages()
	unique, raw, bad := rc.counts()
	t.Logf("receiver: %d unique, %d raw, %d bad; %d held out", unique, raw, bad, len(wantHeld))
	if bad != 0 || unique != len(wantMsg) || raw != unique {
		t.Fatalf("%d unique messages in %d deliveries (%d bad), want %d once each", unique, raw, bad, len(wantMsg))
	}
	trig := campaign.BroadcastTriggerUUID(c.ID)
	for who := range wantMsg {
		ms := msgs[who]
		if len(ms) != 1 {
			t.Fatalf("%s got %d messages", who, len(ms))
		}
		m := ms[0]
		if m.Type != "message" || m.CampaignID != c.ID || m.TriggerUUID != trig || m.PersonID != y.personID(who) {
			t.Fatalf("payload %+v", m)
		}
		// Rendered by whichever server scheduled the page.
		if m.Variant == "plain" && (!strings.HasPrefix(m.Body, "Sale today, N") || !(strings.HasPrefix(m.URL, y.url+"/c/") || strings.HasPrefix(m.URL, x.url+"/c/"))) {
			t.Fatalf("plain message %+v", m)
		}
	}
	for who := range msgs {
		if !wantMsg[who] {
			t.Fatalf("%s was messaged (held out: %v)", who, wantHeld[who])
		}
	}
	y.syncLoader()
	if evs := y.eventCounts(c.ID); evs[campaign.EventSent] != len(wantMsg) || evs[campaign.EventWouldHaveSent] != len(wantHeld) {
		t.Fatalf("events %v, want %d sent and %d would-have-sent", evs, len(wantMsg), len(wantHeld))
	}

	// Conversions: 20 messaged and 5 held-out persons buy after the
	// message; the lurker's purchase is no one's conversion.
	var buys []event
	conv, convHeld := 0, 0
	whos := make([]string, 0, len(wantMsg)+len(wantHeld))
	for who := range wantMsg {
		whos = append(whos, who)
	}
	for who := range wantHeld {
		whos = append(whos, who)
	}
	sort.Strings(whos)
	for _, who := range whos {
		switch {
		case wantMsg[who] && conv < 20:
			conv++
		case wantHeld[who] && convHeld < 5:
			convHeld++
		default:
			continue
		}
		buys = append(buys, ev("purchase", who, time.Now(), nil))
	}
	buys = append(buys, ev("purchase", "lurker", time.Now(), nil))
	y.send(buys)
	var rep reportOut
	y.decode(y.do("GET", "/api/v1/campaigns/"+cid+"/report", y.key, nil, 200), &rep)
	t.Logf("report: %+v", rep)
	if rep.Triggered != n || rep.Sent != int64(len(wantMsg)) || rep.Delivered != int64(len(wantMsg)) || rep.Conversions != int64(conv) ||
		rep.Holdout.Persons != int64(len(wantHeld)) || rep.Holdout.Conversions != int64(convHeld) || rep.Lift == nil {
		t.Fatalf("report %+v, want %d triggered, %d sent, %d conversions, holdout %d with %d", rep, n, len(wantMsg), conv, len(wantHeld), convHeld)
	}
}

// TestCohortTriggerEndToEnd: a campaign triggered by entering a cohort
// takes its members at activation as the baseline; persons who enter
// afterwards are messaged once each, the baseline's members (doing the
// cohort's event again) never.
func TestCohortTriggerEndToEnd(t *testing.T) {
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	x, _ := cohortStack(t, t.TempDir(), true, 150*time.Millisecond)
	x.createProject()
	now := time.Now()
	var evs []event
	for i := range 30 {
		evs = append(evs, ev("upgrade", fmt.Sprintf("base%02d", i), now.Add(-time.Hour), nil))
	}
	x.send(evs)
	cohort := x.createCohort(map[string]any{"behavior": map[string]any{"event": "upgrade", "days": 1}})
	body := reminderBody(rc.srv.URL, secret, "0s", 0)
	body["trigger"] = map[string]any{"cohort": cohort}
	body["goal"] = map[string]any{"event": "purchase"}
	body["variants"] = []any{map[string]any{"name": "welcome", "body": "Welcome to pro, {{person.distinct_id}}"}}
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &c)

	// The baseline pass.
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := x.a.Meta.CohortRun(ctx, x.pid, c.ID)
		if err == nil && run.Generation >= 1 && !run.DoneAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no baseline pass after 10 s: %+v %v", run, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs = nil
	for i := range 20 {
		evs = append(evs, ev("upgrade", fmt.Sprintf("new%02d", i), time.Now(), nil))
	}
	for i := range 5 {
		evs = append(evs, ev("upgrade", fmt.Sprintf("base%02d", i), time.Now(), nil))
	}
	x.send(evs)
	x.settle(c.ID, 20, 30*time.Second)
	time.Sleep(600 * time.Millisecond) // a few more passes: nobody enters twice
	x.settle(c.ID, 20, 10*time.Second)
	counts, err := x.a.Meta.CountSends(ctx, x.pid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, sc := range counts {
		total += int(sc.Count)
	}
	msgs := rc.messages()
	unique, _, bad := rc.counts()
	if total != 20 || unique != 20 || bad != 0 {
		t.Fatalf("%d sends, %d messages (%d bad), want 20", total, unique, bad)
	}
	for i := range 20 {
		who := fmt.Sprintf("new%02d", i)
		if ms := msgs[who]; len(ms) != 1 || ms[0].Body != "Welcome to pro, "+who || ms[0].TriggerUUID == "" {
			t.Fatalf("%s: %+v", who, ms)
		}
	}
	for who := range msgs {
		if strings.HasPrefix(who, "base") {
			t.Fatalf("baseline member %s was messaged", who)
		}
	}
	// The sends name the pass they entered at.
	s, err := x.a.Meta.SendsForPerson(ctx, x.pid, x.personID("new00"))
	if err != nil || len(s) != 1 {
		t.Fatal(s, err)
	}
	run, _ := x.a.Meta.CohortRun(ctx, x.pid, c.ID)
	found := false
	for g := int64(2); g <= run.Generation; g++ {
		found = found || s[0].TriggerUUID == campaign.CohortEntryUUID(c.ID, g)
	}
	if !found || s[0].State != meta.SendSent {
		t.Fatalf("send %+v, run %+v", s[0], run)
	}
	x.syncLoader()
	if n := x.eventCounts(c.ID)[campaign.EventSent]; n != 20 {
		t.Fatalf("%d $message_sent, want 20", n)
	}
}

// TestBroadcastScaleOut: on the scale-out stack (JetStream, PostgreSQL,
// ClickHouse) both replicas run the cohort scheduler: a broadcast's pass
// is claimed by one at a time, and every member gets one message; a
// cohort trigger on ClickHouse messages the newcomers only.
func TestBroadcastScaleOut(t *testing.T) {
	so := scaleout.New(t, 1)
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	replica := func() *e2e {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: e2eAdminKey, Campaigns: true, WebhookAllowPrivate: true,
			PublicURL: "http://" + ln.Addr().String(), Events: so.Events, Meta: so.Meta, Log: so.Log, CohortInterval: 100 * time.Millisecond})
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
	const n = 120
	capture := func(evs []event) {
		body := map[string]any{"api_key": x.token, "batch": evs}
		x.do("POST", "/batch/", "", body, 200)
	}
	// persons waits until the event store has want persons.
	persons := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ids, err := x.a.Events.SearchPersons(context.Background(), x.pid, "", 10_000)
			if err == nil && len(ids) >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d persons stored after 60 s (%v)", len(ids), want, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var evs []event
	for i := range n {
		evs = append(evs, ev("visit", fmt.Sprintf("v%03d", i), time.Now().Add(-time.Hour), nil))
	}
	capture(evs)
	persons(n)
	visitors := x.createCohort(map[string]any{"behavior": map[string]any{"event": "visit", "days": 1}})
	body := broadcastCampaign(rc.srv.URL, secret, visitors)
	body["holdout"] = 0
	var bc campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &bc)
	bcounts := x.settle(bc.ID, n, 60*time.Second)
	if unique, raw, bad := rc.counts(); unique != n || raw != n || bad != 0 {
		t.Fatalf("broadcast: %d unique messages in %d deliveries (%d bad), want %d once each: %+v", unique, raw, bad, n, bcounts)
	}

	// A cohort trigger: the visitors are its baseline; newcomers enter.
	ct := reminderBody(rc.srv.URL, secret, "0s", 0)
	ct["trigger"] = map[string]any{"cohort": visitors}
	ct["goal"] = map[string]any{"event": "purchase"}
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, ct, 201), &c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err := x.a.Meta.CohortRun(context.Background(), x.pid, c.ID)
		if err == nil && !run.DoneAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no baseline pass: %+v %v", run, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs = nil
	for i := range 10 {
		evs = append(evs, ev("visit", fmt.Sprintf("new%d", i), time.Now(), map[string]any{"item": "x", "price": 1}))
	}
	capture(evs)
	persons(n + 10)
	x.settle(c.ID, 10, 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	counts := x.settle(c.ID, 10, 10*time.Second)
	total := 0
	for _, sc := range counts {
		total += int(sc.Count)
	}
	msgs := rc.messages()
	if total != 10 {
		t.Fatalf("%d sends of the cohort trigger, want the 10 newcomers: %+v", total, counts)
	}
	for i := range 10 {
		if got := len(msgs[fmt.Sprintf("new%d", i)]); got != 1 {
			t.Fatalf("new%d got %d messages", i, got)
		}
	}
	if got := len(msgs["v000"]); got != 1 { // the broadcast's only
		t.Fatalf("v000 got %d messages", got)
	}
}
