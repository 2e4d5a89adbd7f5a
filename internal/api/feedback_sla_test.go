package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

// Responsiveness end to end on the embedded stack with its sender: the
// SLA setting and view, replies to the customer, SLA breach alerts once
// per item and clock, and close the loop once per linked person after an
// identity merge and a merged duplicate, all delivered to real webhook
// receivers that verify signatures.

type notifyOut struct {
	CustomersCampaign int64             `json:"customers_campaign"`
	AlertsCampaign    int64             `json:"alerts_campaign"`
	Secrets           map[string]string `json:"secrets"`
}

type slaOut struct {
	TimeZone   string `json:"time_zone"`
	Priorities []struct {
		Priority      string          `json:"priority"`
		Items         int             `json:"items"`
		FirstResponse voc.ClockStats  `json:"first_response"`
		Resolve       voc.ClockStats  `json:"resolve"`
		Extra         json.RawMessage `json:"-"`
	} `json:"priorities"`
	Breaches []voc.Breach `json:"breaches"`
}

func TestFeedbackResponsiveness(t *testing.T) {
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	ctx := context.Background()

	// The SLA: every hour counts (so the test does not depend on the
	// time of day it runs), an urgent item is answered within 2 s.
	x.refusedPut("/api/v1/feedback/sla/settings", `{"targets":{"asap":{}}}`, "targets.asap")
	x.do("PUT", "/api/v1/feedback/sla/settings", x.key, map[string]any{
		"business_hours": map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "00:00", "end": "24:00"},
		"targets":        map[string]any{"urgent": map[string]string{"first_response": "2s", "resolve": "1h"}},
	}, 200)

	// The channels: refused with the field named, then two receivers.
	x.refusedPut("/api/v1/feedback/notify", `{"customers":{"type":"sms"}}`, "customers.type")
	x.refusedPut("/api/v1/feedback/notify", `{"customers":{"type":"webhook","url":"ftp://x"}}`, "customers.url")
	x.refusedPut("/api/v1/feedback/notify", `{"alerts":{"type":"webhook","url":"http://h/"},"loop":{"body":""}}`, "loop.body")
	x.refusedPut("/api/v1/feedback/notify", `{"alerts":{"type":"email","from":"a@b.example","to":"team@b.example"}}`, "alerts.type")
	secret := channel.NewSecret()
	customers := newReceiver(t, secret)
	var n notifyOut
	x.decode(x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{
		"customers": map[string]any{"type": "webhook", "url": customers.srv.URL, "secret": secret},
		"alerts":    map[string]any{"type": "webhook", "url": "http://placeholder.invalid/"},
		"loop":      map[string]any{"subject": "Done: {{theme}}", "body": "We fixed {{theme}}."},
	}, 200), &n)
	if n.CustomersCampaign == 0 || n.AlertsCampaign == 0 || n.Secrets["alerts"] == "" || n.Secrets["customers"] != "" {
		t.Fatalf("notify %+v", n)
	}
	alerts := newReceiver(t, n.Secrets["alerts"])
	var again notifyOut
	x.decode(x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{
		"customers": map[string]any{"type": "webhook", "url": customers.srv.URL, "secret": secret},
		"alerts":    map[string]any{"type": "webhook", "url": alerts.srv.URL},
		"loop":      map[string]any{"subject": "Done: {{theme}}", "body": "We fixed {{theme}}."},
	}, 200), &again)
	if again.CustomersCampaign != n.CustomersCampaign || again.AlertsCampaign != n.AlertsCampaign || len(again.Secrets) != 0 {
		t.Fatalf("a second PUT replaces the campaigns and keeps the alert secret: %+v", again)
	}

	// Persons: dora identified her anonymous id.
	now := time.Now()
	x.send([]event{
		ev("$identify", "dora", now, map[string]any{"$anon_distinct_id": "anon-d"}),
		ev("pageview", "bob", now, nil), ev("pageview", "carl", now, nil), ev("pageview", "ana", now, nil),
	})
	create := func(text, who, priority string, theme int64) fbItem {
		var f fbItem
		body := map[string]any{"text": text, "distinct_id": who, "priority": priority}
		if theme != 0 {
			body["theme_id"] = theme
		}
		x.decode(x.do("POST", "/api/v1/feedback", x.key, body, 201), &f)
		return f
	}
	answered := create("Where is my invoice?", "ana", "urgent", 0)
	waiting := create("Export is broken", "erin", "urgent", 0)

	// A reply goes to the customer, once.
	x.do("POST", "/api/v1/feedback/"+slaID(answered.ID)+"/notes", x.key, map[string]string{"text": "internal only"}, 201)
	x.do("POST", "/api/v1/feedback/"+slaID(answered.ID)+"/replies", x.key, map[string]string{"text": "It is in Settings > Billing."}, 201)
	x.settle(n.CustomersCampaign, 1, 20*time.Second)
	got := customers.messages()
	if len(got["ana"]) != 1 || got["ana"][0].Body != "It is in Settings > Billing." || got["ana"][0].Variant != voc.VariantReply || got["ana"][0].Subject != "Re: Where is my invoice?" {
		t.Fatalf("customer messages %+v", got)
	}

	// Breaches: erin's urgent item waits past 2 s.
	time.Sleep(2500 * time.Millisecond)
	var sla slaOut
	x.decode(x.do("GET", "/api/v1/feedback/sla", x.key, nil, 200), &sla)
	u := sla.Priorities[0]
	if sla.TimeZone != "UTC" || u.Priority != "urgent" || u.Items != 2 || u.FirstResponse.Measured != 1 || u.FirstResponse.Breached != 0 ||
		u.FirstResponse.OpenBreached != 1 || u.FirstResponse.TargetS != 2 || u.FirstResponse.MedianS == nil || *u.FirstResponse.MedianS > 2 {
		t.Fatalf("urgent SLA %+v", u)
	}
	if len(sla.Breaches) != 1 || sla.Breaches[0].ItemID != waiting.ID || sla.Breaches[0].Kind != voc.ClockFirstResponse {
		t.Fatalf("breaches %+v", sla.Breaches)
	}
	m := &voc.Messenger{Meta: x.a.Meta, Events: x.a.Events}
	p, _ := x.a.Meta.Project(ctx, x.pid)
	if k, err := m.Alerts(ctx, p); err != nil || k != 1 {
		t.Fatalf("alerts scheduled %d, %v", k, err)
	}
	for _, fresh := range []*voc.Messenger{m, {Meta: x.a.Meta, Events: x.a.Events}} {
		if k, err := fresh.Alerts(ctx, p); err != nil || k != 0 {
			t.Fatalf("alerts again %d, %v: want none new", k, err)
		}
	}
	x.settle(n.AlertsCampaign, 1, 20*time.Second)
	if a := alerts.messages()["erin"]; len(a) != 1 || a[0].Variant != voc.VariantFirst || !strings.Contains(a[0].Subject, "#"+slaID(waiting.ID)) {
		t.Fatalf("alerts %+v", alerts.messages())
	}

	// Close the loop: bob, carl and dora (twice: her anonymous id and
	// herself; once as a merged duplicate) are linked; ana is not.
	var th fbTheme
	x.decode(x.do("POST", "/api/v1/themes", x.key, map[string]string{"name": "CSV export"}, 201), &th)
	create("CSV export fails", "bob", "normal", th.ID)
	create("export to CSV broken", "carl", "normal", th.ID)
	create("cannot export CSV", "anon-d", "normal", th.ID)
	dup := create("CSV export still fails", "dora", "normal", 0)
	into := create("export keeps failing", "dora", "normal", th.ID)
	x.do("POST", "/api/v1/feedback/"+slaID(dup.ID)+"/merge", x.key, map[string]int64{"into": into.ID}, 200)
	x.do("PATCH", "/api/v1/themes/"+slaID(th.ID), x.key, map[string]string{"status": "in_progress"}, 200)
	x.do("PATCH", "/api/v1/themes/"+slaID(th.ID), x.key, map[string]string{"status": "done"}, 200)
	x.do("PATCH", "/api/v1/themes/"+slaID(th.ID), x.key, map[string]string{"status": "done"}, 200)
	x.settle(n.CustomersCampaign, 4, 20*time.Second)
	th2, _ := x.a.Meta.Theme(ctx, x.pid, th.ID)
	if k, err := m.CloseLoop(ctx, th2); err != nil || k != 0 {
		t.Fatalf("close the loop again: %d, %v", k, err)
	}
	got = customers.messages()
	loop := map[string]int{}
	for who, ms := range got {
		for _, msg := range ms {
			if msg.Variant == voc.VariantLoop {
				loop[who]++
				if msg.Subject != "Done: CSV export" || msg.Body != "We fixed CSV export." {
					t.Errorf("loop message %+v", msg)
				}
			}
		}
	}
	dora := loop["dora"] + loop["anon-d"]
	if len(got["ana"]) != 1 || loop["bob"] != 1 || loop["carl"] != 1 || dora != 1 || len(loop) != 3 {
		t.Fatalf("loop messages by person %v (all %+v)", loop, got)
	}
	if u, raw, bad := customers.counts(); u != 4 || bad != 0 || raw < u {
		t.Fatalf("customers receiver: %d unique, %d raw, %d bad", u, raw, bad)
	}
	x.syncLoader()
	if ev := x.eventCounts(n.CustomersCampaign); ev["$message_delivered"] != 4 || ev["$message_sent"] != 4 {
		t.Fatalf("message events %v", ev)
	}
}

