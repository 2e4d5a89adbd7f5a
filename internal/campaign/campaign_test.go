package campaign

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// The contract, a reminder of the carted item.
const reminder = `{"name": "Cart reminder", "kind": "triggered",
	"trigger": {"event": "added_to_cart", "filters": [{"property": "price", "op": "gt", "value": 10}, {"type": "cohort", "value": 4}]},
	"goal": {"event": "purchase", "match": "item", "within": "72h"},
	"wait": {"delay": "24h"},
	"holdout": 0.1,
	"channel": {"type": "webhook", "url": "https://hooks.example.com/journey", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	"variants": [{"name": "plain", "weight": 3, "subject": "Still thinking?", "body": "{{item}} is waiting", "url": "https://shop.example.com/cart"},
	             {"name": "urgent", "weight": 1, "subject": "Almost gone", "body": "Only a few {{item}} left"}],
	"audience": {"frequency_cap": {"count": 1, "per": "24h"}, "quiet_hours": {"start": "22:00", "end": "08:00"}, "reeligible_after": "168h", "send_rate": 100},
	"attribution": "72h",
	"status": "active"}`

func TestParseReminder(t *testing.T) {
	d, err := Parse([]byte(reminder))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindTriggered || d.Status != StatusActive || d.Wait.DelayDur != 24*time.Hour || d.Goal.WithinDur != 72*time.Hour ||
		d.AttributionDur != 72*time.Hour || d.Audience.FrequencyCap.PerDur != 24*time.Hour || d.Audience.ReeligibleAfterDur != 168*time.Hour {
		t.Fatalf("parsed %+v", d)
	}
	if d.Variants[0].Weight != 0.75 || d.Variants[1].Weight != 0.25 {
		t.Fatalf("weights %v %v, want normalised 0.75 0.25", d.Variants[0].Weight, d.Variants[1].Weight)
	}
	if v, ok := d.Trigger.Filters[0].Value.(json.Number); !ok || v != "10" {
		t.Fatalf("filter value %#v, want json.Number as in queries", d.Trigger.Filters[0].Value)
	}
	if d.Audience.Spacing() != 10*time.Millisecond {
		t.Fatalf("spacing %v", d.Audience.Spacing())
	}
	// Validate is idempotent (the API may run it again).
	again := *d
	if err := again.Validate(); err != nil || again.Variants[0].Weight != 0.75 {
		t.Fatalf("again: %v %v", err, again.Variants[0].Weight)
	}
	// The golden-time query of the campaign: cohort filters become the
	// query's, the rest the trigger's; match as the campaign.
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	q := d.GoldenTime(from, from.AddDate(0, 0, 28))
	if q == nil || q.Trigger.Event != "added_to_cart" || len(q.Trigger.Filters) != 1 || len(q.Filters) != 1 || q.Match != "item" || q.Goal.Event != "purchase" {
		t.Fatalf("golden time %+v", q)
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := d.TakeSecret(); s != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" || d.Channel.Secret != "" {
		t.Fatalf("secret %q, left %q", s, d.Channel.Secret)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "whsec_") || strings.Contains(string(b), "Dur") {
		t.Fatalf("serialised %s", b)
	}
}

