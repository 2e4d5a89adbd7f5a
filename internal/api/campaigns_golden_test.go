package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// TestCampaignGoldenTime: GET /campaigns/{id}/golden-time is the
// golden-time report of the campaign's own trigger and goal, matched on
// its item, over the history before the campaign: hand-counted delays
// (1 h and 30 h for the same item; a purchase of another item is none),
// the horizon and range honoured, and the refusals (the UI twin is
// driven by the campaigns Chromium test).
func TestCampaignGoldenTime(t *testing.T) {
	x := newE2E(t)
	base := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Hour)
	cart := func(who, item string, at time.Time) event {
		return ev("added_to_cart", who, at, map[string]any{"item": item, "price": 10})
	}
	buy := func(who, item string, at time.Time) event {
		return ev("order_completed", who, at, map[string]any{"item": item})
	}
	x.send([]event{
		cart("ann", "sku-1", base), buy("ann", "sku-1", base.Add(90*time.Minute)), // 1 h (rounded down)
		cart("bob", "sku-2", base), buy("bob", "sku-2", base.Add(30*time.Hour+5*time.Minute)), // 30 h
		cart("cyd", "sku-3", base), buy("cyd", "sku-9", base.Add(time.Hour)), // another item: no conversion
		cart("dan", "sku-4", base.Add(time.Hour)), // never buys
	})
	body := reminderBody("https://hooks.example.com/j", "", "24h", 0.1)
	body["status"] = "draft"
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &c)

	type bucket struct {
		FromHours   int   `json:"from_hours"`
		Conversions int64 `json:"conversions"`
	}
	var res struct {
		Kind         string   `json:"kind"`
		Triggers     int64    `json:"triggers"`
		Converted    int64    `json:"converted"`
		HorizonHours int      `json:"horizon_hours"`
		MedianHours  *float64 `json:"median_hours"`
		Histogram    []bucket `json:"histogram"`
	}
	path := fmt.Sprintf("/api/v1/campaigns/%d/golden-time", c.ID)
	x.decode(x.do("GET", path+"?horizon=72h", x.key, nil, 200), &res)
	if res.Kind != "golden_time" || res.Triggers != 4 || res.Converted != 2 || res.HorizonHours != 72 {
		t.Fatalf("golden time = %+v, want 4 triggers, 2 converted within 72h", res)
	}
	got := map[int]int64{}
	for _, b := range res.Histogram {
		if b.Conversions > 0 {
			got[b.FromHours] = b.Conversions
		}
	}
	if len(got) != 2 || got[1] != 1 || got[30] != 1 { // hourly buckets for two days
		t.Fatalf("histogram conversions by bucket start = %v, want the hours from 1 h and from 30 h", got)
	}
	// A 24 h horizon leaves the 30 h purchase out.
	x.decode(x.do("GET", path+"?horizon=24h", x.key, nil, 200), &res)
	if res.Converted != 1 || res.HorizonHours != 24 {
		t.Fatalf("24h horizon: %+v, want 1 converted", res)
	}
	// A range that ends before the triggers has none.
	q := url.Values{"from": {base.Add(-48 * time.Hour).Format(time.RFC3339)}, "to": {base.Add(-24 * time.Hour).Format(time.RFC3339)}}
	x.decode(x.do("GET", path+"?"+q.Encode(), x.key, nil, 200), &res)
	if res.Triggers != 0 {
		t.Fatalf("range before the triggers: %d triggers", res.Triggers)
	}

	var e struct{ Error, Field string }
	x.decode(x.do("GET", path+"?horizon=90m", x.key, nil, 400), &e)
	if e.Field != "horizon" {
		t.Fatalf("horizon 90m: %+v, want field horizon", e)
	}
	x.decode(x.do("GET", path+"?from=yesterday", x.key, nil, 400), &e)
	if e.Field != "from" {
		t.Fatalf("from=yesterday: %+v, want field from", e)
	}
	x.do("GET", "/api/v1/campaigns/999999/golden-time", x.key, nil, 404)
	x.do("GET", path, "", nil, 401)
	if err := json.Unmarshal(x.do("GET", path, x.key, nil, 200), &res); err != nil || res.HorizonHours != 14*24 {
		t.Fatalf("default horizon: %+v %v, want 14 days", res, err)
	}
}
