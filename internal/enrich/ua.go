// Package enrich adds to captured events what the server knows about their
// sender and the SDK may not have sent: browser, OS and device type from
// the user agent, the client's address, and its location from a GeoIP
// database. It never overrides a property the client set.
package enrich

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	useragent "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Property names, as PostHog's SDKs and ingestion write them.
const (
	PropBrowser        = "$browser"
	PropBrowserVersion = "$browser_version"
	PropOS             = "$os"
	PropOSVersion      = "$os_version"
	PropDeviceType     = "$device_type"
	// PropBrowserType is "bot" for crawlers, as posthog-js marks them.
	PropBrowserType  = "$browser_type"
	PropRawUserAgent = "$raw_user_agent"
	PropUserAgent    = "$useragent" // older SDKs' name for the raw user agent
)

// Agent is what a user-agent string says, in PostHog's value names.
type Agent struct {
	Browser        string  // "Chrome", "Mobile Safari", "Microsoft Edge", …
	BrowserVersion float64 // major.minor, as posthog-js reports it; 0 = unknown
	OS             string  // "Windows", "Mac OS X", "iOS", "Android", "Linux", …
	OSVersion      string  // "10", "10.15.7", "17.4.1"; "" = unknown
	DeviceType     string  // "Desktop", "Mobile", "Tablet", "TV"; "" for bots and unknown
	Bot            bool
}

// The parser is github.com/medama-io/go-useragent: maintained, ~1 µs per
// string with no regular expressions (uap-go, the most precise, takes
// ~1 ms per uncached string, which anyone could make capture pay by
// sending fresh user agents; mileusna/useragent is slower and calls curl a
// browser), and it flags bots, HTTP libraries and headless browsers. It
// lacks OS versions and calls Android tablets phones: parseAgent adds both.
var parser = sync.OnceValue(useragent.NewParser)

// maxUserAgent bounds the part of a user agent that is parsed and cached
// (posthog-js cuts $raw_user_agent at 1000 characters too).
const maxUserAgent = 1000

// ParseUserAgent parses ua, through a bounded cache: capture sees the same
// few hundred user agents over and over.
func ParseUserAgent(ua string) Agent {
	return cachedAgent(ua).Agent
}

// parsed is a cached Agent with its values already boxed, so that setting
// them as properties allocates nothing more.
type parsed struct {
	Agent
	browser, browserVersion, os, osVersion, deviceType any
}

func cachedAgent(ua string) parsed {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	if p, ok := uaCache.get(ua); ok {
		return p
	}
	a := parseAgent(ua)
	p := parsed{Agent: a, browser: a.Browser, browserVersion: a.BrowserVersion, os: a.OS, osVersion: a.OSVersion, deviceType: a.DeviceType}
	uaCache.put(strings.Clone(ua), p) // a clone: ua may pin a whole request body
	return p
}

func parseAgent(ua string) Agent {
	m := parser().Parse(ua)
	if m.IsBot() || looksLikeBot(ua) {
		return Agent{Bot: true}
	}
	a := Agent{
		Browser:        browserName(m.Browser(), m.OS()),
		BrowserVersion: majorMinor(m.BrowserVersion()),
		OS:             osName(m.OS()),
		OSVersion:      osVersion(m.OS(), ua),
		DeviceType:     string(m.Device()),
	}
	// Android phones say "Mobile"; tablets do not (Google's rule, which
	// posthog-js applies too).
	if m.OS() == agents.OSAndroid && a.DeviceType == string(agents.DeviceMobile) && !strings.Contains(ua, "Mobile") {
		a.DeviceType = string(agents.DeviceTablet)
	}
	if a.Browser == "" {
		a.BrowserVersion = 0
	}
	return a
}

// looksLikeBot catches crawlers the parser's list lacks (GPTBot/1.2 and
// the like), by the words crawlers name themselves with.
func looksLikeBot(ua string) bool {
	l := strings.ToLower(ua)
	return strings.Contains(l, "bot/") || strings.Contains(l, "spider") || strings.Contains(l, "crawler")
}

// browserName maps the parser's names to posthog-js's, so that breakdowns
// mix events from both without splitting a browser in two.
func browserName(b agents.Browser, os agents.OS) string {
	ios := os == agents.OSIOS
	switch b {
	case agents.BrowserSafari:
		if ios {
			return "Mobile Safari"
		}
	case agents.BrowserChrome:
		if ios {
			return "Chrome iOS"
		}
	case agents.BrowserFirefox:
		if ios {
			return "Firefox iOS"
		}
	case agents.BrowserEdge:
		return "Microsoft Edge"
	case agents.BrowserIE:
		return "Internet Explorer"
	case agents.BrowserSamsung:
		return "Samsung Internet"
	case agents.BrowserAndroid:
		return "Android Mobile"
	}
	return string(b)
}