func TestParseDefaults(t *testing.T) {
	d, err := Parse([]byte(`{"name": "n", "trigger": {"event": "product_liked"}, "goal": {"event": "purchase"},
		"wait": {"best_time": true, "min_delay": "30s"}, "channel": {"type": "web_push"}, "variants": [{"body": "a"}, {"body": "b"}, {"body": "c"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindTriggered || d.Status != StatusDraft || d.Attribution != "72h" || d.AttributionDur != 72*time.Hour ||
		d.Goal.Within != "72h" || d.Goal.WithinDur != 72*time.Hour || d.Wait.MinDelayDur != 30*time.Second || d.Holdout != 0 {
		t.Fatalf("defaults %+v %+v %+v", d, d.Goal, d.Wait)
	}
	for i, v := range d.Variants {
		if v.Name != string(rune('A'+i)) || math.Abs(v.Weight-1.0/3) > 1e-12 {
			t.Fatalf("variant %d %+v", i, v)
		}
	}
	if d.Audience.Spacing() != 0 || d.Audience.ReeligibleAfterDur != 0 {
		t.Fatalf("audience %+v", d.Audience)
	}
	// Persons who entered a cohort; a broadcast to a cohort at a time.
	if _, err := Parse([]byte(`{"name": "n", "trigger": {"cohort": 12}, "goal": {"event": "purchase"}, "wait": {"delay": "0s"},
		"channel": {"type": "email", "from": "Shop <shop@example.com>", "subject": "Hello"}, "variants": [{"body": "hi"}]}`)); err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(`{"name": "Blast", "kind": "broadcast", "broadcast": {"cohort": 3, "at": "2026-02-01T09:00:00+01:00"},
		"channel": {"type": "webhook", "url": "http://receiver.example/hook"}, "variants": [{"body": "sale"}], "holdout": 0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Broadcast.At.UTC() != time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC) || b.GoldenTime(time.Now(), time.Now()) != nil {
		t.Fatalf("broadcast %+v", b.Broadcast)
	}
}

func TestParseErrors(t *testing.T) {
	base := func(over string) string {
		// A valid webhook reminder with one field replaced.
		fields := map[string]string{
			"name": `"n"`, "trigger": `{"event": "cart"}`, "goal": `{"event": "buy"}`, "wait": `{"delay": "1h"}`,
			"channel": `{"type": "webhook", "url": "https://x.example/h"}`, "variants": `[{"body": "b"}]`,
		}
		for _, o := range strings.Split(over, "|") {
			k, v, _ := strings.Cut(o, "=")
			if k != "" {
				if v == "" {
					delete(fields, k)
				} else {
					fields[k] = v
				}
			}
		}
		var parts []string
		for _, k := range []string{"name", "kind", "trigger", "goal", "wait", "holdout", "channel", "variants", "audience", "attribution", "broadcast", "status", "extra"} {
			if v, ok := fields[k]; ok {
				parts = append(parts, `"`+k+`": `+v)
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if _, err := Parse([]byte(base(""))); err != nil {
		t.Fatalf("base: %v", err)
	}
	cases := []struct{ over, field string }{
		{"name=", "name"},
		{`name=" "`, "name"},
		{`name="` + strings.Repeat("n", MaxName+1) + `"`, "name"},
		{`kind="drip"`, "kind"},
		{"trigger=", "trigger"},
		{`trigger={}`, "trigger.event"},
		{`trigger={"event": "a", "cohort": 2}`, "trigger.cohort"},
		{`trigger={"cohort": -2}`, "trigger.cohort"},
		{`trigger={"cohort": 2, "filters": [{"property": "p", "op": "eq", "value": 1}]}`, "trigger.filters"},
		{`trigger={"event": "a", "filters": [{"property": "p", "op": "near", "value": 1}]}`, "trigger.filters[0].op"},
		{`trigger={"event": "a", "filter": []}`, "filter"},
		{"goal=", "goal"},
		{`goal={"match": "item"}`, "goal.event"},
		{`goal={"event": "b", "within": "3 days"}`, "goal.within"},
		{`goal={"event": "b", "within": "0s"}`, "goal.within"},
		{`goal={"event": "b", "within": "2160h1s"}`, "goal.within"},
		{`goal={"event": "b", "filters": [{"type": "cohort", "value": 1}]}`, "goal.filters[0].type"},
		{`trigger={"cohort": 2}|goal={"event": "b", "match": "item"}`, "goal.match"},
		{"wait=", "wait"},
		{`wait={}`, "wait.delay"},
		{`wait={"delay": "1h", "best_time": true}`, "wait.delay"},
		{`wait={"delay": "1h", "min_delay": "1h"}`, "wait.min_delay"},
		{`wait={"delay": "-1h"}`, "wait.delay"},
		{`wait={"delay": "721h"}`, "wait.delay"},
		{`wait={"best_time": true, "min_delay": "soon"}`, "wait.min_delay"},
		{`wait={"delay": 3600}`, "wait.delay"},
		{`holdout=1`, "holdout"},
		{`holdout=-0.1`, "holdout"},
		{`holdout="10%"`, "holdout"},
		{"channel=", "channel.type"},
		{`channel={"type": "sms"}`, "channel.type"},
		{`channel={"type": "webhook"}`, "channel.url"},
		{`channel={"type": "webhook", "url": "ftp://x.example/h"}`, "channel.url"},
		{`channel={"type": "webhook", "url": "/relative"}`, "channel.url"},
		{`channel={"type": "webhook", "url": "https://user:pw@x.example/h"}`, "channel.url"},
		{`channel={"type": "webhook", "url": "https://x.example/h", "secret": "hunter2"}`, "channel.secret"},
		{`channel={"type": "webhook", "url": "https://x.example/h", "secret": "whsec_c2hvcnQ="}`, "channel.secret"},
		{`channel={"type": "webhook", "url": "https://x.example/h", "from": "a@example.com"}`, "channel.from"},
		{`channel={"type": "webhook", "url": "https://x.example/h", "smtp": "x"}`, "smtp"},
		{`channel={"type": "email"}`, "channel.from"},
		{`channel={"type": "email", "from": "not an address"}`, "channel.from"},
		{`channel={"type": "email", "from": "a@example.com", "reply_to": "@"}`, "channel.reply_to"},
		{`channel={"type": "email", "from": "a@example.com", "subject": "a\r\nBcc: x@example.com"}`, "channel.subject"},
		{`channel={"type": "email", "from": "a@example.com"}`, "variants[0].subject"},
		{`channel={"type": "email", "from": "a@example.com", "subject": "s"}|variants=[{"subject": "s"}]`, "variants[0].body"},
		{`channel={"type": "web_push", "url": "https://x.example/h"}`, "channel.url"},
		{`channel={"type": "web_push", "ttl": "673h"}`, "channel.ttl"},
		{`channel={"type": "web_push", "urgency": "now"}`, "channel.urgency"},
		{`channel={"type": "web_push"}|variants=[{"url": "https://x.example/"}]`, "variants[0].body"},
		{"variants=", "variants"},
		{`variants=[]`, "variants"},
		{`variants=[{"name": "a"}, {"name": "a"}]`, "variants[1].name"},
		{`variants=[{"weight": -1}]`, "variants[0].weight"},
		{`variants=[{"weight": "half"}]`, "variants.weight"},
		{`variants=[{"url": "javascript:alert(1)"}]`, "variants[0].url"},
		{`variants=[{"subject": "a\nb"}]`, "variants[0].subject"},
		{`variants=[` + strings.Repeat(`{"body": "x"},`, MaxVariants) + `{"body": "x"}]`, "variants"},
		{`audience={"frequency_cap": {"count": 0, "per": "24h"}}`, "audience.frequency_cap.count"},
		{`audience={"frequency_cap": {"count": 1}}`, "audience.frequency_cap.per"},
		{`audience={"frequency_cap": {"count": 1, "per": "1d"}}`, "audience.frequency_cap.per"},
		{`audience={"quiet_hours": {"start": "22:00", "end": "8:00"}}`, "audience.quiet_hours.end"},
		{`audience={"quiet_hours": {"start": "24:00", "end": "08:00"}}`, "audience.quiet_hours.start"},
		{`audience={"reeligible_after": "-1s"}`, "audience.reeligible_after"},
		{`audience={"send_rate": -1}`, "audience.send_rate"},
		{`audience={"send_rate": 1e9}`, "audience.send_rate"},
		{`audience={"cap": 1}`, "cap"},
		{`attribution="3d"`, "attribution"},
		{`broadcast={"cohort": 1}`, "broadcast"},
		{`status="running"`, "status"},
		{`extra=1`, "extra"},
		{`kind="broadcast"|broadcast={"cohort": 1}|wait=`, "trigger"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(base(c.over)))
		var e *insight.Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: %v, want field %q", c.over, err, c.field)
		}
	}
	// Broadcast's own errors.
	for body, field := range map[string]string{
		`{"name": "n", "kind": "broadcast", "channel": {"type": "web_push"}, "variants": [{"body": "b"}]}`:                                                      "broadcast",
		`{"name": "n", "kind": "broadcast", "broadcast": {}, "channel": {"type": "web_push"}, "variants": [{"body": "b"}]}`:                                     "broadcast.cohort",
		`{"name": "n", "kind": "broadcast", "broadcast": {"cohort": 1, "at": "tomorrow"}, "channel": {"type": "web_push"}, "variants": [{"body": "b"}]}`:        "broadcast.at",
		`{"name": "n", "kind": "broadcast", "broadcast": {"cohort": 1}, "wait": {"delay": "1h"}, "channel": {"type": "web_push"}, "variants": [{"body": "b"}]}`: "wait",
		`[]`:               "body",
		`{"name": "n"} {}`: "body",
		`{"name": `:        "body",
	} {
		_, err := Parse([]byte(body))
		var e *insight.Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want field %q", body, err, field)
		}
	}
}