// TestFeedbackReplyEmail: replies by email go to the person's address
// with a one-click unsubscribe, and an unsubscribed address gets none.
func TestFeedbackReplyEmail(t *testing.T) {
	mails, relay := startMail(t)
	x := stackWith(t, func(c *app.Config) { c.SMTP = relay })
	x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{"customers": map[string]any{"type": "email", "from": "Support <help@saas.example>"}}, 200)
	var n notifyOut
	x.decode(x.do("GET", "/api/v1/feedback/notify", x.key, nil, 200), &n)
	x.send([]event{
		ev("pageview", "ana", time.Now(), map[string]any{"$set": map[string]any{"email": "Ana@Example.com"}}),
		ev("pageview", "ulf", time.Now(), map[string]any{"$set": map[string]any{"email": "ulf@example.com"}}),
	})
	if err := x.a.Meta.Unsubscribe(context.Background(), x.pid, "email", "ulf@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"ana", "ulf"} {
		var f fbItem
		x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "SSO login loops", "distinct_id": who}, 201), &f)
		x.do("POST", "/api/v1/feedback/"+slaID(f.ID)+"/replies", x.key, map[string]string{"text": "Fixed in 2.3, " + who}, 201)
	}
	counts := x.settle(n.CustomersCampaign, 2, 20*time.Second)
	got := mails.received()
	if len(got) != 1 || !strings.Contains(got[0].Header.Get("To"), "Ana@Example.com") || got[0].Header.Get("List-Unsubscribe") == "" ||
		got[0].Header.Get("Subject") != "Re: SSO login loops" {
		t.Fatalf("mails %+v", got)
	}
	states := map[string]int64{}
	for _, c := range counts {
		states[c.State] += c.Count
	}
	if states[meta.SendSent] != 1 || states[meta.SendCancelled] != 1 {
		t.Fatalf("sends %+v: ana's sent, ulf's cancelled as unsubscribed", counts)
	}
}

// refusedPut PUTs a body and wants a 400 naming field.
func (x *e2e) refusedPut(path, body, field string) {
	x.t.Helper()
	st, _, out := x.raw("PUT", path, x.key, "application/json", body, nil)
	x.wantField(st, out, 400, field)
}

func slaID(n int64) string { return strconv.FormatInt(n, 10) }