func osName(os agents.OS) string {
	switch os {
	case agents.OSMacOS:
		return "Mac OS X"
	case agents.OSChromeOS:
		return "Chrome OS"
	}
	return string(os)
}

// majorMinor reads "124.0.6367.113" as 124.0, the number posthog-js sends.
func majorMinor(v string) float64 {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '.'); j >= 0 {
			v = v[:i+1+j]
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0
	}
	return f
}

// windowsVersions are the marketing names of Windows NT versions, as
// posthog-js reports them.
var windowsVersions = map[string]string{
	"5.0": "2000", "5.1": "XP", "5.2": "XP", "6.0": "Vista", "6.1": "7",
	"6.2": "8", "6.3": "8.1", "6.4": "10", "10.0": "10",
}

// osVersion reads the OS version from the token each OS puts it in.
func osVersion(os agents.OS, ua string) string {
	switch os {
	case agents.OSWindows:
		v := versionAfter(ua, "Windows NT ", '.')
		if name, ok := windowsVersions[v]; ok {
			return name
		}
		return v
	case agents.OSMacOS:
		return versionAfter(ua, "Mac OS X ", '_', '.')
	case agents.OSIOS:
		if v := versionAfter(ua, "iPhone OS ", '_', '.'); v != "" {
			return v
		}
		return versionAfter(ua, "CPU OS ", '_', '.')
	case agents.OSAndroid:
		return versionAfter(ua, "Android ", '.')
	case agents.OSChromeOS:
		// "CrOS x86_64 14541.0.0": the version follows the architecture.
		if i := strings.Index(ua, "CrOS "); i >= 0 {
			rest := ua[i+len("CrOS "):]
			if sp := strings.IndexByte(rest, ' '); sp >= 0 {
				return versionDigits(rest[sp+1:], '.')
			}
		}
	}
	return ""
}

// versionAfter is the version that follows token in ua, with any of seps
// between its parts written as dots ("10_15_7" → "10.15.7").
func versionAfter(ua, token string, seps ...byte) string {
	i := strings.Index(ua, token)
	if i < 0 {
		return ""
	}
	return versionDigits(ua[i+len(token):], seps...)
}

// versionDigits reads digits and separators from the start of s, at most
// a few parts, and drops a trailing separator.
func versionDigits(s string, seps ...byte) string {
	var b strings.Builder
	parts := 1
	for i := 0; i < len(s) && i < 32; i++ {
		c := s[i]
		switch {
		case isDigit(c):
			b.WriteByte(c)
			continue
		case bytes.IndexByte(seps, c) >= 0 && i > 0 && isDigit(s[i-1]) && parts < 4:
			b.WriteByte('.')
			parts++
			continue
		}
		break
	}
	return strings.TrimSuffix(b.String(), ".")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// UserAgent sets the browser, OS and device properties that props lacks,
// from the event's own raw user agent, else from headerUA (the request's
// User-Agent). A header that is not a browser's (every browser's starts
// with "Mozilla/") is the sending library's (posthog-node, curl from a
// backend), not the person's: it adds nothing.
// Each pair ($browser with $browser_version, $os with $os_version) is set
// only when neither half was sent, so a client's value never gets a
// version from another source.
func UserAgent(props map[string]any, headerUA string) {
	ua := eventUserAgent(props)
	if ua == "" && strings.HasPrefix(headerUA, "Mozilla/") {
		ua = headerUA
	}
	if ua == "" {
		return
	}
	a := cachedAgent(ua)
	if a.Bot {
		setDefault(props, PropBrowserType, "bot")
		return
	}
	if unset(props, PropBrowser) && unset(props, PropBrowserVersion) && a.Browser != "" {
		props[PropBrowser] = a.browser
		if a.BrowserVersion > 0 {
			props[PropBrowserVersion] = a.browserVersion
		}
	}
	if unset(props, PropOS) && unset(props, PropOSVersion) && a.OS != "" {
		props[PropOS] = a.os
		if a.OSVersion != "" {
			props[PropOSVersion] = a.osVersion
		}
	}
	if a.DeviceType != "" {
		setDefault(props, PropDeviceType, a.deviceType)
	}
}

func eventUserAgent(props map[string]any) string {
	if s, _ := props[PropRawUserAgent].(string); s != "" {
		return s
	}
	s, _ := props[PropUserAgent].(string)
	return s
}

// unset: absent or null (an SDK's "unknown"), which enrichment may fill.
func unset(props map[string]any, key string) bool {
	return props[key] == nil
}

func setDefault(props map[string]any, key string, v any) {
	if unset(props, key) {
		props[key] = v
	}
}

var uaCache = newCache[string, parsed](agentCacheSize)

// agentCacheSize bounds the user agents kept parsed (2× this at most, each
// at most maxUserAgent bytes): far more than the browsers in use at once.
const agentCacheSize = 4096
