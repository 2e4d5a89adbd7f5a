package campaign

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/insight"
)

func TestMatchFilters(t *testing.T) {
	ev := decodeProps(json.RawMessage(`{"price": 12.5, "item": "Sku-1", "qty": 3, "tags": ["a"], "flag": true, "none": null}`))
	person := map[string]any{"plan": "pro"}
	f := func(typ, prop, op string, v any, want bool) {
		t.Helper()
		if got := MatchFilters([]insight.Filter{{Type: typ, Property: prop, Op: op, Value: v}}, ev, person); got != want {
			t.Errorf("%s %s %s %v: %v, want %v", typ, prop, op, v, got, want)
		}
	}
	f("", "price", "gt", json.Number("10"), true)
	f("", "price", "lt", json.Number("10"), false)
	f("event", "qty", "eq", json.Number("3"), true)
	f("event", "qty", "eq", "3", true) // as the stores compare: text
	f("", "item", "eq", "Sku-1", true)
	f("", "item", "eq", "sku-1", false)
	f("", "item", "contains", "SKU", true) // contains ignores case
	f("", "item", "neq", "Sku-1", false)
	f("", "missing", "neq", "x", true)
	f("", "none", "is_set", nil, false)
	f("", "flag", "eq", "true", true)
	f("", "item", "in", []any{"x", "Sku-1"}, true)
	f("", "item", "in", []any{}, false)
	f("", "item", "regex", "^Sku-[0-9]$", true)
	f("", "item", "regex", "(", false)
	f("", "price", "gt", "not a number", true) // ValueFloat: 0
	f("", "item", "gt", json.Number("0"), false)
	f("person", "plan", "eq", "pro", true)
	f("person", "item", "is_set", nil, false)
	f("element", "text", "eq", "x", false)
	f("cohort", "", "in", 1, false)
	if !MatchFilters(nil, ev, nil) {
		t.Error("no filters: no match")
	}
}

func TestClickToken(t *testing.T) {
	key := channel.NewKey(12, 34, "5f0c9a4e-8a6b-4d5e-9b1a-2c3d4e5f6a7b", "plain")
	nonce := newNonce()
	tok := ClickToken(7, key, nonce)
	p, k, n, ok := ParseClickToken(tok)
	if !ok || p != 7 || k != key || n != nonce {
		t.Fatalf("%q → %d %q %q %v", tok, p, k, n, ok)
	}
	for _, bad := range []string{"", "7", "7.", "7..x", "x.key.nonce", "-1.key.nonce", "7.key.", "7.ke/y.nonce", "7.key.no nce", "0.key.nonce"} {
		if _, _, _, ok := ParseClickToken(bad); ok {
			t.Errorf("%q parses", bad)
		}
	}
}

func TestRenderURLEscapesValues(t *testing.T) {
	data := map[string]any{"item": "a b/../?x=1#frag", "evil": "evil.example@attacker.example/"}
	if got := RenderURL("https://shop.example.com/item/{{item}}?ref=mail", data); got != "https://shop.example.com/item/a+b%2F..%2F%3Fx%3D1%23frag?ref=mail" {
		t.Fatalf("got %q", got)
	}
	// A value cannot become the host, the scheme or credentials.
	for _, tpl := range []string{"{{evil}}", "https://{{evil}}", "{{item}}://x", "javascript:{{item}}"} {
		got := RenderURL(tpl, data)
		if got != "" && !strings.HasPrefix(got, "https://evil.example%40") {
			t.Errorf("%q → %q", tpl, got)
		}
		if strings.Contains(got, "@") {
			t.Errorf("%q → %q holds credentials", tpl, got)
		}
	}
	if RenderURL("", data) != "" {
		t.Fatal("empty template")
	}
}

func TestConverts(t *testing.T) {
	d, err := Parse([]byte(reminder))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Payload{TriggerAt: at, Match: "item", Item: "sku-1"}
	f := func(after time.Duration, props string, want bool) {
		t.Helper()
		if got := Converts(d, p, at.Add(after), decodeProps(json.RawMessage(props))); got != want {
			t.Errorf("%s %s: %v, want %v", after, props, got, want)
		}
	}
	f(time.Hour, `{"item": "sku-1"}`, true)
	f(0, `{"item": "sku-1"}`, true)
	f(-time.Second, `{"item": "sku-1"}`, false) // before the trigger
	f(73*time.Hour, `{"item": "sku-1"}`, false) // past the window
	f(time.Hour, `{"item": "sku-2"}`, false)    // another item
	f(time.Hour, `{}`, false)
	p.Item = "12"
	f(time.Hour, `{"item": 12}`, true) // as text
}

func TestWithStatus(t *testing.T) {
	out, err := WithStatus(json.RawMessage(`{"name":"x","status":"active","holdout":0.1}`), "paused")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil || m["status"] != "paused" || m["name"] != "x" || m["holdout"] != 0.1 {
		t.Fatalf("%s %v", out, err)
	}
}

func TestPayloadAndEvent(t *testing.T) {
	p := Payload{Subject: "s", TriggerAt: time.Unix(100, 0).UTC(), Match: "item", Item: "sku"}
	b, _ := json.Marshal(p)
	q, err := ParsePayload(b)
	if err != nil || q != p {
		t.Fatalf("%+v %v", q, err)
	}
	if _, err := ParsePayload(nil); err == nil {
		t.Fatal("empty payload parses")
	}
	if EventUUID("k", EventSent) != EventUUID("k", EventSent) || EventUUID("k", EventSent) == EventUUID("k", EventDelivered) {
		t.Fatal("event uuids are not one per key and name")
	}
}
