package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

// TestFeedbackLoopUnsubscribeWebhook: the customers' webhook carries each
// customer's unsubscribe URL (the campaigns' /u token, as an email's
// List-Unsubscribe); a GET of it only shows the button, a POST
// unsubscribes the message's distinct id, and the next theme done, and a
// reply, send nothing to that person — also under another distinct id
// of theirs (an identify merged them) — while the others get theirs. The
// receiver verifies every signature.
func TestFeedbackLoopUnsubscribeWebhook(t *testing.T) {
	x, _ := campaignStack(t, t.TempDir(), true)
	x.createProject()
	ctx := context.Background()
	secret := channel.NewSecret()
	rc := newReceiver(t, secret)
	var n notifyOut
	x.decode(x.do("PUT", "/api/v1/feedback/notify", x.key, map[string]any{
		"customers": map[string]any{"type": "webhook", "url": rc.srv.URL, "secret": secret},
	}, 200), &n)
	now := time.Now()
	x.send([]event{
		ev("$identify", "dora", now, map[string]any{"$anon_distinct_id": "anon-d"}),
		ev("pageview", "bob", now, nil), ev("pageview", "carl", now, nil),
	})
	themeDone := func(name string, authors ...string) {
		t.Helper()
		var th fbTheme
		x.decode(x.do("POST", "/api/v1/themes", x.key, map[string]string{"name": name}, 201), &th)
		for _, who := range authors {
			x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": name + " please", "distinct_id": who, "theme_id": th.ID}, 201)
		}
		x.do("PATCH", "/api/v1/themes/"+slaID(th.ID), x.key, map[string]string{"status": "done"}, 200)
	}
	loops := func() map[string][]channel.WebhookPayload {
		out := map[string][]channel.WebhookPayload{}
		for who, ms := range rc.messages() {
			for _, m := range ms {
				if m.Variant == voc.VariantLoop {
					out[who] = append(out[who], m)
				}
			}
		}
		return out
	}

	themeDone("Dark mode", "bob", "carl", "anon-d")
	x.settle(n.CustomersCampaign, 3, 20*time.Second)
	first := loops()
	for _, who := range []string{"bob", "carl", "anon-d"} {
		if len(first[who]) != 1 || !strings.HasPrefix(first[who][0].Unsubscribe, x.url+"/u/") {
			t.Fatalf("%s's loop messages %+v: want one with an unsubscribe URL on %s", who, first[who], x.url)
		}
	}
	if first["bob"][0].Unsubscribe == first["carl"][0].Unsubscribe {
		t.Fatal("two customers got the same unsubscribe URL")
	}

	unsubscribed := func(id string) bool {
		t.Helper()
		u, err := x.a.Meta.IsUnsubscribed(ctx, x.pid, "webhook", id)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	follow := func(method, link string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, link, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, link, resp.StatusCode, body, want)
		}
		return string(body)
	}
	// bob and dora (through her anonymous id) unsubscribe; a GET (a
	// link scanner) does not; a forged token is no link.
	bobLink, doraLink := first["bob"][0].Unsubscribe, first["anon-d"][0].Unsubscribe
	if page := follow("GET", bobLink, 200); !strings.Contains(page, `<form method="post">`) || unsubscribed("bob") {
		t.Fatalf("GET of the unsubscribe URL: %s (unsubscribed %v)", page, unsubscribed("bob"))
	}
	follow("POST", bobLink[:len(bobLink)-2]+"xx", 404)
	follow("POST", bobLink, 200)
	follow("POST", doraLink, 200)
	follow("POST", bobLink, 200) // again: still unsubscribed, once
	if !unsubscribed("bob") || !unsubscribed("anon-d") || unsubscribed("carl") || unsubscribed("dora") {
		t.Fatal("unsubscribes: want bob and anon-d only")
	}

	// The next theme done: carl only; bob and dora (now by her own id)
	// are cancelled as unsubscribed. A reply to bob is too.
	themeDone("Faster export", "bob", "carl", "dora")
	var f fbItem
	x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "Where is my invoice?", "distinct_id": "bob"}, 201), &f)
	x.do("POST", "/api/v1/feedback/"+slaID(f.ID)+"/replies", x.key, map[string]string{"text": "In Settings."}, 201)
	counts := x.settle(n.CustomersCampaign, 7, 20*time.Second)
	states := map[string]int64{}
	for _, c := range counts {
		states[c.State] += c.Count
	}
	if states[meta.SendSent] != 4 || states[meta.SendCancelled] != 3 {
		t.Fatalf("sends %+v: want 4 sent (3 + carl's), 3 cancelled (bob's notice and reply, dora's notice)", counts)
	}
	second := loops()
	if len(second["bob"]) != 1 || len(second["carl"]) != 2 || len(second["dora"])+len(second["anon-d"]) != 1 {
		t.Fatalf("loop messages by person after the unsubscribes: %+v", second)
	}
	if ms := rc.messages()["bob"]; len(ms) != 1 {
		t.Fatalf("bob got %+v after unsubscribing", ms)
	}
	var view struct {
		Replies []struct {
			Delivery *struct {
				State string `json:"state"`
			} `json:"delivery"`
		} `json:"replies"`
	}
	x.decode(x.do("GET", "/api/v1/feedback/"+slaID(f.ID), x.key, nil, 200), &view)
	if len(view.Replies) != 1 || view.Replies[0].Delivery == nil || view.Replies[0].Delivery.State != meta.SendCancelled {
		t.Fatalf("the reply's delivery %+v: want cancelled", view.Replies)
	}
	x.syncLoader()
	if ev := x.eventCounts(n.CustomersCampaign); ev["$message_unsubscribed"] != 2 || ev["$message_delivered"] != 4 {
		t.Fatalf("message events %v: want 2 unsubscribes (bob's twice is one), 4 delivered", ev)
	}
	if _, _, bad := rc.counts(); bad != 0 {
		t.Fatalf("%d deliveries failed the signature check", bad)
	}
}
