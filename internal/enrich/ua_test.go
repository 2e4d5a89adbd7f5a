package enrich

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseUserAgent: common browsers, phones, tablets and bots come out
// in posthog-js's names and values; bots are never a device.
func TestParseUserAgent(t *testing.T) {
	cases := []struct {
		name, ua string
		want     Agent
	}{
		{"Chrome on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Windows", OSVersion: "10", DeviceType: "Desktop"}},
		{"Firefox on Windows 7", "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
			Agent{Browser: "Firefox", BrowserVersion: 115, OS: "Windows", OSVersion: "7", DeviceType: "Desktop"}},
		{"Edge on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
			Agent{Browser: "Microsoft Edge", BrowserVersion: 124, OS: "Windows", OSVersion: "10", DeviceType: "Desktop"}},
		{"Safari on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
			Agent{Browser: "Safari", BrowserVersion: 17.4, OS: "Mac OS X", OSVersion: "10.15.7", DeviceType: "Desktop"}},
		{"Chrome on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Mac OS X", OSVersion: "10.15.7", DeviceType: "Desktop"}},
		{"Firefox on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
			Agent{Browser: "Firefox", BrowserVersion: 125, OS: "Mac OS X", OSVersion: "10.15", DeviceType: "Desktop"}},
		{"Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
			Agent{Browser: "Firefox", BrowserVersion: 125, OS: "Linux", DeviceType: "Desktop"}},
		{"Chrome on Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Linux", DeviceType: "Desktop"}},
		{"Chrome on ChromeOS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Chrome OS", OSVersion: "14541.0.0", DeviceType: "Desktop"}},
		{"iPhone Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
			Agent{Browser: "Mobile Safari", BrowserVersion: 17.4, OS: "iOS", OSVersion: "17.4.1", DeviceType: "Mobile"}},
		{"iPhone Chrome", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.111 Mobile/15E148 Safari/604.1",
			Agent{Browser: "Chrome iOS", BrowserVersion: 124, OS: "iOS", OSVersion: "17.4", DeviceType: "Mobile"}},
		{"iPad Safari", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			Agent{Browser: "Mobile Safari", BrowserVersion: 17.4, OS: "iOS", OSVersion: "17.4", DeviceType: "Tablet"}},
		{"Android Chrome", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.113 Mobile Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Android", OSVersion: "14", DeviceType: "Mobile"}},
		{"Android tablet Chrome", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", BrowserVersion: 124, OS: "Android", OSVersion: "13", DeviceType: "Tablet"}},
		{"Android tablet Firefox", "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
			Agent{Browser: "Firefox", BrowserVersion: 125, OS: "Android", OSVersion: "14", DeviceType: "Tablet"}},
		{"Samsung Internet", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
			Agent{Browser: "Samsung Internet", BrowserVersion: 24, OS: "Android", OSVersion: "14", DeviceType: "Mobile"}},
		{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Agent{Bot: true}},
		{"Googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			Agent{Bot: true}},
		{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", Agent{Bot: true}},
		{"GPTBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", Agent{Bot: true}},
		{"headless Chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36", Agent{Bot: true}},
		{"curl", "curl/8.5.0", Agent{Bot: true}},
		{"server SDK", "posthog-node/4.2.0", Agent{}},
		{"empty", "", Agent{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseUserAgent(c.ua); got != c.want {
				t.Errorf("ParseUserAgent(%q)\n got %+v\nwant %+v", c.ua, got, c.want)
			}
			if got := parseAgent(c.ua); got != c.want { // the cache changes nothing
				t.Errorf("parseAgent(%q) = %+v", c.ua, got)
			}
		})
	}
}

const (
	iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	macUA    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

// TestUserAgentProps: the event's own user agent wins over the header,
// what the client set is never overridden (each pair as a whole), a
// header naming no browser adds nothing, and bots are marked only.
func TestUserAgentProps(t *testing.T) {
	iphone := map[string]any{"$browser": "Mobile Safari", "$browser_version": 17.4, "$os": "iOS", "$os_version": "17.4.1", "$device_type": "Mobile"}
	mac := map[string]any{"$browser": "Chrome", "$browser_version": 124.0, "$os": "Mac OS X", "$os_version": "10.15.7", "$device_type": "Desktop"}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
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
	cases := []struct {
		name   string
		props  map[string]any
		header string
		want   map[string]any
	}{
		{"from the header", map[string]any{}, iPhoneUA, iphone},
		{"$raw_user_agent wins over the header", map[string]any{"$raw_user_agent": macUA}, iPhoneUA, with(mac, "$raw_user_agent", macUA)},
		{"$useragent of older SDKs", map[string]any{"$useragent": macUA}, "", with(mac, "$useragent", macUA)},
		{"client's values kept", map[string]any{"$browser": "MyApp", "$device_type": "Console"}, iPhoneUA,
			with(iphone, "$browser", "MyApp", "$browser_version", nil, "$device_type", "Console")},
		{"a pair is the client's when half is", map[string]any{"$os_version": "18.0"}, iPhoneUA,
			with(iphone, "$os", nil, "$os_version", "18.0")},
		{"null is unknown, so filled", map[string]any{"$browser": nil, "$browser_version": nil}, iPhoneUA, iphone},
		{"server library header adds nothing", map[string]any{}, "posthog-node/4.2.0", map[string]any{}},
		{"curl header adds nothing", map[string]any{}, "curl/8.5.0", map[string]any{}},
		{"bot in the event", map[string]any{"$raw_user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, "",
			map[string]any{"$raw_user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "$browser_type": "bot"}},
		{"headless browser header", map[string]any{}, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
			map[string]any{"$browser_type": "bot"}},
		{"nothing at all", map[string]any{}, "", map[string]any{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			UserAgent(c.props, c.header)
			if !reflect.DeepEqual(c.props, c.want) {
				t.Errorf("got  %v\nwant %v", c.props, c.want)
			}
		})
	}
}

// TestCache: the cache stays bounded and keeps what is in use.
func TestCache(t *testing.T) {
	c := newCache[string, Agent](3)
	c.put("a", Agent{OS: "a"})
	for i := 0; i < 20; i++ {
		c.put(strings.Repeat("x", i+1), Agent{})
		if _, ok := c.get("a"); !ok {
			t.Fatalf("entry in use evicted after %d puts", i+1)
		}
	}
	if n := len(c.cur) + len(c.prev); n > 2*c.max {
		t.Fatalf("%d entries, want at most %d", n, 2*c.max)
	}
	if _, ok := c.get("x"); ok {
		t.Fatal("an old unused entry survived")
	}
}

func TestParseLongUserAgent(t *testing.T) {
	long := iPhoneUA + strings.Repeat(" padding", 1000)
	if got := ParseUserAgent(long); got.Browser != "Mobile Safari" {
		t.Fatalf("long user agent: %+v", got)
	}
}
