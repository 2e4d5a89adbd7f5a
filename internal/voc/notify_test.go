package voc

import (
	"errors"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/insight"
)

// TestMessageKeys: the keys travel as webhook-ids and Message-IDs, so
// they must be channel keys, and differ per reply, (theme, person) and
// (item, clock).
func TestMessageKeys(t *testing.T) {
	keys := []string{ReplyKey(1, 2), ReplyKey(2, 1), LoopKey(1, 2, personKey(3, "x")), LoopKey(1, 2, personKey(0, "x")),
		LoopKey(1, 2, personKey(0, "y")), AlertKey(1, 2, ClockFirstResponse), AlertKey(1, 2, ClockResolve),
		LoopKey(9_223_372_036_854_775_807, 9_223_372_036_854_775_807, personKey(9_223_372_036_854_775_807, ""))}
	seen := map[string]bool{}
	for _, k := range keys {
		if !channel.ValidKey(k) || seen[k] {
			t.Errorf("key %q: valid %v, repeated %v", k, channel.ValidKey(k), seen[k])
		}
		seen[k] = true
	}
	if triggerUUID("loop", 1, 2) != triggerUUID("loop", 1, 2) || triggerUUID("loop", 1, 2) == triggerUUID("loop", 1, 3) {
		t.Error("trigger ids are not stable per theme")
	}
}

func TestDecodeNotify(t *testing.T) {
	b, err := DecodeNotify([]byte(`{"customers":{"type":"email","from":"help@x.example"},"alerts":{"type":"webhook","url":"https://hooks.example/voc"}}`))
	if err != nil || b.Loop == nil || b.Loop.Body != DefaultLoop.Body || b.Customers.From != "help@x.example" {
		t.Fatalf("%+v %v", b, err)
	}
	for body, field := range map[string]string{
		`{"customers":{"type":"push"}}`:                                          "customers.type",
		`{"customers":{"type":"webhook"}}`:                                       "customers.url",
		`{"customers":{"type":"webhook","url":"https://h/","secret":"nope"}}`:    "customers.secret",
		`{"customers":{"type":"email","from":"not an address"}}`:                 "customers.from",
		`{"customers":{"type":"email","from":"a@b.example","to":"c@d.example"}}`: "customers.to",
		`{"customers":{"type":"webhook","url":"https://h/","from":"a@b.c"}}`:     "customers.from",
		`{"alerts":{"type":"email","from":"a@b.example"}}`:                       "alerts.to",
		`{"alerts":{"type":"webhook","url":"https://h/"},"send_rate":-1}`:        "send_rate",
		`{"loop":{"subject":"a\nb","body":"x"}}`:                                 "loop.subject",
		`{"loop":{"subject":"x","body":"  "}}`:                                   "loop.body",
		`{"customer":{}}`:                                                        "body",
		`{} []`:                                                                  "body",
	} {
		_, err := DecodeNotify([]byte(body))
		var bad *insight.Error
		if !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: %v, want an error on %s", body, err, field)
		}
	}
	if _, err := DecodeNotify([]byte(`{"loop":{"subject":"x","body":"` + strings.Repeat("a", MaxNotifyBody) + `"}}`)); err == nil {
		t.Error("an oversized body accepted")
	}
}

// FuzzDecodeNotify: the VoC channels are outside input; decoding never
// panics, and what it accepts makes a valid system campaign.
func FuzzDecodeNotify(f *testing.F) {
	for _, s := range []string{`{}`, `{"customers":{"type":"webhook","url":"https://h.example/x","secret":"` + channel.NewSecret() + `"}}`,
		`{"alerts":{"type":"email","from":"a@b.example","to":"t@b.example"},"loop":{"subject":"Done: {{theme}}","body":"b"},"send_rate":5}`,
		`{"customers":{"type":"email","from":"x"}}`, `{"loop":null}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeNotify(body)
		if err != nil {
			return
		}
		if b.Loop == nil {
			t.Fatal("accepted without loop copy")
		}
		for name, c := range map[string]*ChannelBody{"customers": b.Customers, "alerts": b.Alerts} {
			if c == nil {
				continue
			}
			if _, err := c.definition(name, b.SendRate, 7); err != nil {
				t.Fatalf("accepted %s makes no campaign: %v", name, err)
			}
		}
	})
}
